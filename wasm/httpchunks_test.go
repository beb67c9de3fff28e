//go:build js && wasm

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"syscall/js"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/peer"
	"github.com/cairn-nostr/cairn/swarm"
)

// httpFixture is a 3-chunk file (the last one short) and an httpChunks
// whose requests are answered from it (or by serve, when set), recording
// the URLs and ranges asked.
type httpFixture struct {
	data  []byte
	file  *peer.File
	h     *httpChunks
	asked []string
	serve func(from, to int64) ([]byte, int)
}

func newHTTPFixture(t *testing.T, withInfo bool) *httpFixture {
	fx := &httpFixture{data: make([]byte, 2500)}
	for i := range fx.data {
		fx.data[i] = byte(i * 7)
	}
	m := &chunkmap.Map{Size: int64(len(fx.data)), ChunkSize: 1000}
	for off := 0; off < len(fx.data); off += 1000 {
		end := min(off+1000, len(fx.data))
		m.Chunks = append(m.Chunks, sha256.Sum256(fx.data[off:end]))
		if withInfo {
			m.ChunkInfo = append(m.ChunkInfo, chunkmap.ChunkInfo{Offset: int64(off), Length: int64(end - off)})
		}
	}
	m.Root = [32]byte{1}
	sum := sha256.Sum256(fx.data)
	fx.file = &peer.File{Map: m, SHA256: hex.EncodeToString(sum[:])}
	fx.h = newHTTPChunks("http://node.test", func(root [32]byte) *peer.File {
		if root == m.Root {
			return fx.file
		}
		return nil
	})
	fx.h.get = func(url string, from, to int64) fetchFunc {
		return func(ctx context.Context) (js.Value, int, error) {
			fx.asked = append(fx.asked, fmt.Sprintf("%s %d-%d", url, from, to))
			b, status := fx.data[from:to+1], 206
			if fx.serve != nil {
				b, status = fx.serve(from, to)
			}
			return uint8Array(b), status, nil
		}
	}
	return fx
}

// TestHTTPChunks: each chunk is one Range GET of /<sha256> at the chunk's
// offset (from chunk-info, or from the fixed chunk size), and comes back
// verified.
func TestHTTPChunks(t *testing.T) {
	for _, withInfo := range []bool{false, true} {
		fx := newHTTPFixture(t, withInfo)
		m := fx.file.Map
		var got []byte
		for i, h := range m.Chunks {
			var prog [2]int
			b, err := fx.h.Fetch(context.Background(), fx.h.ID(), h, m.Root, func(g, n int) { prog = [2]int{g, n} })
			if err != nil {
				t.Fatalf("chunk %d: %v", i, err)
			}
			if prog[0] != len(b) || prog[1] != len(b) {
				t.Errorf("chunk %d: progress %v for %d bytes", i, prog, len(b))
			}
			got = append(got, b...)
		}
		if !bytes.Equal(got, fx.data) {
			t.Fatal("the chunks do not make up the file")
		}
		want := []string{"0-999", "1000-1999", "2000-2499"}
		for i, a := range fx.asked {
			if a != "http://node.test/"+fx.file.SHA256+" "+want[i] {
				t.Errorf("request %d: %q, want the range %s of /<sha256>", i, a, want[i])
			}
		}
		if fx.h.down.Load() != int64(len(fx.data)) {
			t.Errorf("counted %d bytes down, want %d", fx.h.down.Load(), len(fx.data))
		}
	}
}

// TestHTTPChunksRefuse: bytes that do not hash to the chunk's hash, or of
// the wrong length, are ErrHashMismatch and never returned; a 404 is
// ErrNotFound, a 503 ErrBusy; a chunk of a root the tab has no sha256 for
// is asked by its own hash and checked the same way.
func TestHTTPChunksRefuse(t *testing.T) {
	fx := newHTTPFixture(t, true)
	m := fx.file.Map
	fetch := func() ([]byte, error) {
		return fx.h.Fetch(context.Background(), fx.h.ID(), m.Chunks[1], m.Root, nil)
	}
	for _, c := range []struct {
		name  string
		serve func(from, to int64) ([]byte, int)
		want  error
	}{
		{"flipped byte", func(from, to int64) ([]byte, int) {
			b := bytes.Clone(fx.data[from : to+1])
			b[10] ^= 1
			return b, 206
		}, swarm.ErrHashMismatch},
		{"short", func(from, to int64) ([]byte, int) { return fx.data[from:to], 206 }, swarm.ErrHashMismatch},
		{"the wrong range", func(from, to int64) ([]byte, int) { return fx.data[0:1000], 206 }, swarm.ErrHashMismatch},
		{"404", func(int64, int64) ([]byte, int) { return nil, 404 }, swarm.ErrNotFound},
		{"503", func(int64, int64) ([]byte, int) { return nil, 503 }, swarm.ErrBusy},
	} {
		fx.serve = c.serve
		b, err := fetch()
		if !errors.Is(err, c.want) || b != nil {
			t.Errorf("%s: got %d bytes, err %v; want %v", c.name, len(b), err, c.want)
		}
	}
	// With no file sha256 known, the chunk is asked by its own hash
	// (GET /<chunk sha256>), and checked the same way.
	fx.file.SHA256 = ""
	c1 := fx.data[1000:2000]
	fx.serve = func(from, to int64) ([]byte, int) { return c1[from : to+1], 206 }
	b, err := fx.h.Fetch(context.Background(), fx.h.ID(), fx.file.Map.Chunks[1], fx.file.Map.Root, nil)
	want := fmt.Sprintf("http://node.test/%x 0-999", fx.file.Map.Chunks[1])
	if err != nil || !bytes.Equal(b, c1) || fx.asked[len(fx.asked)-1] != want {
		t.Errorf("no sha256: %d bytes, err %v, asked %q; want %q", len(b), err, fx.asked[len(fx.asked)-1], want)
	}
	fx.serve = func(from, to int64) ([]byte, int) { return fx.data[from : to+1], 206 } // the file's first bytes
	if _, err := fx.h.Fetch(context.Background(), fx.h.ID(), fx.file.Map.Chunks[1], fx.file.Map.Root, nil); !errors.Is(err, swarm.ErrHashMismatch) {
		t.Errorf("no sha256, other bytes: %v, want ErrHashMismatch", err)
	}
}

// TestHTTPChunksBan: a banned node is not asked until the ban ends.
func TestHTTPChunksBan(t *testing.T) {
	fx := newHTTPFixture(t, false)
	m := fx.file.Map
	fx.h.Ban(fx.h.ID(), time.Now().Add(time.Hour))
	if b, err := fx.h.Fetch(context.Background(), fx.h.ID(), m.Chunks[0], m.Root, nil); err == nil || b != nil || len(fx.asked) != 0 {
		t.Fatalf("banned: got %d bytes, err %v, %d requests", len(b), err, len(fx.asked))
	}
	fx.h.Ban(fx.h.ID(), time.Now().Add(-time.Second))
	if _, err := fx.h.Fetch(context.Background(), fx.h.ID(), m.Chunks[0], m.Root, nil); err != nil {
		t.Fatalf("after the ban: %v", err)
	}
}

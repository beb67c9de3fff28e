//go:build js && wasm

package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"syscall/js"
	"testing"

	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/peer"
	"github.com/cairn-nostr/cairn/swarm"
	"github.com/cairn-nostr/cairn/wasm/idb"
)

// wholeFixture is a file of three chunks (the last one short) with a
// sha256, and its chunks' bytes.
func wholeFixture(seed byte) (*peer.File, [][]byte) {
	var data [][]byte
	m := &chunkmap.Map{ChunkSize: 1000}
	for i, n := range []int{1000, 1000, 300} {
		b := bytes.Repeat([]byte{seed + byte(i)}, n)
		data = append(data, b)
		m.Chunks = append(m.Chunks, sha256.Sum256(b))
		m.Size += int64(n)
	}
	m.Root = sha256.Sum256([]byte{seed})
	return &peer.File{Map: m, SHA256: "00"}, data
}

func jsToGo(u js.Value) []byte {
	b := make([]byte, u.Length())
	js.CopyBytesToGo(b, u)
	return b
}

// TestWholeHeldJoins: the chunks a registered download stores are held,
// and the whole-file check joins them (reading from the store only the
// ones not held) into the file's bytes; taking unregisters the file and
// releases its memory.
func TestWholeHeldJoins(t *testing.T) {
	st, err := idb.Open("whole-joins", idb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l := newLateStore()
	l.opened(st, nil, func(err error) { t.Error(err) })
	w := newWholeHeld()
	puts := verifiedPuts{l, w}
	f, data := wholeFixture(1)
	if !w.expect(f) {
		t.Fatal("a small file with a sha256 was not registered")
	}
	// Chunk 1 arrived before the download (not held); 0 and 2 through it.
	if err := st.PutVerified(f.Map.Chunks[1], data[1]); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{2, 0, 1} {
		if err := puts.Put(f.Map.Chunks[i], data[i]); err != nil {
			t.Fatal(err)
		}
		if !st.Has(f.Map.Chunks[i]) {
			t.Fatalf("chunk %d not stored", i)
		}
	}
	if w.bytes != 1300 || len(w.held) != 2 {
		t.Fatalf("held %d chunks, %d bytes; want 2, 1300", len(w.held), w.bytes)
	}
	parts := w.take(f)
	if parts == nil || !parts[1].IsUndefined() {
		t.Fatal("take: want chunks 0 and 2 held, 1 not")
	}
	all, err := joinFile(f, parts, st.GetJS)
	if err != nil {
		t.Fatal(err)
	}
	if got := jsToGo(all); !bytes.Equal(got, bytes.Join(data, nil)) {
		t.Fatalf("joined %d bytes, not the file", len(got))
	}
	if len(w.files) != 0 || len(w.want) != 0 || len(w.held) != 0 || w.bytes != 0 {
		t.Fatalf("after take: %d files, %d wanted, %d held, %d bytes", len(w.files), len(w.want), len(w.held), w.bytes)
	}
	if w.take(f) != nil {
		t.Fatal("a second take found the file still registered")
	}
	// Not registered: chunks pass through to the store only.
	other, od := wholeFixture(7)
	if err := puts.Put(other.Map.Chunks[0], od[0]); err != nil || len(w.held) != 0 {
		t.Fatalf("an unregistered chunk: err %v, %d held", err, len(w.held))
	}
}

// TestWholeHeldBounds: a file without a sha256 or over the bound is not
// registered; held bytes stay within maxWholeHeld; a chunk listed by two
// files stays held until both are dropped.
func TestWholeHeldBounds(t *testing.T) {
	w := newWholeHeld()
	f, data := wholeFixture(1)
	if w.expect(&peer.File{Map: f.Map}) {
		t.Fatal("a file without a sha256 was registered")
	}
	big := *f.Map
	big.Size = maxWholeHeld + 1
	if w.expect(&peer.File{Map: &big, SHA256: "00"}) {
		t.Fatal("a file over maxWholeHeld was registered")
	}
	g, _ := wholeFixture(1)
	g.Map.Root = sha256.Sum256([]byte("g")) // same chunks, another root
	w.expect(f)
	w.expect(g)
	w.hold(f.Map.Chunks[0], jsBytes(data[0]))
	w.drop(f.Map.Root)
	if len(w.held) != 1 {
		t.Fatal("a chunk another registered file lists was released")
	}
	w.drop(g.Map.Root)
	if len(w.held) != 0 || w.bytes != 0 {
		t.Fatal("chunks held after every file was dropped")
	}
	w.expect(f)
	w.bytes = maxWholeHeld - 10 // as if other files' chunks filled it
	w.hold(f.Map.Chunks[0], jsBytes(data[0]))
	if len(w.held) != 0 {
		t.Fatal("held past maxWholeHeld")
	}
}

// TestJoinFileBad: a missing chunk and a map whose size disagrees with its
// chunks are errors, not a file.
func TestJoinFileBad(t *testing.T) {
	f, data := wholeFixture(3)
	missing := func([32]byte) (js.Value, error) { return js.Undefined(), errors.New("not held") }
	parts := []js.Value{jsBytes(data[0]), js.Undefined(), jsBytes(data[2])}
	if _, err := joinFile(f, parts, missing); err == nil || !strings.Contains(err.Error(), "chunk 1") {
		t.Fatalf("missing chunk: %v", err)
	}
	f.Map.Size++
	parts = []js.Value{jsBytes(data[0]), jsBytes(data[1]), jsBytes(data[2])}
	if _, err := joinFile(f, parts, missing); !errors.Is(err, swarm.ErrLayout) {
		t.Fatalf("size mismatch: %v", err)
	}
}

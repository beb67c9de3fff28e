package swarm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/media/chunkmap"
)

// withChunkInfo returns a copy of m that locates its chunks by chunk-info.
func withChunkInfo(c *content) *chunkmap.Map {
	m := *c.m
	m.ChunkInfo = nil
	for _, ch := range c.plan.Chunks {
		m.ChunkInfo = append(m.ChunkInfo, chunkmap.ChunkInfo{Offset: ch.Offset, Length: ch.Length})
	}
	return &m
}

// TestReaderStored reads a stored file through both layouts (chunk-info,
// and the chunk size when there is none): whole, at every kind of
// boundary, and through http.ServeContent with a Range.
func TestReaderStored(t *testing.T) {
	c := newContent(t, 10, 300_001, 1<<14)
	for name, m := range map[string]*chunkmap.Map{"fixed": c.m, "chunk-info": withChunkInfo(c)} {
		t.Run(name, func(t *testing.T) {
			r, err := NewReader(context.Background(), m, c.blobs, nil)
			if err != nil {
				t.Fatal(err)
			}
			all, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(all, c.data) {
				t.Fatalf("ReadAll: %d bytes, %v", len(all), err)
			}
			for _, tc := range []struct{ off, n int64 }{
				{0, 1}, {1<<14 - 1, 2}, {1 << 14, 1 << 14}, {5000, 100_000}, {300_000, 1}, {299_990, 100},
			} {
				buf := make([]byte, tc.n)
				n, err := r.ReadAt(buf, tc.off)
				want := c.data[tc.off:min(tc.off+tc.n, int64(len(c.data)))]
				if !bytes.Equal(buf[:n], want) {
					t.Fatalf("ReadAt(%d, %d): wrong bytes", tc.off, tc.n)
				}
				if (int64(n) < tc.n) != (err == io.EOF) {
					t.Fatalf("ReadAt(%d, %d): %d bytes, %v", tc.off, tc.n, n, err)
				}
			}
			if _, err := r.ReadAt(make([]byte, 1), int64(len(c.data))); err != io.EOF {
				t.Fatalf("read at the end: %v", err)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				http.ServeContent(w, req, "", time.Time{}, r)
			}))
			defer srv.Close()
			req, _ := http.NewRequest("GET", srv.URL, nil)
			req.Header.Set("Range", "bytes=100000-150000")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, c.data[100000:150001]) {
				t.Fatalf("range request: %s, %d bytes", resp.Status, len(body))
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	c := newContent(t, 11, 100_000, 1<<14)
	partial := blobstore.NewMemory(0)
	data, _ := c.blobs.Get(c.m.Chunks[0])
	partial.Put(c.m.Chunks[0], data)
	r, err := NewReader(context.Background(), c.m, partial, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadAt(make([]byte, 10), 1<<14); !errors.Is(err, ErrMissing) {
		t.Fatalf("missing chunk: %v", err)
	}
	if err := Assemble(context.Background(), io.Discard, c.m, partial); !errors.Is(err, ErrMissing) {
		t.Fatalf("assembling with a missing chunk: %v", err)
	}

	// Chunks of 100, 80 and 50 bytes, chunk size 100, no chunk-info: the
	// sizes fit the fixed shape, so chunk 1 is expected to be 100 bytes
	// and reading it is ErrLayout, not misplaced bytes. Assembling does
	// not need the layout.
	blobs := blobstore.NewMemory(0)
	var hashes [][32]byte
	var file []byte
	for i, n := range []int{100, 80, 50} {
		b := randomBytes(uint64(20+i), n)
		h := sha256.Sum256(b)
		blobs.Put(h, b)
		hashes = append(hashes, h)
		file = append(file, b...)
	}
	m := chunkmap.New(hashes, int64(len(file)))
	m.ChunkSize = 100
	r, err = NewReader(context.Background(), m, blobs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadAt(make([]byte, 10), 50); err != nil {
		t.Fatalf("chunk 0: %v", err)
	}
	if _, err := r.ReadAt(make([]byte, 10), 150); !errors.Is(err, ErrLayout) {
		t.Fatalf("chunk 1 of the wrong size: %v", err)
	}
	if got := assembled(t, m, blobs); !bytes.Equal(got, file) {
		t.Fatal("assembled file differs")
	}
	// Sizes that cannot be fixed: no Reader.
	m.ChunkSize = 60
	if _, err := NewReader(context.Background(), m, blobs, nil); !errors.Is(err, ErrLayout) {
		t.Fatalf("unlocatable chunks: %v", err)
	}
}

// TestReaderFetches: a Reader over a lazy download fetches what it reads,
// plus ReadAhead chunks when reading sequentially.
func TestReaderFetches(t *testing.T) {
	c := newContent(t, 12, 100_000, 1<<14) // 7 chunks
	net := newFakeNet()
	net.add("a", c.blobs)
	blobs := blobstore.NewMemory(0)
	d := newDownload(t, Config{Map: c.m, Blobs: blobs, Sched: fastSched, Lazy: true})
	d.AddPeer("a", net, HasAll)
	r, err := NewReader(ctxTimeout(t, 10*time.Second), c.m, blobs, d)
	if err != nil {
		t.Fatal(err)
	}
	r.ReadAhead = 1
	if _, err := r.Seek(2<<14+5, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	if n, err := io.ReadFull(r, buf); err != nil || !bytes.Equal(buf[:n], c.data[2<<14+5:2<<14+105]) {
		t.Fatalf("read %d bytes, %v", n, err)
	}
	waitFor(t, 5*time.Second, "chunk 3 read ahead", func() bool { return blobs.Has(c.m.Chunks[3]) })
	if got := len(blobs.List()); got != 2 {
		t.Fatalf("%d chunks stored, want 2", got)
	}

	// An empty file is complete at once and reads as empty.
	empty := chunkmap.New(nil, 0)
	d0 := newDownload(t, Config{Map: empty, Blobs: blobs})
	if err := d0.Wait(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	r0, err := NewReader(context.Background(), empty, blobs, d0)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(r0); err != nil || len(b) != 0 {
		t.Fatalf("empty file: %d bytes, %v", len(b), err)
	}
}

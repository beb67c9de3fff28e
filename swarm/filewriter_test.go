package swarm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/media/chunkmap"
)

// TestFileWriter stores the chunks in a random order and updates a
// FileWriter after each: the file and its sum come out whole, through
// chunk-info, the chunk size, and a map that locates nothing (in order).
func TestFileWriter(t *testing.T) {
	c := newContent(t, 7, 5<<16+1234, 1<<16)
	unlocated := *c.m
	unlocated.ChunkSize = 0
	for name, m := range map[string]*chunkmap.Map{"chunk-info": withChunkInfo(c), "chunk size": c.m, "unlocated": &unlocated} {
		for _, onDisk := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/on disk %v", name, onDisk), func(t *testing.T) {
				testFileWriter(t, c, m, onDisk, offerNone)
			})
		}
		t.Run(name+"/offered", func(t *testing.T) { testFileWriter(t, c, m, true, offerAll) })
		t.Run(name+"/offered past the cap", func(t *testing.T) { testFileWriter(t, c, m, true, offerCapped) })
	}
}

const (
	offerNone   = iota // chunks only in the blob store
	offerAll           // every chunk also offered, some twice
	offerCapped        // offered, but the writer keeps at most two chunks' bytes
)

// readCounter is a file that counts the reads back from it.
type readCounter struct {
	*os.File
	reads int
}

func (r *readCounter) ReadAt(b []byte, off int64) (int, error) {
	r.reads++
	return r.File.ReadAt(b, off)
}

func testFileWriter(t *testing.T, c *content, m *chunkmap.Map, onDisk bool, offer int) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blobs blobstore.Blobs = blobstore.NewMemory(0)
	if onDisk { // copied file to file
		s, err := blobstore.Open(t.TempDir(), blobstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		blobs = s
	}
	var file File = f
	rc := &readCounter{File: f}
	if offer != offerNone {
		file = rc
	}
	w, err := NewFileWriter(m, blobs, file)
	if err != nil {
		t.Fatal(err)
	}
	if offer == offerCapped {
		w.maxHeld = 2 << 16
	}
	w.Offer(-1, []byte("nothing"))
	w.Offer(len(m.Chunks), []byte("nothing"))
	order := rand.New(rand.NewPCG(1, 2)).Perm(len(m.Chunks))
	for k, i := range order {
		data, err := c.blobs.Get(m.Chunks[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := blobs.Put(m.Chunks[i], data); err != nil {
			t.Fatal(err)
		}
		if offer != offerNone {
			w.Offer(i, data)
			w.Offer(i, data) // endgame: fetched twice
		}
		complete, err := w.Update(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if complete != (k == len(order)-1) {
			t.Fatalf("after %d of %d chunks: complete %v", k+1, len(order), complete)
		}
	}
	if w.Sum() != sha256.Sum256(c.data) {
		t.Error("sum differs from the file's sha256")
	}
	for i := range m.Chunks { // late duplicates are not kept
		w.Offer(i, []byte("late"))
	}
	if w.held != 0 || len(w.offered) != 0 {
		t.Errorf("the writer still holds %d bytes of %d offered chunks", w.held, len(w.offered))
	}
	switch {
	case offer == offerAll && rc.reads != 0:
		t.Errorf("every chunk was offered, yet the file was read back %d times", rc.reads)
	case offer == offerCapped && w.lay.offs != nil && rc.reads == 0:
		// (A map that locates nothing is written in order only, so
		// hashed on the way from wherever the bytes come.)
		t.Error("past the cap, chunks should have been hashed back from the file")
	}
	got, _ := os.ReadFile(f.Name())
	if !bytes.Equal(got, c.data) {
		t.Errorf("file differs: %d bytes, want %d", len(got), len(c.data))
	}
}

// TestFileWriterShortChunk: a stored chunk shorter than the map says is
// ErrLayout, not a silently short file.
func TestFileWriterShortChunk(t *testing.T) {
	c := newContent(t, 8, 3<<16, 1<<16)
	m := *c.m
	short := []byte("short")
	m.Chunks = append([][32]byte(nil), m.Chunks...)
	m.Chunks[0] = sha256.Sum256(short)
	blobs := blobstore.NewMemory(0)
	if err := blobs.Put(m.Chunks[0], short); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := NewFileWriter(&m, blobs, f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Update(context.Background()); !errors.Is(err, ErrLayout) {
		t.Fatalf("Update: %v, want ErrLayout", err)
	}
}

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
				testFileWriter(t, c, m, onDisk)
			})
		}
	}
}

func testFileWriter(t *testing.T, c *content, m *chunkmap.Map, onDisk bool) {
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
	w, err := NewFileWriter(m, blobs, f)
	if err != nil {
		t.Fatal(err)
	}
	order := rand.New(rand.NewPCG(1, 2)).Perm(len(m.Chunks))
	for k, i := range order {
		data, err := c.blobs.Get(m.Chunks[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := blobs.Put(m.Chunks[i], data); err != nil {
			t.Fatal(err)
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

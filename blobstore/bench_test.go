package blobstore

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
)

// The cost of a Put of one 5 MiB chunk, against its two floors: writing the
// same bytes to a file with fsync, and hashing them.
//
//	go test -run '^$' -bench . -benchtime 40x -count 3 ./blobstore/

const benchChunk = 5 << 20

func benchChunks(n int) ([][]byte, [][32]byte) {
	data := make([][]byte, n)
	hashes := make([][32]byte, n)
	for i := range data {
		data[i], hashes[i] = blob(1000+i, benchChunk)
	}
	return data, hashes
}

// BenchmarkPut: verify, write, fsync, rename, fsync the directory. The blob
// is deleted, untimed, after each Put.
func BenchmarkPut(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data, hashes := benchChunks(4)
	b.SetBytes(benchChunk)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := i % len(data)
		if err := s.Put(hashes[c], data[c]); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Delete(hashes[c])
		b.StartTimer()
	}
}

// BenchmarkPutEvict: Put into a full store (quota of 4 chunks, 8 rotating),
// so that every Put also evicts the least recently used chunk.
func BenchmarkPutEvict(b *testing.B) {
	s, err := Open(b.TempDir(), Options{Quota: 4 * benchChunk})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data, hashes := benchChunks(8)
	b.SetBytes(benchChunk)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := i % len(data)
		if err := s.Put(hashes[c], data[c]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutReader: the streaming Put, hashing while writing.
func BenchmarkPutReader(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data, hashes := benchChunks(4)
	b.SetBytes(benchChunk)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := i % len(data)
		if err := s.PutReader(hashes[c], bytes.NewReader(data[c]), benchChunk); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Delete(hashes[c])
		b.StartTimer()
	}
}

// BenchmarkRawWriteSync: the floor: create, write, fsync, close.
func BenchmarkRawWriteSync(b *testing.B) {
	dir := b.TempDir()
	data, _ := benchChunks(4)
	b.SetBytes(benchChunk)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := filepath.Join(dir, "chunk")
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Write(data[i%len(data)]); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.Remove(p)
		b.StartTimer()
	}
}

// BenchmarkRawAtomicWrite: the floor for a crash-safe write: temp file,
// write, fsync, rename, fsync the directory (no hashing, no index).
func BenchmarkRawAtomicWrite(b *testing.B) {
	dir := b.TempDir()
	data, _ := benchChunks(4)
	b.SetBytes(benchChunk)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := os.CreateTemp(dir, "tmp-*")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Write(data[i%len(data)]); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		final := filepath.Join(dir, "chunk")
		if err := os.Rename(f.Name(), final); err != nil {
			b.Fatal(err)
		}
		if err := syncDir(dir); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.Remove(final)
		b.StartTimer()
	}
}

// BenchmarkSHA256: the other floor: hashing the chunk.
func BenchmarkSHA256(b *testing.B) {
	data, _ := benchChunks(1)
	b.SetBytes(benchChunk)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sha256.Sum256(data[0])
	}
}

// BenchmarkGet: read a 5 MiB chunk (page cache warm) and verify its hash.
func BenchmarkGet(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data, hashes := benchChunks(1)
	if err := s.Put(hashes[0], data[0]); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchChunk)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Get(hashes[0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadAt64KiB: one wire fragment read from a stored chunk.
func BenchmarkReadAt64KiB(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data, hashes := benchChunks(1)
	if err := s.Put(hashes[0], data[0]); err != nil {
		b.Fatal(err)
	}
	p := make([]byte, 64<<10)
	b.SetBytes(int64(len(p)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		off := int64(i%80) * int64(len(p))
		if _, err := s.ReadAt(hashes[0], p, off); err != nil {
			b.Fatal(err)
		}
	}
}

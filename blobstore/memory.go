package blobstore

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cairn-nostr/cairn/blobstore/index"
)

// Memory is a Blobs kept in memory: for tests, and the model the browser's
// IndexedDB store follows. It applies the same quota, LRU and pin rules as
// Store (an index.Index); nothing survives the process, so it persists no
// access times and passes the index the zero time.
type Memory struct {
	mu      sync.Mutex
	ix      *index.Index
	data    map[[32]byte][]byte
	maxBlob int64
}

var _ Blobs = (*Memory)(nil)

// NewMemory returns an empty in-memory store holding at most quota bytes
// (0, or a negative quota, means unlimited) and blobs of at most
// DefaultMaxBlobSize.
func NewMemory(quota int64) *Memory {
	return &Memory{ix: index.New(quota), data: make(map[[32]byte][]byte), maxBlob: DefaultMaxBlobSize}
}

// Has reports whether the blob is stored.
func (m *Memory) Has(hash [32]byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ix.Has(hash)
}

// Size returns the blob's length, or ErrNotFound.
func (m *Memory) Size(hash [32]byte) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n, ok := m.ix.Size(hash); ok {
		return n, nil
	}
	return 0, ErrNotFound
}

// access returns the stored bytes (shared, not to be modified) and marks the
// blob used.
func (m *Memory) access(hash [32]byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.ix.Has(hash) {
		return nil, ErrNotFound
	}
	m.ix.Touch(hash, time.Time{})
	return m.data[hash], nil
}

// Get returns a copy of the blob, or ErrNotFound.
func (m *Memory) Get(hash [32]byte) ([]byte, error) {
	b, err := m.access(hash)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(b), nil
}

// Open returns a reader over the blob and its size.
func (m *Memory) Open(hash [32]byte) (Reader, int64, error) {
	b, err := m.access(hash)
	if err != nil {
		return nil, 0, err
	}
	return memReader{bytes.NewReader(b)}, int64(len(b)), nil
}

type memReader struct{ *bytes.Reader }

func (memReader) Close() error { return nil }

// ReadAt reads from the blob at off with io.ReaderAt semantics.
func (m *Memory) ReadAt(hash [32]byte, p []byte, off int64) (int, error) {
	b, err := m.access(hash)
	if err != nil {
		return 0, err
	}
	return bytes.NewReader(b).ReadAt(p, off)
}

// Put verifies and stores a copy of data.
func (m *Memory) Put(hash [32]byte, data []byte) error {
	if err := checkSize(int64(len(data)), m.maxBlob); err != nil {
		return err
	}
	if sha256.Sum256(data) != hash {
		return fmt.Errorf("%w: %s", ErrHashMismatch, hexHash(hash))
	}
	return m.commit(hash, bytes.Clone(data))
}

// PutReader reads exactly size bytes from r, verifies and stores them.
func (m *Memory) PutReader(hash [32]byte, r io.Reader, size int64) error {
	if err := checkSize(size, m.maxBlob); err != nil {
		return err
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(r, data); err != nil {
		return fmt.Errorf("blobstore: reading blob %s: %w", hexHash(hash), err)
	}
	if sha256.Sum256(data) != hash {
		return fmt.Errorf("%w: %s", ErrHashMismatch, hexHash(hash))
	}
	return m.commit(hash, data)
}

func (m *Memory) commit(hash [32]byte, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ix.Has(hash) {
		m.ix.Touch(hash, time.Time{})
		return nil
	}
	victims, err := m.ix.Victims(int64(len(data)))
	if err != nil {
		return err
	}
	m.ix.Evict(victims)
	for _, v := range victims {
		delete(m.data, v)
	}
	m.ix.Add(hash, int64(len(data)), time.Time{})
	m.data[hash] = data
	return nil
}

// Delete removes the blob if present; its pins stay.
func (m *Memory) Delete(hash [32]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ix.Remove(hash)
	delete(m.data, hash)
	return nil
}

// Pin protects the hash from eviction for reason.
func (m *Memory) Pin(hash [32]byte, reason string) error {
	if err := index.CheckReason(reason); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ix.Pin(hash, reason)
	return nil
}

// Unpin drops one reason.
func (m *Memory) Unpin(hash [32]byte, reason string) error {
	if err := index.CheckReason(reason); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ix.Unpin(hash, reason)
	return nil
}

// Pins returns the reasons the hash is pinned for, sorted; nil if none.
func (m *Memory) Pins(hash [32]byte) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ix.Pins(hash)
}

// List returns the stored hashes in ascending order.
func (m *Memory) List() [][32]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ix.List()
}

// Stats reports counts and sizes.
func (m *Memory) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ix.Stats()
}

// Package blobstore keeps media chunks addressed by their SHA-256 hash.
//
// A node stores the ~5 MiB chunks of the media it fetched or shared and serves
// them to peers (the swarm's DATA messages, HTTP Range requests). The store
// verifies every blob against its hash before keeping it, holds a byte quota
// by evicting the least recently used blobs, and never evicts a blob that is
// pinned: a blob is pinned while at least one reason holds ("shared" for the
// user's own uploads, "user" for `cairn pin`).
//
// Two implementations sit behind the Blobs interface: Open (files under a
// directory, durable, for the node) and NewMemory (for tests and as the model
// for the browser's IndexedDB store). Both, and the browser's store, share
// one implementation of the quota, LRU and pin rules (package
// blobstore/index); only where the bytes live differs.
//
// On disk (Store):
//
//	dir/ab/cdef…      one file per blob, named by its hex hash, fanned out on
//	                  the first byte so no directory holds more than 1/256 of them
//	dir/tmp/          files being written; emptied by Open
//	dir/pins.log      pins, an append-only log compacted at Open
//
// A blob becomes visible only by an atomic rename of a complete, fsync'd
// file, and the directory is fsync'd before Put returns: after a crash a
// blob is either whole or absent. Recency is kept in memory (access order)
// and persisted approximately as the file's mtime, so the LRU order survives
// a restart to within a minute.
//
// A typical caller (the swarm) does:
//
//	if !blobs.Has(h) {
//		data := fetch(h)            // from a peer
//		err := blobs.Put(h, data)   // ErrHashMismatch: blame the peer
//	}
//	n, err := blobs.ReadAt(h, frag, off) // serve 64 KiB fragments
package blobstore

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cairn-nostr/cairn/blobstore/index"
)

// Blobs is what the rest of cairn (the swarm, the HTTP media handler, the
// wasm node) needs from chunk storage. Store and Memory implement it; the
// browser implements it over IndexedDB.
//
// Every method is safe for concurrent use. Hashes are SHA-256 of the content.
type Blobs interface {
	// Has reports whether the blob is stored. It does not count as a use.
	Has(hash [32]byte) bool
	// Size returns the blob's length, or ErrNotFound.
	Size(hash [32]byte) (int64, error)
	// Get returns the whole blob (a copy the caller owns), or ErrNotFound.
	// It counts as a use for the LRU.
	Get(hash [32]byte) ([]byte, error)
	// ReadAt reads len(p) bytes of the blob from offset off, with the
	// semantics of io.ReaderAt (io.EOF when the blob ends before p is full).
	// ErrNotFound when absent. It counts as a use for the LRU.
	ReadAt(hash [32]byte, p []byte, off int64) (int, error)
	// Put stores data under hash after checking sha256(data) == hash
	// (ErrHashMismatch otherwise, nothing stored). Storing a blob already
	// present is a no-op. Over quota it evicts least recently used unpinned
	// blobs, or fails with ErrQuota when that cannot make room.
	Put(hash [32]byte, data []byte) error
	// Delete removes the blob if present (no error if absent). Its pins are
	// kept: they are about the hash, and apply again if it is stored again.
	Delete(hash [32]byte) error
	// Pin protects the blob from eviction for reason. A hash may be pinned
	// before the blob is stored. Pinning twice for one reason is a no-op.
	Pin(hash [32]byte, reason string) error
	// Unpin drops one reason; the blob is evictable once no reason remains.
	Unpin(hash [32]byte, reason string) error
	// Pins returns the reasons the hash is pinned for (nil if none).
	Pins(hash [32]byte) []string
	// List returns the stored hashes in ascending byte order.
	List() [][32]byte
	// Stats reports counts and sizes.
	Stats() Stats
}

// Reader reads one stored blob: sequentially (io.Copy, http.ServeContent)
// or at offsets. The Store returns an *os.File.
type Reader interface {
	io.ReadSeekCloser
	io.ReaderAt
}

// Conditions a caller branches on. The swarm maps ErrNotFound to wire error
// code 0 (not found).
var (
	// ErrNotFound: no blob with this hash is stored.
	ErrNotFound = errors.New("blobstore: blob not found")
	// ErrHashMismatch: the data offered to Put does not hash to the given
	// hash. Nothing was stored; whoever sent the data sent bad data.
	ErrHashMismatch = errors.New("blobstore: data does not match its sha256 hash")
	// ErrQuota: the blob does not fit in the quota and evicting every
	// unpinned blob would not make room. Wrapped with the figures. It is
	// index.ErrQuota, the error of the rules themselves.
	ErrQuota = index.ErrQuota
	// ErrTooLarge: the blob is larger than Options.MaxBlobSize.
	ErrTooLarge = errors.New("blobstore: blob larger than the maximum blob size")
	// ErrCorrupt: a stored blob no longer matched its hash when read. It has
	// been removed; fetch it again. Errors wrapping ErrCorrupt also match
	// ErrNotFound.
	ErrCorrupt = errors.New("blobstore: stored blob was corrupt and has been removed; fetch it again")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("blobstore: store is closed")
)

// Stats is a snapshot of a store's contents (see index.Stats).
type Stats = index.Stats

// Sizes and defaults.
const (
	// DefaultQuota is the quota DefaultOptions gives a node: 2 GiB.
	DefaultQuota int64 = 2 << 30
	// DefaultMaxBlobSize bounds one blob when Options.MaxBlobSize is 0.
	// Chunks are ~5 MiB; keyframe alignment can make some larger.
	DefaultMaxBlobSize int64 = 64 << 20
	// MaxReasonLen bounds a pin reason.
	MaxReasonLen = index.MaxReasonLen
)

// Options configures a Store. The zero value is valid: no quota (unlimited),
// DefaultMaxBlobSize, the wall clock. A node starts from DefaultOptions.
type Options struct {
	// Quota is the most bytes of blobs kept; 0 means unlimited. Put evicts
	// least recently used unpinned blobs to stay under it. Open evicts
	// unpinned blobs down to it when the directory holds more (the quota
	// was lowered), every unpinned one if the pinned alone exceed it.
	Quota int64
	// MaxBlobSize bounds one blob; 0 means DefaultMaxBlobSize.
	MaxBlobSize int64
	// Now is the clock used to stamp accesses (persisted as file mtimes, so
	// that the LRU order survives a restart). nil means time.Now. Eviction
	// order within a run is the order of accesses, whatever the clock says.
	Now func() time.Time
}

// DefaultOptions returns the options a node uses: a 2 GiB quota.
func DefaultOptions() Options { return Options{Quota: DefaultQuota} }

// Validate reports options that cannot work.
func (o Options) Validate() error {
	if o.Quota < 0 {
		return fmt.Errorf("blobstore: quota %d is negative (0 means unlimited)", o.Quota)
	}
	if o.MaxBlobSize < 0 {
		return fmt.Errorf("blobstore: max blob size %d is negative (0 means the default)", o.MaxBlobSize)
	}
	return nil
}

func (o Options) maxBlobSize() int64 {
	if o.MaxBlobSize == 0 {
		return DefaultMaxBlobSize
	}
	return o.MaxBlobSize
}

func checkSize(size, max int64) error {
	if size < 0 {
		return fmt.Errorf("blobstore: negative size %d", size)
	}
	if size > max {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, size, max)
	}
	return nil
}

func hexHash(h [32]byte) string { return hex.EncodeToString(h[:]) }

// corrupt is the error Get returns for a blob that failed its hash check:
// it matches both ErrCorrupt and ErrNotFound.
func corrupt(h [32]byte) error {
	return fmt.Errorf("%w: %s (%w)", ErrCorrupt, hexHash(h), ErrNotFound)
}

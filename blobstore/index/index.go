// Package index holds the rules every cairn blob store applies: a byte
// quota kept by evicting the least recently used unpinned blobs, pins with
// reasons, and the figures a store reports. It is the one copy of those
// rules behind blobstore.Store (files), blobstore.Memory and the browser's
// IndexedDB store (wasm/idb); each of them keeps only the bytes.
//
// It is a pure core: no I/O, no clock (times are passed in), no
// goroutines, so it builds and is tested the same natively and under
// GOOS=js. A store holds one Index behind its mutex and does:
//
//	// Open: what the medium holds, then what it must drop.
//	ix := index.New(quota)
//	ix.Load(records)          // sizes and persisted access times
//	for each persisted pin { ix.Pin(h, reason) }
//	drop(ix.Excess()); ix.Evict(excess)
//
//	// Put of a blob not held:
//	victims, err := ix.Victims(size) // ErrQuota: refuse, change nothing
//	write(h); drop(victims)
//	ix.Evict(victims); ix.Add(h, size, now)
//
//	// A read:
//	if ix.Touch(h, now) { persist the access time now }
package index

import (
	"bytes"
	"container/list"
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrQuota: the blob does not fit in the quota and evicting every unpinned
// blob would not make room. blobstore.ErrQuota is this error.
var ErrQuota = errors.New("blobstore: quota full and the rest is pinned; raise the quota or unpin blobs")

// MaxReasonLen bounds a pin reason.
const MaxReasonLen = 64

// PersistEvery is how stale a blob's persisted access time may get before
// Touch asks for a new one: the LRU order survives a restart to within it.
const PersistEvery = time.Minute

// Stats is a snapshot of a store's contents.
type Stats struct {
	Count       int    // blobs stored
	Bytes       int64  // their total size
	Quota       int64  // the byte quota; 0 means unlimited
	Pinned      int    // stored blobs with at least one pin
	PinnedBytes int64  // their total size
	Evicted     uint64 // blobs evicted for the quota since the store was opened
}

// Record is a blob as a store persists it: its size and the access time
// last persisted for it.
type Record struct {
	Hash [32]byte
	Size int64
	Used time.Time
}

// Index is the state behind a blob store's rules:
//
//   - Quota. With a quota q > 0 the blobs held add up to at most q bytes:
//     Victims names what a Put must evict first, and fails with ErrQuota
//     (nothing to evict) when even evicting every unpinned blob would not
//     make room, or when the blob alone is larger than q. 0 is unlimited.
//   - Eviction. Victims are the least recently used unpinned blobs, oldest
//     first, as few as make room. Recency is the order of Add and Touch;
//     blobs from Load are older than any already held, ordered by their
//     persisted access time, ties by ascending hash. Has and Size are not
//     uses. When the quota is lowered, Excess names the unpinned blobs to
//     evict, oldest first, to get back under it; pins may keep the store
//     over it.
//   - Pins. A hash is pinned while it has at least one reason (CheckReason
//     says which strings are reasons). Pins are about the hash, not the
//     blob: a hash may be pinned before its blob is stored, and Remove and
//     Evict keep its pins, which apply again when it is stored again.
//   - Stats. Count and Bytes are the blobs held; Pinned and PinnedBytes
//     those of them with a pin (a pin on an absent hash counts nothing);
//     Evicted counts the blobs dropped by Evict.
//   - Persisted access times. Touch reports when the access time should
//     be written again (PersistEvery after the last one written), so a
//     store writes at most one per blob per PersistEvery.
//
// An Index is not safe for concurrent use: its owner holds a mutex around
// every call.
type Index struct {
	quota       int64
	entries     map[[32]byte]*entry
	lru         list.List // of *entry; front = most recently used
	pins        map[[32]byte][]string
	reasons     int // len of every list in pins, added up
	bytes       int64
	pinned      int
	pinnedBytes int64
	evicted     uint64
}

type entry struct {
	hash [32]byte
	size int64
	used time.Time // the access time last persisted (or to be, by Add's caller)
	elem *list.Element
}

// New returns an empty index with a quota of quota bytes; 0, or a negative
// quota, means unlimited.
func New(quota int64) *Index {
	ix := &Index{entries: make(map[[32]byte]*entry), pins: make(map[[32]byte][]string)}
	ix.lru.Init()
	ix.SetQuota(quota)
	return ix
}

// SetQuota changes the quota (0, or negative, means unlimited). It evicts
// nothing: Excess says what to.
func (ix *Index) SetQuota(quota int64) { ix.quota = max(quota, 0) }

// Load adds persisted blobs, as less recently used than any blob already
// held, the oldest access time last. A hash already held, a second record
// of one hash (the most recent wins) and a negative size are skipped.
func (ix *Index) Load(recs []Record) {
	recs = slices.Clone(recs)
	slices.SortFunc(recs, func(a, b Record) int {
		if c := a.Used.Compare(b.Used); c != 0 {
			return -c
		}
		return -bytes.Compare(a.Hash[:], b.Hash[:])
	})
	for _, r := range recs {
		if ix.entries[r.Hash] != nil || r.Size < 0 {
			continue
		}
		ix.insert(&entry{hash: r.Hash, size: r.Size, used: r.Used}, false)
	}
}

func (ix *Index) insert(e *entry, front bool) {
	if front {
		e.elem = ix.lru.PushFront(e)
	} else {
		e.elem = ix.lru.PushBack(e)
	}
	ix.entries[e.hash] = e
	ix.bytes += e.size
	if ix.isPinned(e.hash) {
		ix.pinned++
		ix.pinnedBytes += e.size
	}
}

// Has reports whether the blob is held. It is not a use.
func (ix *Index) Has(h [32]byte) bool { return ix.entries[h] != nil }

// Size returns the blob's size and whether it is held. It is not a use.
func (ix *Index) Size(h [32]byte) (int64, bool) {
	if e := ix.entries[h]; e != nil {
		return e.size, true
	}
	return 0, false
}

// Add records a blob just stored, as the most recently used, its access
// time persisted at now. The caller has evicted Victims(size) first. A
// blob already held is left as it is; Add reports whether it added.
func (ix *Index) Add(h [32]byte, size int64, now time.Time) bool {
	if ix.entries[h] != nil {
		return false
	}
	ix.insert(&entry{hash: h, size: size, used: now}, true)
	return true
}

// Touch marks the blob used at now: it becomes the most recently used. It
// reports whether the caller should persist now as its access time (the
// one persisted is PersistEvery old or more; it is taken to be now from
// here on). An absent blob is not touched and reports false. An owner
// that persists no access times passes the zero time.
func (ix *Index) Touch(h [32]byte, now time.Time) (persist bool) {
	e := ix.entries[h]
	if e == nil {
		return false
	}
	ix.lru.MoveToFront(e.elem)
	if now.Sub(e.used) < PersistEvery {
		return false
	}
	e.used = now
	return true
}

// Remove forgets a blob (deleted, found corrupt or missing); its pins
// stay. It reports whether the blob was held. It is not an eviction.
func (ix *Index) Remove(h [32]byte) bool {
	e := ix.entries[h]
	if e == nil {
		return false
	}
	ix.lru.Remove(e.elem)
	delete(ix.entries, h)
	ix.bytes -= e.size
	if ix.isPinned(h) {
		ix.pinned--
		ix.pinnedBytes -= e.size
	}
	return true
}

// Evict removes the blobs, as Remove does, and counts those held as
// evicted.
func (ix *Index) Evict(hs [][32]byte) {
	for _, h := range hs {
		if ix.Remove(h) {
			ix.evicted++
		}
	}
}

// Victims returns the blobs to evict, least recently used first, so that
// size more bytes fit in the quota; none when they fit already. It changes
// nothing. It fails with ErrQuota (wrapped with the figures) when the blob
// is larger than the quota or evicting every unpinned blob would not be
// enough.
func (ix *Index) Victims(size int64) ([][32]byte, error) {
	if ix.quota == 0 {
		return nil, nil
	}
	if size > ix.quota {
		return nil, fmt.Errorf("%w (a blob of %d bytes is larger than the whole quota of %d bytes)", ErrQuota, size, ix.quota)
	}
	out, short := ix.oldestUnpinned(ix.bytes + size - ix.quota)
	if short > 0 {
		return nil, fmt.Errorf("%w (need %d bytes: %d of %d used, %d pinned)", ErrQuota, size, ix.bytes, ix.quota, ix.pinnedBytes)
	}
	return out, nil
}

// Excess returns the unpinned blobs to evict, least recently used first,
// to get back under the quota (after it was lowered); when the pinned
// blobs alone exceed it, that is every unpinned blob.
func (ix *Index) Excess() [][32]byte {
	if ix.quota == 0 {
		return nil
	}
	out, _ := ix.oldestUnpinned(ix.bytes - ix.quota)
	return out
}

// oldestUnpinned walks from the least recently used end, collecting
// unpinned blobs until need bytes are collected; short is what is still
// missing (0 or less: enough).
func (ix *Index) oldestUnpinned(need int64) (out [][32]byte, short int64) {
	for el := ix.lru.Back(); el != nil && need > 0; el = el.Prev() {
		e := el.Value.(*entry)
		if ix.isPinned(e.hash) {
			continue
		}
		out = append(out, e.hash)
		need -= e.size
	}
	return out, need
}

func (ix *Index) isPinned(h [32]byte) bool { return len(ix.pins[h]) > 0 }

// HasPin reports whether h is pinned for reason.
func (ix *Index) HasPin(h [32]byte, reason string) bool {
	return slices.Contains(ix.pins[h], reason)
}

// Pin adds reason to h's pins (h need not be held); it reports whether
// anything changed. The caller has checked the reason (CheckReason).
func (ix *Index) Pin(h [32]byte, reason string) bool {
	rs := ix.pins[h]
	if slices.Contains(rs, reason) {
		return false
	}
	if len(rs) == 0 {
		if e := ix.entries[h]; e != nil {
			ix.pinned++
			ix.pinnedBytes += e.size
		}
	}
	rs = append(slices.Clone(rs), reason)
	slices.Sort(rs)
	ix.pins[h] = rs
	ix.reasons++
	return true
}

// Unpin drops reason from h's pins; it reports whether anything changed.
func (ix *Index) Unpin(h [32]byte, reason string) bool {
	rs := ix.pins[h]
	i := slices.Index(rs, reason)
	if i < 0 {
		return false
	}
	ix.reasons--
	if len(rs) == 1 {
		delete(ix.pins, h)
		if e := ix.entries[h]; e != nil {
			ix.pinned--
			ix.pinnedBytes -= e.size
		}
		return true
	}
	ix.pins[h] = slices.Delete(slices.Clone(rs), i, i+1)
	return true
}

// Pins returns h's reasons, sorted (a copy); nil when it has none.
func (ix *Index) Pins(h [32]byte) []string { return slices.Clone(ix.pins[h]) }

// PinnedHashes returns every hash with at least one pin, held or not, in
// ascending byte order.
func (ix *Index) PinnedHashes() [][32]byte { return sortedKeys(ix.pins) }

// PinCount returns how many pins (hash and reason) are held, on blobs held
// or not.
func (ix *Index) PinCount() int { return ix.reasons }

// List returns the hashes of the blobs held, in ascending byte order.
func (ix *Index) List() [][32]byte { return sortedKeys(ix.entries) }

func sortedKeys[V any](m map[[32]byte]V) [][32]byte {
	out := make([][32]byte, 0, len(m))
	for h := range m {
		out = append(out, h)
	}
	slices.SortFunc(out, compareHash)
	return out
}

func compareHash(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) }

// Stats reports the figures (see Index).
func (ix *Index) Stats() Stats {
	return Stats{
		Count:       len(ix.entries),
		Bytes:       ix.bytes,
		Quota:       ix.quota,
		Pinned:      ix.pinned,
		PinnedBytes: ix.pinnedBytes,
		Evicted:     ix.evicted,
	}
}

// CheckReason refuses what cannot be a pin reason: empty, longer than
// MaxReasonLen, or with anything but printable ASCII without spaces (so
// that a reason is one word in a log line or a key).
func CheckReason(reason string) error {
	if reason == "" || len(reason) > MaxReasonLen {
		return fmt.Errorf("blobstore: pin reason %q must be 1 to %d bytes", reason, MaxReasonLen)
	}
	for i := 0; i < len(reason); i++ {
		if c := reason[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("blobstore: pin reason %q must be printable ASCII without spaces", reason)
		}
	}
	return nil
}

// Package idb keeps the browser's media chunks in IndexedDB: a
// blobstore.Blobs with the node's rules (verified Put, a byte quota kept by
// evicting the least recently used unpinned chunks, pins with reasons,
// stats), so the swarm, the webrtc server and the wasm API use it as the
// node uses its blob directory.
//
// The rules live in a pure index (this file: sizes, recency, pins, which
// chunks to evict), built natively and tested without a browser. The
// IndexedDB edge (store_js.go, GOOS=js only) keeps three object stores,
// keyed by the chunk's hex hash:
//
//	blobs   the bytes (a Uint8Array)
//	meta    {size, used}: used is the last access in Unix milliseconds,
//	        persisted at most once a minute per chunk, so the LRU order
//	        survives a reload to within a minute
//	pins    the pin reasons (an array of strings), kept even while the
//	        chunk is absent, as blobstore's pins are
//	files   small records about whole files (strings, keyed by the
//	        caller: the wasm API keeps each file's chunk map there)
//
// Open reads meta and pins into the index; Has, Size, List and Stats answer
// from it, the rest wait for IndexedDB. IndexedDB is asynchronous: every
// method that touches it waits on a channel for the request's callback, so
// it must run on a goroutine of its own, never inside a js.Func callback.
package idb

import (
	"bytes"
	"container/list"
	"fmt"
	"slices"

	"github.com/cairn-nostr/cairn/blobstore"
)

// index is the state behind the quota, LRU and pin rules. It does no I/O
// and is not safe for concurrent use: the Store holds a mutex around it.
type index struct {
	quota   int64
	entries map[[32]byte]*entry
	lru     *list.List // of *entry, most recently used at the front
	pins    map[[32]byte][]string
	bytes   int64
	evicted uint64
}

type entry struct {
	hash  [32]byte
	size  int64
	used  int64 // last access persisted, Unix ms
	elem  *list.Element
	dirty bool // used moved on since it was persisted
}

func newIndex(quota int64) *index {
	return &index{quota: max(quota, 0), entries: map[[32]byte]*entry{}, lru: list.New(), pins: map[[32]byte][]string{}}
}

// record is one chunk as persisted (the meta store).
type record struct {
	hash [32]byte
	size int64
	used int64
}

// load fills an empty index from persisted records: the most recently used
// first in the LRU order, ties broken by hash so the order is stable.
func (ix *index) load(recs []record) {
	slices.SortFunc(recs, func(a, b record) int {
		if a.used != b.used {
			return int(min(max(b.used-a.used, -1), 1))
		}
		return bytes.Compare(a.hash[:], b.hash[:])
	})
	for _, r := range recs {
		if _, dup := ix.entries[r.hash]; dup || r.size < 0 {
			continue
		}
		e := &entry{hash: r.hash, size: r.size, used: r.used}
		e.elem = ix.lru.PushBack(e)
		ix.entries[r.hash] = e
		ix.bytes += r.size
	}
}

func (ix *index) has(h [32]byte) bool { return ix.entries[h] != nil }

// touch marks h used at now (Unix ms). It reports whether the new stamp
// should be persisted: the stored one is a minute old or more.
func (ix *index) touch(h [32]byte, now int64) bool {
	e := ix.entries[h]
	if e == nil {
		return false
	}
	ix.lru.MoveToFront(e.elem)
	if now-e.used >= persistEvery {
		e.used = now
		return true
	}
	return false
}

// persistEvery is how stale a persisted access time may get, in ms.
const persistEvery = 60_000

// add records a stored chunk as the most recently used.
func (ix *index) add(h [32]byte, size, now int64) {
	if ix.entries[h] != nil {
		return
	}
	e := &entry{hash: h, size: size, used: now}
	e.elem = ix.lru.PushFront(e)
	ix.entries[h] = e
	ix.bytes += size
}

// remove forgets a chunk (its pins stay); it reports whether it was there.
func (ix *index) remove(h [32]byte) bool {
	e := ix.entries[h]
	if e == nil {
		return false
	}
	ix.lru.Remove(e.elem)
	delete(ix.entries, h)
	ix.bytes -= e.size
	return true
}

func (ix *index) pinned(h [32]byte) bool { return len(ix.pins[h]) > 0 }

// victims lists the least recently used unpinned chunks to evict, oldest
// first, so that size more bytes fit in the quota. It changes nothing. It
// fails with blobstore.ErrQuota when evicting every unpinned chunk would
// not be enough.
func (ix *index) victims(size int64) ([][32]byte, error) {
	if ix.quota == 0 {
		return nil, nil
	}
	if size > ix.quota {
		return nil, fmt.Errorf("%w (a chunk of %d bytes is larger than the whole quota of %d bytes)", blobstore.ErrQuota, size, ix.quota)
	}
	need := ix.bytes + size - ix.quota
	var out [][32]byte
	for el := ix.lru.Back(); el != nil && need > 0; el = el.Prev() {
		e := el.Value.(*entry)
		if ix.pinned(e.hash) {
			continue
		}
		out = append(out, e.hash)
		need -= e.size
	}
	if need > 0 {
		st := ix.stats()
		return nil, fmt.Errorf("%w (need %d bytes: %d of %d used, %d pinned)", blobstore.ErrQuota, size, st.Bytes, ix.quota, st.PinnedBytes)
	}
	return out, nil
}

// overQuota lists the unpinned chunks to evict, oldest first, to get back
// under the quota (after it was lowered). Pinned chunks may keep the store
// over it.
func (ix *index) overQuota() [][32]byte {
	if ix.quota == 0 {
		return nil
	}
	need := ix.bytes - ix.quota
	var out [][32]byte
	for el := ix.lru.Back(); el != nil && need > 0; el = el.Prev() {
		e := el.Value.(*entry)
		if !ix.pinned(e.hash) {
			out = append(out, e.hash)
			need -= e.size
		}
	}
	return out
}

// pin adds reason to h's pins and returns the new list, or nil when it
// was already there.
func (ix *index) pin(h [32]byte, reason string) []string {
	rs := ix.pins[h]
	if slices.Contains(rs, reason) {
		return nil
	}
	rs = append(slices.Clone(rs), reason)
	slices.Sort(rs)
	ix.pins[h] = rs
	return rs
}

// unpin drops reason from h's pins and returns the remaining list (empty,
// not nil, when none remain) and whether anything changed.
func (ix *index) unpin(h [32]byte, reason string) ([]string, bool) {
	rs := ix.pins[h]
	i := slices.Index(rs, reason)
	if i < 0 {
		return nil, false
	}
	rs = slices.Delete(slices.Clone(rs), i, i+1)
	if len(rs) == 0 {
		delete(ix.pins, h)
		return []string{}, true
	}
	ix.pins[h] = rs
	return rs, true
}

func (ix *index) list() [][32]byte {
	out := make([][32]byte, 0, len(ix.entries))
	for h := range ix.entries {
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	return out
}

func (ix *index) stats() blobstore.Stats {
	st := blobstore.Stats{Count: len(ix.entries), Bytes: ix.bytes, Quota: ix.quota, Evicted: ix.evicted}
	for h, e := range ix.entries {
		if ix.pinned(h) {
			st.Pinned++
			st.PinnedBytes += e.size
		}
	}
	return st
}

// checkReason applies blobstore's rule for pin reasons: 1 to
// blobstore.MaxReasonLen bytes of printable ASCII without spaces.
func checkReason(reason string) error {
	ok := reason != "" && len(reason) <= blobstore.MaxReasonLen
	for i := 0; ok && i < len(reason); i++ {
		ok = reason[i] > ' ' && reason[i] <= '~'
	}
	if !ok {
		return fmt.Errorf("idb: pin reason %q must be 1 to %d bytes of printable ASCII without spaces", reason, blobstore.MaxReasonLen)
	}
	return nil
}

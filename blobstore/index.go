package blobstore

import (
	"bytes"
	"container/list"
	"fmt"
	"slices"
)

// index holds the rules both implementations share: which blobs exist and
// how big they are, their recency, their pins, and which blobs to evict to
// make room under the quota. It does no I/O and is not safe for concurrent
// use: its owner holds a mutex around every call.
type index struct {
	quota       int64
	entries     map[[32]byte]*entry
	lru         list.List // of *entry; front = most recently used
	pins        map[[32]byte][]string
	bytes       int64
	pinned      int
	pinnedBytes int64
	evicted     uint64
}

type entry struct {
	hash  [32]byte
	size  int64
	elem  *list.Element
	stamp int64 // Store only: the access time last persisted as mtime (unix ns)
}

func newIndex(quota int64) *index {
	ix := &index{
		quota:   quota,
		entries: make(map[[32]byte]*entry),
		pins:    make(map[[32]byte][]string),
	}
	ix.lru.Init()
	return ix
}

func (ix *index) get(h [32]byte) *entry { return ix.entries[h] }

// add records a new blob as the most recently used. The caller has made room
// (victims) first.
func (ix *index) add(h [32]byte, size int64) *entry {
	e := &entry{hash: h, size: size}
	e.elem = ix.lru.PushFront(e)
	ix.entries[h] = e
	ix.bytes += size
	if len(ix.pins[h]) > 0 {
		ix.pinned++
		ix.pinnedBytes += size
	}
	return e
}

func (ix *index) touch(e *entry) { ix.lru.MoveToFront(e.elem) }

func (ix *index) remove(h [32]byte) *entry {
	e := ix.entries[h]
	if e == nil {
		return nil
	}
	ix.lru.Remove(e.elem)
	delete(ix.entries, h)
	ix.bytes -= e.size
	if len(ix.pins[h]) > 0 {
		ix.pinned--
		ix.pinnedBytes -= e.size
	}
	return e
}

// victims returns the least recently used unpinned blobs whose eviction makes
// room for size more bytes, oldest first, without removing them. It returns
// ErrQuota (wrapped with the figures) when evicting every unpinned blob would
// not be enough; then nothing should be evicted.
func (ix *index) victims(size int64) ([]*entry, error) {
	if ix.quota == 0 {
		return nil, nil
	}
	if size > ix.quota {
		return nil, fmt.Errorf("%w (a blob of %d bytes is larger than the whole quota of %d bytes)", ErrQuota, size, ix.quota)
	}
	need := ix.bytes + size - ix.quota
	if need <= 0 {
		return nil, nil
	}
	var out []*entry
	freed := int64(0)
	for el := ix.lru.Back(); el != nil && freed < need; el = el.Prev() {
		e := el.Value.(*entry)
		if len(ix.pins[e.hash]) > 0 {
			continue
		}
		out = append(out, e)
		freed += e.size
	}
	if freed < need {
		return nil, fmt.Errorf("%w (need %d bytes: %d of %d used, %d pinned)", ErrQuota, size, ix.bytes, ix.quota, ix.pinnedBytes)
	}
	return out, nil
}

func (ix *index) hasPin(h [32]byte, reason string) bool {
	return slices.Contains(ix.pins[h], reason)
}

// pin adds reason to h's pins; it reports whether anything changed.
func (ix *index) pin(h [32]byte, reason string) bool {
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
	return true
}

// unpin drops reason from h's pins; it reports whether anything changed.
func (ix *index) unpin(h [32]byte, reason string) bool {
	rs := ix.pins[h]
	i := slices.Index(rs, reason)
	if i < 0 {
		return false
	}
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

// reasons returns a copy of h's pins, sorted; nil when unpinned.
func (ix *index) reasons(h [32]byte) []string { return slices.Clone(ix.pins[h]) }

func (ix *index) list() [][32]byte {
	out := make([][32]byte, 0, len(ix.entries))
	for h := range ix.entries {
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	return out
}

func (ix *index) stats() Stats {
	return Stats{
		Count:       len(ix.entries),
		Bytes:       ix.bytes,
		Quota:       ix.quota,
		Pinned:      ix.pinned,
		PinnedBytes: ix.pinnedBytes,
		Evicted:     ix.evicted,
	}
}

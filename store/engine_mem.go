package store

import (
	"bytes"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/tidwall/btree"
)

// memEngine keeps keys in a copy-on-write B-tree. Update mutates an O(1)
// copy of the committed tree and publishes it only on success, so a failed
// Update changes nothing; readers work on an immutable published snapshot
// and never block the writer.
type memEngine struct {
	mu        sync.Mutex // serializes Update and Close
	committed *btree.BTreeG[kvItem]
	size      int64
	closed    bool

	snap     atomic.Pointer[btree.BTreeG[kvItem]] // never mutated once published
	snapSize atomic.Int64
}

type kvItem struct{ k, v []byte }

func kvLess(a, b kvItem) bool { return bytes.Compare(a.k, b.k) < 0 }

var errEngineClosed = errors.New("storage engine is closed")

func newMemEngine() *memEngine {
	e := &memEngine{committed: btree.NewBTreeGOptions(kvLess, btree.Options{NoLocks: true})}
	e.snap.Store(e.committed.Copy())
	return e
}

func (e *memEngine) View(fn func(kvReader) error) error {
	tr := e.snap.Load()
	if tr == nil {
		return errEngineClosed
	}
	return fn(&memTx{tr: tr})
}

func (e *memEngine) Update(fn func(kvWriter) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errEngineClosed
	}
	tx := &memTx{tr: e.committed.Copy(), size: e.size}
	if err := fn(tx); err != nil {
		return err
	}
	e.committed, e.size = tx.tr, tx.size
	e.snap.Store(e.committed.Copy())
	e.snapSize.Store(e.size)
	return nil
}

func (e *memEngine) Size() int64 { return e.snapSize.Load() }

func (e *memEngine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	e.snap.Store(nil)
	return nil
}

type memTx struct {
	tr   *btree.BTreeG[kvItem]
	size int64
}

func (t *memTx) Get(k []byte) ([]byte, error) {
	it, ok := t.tr.Get(kvItem{k: k})
	if !ok {
		return nil, nil
	}
	if it.v == nil {
		return []byte{}, nil
	}
	return it.v, nil
}

func (t *memTx) Put(k, v []byte) error {
	item := kvItem{k: bytes.Clone(k), v: bytes.Clone(v)}
	if item.v == nil {
		item.v = []byte{}
	}
	prev, replaced := t.tr.Set(item)
	if replaced {
		t.size -= int64(len(prev.k) + len(prev.v))
	}
	t.size += int64(len(item.k) + len(item.v))
	return nil
}

func (t *memTx) Delete(k []byte) error {
	if prev, ok := t.tr.Delete(kvItem{k: k}); ok {
		t.size -= int64(len(prev.k) + len(prev.v))
	}
	return nil
}

func (t *memTx) Iter(lo, hi []byte, reverse bool) kvIter {
	return &memIter{it: t.tr.Iter(), lo: lo, hi: hi, reverse: reverse}
}

type memIter struct {
	it      btree.IterG[kvItem]
	lo, hi  []byte
	reverse bool
	started bool
	done    bool
}

func (m *memIter) Next() bool {
	if m.done {
		return false
	}
	var ok bool
	switch {
	case m.started && m.reverse:
		ok = m.it.Prev()
	case m.started:
		ok = m.it.Next()
	case m.reverse:
		m.started = true
		if m.hi != nil && m.it.Seek(kvItem{k: m.hi}) {
			ok = m.it.Prev()
		} else {
			ok = m.it.Last()
		}
	default:
		m.started = true
		ok = m.it.Seek(kvItem{k: m.lo})
	}
	if ok {
		k := m.it.Item().k
		if m.reverse {
			ok = m.lo == nil || bytes.Compare(k, m.lo) >= 0
		} else {
			ok = m.hi == nil || bytes.Compare(k, m.hi) < 0
		}
	}
	if !ok {
		m.done = true
	}
	return ok
}

func (m *memIter) Key() []byte   { return m.it.Item().k }
func (m *memIter) Value() []byte { return m.it.Item().v }
func (m *memIter) Close() error  { m.it.Release(); return nil }

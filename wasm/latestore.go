//go:build js && wasm

package main

import (
	"fmt"
	"sync"
	"syscall/js"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/wasm/idb"
)

// IndexedDB is off the path to the first frame. Opening it takes 150 ms to
// well over a second on a fresh profile (the browser creates the
// database), and the first frame of /watch needs none of it: the chunk
// map comes from the relay, the first chunks over HTTP from the serving
// node, each hashed against the map. So start returns once the relay
// answers, and the store opens later: when something waits for it, when
// the player asks for its second media chunk, or openAfter after start.
//
//   - lateStore is the chunk store as the tab and the core see it: reads
//     that must not wait (Has, Size, Pins, List, Stats) answer "not held"
//     until it is open; those that may (Get, ReadAt, Put, Pin, ...) run on
//     goroutines and wait for it.
//   - The player's verified chunks that arrive before it is open are kept
//     in memory (keep; up to maxPending bytes) and written when it opens.
//     Such a chunk is never reported held (Has is false until IndexedDB
//     has it), so no download counts on bytes that could still be lost.
//   - latePersist queues the library's writes in order until then.
//   - The library's cached events, the tab's shares and its credit ledger
//     are read back when it opens and merged with what came meanwhile
//     (tab.loadStored).

// maxPending bounds the verified chunks kept in memory while IndexedDB
// opens (the player's first chunks; one chunk in flight may pass it).
const maxPending = 64 << 20

// lateStore is the tab's chunk store, usable before IndexedDB is open.
type lateStore struct {
	ready chan struct{} // closed once st or err is set
	st    *idb.Store
	err   error

	openOnce sync.Once
	open     func() // starts opening IndexedDB (nil in tests: opened is called)

	mu      sync.Mutex
	pending map[[32]byte]js.Value // verified chunks waiting for the store
	bytes   int64                 // their total length
}

var _ blobstore.Blobs = (*lateStore)(nil)

func newLateStore() *lateStore {
	return &lateStore{ready: make(chan struct{}), pending: map[[32]byte]js.Value{}}
}

// opened sets the store (or why it did not open) and writes the chunks
// kept meanwhile. log reports a chunk that could not be written.
func (l *lateStore) opened(st *idb.Store, err error, log func(error)) {
	if err != nil {
		err = fmt.Errorf("IndexedDB did not open: %w (this browser may block storage for the site, or be in a private mode without it)", err)
	}
	l.st, l.err = st, err
	close(l.ready)
	l.mu.Lock()
	kept := make(map[[32]byte]js.Value, len(l.pending))
	for h, b := range l.pending {
		kept[h] = b
	}
	l.mu.Unlock()
	for h, b := range kept {
		if err == nil {
			if perr := st.PutVerifiedJS(h, b); perr != nil {
				log(fmt.Errorf("storing chunk %x kept while IndexedDB opened: %w", h[:4], perr))
			}
		}
		l.mu.Lock()
		delete(l.pending, h)
		l.bytes -= int64(b.Length())
		l.mu.Unlock()
	}
}

// now is the store if open, else nil: it never waits.
func (l *lateStore) now() *idb.Store {
	select {
	case <-l.ready:
		return l.st // nil when it failed
	default:
		return nil
	}
}

// need starts opening IndexedDB if nothing did yet. It never waits.
func (l *lateStore) need() {
	l.openOnce.Do(func() {
		if l.open != nil {
			go l.open()
		}
	})
}

// wait returns the store once open (opening it if needed), or why it did
// not open. Only for goroutines: it blocks.
func (l *lateStore) wait() (*idb.Store, error) {
	l.need()
	<-l.ready
	return l.st, l.err
}

// room tells whether a chunk of n bytes may be kept in memory now (always
// when the store is open: it goes straight there).
func (l *lateStore) room(n int64) bool {
	if l.now() != nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bytes+n <= maxPending
}

// keep stores a verified chunk: at once if the store is open, else in
// memory until it opens. It never waits.
func (l *lateStore) keep(h [32]byte, b js.Value, log func(error)) {
	n := int64(b.Length())
	l.mu.Lock()
	select {
	case <-l.ready:
	default:
		if l.bytes+n <= maxPending {
			if _, dup := l.pending[h]; !dup {
				l.pending[h] = b
				l.bytes += n
			}
			l.mu.Unlock()
			return
		}
	}
	l.mu.Unlock()
	go func() {
		st, err := l.wait()
		if err == nil {
			err = st.PutVerifiedJS(h, b)
		}
		if err != nil {
			log(fmt.Errorf("storing chunk %x: %w", h[:4], err))
		}
	}()
}

// kept returns a chunk kept in memory while the store opens.
func (l *lateStore) kept(h [32]byte) (js.Value, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.pending[h]
	return b, ok
}

// GetJS is the chunk as a Uint8Array: kept in memory, or from the store
// once open.
func (l *lateStore) GetJS(h [32]byte) (js.Value, error) {
	if b, ok := l.kept(h); ok {
		return b, nil
	}
	st, err := l.wait()
	if err != nil {
		return js.Undefined(), err
	}
	return st.GetJS(h)
}

// The blobstore.Blobs methods the core and the WebRTC node use.

func (l *lateStore) Has(h [32]byte) bool {
	st := l.now()
	return st != nil && st.Has(h)
}

func (l *lateStore) Size(h [32]byte) (int64, error) {
	if st := l.now(); st != nil {
		return st.Size(h)
	}
	return 0, blobstore.ErrNotFound
}

func (l *lateStore) Get(h [32]byte) ([]byte, error) {
	if b, ok := l.kept(h); ok {
		out := make([]byte, b.Length())
		js.CopyBytesToGo(out, b)
		return out, nil
	}
	st, err := l.wait()
	if err != nil {
		return nil, err
	}
	return st.Get(h)
}

func (l *lateStore) ReadAt(h [32]byte, p []byte, off int64) (int, error) {
	st, err := l.wait()
	if err != nil {
		return 0, err
	}
	return st.ReadAt(h, p, off)
}

func (l *lateStore) Put(h [32]byte, data []byte) error {
	st, err := l.wait()
	if err != nil {
		return err
	}
	return st.Put(h, data)
}

// PutVerified stores a chunk a transport already checked.
func (l *lateStore) PutVerified(h [32]byte, data []byte) error {
	st, err := l.wait()
	if err != nil {
		return err
	}
	return st.PutVerified(h, data)
}

func (l *lateStore) Delete(h [32]byte) error {
	st, err := l.wait()
	if err != nil {
		return err
	}
	return st.Delete(h)
}

func (l *lateStore) Pin(h [32]byte, reason string) error {
	st, err := l.wait()
	if err != nil {
		return err
	}
	return st.Pin(h, reason)
}

func (l *lateStore) Unpin(h [32]byte, reason string) error {
	st, err := l.wait()
	if err != nil {
		return err
	}
	return st.Unpin(h, reason)
}

func (l *lateStore) Pins(h [32]byte) []string {
	if st := l.now(); st != nil {
		return st.Pins(h)
	}
	return nil
}

func (l *lateStore) List() [][32]byte {
	if st := l.now(); st != nil {
		return st.List()
	}
	return nil
}

func (l *lateStore) Stats() blobstore.Stats {
	if st := l.now(); st != nil {
		return st.Stats()
	}
	return blobstore.Stats{}
}

// latePersist keeps the library's events in IndexedDB, queuing them in
// order until it is open (the events came from the relay: the queue is
// bounded by maxEvents, beyond which a write waits for the store).
type latePersist struct {
	l *lateStore

	mu      sync.Mutex
	flushed bool
	queue   []persistOp
}

type persistOp struct {
	id, raw string
	del     bool
}

func (p *latePersist) do(op persistOp) error {
	p.mu.Lock()
	if !p.flushed && len(p.queue) < maxEvents {
		p.queue = append(p.queue, op)
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	st, err := p.l.wait()
	if err != nil {
		return err
	}
	p.flush(st, func(error) {}) // the queue first, in order
	return op.apply(st)
}

func (op persistOp) apply(st *idb.Store) error {
	if op.del {
		return st.DeleteFile(recEvent + op.id)
	}
	return st.PutFile(recEvent+op.id, op.raw)
}

func (p *latePersist) Put(id, raw string) error { return p.do(persistOp{id: id, raw: raw}) }
func (p *latePersist) Delete(id string) error   { return p.do(persistOp{id: id, del: true}) }

// flush writes the queued operations in order once the store is open;
// later ones go straight to it.
func (p *latePersist) flush(st *idb.Store, log func(error)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.flushed {
		return
	}
	for _, op := range p.queue {
		if err := op.apply(st); err != nil {
			log(fmt.Errorf("keeping event %s: %w", op.id, err))
		}
	}
	p.queue, p.flushed = nil, true
}

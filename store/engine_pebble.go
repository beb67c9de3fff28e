package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// pebbleEngine is an LSM tree. Update builds an indexed batch (so the
// transaction reads its own writes) and commits it with a WAL fsync. Views
// read from a snapshot.
type pebbleEngine struct {
	db *pebble.DB
	mu sync.Mutex // serializes Update: the batch reads the live DB
}

func openPebble(dir string) (engine, error) {
	cache := pebble.NewCache(pebbleCacheSize)
	defer cache.Unref()
	opts := &pebble.Options{
		Cache:              cache,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLogger{},
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("opening pebble %s: %w", dir, err)
	}
	return &pebbleEngine{db: db}, nil
}

func (e *pebbleEngine) View(fn func(kvReader) error) error {
	snap := e.db.NewSnapshot()
	tx := &pebbleTx{r: snap}
	err := fn(tx)
	tx.release()
	if tx.getIt != nil {
		if cerr := tx.getIt.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}
	if cerr := snap.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("closing pebble snapshot: %w", cerr)
	}
	return err
}

func (e *pebbleEngine) Update(fn func(kvWriter) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.db.NewIndexedBatch()
	defer b.Close()
	tx := &pebbleTx{r: b, b: b}
	err := fn(tx)
	tx.release()
	if err != nil {
		return err
	}
	if b.Empty() {
		return nil
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("committing pebble batch: %w", err)
	}
	return nil
}

func (e *pebbleEngine) Size() int64 { return int64(e.db.Metrics().DiskSpaceUsage()) }

func (e *pebbleEngine) Close() error { return e.db.Close() }

// pebbleReader is what a snapshot and an indexed batch have in common.
type pebbleReader interface {
	Get(key []byte) ([]byte, io.Closer, error)
	NewIter(o *pebble.IterOptions) (*pebble.Iterator, error)
}

type pebbleTx struct {
	r      pebbleReader
	b      *pebble.Batch // nil in a View
	closer io.Closer     // of the last Get's value

	// In a View, Get seeks this one iterator instead of calling the
	// snapshot's Get, which builds a new iterator each time.
	getIt *pebble.Iterator
}

// release closes the last Get's value, which the contract keeps valid until
// the next call on the transaction.
func (t *pebbleTx) release() {
	if t.closer != nil {
		t.closer.Close()
		t.closer = nil
	}
}

func (t *pebbleTx) Get(k []byte) ([]byte, error) {
	if t.b == nil {
		return t.seekGet(k)
	}
	t.release()
	v, closer, err := t.r.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	t.closer = closer
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

func (t *pebbleTx) seekGet(k []byte) ([]byte, error) {
	if t.getIt == nil {
		it, err := t.r.NewIter(nil)
		if err != nil {
			return nil, err
		}
		t.getIt = it
	}
	if !t.getIt.SeekGE(k) {
		return nil, t.getIt.Error()
	}
	if !bytes.Equal(t.getIt.Key(), k) {
		return nil, nil
	}
	v := t.getIt.Value()
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

func (t *pebbleTx) Put(k, v []byte) error {
	t.release()
	return t.b.Set(k, v, nil)
}

func (t *pebbleTx) Delete(k []byte) error {
	t.release()
	return t.b.Delete(k, nil)
}

func (t *pebbleTx) Iter(lo, hi []byte, reverse bool) kvIter {
	it, err := t.r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	return &pebbleIter{it: it, err: err, reverse: reverse}
}

type pebbleIter struct {
	it      *pebble.Iterator
	err     error
	reverse bool
	started bool
}

func (p *pebbleIter) Next() bool {
	if p.err != nil {
		return false
	}
	if !p.started {
		p.started = true
		if p.reverse {
			return p.it.Last()
		}
		return p.it.First()
	}
	if p.reverse {
		return p.it.Prev()
	}
	return p.it.Next()
}

func (p *pebbleIter) Key() []byte   { return p.it.Key() }
func (p *pebbleIter) Value() []byte { return p.it.Value() }

func (p *pebbleIter) Close() error {
	if p.err != nil {
		return p.err
	}
	return p.it.Close() // reports the iteration error too
}

// pebbleLogger keeps pebble's routine chatter out of the node's log.
type pebbleLogger struct{}

func (pebbleLogger) Infof(string, ...any) {}
func (pebbleLogger) Errorf(format string, args ...any) {
	slog.Error("pebble: " + fmt.Sprintf(format, args...))
}
func (pebbleLogger) Fatalf(format string, args ...any) { pebble.DefaultLogger.Fatalf(format, args...) }

// pebbleCacheSize is the block cache. Records are read at random: a cache
// smaller than the working set turns each miss into a read, a checksum and
// a decompression.
const pebbleCacheSize = 512 << 20

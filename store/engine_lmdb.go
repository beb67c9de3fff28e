//go:build cgo

package store

import (
	"bytes"
	"fmt"
	"os"

	"github.com/PowerDNS/lmdb-go/lmdb"
)

const lmdbAvailable = true

// lmdbEngine is a copy-on-write B+tree in one memory map. Reads return
// slices into the map (no copy); commits fsync.
type lmdbEngine struct {
	env *lmdb.Env
	dbi lmdb.DBI
}

const (
	lmdbMapSize    = 1 << 40 // 1 TiB of address space; the file grows as used
	lmdbMaxReaders = 1024    // concurrent Views
)

func openLMDB(dir string) (engine, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating lmdb directory: %w", err)
	}
	env, err := lmdb.NewEnv()
	if err != nil {
		return nil, fmt.Errorf("creating lmdb environment: %w", err)
	}
	fail := func(what string, err error) (engine, error) {
		env.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := env.SetMapSize(lmdbMapSize); err != nil {
		return fail("setting lmdb map size", err)
	}
	if err := env.SetMaxReaders(lmdbMaxReaders); err != nil {
		return fail("setting lmdb readers", err)
	}
	// NoTLS: read transactions are not tied to OS threads (goroutines move).
	// NoReadahead: random access over a map larger than RAM.
	if err := env.Open(dir, lmdb.NoTLS|lmdb.NoReadahead, 0o600); err != nil {
		return fail("opening lmdb "+dir, err)
	}
	e := &lmdbEngine{env: env}
	err = env.Update(func(txn *lmdb.Txn) error {
		e.dbi, err = txn.OpenRoot(0)
		return err
	})
	if err != nil {
		return fail("opening lmdb root database", err)
	}
	return e, nil
}

func (e *lmdbEngine) View(fn func(kvReader) error) error {
	return e.env.View(func(txn *lmdb.Txn) error {
		txn.RawRead = true
		return fn(&lmdbTx{txn: txn, dbi: e.dbi})
	})
}

func (e *lmdbEngine) Update(fn func(kvWriter) error) error {
	return e.env.Update(func(txn *lmdb.Txn) error {
		txn.RawRead = true
		return fn(&lmdbTx{txn: txn, dbi: e.dbi})
	})
}

func (e *lmdbEngine) Size() int64 {
	info, err := e.env.Info()
	if err != nil {
		return 0
	}
	st, err := e.env.Stat()
	if err != nil {
		return 0
	}
	return (info.LastPNO + 1) * int64(st.PSize)
}

func (e *lmdbEngine) Close() error { return e.env.Close() }

type lmdbTx struct {
	txn *lmdb.Txn
	dbi lmdb.DBI
}

func (t *lmdbTx) Get(k []byte) ([]byte, error) {
	v, err := t.txn.Get(t.dbi, k)
	if lmdb.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

func (t *lmdbTx) Put(k, v []byte) error { return t.txn.Put(t.dbi, k, v, 0) }

func (t *lmdbTx) Delete(k []byte) error {
	err := t.txn.Del(t.dbi, k, nil)
	if lmdb.IsNotFound(err) {
		return nil
	}
	return err
}

func (t *lmdbTx) Iter(lo, hi []byte, reverse bool) kvIter {
	c, err := t.txn.OpenCursor(t.dbi)
	return &lmdbIter{c: c, err: err, lo: lo, hi: hi, reverse: reverse}
}

type lmdbIter struct {
	c       *lmdb.Cursor
	err     error
	lo, hi  []byte
	reverse bool
	started bool
	done    bool
	k, v    []byte
}

func (it *lmdbIter) get(key []byte, op uint) bool {
	k, v, err := it.c.Get(key, nil, op)
	if lmdb.IsNotFound(err) {
		return false
	}
	if err != nil {
		it.err = err
		return false
	}
	it.k, it.v = k, v
	return true
}

func (it *lmdbIter) Next() bool {
	if it.done || it.err != nil {
		return false
	}
	var ok bool
	switch {
	case it.started && it.reverse:
		ok = it.get(nil, lmdb.Prev)
	case it.started:
		ok = it.get(nil, lmdb.Next)
	case it.reverse:
		it.started = true
		if it.hi != nil && it.get(it.hi, lmdb.SetRange) {
			ok = it.get(nil, lmdb.Prev)
		} else if it.err == nil {
			ok = it.get(nil, lmdb.Last)
		}
	default:
		it.started = true
		if len(it.lo) == 0 {
			ok = it.get(nil, lmdb.First)
		} else {
			ok = it.get(it.lo, lmdb.SetRange)
		}
	}
	if ok && it.reverse {
		ok = it.lo == nil || bytes.Compare(it.k, it.lo) >= 0
	} else if ok {
		ok = it.hi == nil || bytes.Compare(it.k, it.hi) < 0
	}
	it.done = !ok
	return ok
}

func (it *lmdbIter) Key() []byte   { return it.k }
func (it *lmdbIter) Value() []byte { return it.v }

func (it *lmdbIter) Close() error {
	if it.c != nil {
		it.c.Close()
	}
	return it.err
}

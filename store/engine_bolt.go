package store

import (
	"bytes"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

// boltEngine keeps every key in one bbolt bucket. Commits fsync.
type boltEngine struct {
	db *bolt.DB
}

var boltBucket = []byte("cairn")

func openBolt(path string) (engine, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		FreelistType:    bolt.FreelistMapType,
		NoFreelistSync:  true,    // rebuilt on open; saves a write per commit
		InitialMmapSize: 1 << 30, // remapping waits for readers: do it rarely
	})
	if err != nil {
		return nil, fmt.Errorf("opening bbolt %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(boltBucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("creating bbolt bucket: %w", err)
	}
	return &boltEngine{db: db}, nil
}

func (e *boltEngine) View(fn func(kvReader) error) error {
	return e.db.View(func(tx *bolt.Tx) error {
		return fn(boltTx{tx.Bucket(boltBucket)})
	})
}

func (e *boltEngine) Update(fn func(kvWriter) error) error {
	return e.db.Update(func(tx *bolt.Tx) error {
		return fn(boltTx{tx.Bucket(boltBucket)})
	})
}

func (e *boltEngine) Size() int64 {
	fi, err := os.Stat(e.db.Path())
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (e *boltEngine) Close() error { return e.db.Close() }

type boltTx struct{ b *bolt.Bucket }

func (t boltTx) Get(k []byte) ([]byte, error) {
	v := t.b.Get(k)
	if v == nil {
		return nil, nil
	}
	return v, nil
}

func (t boltTx) Put(k, v []byte) error {
	if v == nil {
		v = []byte{}
	}
	return t.b.Put(k, v)
}

func (t boltTx) Delete(k []byte) error { return t.b.Delete(k) }

func (t boltTx) Iter(lo, hi []byte, reverse bool) kvIter {
	return &boltIter{c: t.b.Cursor(), lo: lo, hi: hi, reverse: reverse}
}

type boltIter struct {
	c       *bolt.Cursor
	lo, hi  []byte
	reverse bool
	started bool
	done    bool
	k, v    []byte
}

func (it *boltIter) Next() bool {
	if it.done {
		return false
	}
	switch {
	case it.started && it.reverse:
		it.k, it.v = it.c.Prev()
	case it.started:
		it.k, it.v = it.c.Next()
	case it.reverse:
		it.started = true
		if it.hi == nil {
			it.k, it.v = it.c.Last()
		} else if it.k, it.v = it.c.Seek(it.hi); it.k == nil {
			it.k, it.v = it.c.Last()
		} else {
			it.k, it.v = it.c.Prev()
		}
	default:
		it.started = true
		it.k, it.v = it.c.Seek(it.lo)
	}
	ok := it.k != nil
	if ok && it.reverse {
		ok = it.lo == nil || bytes.Compare(it.k, it.lo) >= 0
	} else if ok {
		ok = it.hi == nil || bytes.Compare(it.k, it.hi) < 0
	}
	it.done = !ok
	return ok
}

func (it *boltIter) Key() []byte   { return it.k }
func (it *boltIter) Value() []byte { return it.v }
func (it *boltIter) Close() error  { return nil }

package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// engine is the ordered key-value seam under the event indexes. Keys are
// compared bytewise. Every implementation (memory, bbolt, pebble, lmdb) offers
// the same small contract:
//
//   - View runs fn in a read-only transaction over a consistent snapshot; many
//     Views may run at once, alongside one Update.
//   - Update runs fn in a read-write transaction that sees its own writes. Calls
//     are serialized. If fn returns an error nothing it wrote is kept. When
//     Update returns nil the writes are durable (fsync'd), except for the
//     memory engine.
//   - A slice returned by Get is valid until the next Get, Put or Delete on the
//     same transaction, and never after the transaction ends. Keys and values
//     of an iterator are valid until its next call to Next. Callers copy what
//     they keep.
//   - Put may keep value (not key) until the transaction ends: callers pass
//     a value they will not modify.
//   - An iterator must be closed before the transaction ends, and a write
//     transaction must not be modified while one of its iterators is open.
type engine interface {
	View(fn func(tx kvReader) error) error
	Update(fn func(tx kvWriter) error) error
	// Size reports the approximate bytes used on disk (or in memory).
	Size() int64
	Close() error
}

// kvReader is a transaction's read side.
type kvReader interface {
	// Get returns the value of key, or nil and no error when key is absent.
	Get(key []byte) ([]byte, error)
	// Iter walks keys k with lo <= k < hi (nil hi: no upper bound) in
	// ascending order, or descending when reverse is set.
	Iter(lo, hi []byte, reverse bool) kvIter
}

// kvWriter is a write transaction.
type kvWriter interface {
	kvReader
	Put(key, value []byte) error
	Delete(key []byte) error
}

// kvIter is a positioned walk over a key range. Next must be called before
// the first Key.
type kvIter interface {
	Next() bool
	Key() []byte
	Value() []byte
	// Close releases the iterator and reports any error met while iterating.
	Close() error
}

// Engine names accepted by Options.Engine.
const (
	EngineBbolt  = "bbolt"
	EnginePebble = "pebble"
	EngineLMDB   = "lmdb"
)

// DefaultEngine is the on-disk engine Open uses for a new directory (bbolt
// when the build has no cgo). It was chosen by measurement: see
// BenchmarkEngines in bench_test.go for the command and the figures.
const DefaultEngine = EngineLMDB

// defaultEngine is DefaultEngine if this build has it, else bbolt.
func defaultEngine() string {
	if DefaultEngine == EngineLMDB && !lmdbAvailable {
		return EngineBbolt
	}
	return DefaultEngine
}

// Engines lists the on-disk engines this build supports.
func Engines() []string {
	names := []string{EngineBbolt, EnginePebble}
	if lmdbAvailable {
		names = append(names, EngineLMDB)
	}
	return names
}

// enginePaths are where each engine keeps its files inside the store's
// directory; their presence tells Open which engine a directory holds.
var enginePaths = map[string]string{
	EngineBbolt:  "events.bolt",
	EnginePebble: "pebble",
	EngineLMDB:   "lmdb",
}

// detectEngine returns the engine whose files exist in dir, or "" if none.
// Two engines' files in one directory is an error.
func detectEngine(dir string) (string, error) {
	found := ""
	for _, name := range []string{EngineBbolt, EnginePebble, EngineLMDB} {
		_, err := os.Stat(filepath.Join(dir, enginePaths[name]))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("looking for %s files: %w", name, err)
		}
		if found != "" {
			return "", fmt.Errorf("directory %s holds both %s and %s data", dir, found, name)
		}
		found = name
	}
	return found, nil
}

// openEngine opens (creating if needed) the named engine inside dir.
func openEngine(name, dir string) (engine, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating store directory: %w", err)
	}
	path := filepath.Join(dir, enginePaths[name])
	switch name {
	case EngineBbolt:
		return openBolt(path)
	case EnginePebble:
		return openPebble(path)
	case EngineLMDB:
		return openLMDB(path)
	}
	return nil, fmt.Errorf("unknown storage engine %q (want one of %v)", name, Engines())
}

// scan calls fn for each key/value in [lo, hi), in the given direction, until
// fn returns an error. errStop ends the walk without error.
func scan(tx kvReader, lo, hi []byte, reverse bool, fn func(k, v []byte) error) error {
	it := tx.Iter(lo, hi, reverse)
	var err error
	for it.Next() {
		if err = fn(it.Key(), it.Value()); err != nil {
			break
		}
	}
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

// errStop ends a scan early without error.
var errStop = errors.New("stop")

// prefixEnd returns the smallest key greater than every key starting with p,
// or nil when there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

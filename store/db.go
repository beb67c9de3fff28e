package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure Open.
type Options struct {
	// Engine selects the on-disk engine: EngineBbolt, EnginePebble or
	// EngineLMDB. Empty means the engine whose files are already in the
	// directory, or DefaultEngine for a new one. Naming an engine other than
	// the one a directory holds is an error (there is no conversion).
	Engine string

	// Now tells the time, for NIP-40: queries skip events whose expiration
	// is at or before Now. Default time.Now.
	Now func() time.Time
}

// Validate reports whether the options can be used.
func (o Options) Validate() error {
	switch o.Engine {
	case "", EngineBbolt, EnginePebble:
	case EngineLMDB:
		if !lmdbAvailable {
			return fmt.Errorf("store engine %q needs a cgo build", o.Engine)
		}
	default:
		return fmt.Errorf("unknown store engine %q (want one of %v)", o.Engine, Engines())
	}
	return nil
}

// Open opens the store in dir, creating dir and the store if needed.
func Open(dir string, opts Options) (Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating store directory: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s, err := openLocked(dir, opts)
	if err != nil {
		lock.Close()
		return nil, err
	}
	s.lock = lock
	return s, nil
}

// lockFile is the name of the lock file in a store directory.
const lockFile = "cairn.lock"

func openLocked(dir string, opts Options) (*eventStore, error) {
	existing, err := detectEngine(dir)
	if err != nil {
		return nil, err
	}
	name := opts.Engine
	switch {
	case name == "" && existing != "":
		name = existing
	case name == "":
		name = defaultEngine()
	case existing != "" && existing != name:
		return nil, fmt.Errorf("store in %s uses engine %s, not %s", dir, existing, name)
	}
	eng, err := openEngine(name, dir)
	if err != nil {
		return nil, err
	}
	s, err := newEventStore(eng, opts)
	if err != nil {
		eng.Close()
		return nil, fmt.Errorf("opening %s store in %s: %w", name, dir, err)
	}
	return s, nil
}

// NewMemory returns a Store kept in memory, for tests. It behaves like Open
// except that nothing survives Close.
func NewMemory() Store {
	s, err := newEventStore(newMemEngine(), Options{})
	if err != nil {
		panic("store: initializing an empty memory store: " + err.Error()) // cannot happen
	}
	return s
}

// Group commit limits: the writer puts at most this many requests, or about
// this many bytes of records, in one transaction.
const (
	maxBatch      = 1024
	maxBatchBytes = 8 << 20
)

// eventStore implements Store over an engine.
type eventStore struct {
	eng engine
	now func() time.Time

	// mu guards closed. Every operation holds it shared while it uses the
	// engine or enqueues a write, so Close (exclusive) waits for them.
	mu     sync.RWMutex
	closed bool

	reqs chan *writeReq // to the writer goroutine; closed by Close
	done chan struct{}  // closed when the writer has exited
	lock io.Closer      // the directory lock of an on-disk store

	st     meta // owned by the writer goroutine
	events atomic.Int64
}

// meta is the store-wide state kept under the meta keys.
type meta struct {
	nextSerial uint64
	events     int64
}

// writeReq is one unit of work for the writer: a Save or a maintenance job.
type writeReq struct {
	save *saveOp
	job  func(w *writeTxn) error // must reset its own outputs: it may run twice
	done chan error              // buffered; receives the result
}

func newEventStore(eng engine, opts Options) (*eventStore, error) {
	s := &eventStore{
		eng:  eng,
		now:  opts.Now,
		reqs: make(chan *writeReq, maxBatch),
		done: make(chan struct{}),
	}
	if s.now == nil {
		s.now = time.Now
	}
	from, migrating, err := s.loadMeta()
	if err != nil {
		return nil, err
	}
	if err := s.migrate(from, migrating); err != nil {
		return nil, err
	}
	s.events.Store(s.st.events)
	go s.run()
	return s, nil
}

// loadMeta reads (or, in a new store, writes) the meta keys. It returns
// the store's format version and whether a migration was cut short
// (migrate.go); a version this build cannot read is an error.
func (s *eventStore) loadMeta() (version uint64, migrating bool, err error) {
	err = s.eng.Update(func(tx kvWriter) error {
		v, err := tx.Get(metaVersion)
		if err != nil {
			return err
		}
		if v == nil {
			s.st = meta{nextSerial: 1}
			version = formatVersion
			if err := tx.Put(metaVersion, appendU64(nil, formatVersion)); err != nil {
				return err
			}
			return putMeta(tx, s.st)
		}
		if version, err = decodeU64(v, "format version"); err != nil {
			return err
		} else if version != formatVersion && version != 1 {
			return fmt.Errorf("store format version %d, this build reads %d (and migrates 1)", version, formatVersion)
		}
		if v, err = tx.Get(metaMigrating); err != nil {
			return err
		}
		migrating = v != nil
		if v, err = tx.Get(metaSerial); err != nil {
			return err
		}
		if s.st.nextSerial, err = decodeU64(v, "next serial"); err != nil {
			return err
		}
		if v, err = tx.Get(metaEvents); err != nil {
			return err
		}
		n, err := decodeU64(v, "event count")
		s.st.events = int64(n)
		return err
	})
	return version, migrating, err
}

func putMeta(tx kvWriter, m meta) error {
	if err := tx.Put(metaSerial, appendU64(nil, m.nextSerial)); err != nil {
		return err
	}
	return tx.Put(metaEvents, appendU64(nil, uint64(m.events)))
}

// run is the writer goroutine: it takes whatever is queued (up to maxBatch
// requests) and commits it in one transaction, so concurrent Saves share one
// fsync. It never waits for more work to arrive: a lone Save commits at once.
func (s *eventStore) run() {
	defer close(s.done)
	batch := make([]*writeReq, 0, maxBatch)
	for r := range s.reqs {
		batch = append(batch[:0], r)
		size := r.size()
	fill:
		for len(batch) < maxBatch && size < maxBatchBytes {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
				size += r.size()
			default:
				break fill
			}
		}
		s.commit(batch)
		clear(batch)
	}
}

func (r *writeReq) size() int {
	if r.save != nil {
		return len(r.save.rec)
	}
	return 0
}

// isRefusal reports whether err is a Save's normal refusal, which leaves the
// transaction usable, rather than a failure that must abort it.
func isRefusal(err error) bool {
	return errors.Is(err, ErrDuplicate) || errors.Is(err, ErrDeleted) || errors.Is(err, ErrReplaced)
}

// commit applies batch in one transaction and answers every request. If the
// transaction fails, each request is retried alone so that one bad request
// cannot fail the others.
func (s *eventStore) commit(batch []*writeReq) {
	results := make([]error, len(batch))
	var next meta
	err := s.eng.Update(func(tx kvWriter) error {
		w := &writeTxn{tx: tx, st: s.st}
		for i, r := range batch {
			var err error
			if r.save != nil {
				err = w.save(r.save)
			} else {
				err = r.job(w)
			}
			if err != nil && !isRefusal(err) {
				return err
			}
			results[i] = err
		}
		if w.st != s.st {
			if err := putMeta(tx, w.st); err != nil {
				return err
			}
		}
		next = w.st
		return nil
	})
	if err == nil {
		s.st = next
		s.events.Store(next.events)
		for i, r := range batch {
			r.done <- results[i]
		}
		return
	}
	if len(batch) == 1 {
		if r := batch[0]; r.save != nil {
			err = fmt.Errorf("saving event %s: %w", r.save.ev.ID, err)
		}
		batch[0].done <- err
		return
	}
	for _, r := range batch {
		s.commit([]*writeReq{r})
	}
}

// write hands r to the writer and waits for its result. If ctx ends first,
// write returns ctx.Err() and r may still be committed.
func (s *eventStore) write(ctx context.Context, r *writeReq) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.done = make(chan error, 1)
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// view runs fn in a read transaction unless the store is closed.
func (s *eventStore) view(fn func(tx kvReader) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return s.eng.View(fn)
}

func (s *eventStore) Stats() Stats {
	st := Stats{Events: s.events.Load()}
	s.mu.RLock()
	if !s.closed {
		st.DiskBytes = s.eng.Size()
	}
	s.mu.RUnlock()
	return st
}

// Close waits for queued writes and running reads, then closes the engine.
// Closing twice is harmless.
func (s *eventStore) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.reqs)
	s.mu.Unlock()
	<-s.done
	err := s.eng.Close()
	if s.lock != nil {
		s.lock.Close()
	}
	if err != nil {
		return fmt.Errorf("closing storage engine: %w", err)
	}
	return nil
}

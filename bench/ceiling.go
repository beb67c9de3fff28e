package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/store"
)

// spin runs fn on every core for about d and returns how many calls
// completed and how long they took. fn gets a call number, unique across
// workers. The first error stops every worker.
func spin(ctx context.Context, d time.Duration, fn func(i int) error) (int, time.Duration, error) {
	workers := runtime.GOMAXPROCS(0)
	var next atomic.Int64
	var stop atomic.Bool
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range workers {
		wg.Go(func() {
			for !stop.Load() {
				i := int(next.Add(1) - 1)
				if err := fn(i); err != nil {
					errOnce.Do(func() { firstErr = err })
					stop.Store(true)
					return
				}
				if i%64 == 0 && (time.Now().After(deadline) || ctx.Err() != nil) {
					stop.Store(true)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	// Calls are numbered before they run; all that were numbered completed.
	return int(next.Load()), elapsed, firstErr
}

// verifyRate is Schnorr signature checks per second on every core, over
// pre-signed events: the ceiling of a relay that verifies what it stores.
// It also returns the CPU time of one check, in microseconds.
func verifyRate(ctx context.Context, evs []*nostr.Event, d time.Duration) (rate, cpuPerCheck float64, err error) {
	m := markNow()
	n, elapsed, err := spin(ctx, d, func(i int) error {
		if ok, err := evs[i%len(evs)].CheckSignature(); !ok || err != nil {
			return fmt.Errorf("a pre-signed benchmark event failed verification (%v)", err)
		}
		return nil
	})
	return Rate(n, elapsed), m.usage().cpuPer(n), err
}

// decodeRate is events decoded from JSON per second on every core, with
// go-nostr's generated (easyjson) decoder.
func decodeRate(ctx context.Context, raws [][]byte, d time.Duration) (float64, error) {
	n, elapsed, err := spin(ctx, d, func(i int) error {
		var ev nostr.Event
		return ev.UnmarshalJSON(raws[i%len(raws)])
	})
	return Rate(n, elapsed), err
}

// saveAll calls save(i) for i in [0, n) from writers goroutines and returns
// how long they took. The first error stops the others.
func saveAll(n, writers int, save func(i int) error) (time.Duration, error) {
	var next atomic.Int64
	errs := make([]error, writers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range writers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := save(i); err != nil {
					errs[w] = err
					next.Store(int64(n)) // stop the others
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), errors.Join(errs...)
}

// storeCeiling measures durable writes on a fresh on-disk store with no
// relay in front: what writers concurrent Saves of bulk used, then the
// latency of Saving singles one after another (one durable commit each).
func storeCeiling(ctx context.Context, dir, engine string, bulk, singles []*nostr.Event, writers int) (u usage, single Latency, err error) {
	st, err := store.Open(dir, store.Options{Engine: engine})
	if err != nil {
		return u, Latency{}, fmt.Errorf("opening the ceiling store: %w", err)
	}
	defer func() {
		if cerr := st.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("closing the ceiling store: %w", cerr)
		}
	}()
	m := markNow()
	_, err = saveAll(len(bulk), writers, func(i int) error {
		if err := st.Save(ctx, bulk[i]); err != nil {
			return fmt.Errorf("saving event %d: %w", i, err)
		}
		return nil
	})
	u = m.usage()
	if err != nil {
		return u, Latency{}, err
	}
	var lat []time.Duration
	for _, ev := range singles {
		start := time.Now()
		if err := st.Save(ctx, ev); err != nil {
			return u, Latency{}, fmt.Errorf("saving one event: %w", err)
		}
		lat = append(lat, time.Since(start))
	}
	return u, Summarize(lat), nil
}

package store

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nbd-wtf/go-nostr"
)

// chooser draws choices from fuzz input first, then from a seeded PRNG, so
// the fuzzer steers the choices and a seed alone reproduces a run.
type chooser struct {
	data []byte
	rng  *rand.Rand
}

func newChooser(seed uint64, data []byte) *chooser {
	return &chooser{data: data, rng: rand.New(rand.NewPCG(seed, 0x5eed))}
}

func (c *chooser) intn(n int) int {
	if len(c.data) > 0 {
		b := c.data[0]
		c.data = c.data[1:]
		return int(b) % n
	}
	return c.rng.IntN(n)
}

func pick[T any](c *chooser, xs []T) T { return xs[c.intn(len(xs))] }

// randWorld generates related events: few authors, kinds that exercise every
// rule, tags that point at earlier events.
type randWorld struct {
	c       *chooser
	authors []string
	kinds   []int
	tagVals []string
	ds      []string
	saved   []*nostr.Event
	n       int
}

func newRandWorld(c *chooser) *randWorld {
	return &randWorld{
		c:       c,
		authors: []string{"A", "B", "C", "D"},
		kinds:   []int{1, 1, 1, 7, 0, 3, 10002, 30023, 30000, 5, 1000},
		tagVals: []string{"go", "nostr", "", "x", pubkey("tagged"), "a:b:c"},
		ds:      []string{"", "a", "b"},
	}
}

func (w *randWorld) earlierID() string {
	if len(w.saved) == 0 || w.c.intn(5) == 0 {
		return pubkey(fmt.Sprint("nowhere", w.c.intn(3)))
	}
	return pick(w.c, w.saved).ID
}

func (w *randWorld) event() *nostr.Event {
	c := w.c
	author := pick(c, w.authors)
	kind := pick(c, w.kinds)
	var tags []nostr.Tag
	for range c.intn(4) {
		switch c.intn(6) {
		case 0:
			tags = append(tags, nostr.Tag{"e", w.earlierID()})
		case 1:
			tags = append(tags, nostr.Tag{"p", pubkey(pick(c, w.authors))})
		case 2:
			tags = append(tags, nostr.Tag{"t", pick(c, w.tagVals)})
		case 3:
			tags = append(tags, nostr.Tag{"expiration", strconv.Itoa(50 + c.intn(200))})
		case 4:
			tags = append(tags, nostr.Tag{"subject", pick(c, w.tagVals)})
		case 5:
			tags = append(tags, nostr.Tag{"T"})
		}
	}
	if nostr.IsAddressableKind(kind) && c.intn(4) != 0 {
		tags = append(tags, nostr.Tag{"d", pick(c, w.ds)})
	}
	if kind == 5 {
		for range 1 + c.intn(3) {
			if c.intn(2) == 0 {
				tags = append(tags, nostr.Tag{"e", w.earlierID()})
			} else {
				k := pick(c, []int{0, 3, 30023, 30000, 1})
				tags = append(tags, nostr.Tag{"a", fmt.Sprintf("%d:%s:%s", k, pubkey(pick(c, w.authors)), pick(c, w.ds))})
			}
		}
	}
	w.n++
	ev := mkEvent(author, kind, int64(c.intn(200)-20), fmt.Sprint("content ", w.n), tags...)
	w.saved = append(w.saved, ev)
	return ev
}

func (w *randWorld) filter() nostr.Filter {
	c := w.c
	var f nostr.Filter
	list := func(n int, gen func() string) []string {
		out := []string{}
		for range n {
			out = append(out, gen())
		}
		return out
	}
	if c.intn(6) == 0 {
		f.IDs = list(c.intn(4), w.earlierID)
	}
	if c.intn(3) == 0 {
		f.Authors = list(c.intn(3)+c.intn(2), func() string {
			if c.intn(10) == 0 {
				return "not hex"
			}
			return pubkey(pick(c, w.authors))
		})
	}
	if c.intn(3) == 0 {
		f.Kinds = nil
		for range c.intn(3) + c.intn(2) {
			f.Kinds = append(f.Kinds, pick(c, w.kinds))
		}
		if f.Kinds == nil {
			f.Kinds = []int{}
		}
	}
	for range c.intn(3) {
		if f.Tags == nil {
			f.Tags = nostr.TagMap{}
		}
		switch c.intn(5) {
		case 0:
			f.Tags["e"] = list(1+c.intn(3), w.earlierID)
		case 1:
			f.Tags["p"] = list(1+c.intn(2), func() string { return pubkey(pick(c, w.authors)) })
		case 2:
			f.Tags["t"] = list(c.intn(3), func() string { return pick(c, w.tagVals) })
		case 3:
			f.Tags["d"] = list(1+c.intn(2), func() string { return pick(c, w.ds) })
		case 4:
			f.Tags["subject"] = list(1, func() string { return pick(c, w.tagVals) })
		}
	}
	if c.intn(3) == 0 {
		f.Since = ts(int64(c.intn(200) - 20))
	}
	if c.intn(3) == 0 {
		f.Until = ts(int64(c.intn(200) - 20))
	}
	return f
}

// storedEvents reads every record straight from the engine (bypassing the
// indexes), newest first, ties lowest id first.
func storedEvents(t testing.TB, s *eventStore) []*nostr.Event {
	t.Helper()
	var evs []*nostr.Event
	err := s.eng.View(func(tx kvReader) error {
		return scan(tx, []byte{pfxEvent}, []byte{pfxEvent + 1}, true, func(k, v []byte) error {
			_, raw, err := parseRecord(v)
			if err != nil {
				return err
			}
			ev := new(nostr.Event)
			if err := ev.UnmarshalJSON(raw); err != nil {
				return err
			}
			evs = append(evs, ev)
			return nil
		})
	})
	if err != nil {
		t.Fatalf("reading records: %v", err)
	}
	slices.SortFunc(evs, func(a, b *nostr.Event) int {
		return cmp.Or(cmp.Compare(b.CreatedAt, a.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return evs
}

// crossCheck compares Query, Count and IDs for f against a brute-force scan.
func crossCheck(t testing.TB, s *eventStore, all []*nostr.Event, f nostr.Filter, now int64) {
	t.Helper()
	want := bruteForce(all, f, now)
	if err := sameIDs(queryIDs(t, s, f, 0), want); err != nil {
		t.Fatalf("Query(%v): %v", f, err)
	}
	if len(want) > 1 {
		if err := sameIDs(queryIDs(t, s, f, 1), want[:1]); err != nil {
			t.Fatalf("Query(%v, limit 1): %v", f, err)
		}
	}
	n, err := s.Count(context.Background(), f)
	if err != nil || n != int64(len(want)) {
		t.Fatalf("Count(%v) = %d, %v; want %d", f, n, err, len(want))
	}
}

// runRandom applies ops random operations, then checks the store.
func runRandom(t testing.TB, s *eventStore, clock *fixedClock, c *chooser, ops, filters int) {
	t.Helper()
	ctx := context.Background()
	w := newRandWorld(c)
	for range ops {
		switch r := c.intn(100); {
		case r < 6 && len(w.saved) > 0:
			ev := pick(c, w.saved)
			if err := s.Save(ctx, ev); err != nil && !isRefusal(err) {
				t.Fatalf("re-Save: %v", err)
			}
		case r < 8:
			if _, err := s.DeleteExpired(ctx, int64(c.intn(300))); err != nil {
				t.Fatalf("DeleteExpired: %v", err)
			}
		default:
			if err := s.Save(ctx, w.event()); err != nil && !isRefusal(err) {
				t.Fatalf("Save: %v", err)
			}
		}
	}
	checkConsistent(t, s)
	all := storedEvents(t, s)
	if int64(len(all)) != s.Stats().Events {
		t.Fatalf("%d records, Stats says %d", len(all), s.Stats().Events)
	}
	crossCheck(t, s, all, nostr.Filter{}, clock.t)
	for range filters {
		crossCheck(t, s, all, w.filter(), clock.t)
	}
}

func TestRandomOperations(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		ops := 3000
		if ec.disk {
			ops = 400 // one fsync each
		}
		clock := &fixedClock{t: 100}
		s := ec.open(t, t.TempDir(), Options{Now: clock.now})
		runRandom(t, s, clock, newChooser(1, nil), ops, 300)
	})
}

func FuzzFilter(f *testing.F) {
	for seed := range uint64(8) {
		f.Add(seed, []byte{})
	}
	f.Add(uint64(42), []byte("\x05\x03\x00\x01\x02\x07\x09\x0a\x01\x02\x03"))
	f.Fuzz(func(t *testing.T, seed uint64, data []byte) {
		clock := &fixedClock{t: 100}
		es, err := newEventStore(newMemEngine(), Options{Now: clock.now})
		if err != nil {
			t.Fatal(err)
		}
		defer es.Close()
		n := 20
		if len(data) >= 2 {
			n = int(binary.LittleEndian.Uint16(data)) % 200
			data = data[2:]
		}
		runRandom(t, es, clock, newChooser(seed, data), n, 30)
	})
}

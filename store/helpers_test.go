package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"
)

// engineCase opens one kind of Store for the shared behavioural suite.
type engineCase struct {
	name string
	disk bool
}

func engineCases() []engineCase {
	cases := []engineCase{{name: "memory"}}
	for _, name := range Engines() {
		cases = append(cases, engineCase{name: name, disk: true})
	}
	return cases
}

// forEachEngine runs fn once per engine, as a subtest.
func forEachEngine(t *testing.T, fn func(t *testing.T, ec engineCase)) {
	t.Helper()
	for _, ec := range engineCases() {
		t.Run(ec.name, func(t *testing.T) { fn(t, ec) })
	}
}

// open opens a store of this engine in dir (ignored for memory) and closes
// it when the test ends.
func (ec engineCase) open(t testing.TB, dir string, opts Options) *eventStore {
	t.Helper()
	var s Store
	if ec.disk {
		opts.Engine = ec.name
		var err error
		if s, err = Open(dir, opts); err != nil {
			t.Fatalf("Open: %v", err)
		}
	} else {
		es, err := newEventStore(newMemEngine(), opts)
		if err != nil {
			t.Fatalf("newEventStore: %v", err)
		}
		s = es
	}
	t.Cleanup(func() { s.Close() })
	return s.(*eventStore)
}

// fixedClock is an injectable clock for NIP-40 tests.
type fixedClock struct{ t int64 }

func (c *fixedClock) now() time.Time { return time.Unix(c.t, 0) }

// pubkey returns a fixed, valid pubkey for a name.
func pubkey(name string) string {
	h := sha256.Sum256([]byte("pubkey:" + name))
	return hex.EncodeToString(h[:])
}

// mkEvent builds an event with a real id (signature left empty: the store
// does not verify).
func mkEvent(author string, kind int, createdAt int64, content string, tags ...nostr.Tag) *nostr.Event {
	ev := &nostr.Event{
		PubKey:    pubkey(author),
		CreatedAt: nostr.Timestamp(createdAt),
		Kind:      kind,
		Tags:      nostr.Tags(tags),
		Content:   content,
	}
	if ev.Tags == nil {
		ev.Tags = nostr.Tags{}
	}
	ev.ID = ev.GetID()
	return ev
}

func mustSave(t testing.TB, s Store, evs ...*nostr.Event) {
	t.Helper()
	for _, ev := range evs {
		if err := s.Save(context.Background(), ev); err != nil {
			t.Fatalf("Save(%s kind %d at %d): %v", ev.ID[:8], ev.Kind, ev.CreatedAt, err)
		}
	}
}

// queryIDs returns the ids Query yields for f, in order.
func queryIDs(t testing.TB, s Store, f nostr.Filter, limit int) []string {
	t.Helper()
	var ids []string
	err := s.Query(context.Background(), f, limit, func(raw []byte) error {
		var ev nostr.Event
		if err := ev.UnmarshalJSON(raw); err != nil {
			return err
		}
		ids = append(ids, ev.ID)
		return nil
	})
	if err != nil {
		t.Fatalf("Query(%v): %v", f, err)
	}
	return ids
}

// queryAll returns every stored, unexpired event, newest first.
func queryAll(t testing.TB, s Store) []*nostr.Event {
	t.Helper()
	var evs []*nostr.Event
	err := s.Query(context.Background(), nostr.Filter{}, 0, func(raw []byte) error {
		ev := new(nostr.Event)
		if err := ev.UnmarshalJSON(raw); err != nil {
			return err
		}
		evs = append(evs, ev)
		return nil
	})
	if err != nil {
		t.Fatalf("Query(all): %v", err)
	}
	return evs
}

func has(t testing.TB, s Store, ev *nostr.Event) bool {
	t.Helper()
	return len(queryIDs(t, s, nostr.Filter{IDs: []string{ev.ID}}, 0)) == 1
}

// checkConsistent fails the test if the store's indexes and records disagree.
func checkConsistent(t testing.TB, s *eventStore) {
	t.Helper()
	if err := s.eng.View(verify); err != nil {
		t.Fatalf("consistency check: %v", err)
	}
}

// bruteForce answers f over evs (given newest first) with Filter.Matches.
func bruteForce(evs []*nostr.Event, f nostr.Filter, now int64) []string {
	var ids []string
	for _, ev := range evs {
		if exp := expirationOf(ev.Tags); exp != 0 && int64(exp) <= now {
			continue
		}
		if f.Matches(ev) {
			ids = append(ids, ev.ID)
		}
	}
	return ids
}

func sameIDs(a, b []string) error {
	if slices.Equal(a, b) {
		return nil
	}
	short := func(ids []string) []string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = id[:8]
		}
		return out
	}
	return fmt.Errorf("got %v, want %v", short(a), short(b))
}

func isErr(err, target error) bool {
	if target == nil {
		return err == nil
	}
	return errors.Is(err, target)
}

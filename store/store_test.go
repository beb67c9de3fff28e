package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nbd-wtf/go-nostr"
)

func ts(v int64) *nostr.Timestamp { t := nostr.Timestamp(v); return &t }

func TestFilters(t *testing.T) {
	// A small fixed dataset, unique timestamps so the order is unambiguous.
	long := strings.Repeat("long-value-", 20) // hashed in the tag index
	upper := strings.ToUpper(pubkey("X"))     // 64 hex chars, but not canonical
	e := map[string]*nostr.Event{}
	e["e1"] = mkEvent("A", 1, 100, "hello", nostr.Tag{"t", "nostr"})
	e["e2"] = mkEvent("A", 1, 110, "reply", nostr.Tag{"e", e["e1"].ID}, nostr.Tag{"p", pubkey("B")})
	e["e3"] = mkEvent("B", 1, 120, "gm", nostr.Tag{"t", "nostr"}, nostr.Tag{"t", "go"})
	e["e4"] = mkEvent("B", 7, 130, "+", nostr.Tag{"e", e["e1"].ID}, nostr.Tag{"p", pubkey("A")})
	e["e5"] = mkEvent("C", 1, 140, "re gm", nostr.Tag{"e", e["e3"].ID}, nostr.Tag{"t", "go"})
	e["e6"] = mkEvent("C", 7, 150, "+", nostr.Tag{"e", e["e1"].ID}, nostr.Tag{"e", e["e3"].ID})
	e["e7"] = mkEvent("A", 30023, 160, "article", nostr.Tag{"d", "post"}, nostr.Tag{"t", "go"}, nostr.Tag{"title", "hello"})
	e["e8"] = mkEvent("B", 1, 170, "long", nostr.Tag{"L", long}, nostr.Tag{"x", upper}, nostr.Tag{"single"})
	e["e9"] = mkEvent("C", 1, -50, "before the epoch")
	e["e10"] = mkEvent("A", 1000, 0, "at the epoch", nostr.Tag{"e", e["e1"].ID, "wss://relay", "root"})
	order := []string{"e8", "e7", "e6", "e5", "e4", "e3", "e2", "e1", "e10", "e9"} // newest first

	// Many authors (set lookup) and a big authors x kinds product (fallback
	// from the pair index).
	var many []string
	for i := range 20 {
		many = append(many, pubkey(fmt.Sprint("other", i)))
	}
	manyKinds := []int{1}
	for k := 2; len(many)*len(manyKinds) <= maxPairRanges; k++ {
		manyKinds = append(manyKinds, k)
	}

	all := func(names ...string) []string { return names }
	tests := []struct {
		name  string
		f     nostr.Filter
		limit int
		want  []string
	}{
		{"everything", nostr.Filter{}, 0, order},
		{"limit", nostr.Filter{}, 3, all("e8", "e7", "e6")},
		{"ids", nostr.Filter{IDs: []string{e["e3"].ID, e["e1"].ID, pubkey("missing")}}, 0, all("e3", "e1")},
		{"ids with limit", nostr.Filter{IDs: []string{e["e1"].ID, e["e3"].ID}}, 1, all("e3")},
		{"ids and kind", nostr.Filter{IDs: []string{e["e3"].ID, e["e4"].ID}, Kinds: []int{7}}, 0, all("e4")},
		{"ids and tag", nostr.Filter{IDs: []string{e["e3"].ID, e["e5"].ID}, Tags: nostr.TagMap{"t": {"go"}}}, 0, all("e5", "e3")},
		{"ids not hex", nostr.Filter{IDs: []string{"xyz", strings.ToUpper(e["e1"].ID)}}, 0, nil},
		{"ids empty", nostr.Filter{IDs: []string{}}, 0, nil},
		{"author", nostr.Filter{Authors: []string{pubkey("A")}}, 0, all("e7", "e2", "e1", "e10")},
		{"authors", nostr.Filter{Authors: []string{pubkey("A"), pubkey("C")}}, 0, all("e7", "e6", "e5", "e2", "e1", "e10", "e9")},
		{"many authors", nostr.Filter{Authors: append(many, pubkey("B"))}, 0, all("e8", "e4", "e3")},
		{"author not hex", nostr.Filter{Authors: []string{"A"}}, 0, nil},
		{"authors and kinds", nostr.Filter{Authors: []string{pubkey("A"), pubkey("B")}, Kinds: []int{1}}, 0, all("e8", "e3", "e2", "e1")},
		{"authors and many kinds", nostr.Filter{Authors: append(many, pubkey("B")), Kinds: manyKinds}, 0, all("e8", "e4", "e3")},
		{"kind", nostr.Filter{Kinds: []int{7}}, 0, all("e6", "e4")},
		{"kinds", nostr.Filter{Kinds: []int{7, 30023}}, 0, all("e7", "e6", "e4")},
		{"kind out of range", nostr.Filter{Kinds: []int{-1, 1 << 40}}, 0, nil},
		{"kinds empty", nostr.Filter{Kinds: []int{}}, 0, nil},
		{"tag", nostr.Filter{Tags: nostr.TagMap{"e": {e["e1"].ID}}}, 0, all("e6", "e4", "e2", "e10")},
		{"tag values", nostr.Filter{Tags: nostr.TagMap{"e": {e["e1"].ID, e["e3"].ID}}}, 0, all("e6", "e5", "e4", "e2", "e10")},
		{"tag and kind", nostr.Filter{Kinds: []int{7}, Tags: nostr.TagMap{"e": {e["e1"].ID}}}, 0, all("e6", "e4")},
		{"two tag keys", nostr.Filter{Tags: nostr.TagMap{"t": {"go"}, "e": {e["e3"].ID}}}, 0, all("e5")},
		{"tag and author", nostr.Filter{Authors: []string{pubkey("A")}, Tags: nostr.TagMap{"p": {pubkey("B")}}}, 0, all("e2")},
		{"tag string", nostr.Filter{Tags: nostr.TagMap{"t": {"nostr"}}}, 0, all("e3", "e1")},
		{"tag long value", nostr.Filter{Tags: nostr.TagMap{"L": {long}}}, 0, all("e8")},
		{"tag uppercase hex", nostr.Filter{Tags: nostr.TagMap{"x": {upper}}}, 0, all("e8")},
		{"tag lowercase of uppercase hex", nostr.Filter{Tags: nostr.TagMap{"x": {pubkey("X")}}}, 0, nil},
		{"tag d", nostr.Filter{Tags: nostr.TagMap{"d": {"post"}}}, 0, all("e7")},
		{"tag multi-letter", nostr.Filter{Tags: nostr.TagMap{"title": {"hello"}}}, 0, all("e7")},
		{"tag without value", nostr.Filter{Tags: nostr.TagMap{"single": {""}}}, 0, nil},
		{"tag nil values", nostr.Filter{Tags: nostr.TagMap{"t": nil}}, 0, order},
		{"tag empty values", nostr.Filter{Tags: nostr.TagMap{"t": {}}}, 0, nil},
		{"tag no match", nostr.Filter{Tags: nostr.TagMap{"t": {"rust"}}}, 0, nil},
		{"since until", nostr.Filter{Since: ts(120), Until: ts(150)}, 0, all("e6", "e5", "e4", "e3")},
		{"until negative range", nostr.Filter{Until: ts(0)}, 0, all("e10", "e9")},
		{"since negative", nostr.Filter{Since: ts(-50), Until: ts(-50)}, 0, all("e9")},
		{"since after all", nostr.Filter{Since: ts(1000)}, 0, nil},
		{"since after until", nostr.Filter{Since: ts(150), Until: ts(120)}, 0, nil},
		{"kind since until limit", nostr.Filter{Kinds: []int{1}, Since: ts(100), Until: ts(170)}, 2, all("e8", "e5")},
		{"author kind tag time", nostr.Filter{Authors: []string{pubkey("C")}, Kinds: []int{1, 7}, Tags: nostr.TagMap{"e": {e["e3"].ID}}, Since: ts(145)}, 0, all("e6")},
	}
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		s := ec.open(t, t.TempDir(), Options{})
		for _, name := range order {
			mustSave(t, s, e[name])
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var want []string
				for _, n := range tt.want {
					want = append(want, e[n].ID)
				}
				got := queryIDs(t, s, tt.f, tt.limit)
				if err := sameIDs(got, want); err != nil {
					t.Errorf("Query: %v", err)
				}
				n, err := s.Count(context.Background(), tt.f)
				if err != nil {
					t.Fatalf("Count: %v", err)
				}
				if tt.limit == 0 && n != int64(len(want)) {
					t.Errorf("Count = %d, want %d", n, len(want))
				}
				if tt.limit == 0 {
					var fromIDs []string
					err := s.IDs(context.Background(), tt.f, 0, func(_ nostr.Timestamp, id [32]byte) error {
						fromIDs = append(fromIDs, fmt.Sprintf("%x", id))
						return nil
					})
					if err != nil {
						t.Fatalf("IDs: %v", err)
					}
					if err := sameIDs(fromIDs, want); err != nil {
						t.Errorf("IDs: %v", err)
					}
				}
			})
		}
		checkConsistent(t, s)
	})
}

func TestReplaceable(t *testing.T) {
	// Two events at the same second whose ids order is known.
	tieA := mkEvent("A", 0, 100, "tie a")
	tieB := mkEvent("A", 0, 100, "tie b")
	low, high := tieA, tieB
	if low.ID > high.ID {
		low, high = high, low
	}
	addrTieA := mkEvent("A", 30000, 100, "x", nostr.Tag{"d", "k"})
	addrTieB := mkEvent("A", 30000, 100, "y", nostr.Tag{"d", "k"})
	addrLow, addrHigh := addrTieA, addrTieB
	if addrLow.ID > addrHigh.ID {
		addrLow, addrHigh = addrHigh, addrLow
	}

	type step struct {
		ev  *nostr.Event
		err error
	}
	tests := []struct {
		name  string
		steps []step
		live  []*nostr.Event // what a query for the whole store returns, any order
	}{
		{
			name: "newer replaces older",
			steps: []step{
				{mkEvent("A", 0, 100, "old"), nil},
				{mkEvent("A", 0, 200, "new"), nil},
			},
			live: []*nostr.Event{mkEvent("A", 0, 200, "new")},
		},
		{
			name: "older is refused",
			steps: []step{
				{mkEvent("A", 3, 200, "new"), nil},
				{mkEvent("A", 3, 100, "old"), ErrReplaced},
			},
			live: []*nostr.Event{mkEvent("A", 3, 200, "new")},
		},
		{
			name:  "tie: lower id stored first wins",
			steps: []step{{low, nil}, {high, ErrReplaced}},
			live:  []*nostr.Event{low},
		},
		{
			name:  "tie: lower id arriving second replaces",
			steps: []step{{high, nil}, {low, nil}},
			live:  []*nostr.Event{low},
		},
		{
			name: "authors and kinds are separate slots",
			steps: []step{
				{mkEvent("A", 10002, 100, "a"), nil},
				{mkEvent("B", 10002, 100, "b"), nil},
				{mkEvent("A", 10003, 50, "c"), nil},
			},
			live: []*nostr.Event{mkEvent("A", 10002, 100, "a"), mkEvent("B", 10002, 100, "b"), mkEvent("A", 10003, 50, "c")},
		},
		{
			name: "addressable: d values are separate slots",
			steps: []step{
				{mkEvent("A", 30023, 100, "1", nostr.Tag{"d", "one"}), nil},
				{mkEvent("A", 30023, 100, "2", nostr.Tag{"d", "two"}), nil},
				{mkEvent("A", 30023, 200, "3", nostr.Tag{"d", "one"}), nil},
				{mkEvent("A", 30023, 150, "4", nostr.Tag{"d", "two"}), nil},
				{mkEvent("A", 30023, 120, "5", nostr.Tag{"d", "two"}), ErrReplaced},
			},
			live: []*nostr.Event{
				mkEvent("A", 30023, 200, "3", nostr.Tag{"d", "one"}),
				mkEvent("A", 30023, 150, "4", nostr.Tag{"d", "two"}),
			},
		},
		{
			name: "addressable: missing d is the empty d",
			steps: []step{
				{mkEvent("A", 30001, 100, "no d"), nil},
				{mkEvent("A", 30001, 200, "empty d", nostr.Tag{"d", ""}), nil},
				{mkEvent("A", 30001, 150, "no d again"), ErrReplaced},
			},
			live: []*nostr.Event{mkEvent("A", 30001, 200, "empty d", nostr.Tag{"d", ""})},
		},
		{
			name: "addressable: long d",
			steps: []step{
				{mkEvent("A", 30002, 100, "1", nostr.Tag{"d", strings.Repeat("d", 300)}), nil},
				{mkEvent("A", 30002, 200, "2", nostr.Tag{"d", strings.Repeat("d", 300)}), nil},
				{mkEvent("A", 30002, 300, "3", nostr.Tag{"d", strings.Repeat("d", 299)}), nil},
			},
			live: []*nostr.Event{
				mkEvent("A", 30002, 200, "2", nostr.Tag{"d", strings.Repeat("d", 300)}),
				mkEvent("A", 30002, 300, "3", nostr.Tag{"d", strings.Repeat("d", 299)}),
			},
		},
		{
			name:  "addressable tie",
			steps: []step{{addrHigh, nil}, {addrLow, nil}, {addrHigh, ErrReplaced}},
			live:  []*nostr.Event{addrLow},
		},
		{
			name: "regular kinds are never replaced",
			steps: []step{
				{mkEvent("A", 1, 100, "a"), nil},
				{mkEvent("A", 1, 200, "b"), nil},
			},
			live: []*nostr.Event{mkEvent("A", 1, 200, "b"), mkEvent("A", 1, 100, "a")},
		},
		{
			name:  "duplicate",
			steps: []step{{mkEvent("A", 0, 100, "x"), nil}, {mkEvent("A", 0, 100, "x"), ErrDuplicate}},
			live:  []*nostr.Event{mkEvent("A", 0, 100, "x")},
		},
	}
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := ec.open(t, t.TempDir(), Options{})
				for i, st := range tt.steps {
					if err := s.Save(context.Background(), st.ev); !isErr(err, st.err) {
						t.Fatalf("step %d: Save = %v, want %v", i, err, st.err)
					}
				}
				got := map[string]bool{}
				for _, ev := range queryAll(t, s) {
					got[ev.ID] = true
				}
				if len(got) != len(tt.live) {
					t.Errorf("store holds %d events, want %d", len(got), len(tt.live))
				}
				for _, ev := range tt.live {
					if !got[ev.ID] {
						t.Errorf("missing live event %q", ev.Content)
					}
				}
				if n := s.Stats().Events; n != int64(len(tt.live)) {
					t.Errorf("Stats().Events = %d, want %d", n, len(tt.live))
				}
				checkConsistent(t, s)
			})
		}
	})
}

func deletion(author string, createdAt int64, tags ...nostr.Tag) *nostr.Event {
	return mkEvent(author, 5, createdAt, "deleted", tags...)
}

func TestDeletion(t *testing.T) {
	ctx := context.Background()
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		t.Run("own event by id", func(t *testing.T) {
			s := ec.open(t, t.TempDir(), Options{})
			note := mkEvent("A", 1, 100, "oops")
			other := mkEvent("A", 1, 101, "keep")
			mustSave(t, s, note, other)
			del := deletion("A", 200, nostr.Tag{"e", note.ID})
			mustSave(t, s, del)
			if has(t, s, note) {
				t.Error("deleted event still returned")
			}
			if !has(t, s, other) || !has(t, s, del) {
				t.Error("deletion removed too much, or was not stored")
			}
			if err := s.Save(ctx, note); !errors.Is(err, ErrDeleted) {
				t.Errorf("re-publishing a deleted event: %v, want ErrDeleted", err)
			}
			checkConsistent(t, s)
		})
		t.Run("someone else's event", func(t *testing.T) {
			s := ec.open(t, t.TempDir(), Options{})
			note := mkEvent("B", 1, 100, "mine")
			mustSave(t, s, note, deletion("A", 200, nostr.Tag{"e", note.ID}))
			if !has(t, s, note) {
				t.Error("A deleted B's event")
			}
			if err := s.Save(ctx, note); !errors.Is(err, ErrDuplicate) {
				t.Errorf("Save = %v, want ErrDuplicate", err)
			}
			checkConsistent(t, s)
		})
		t.Run("deletion before the event", func(t *testing.T) {
			s := ec.open(t, t.TempDir(), Options{})
			late := mkEvent("A", 1, 100, "late")
			mustSave(t, s, deletion("A", 200, nostr.Tag{"e", late.ID}))
			if err := s.Save(ctx, late); !errors.Is(err, ErrDeleted) {
				t.Errorf("Save after own deletion = %v, want ErrDeleted", err)
			}
			// The same id claimed by someone else does not block its author.
			late2 := mkEvent("B", 1, 100, "late too")
			mustSave(t, s, deletion("C", 200, nostr.Tag{"e", late2.ID}))
			mustSave(t, s, late2)
			checkConsistent(t, s)
		})
		t.Run("by address", func(t *testing.T) {
			s := ec.open(t, t.TempDir(), Options{})
			a := "30023:" + pubkey("A") + ":post"
			mustSave(t, s, mkEvent("A", 30023, 100, "v1", nostr.Tag{"d", "post"}))
			other := mkEvent("A", 30023, 100, "other", nostr.Tag{"d", "other"})
			mustSave(t, s, other)
			mustSave(t, s, deletion("B", 150, nostr.Tag{"a", a})) // not B's to delete
			if n, _ := s.Count(ctx, nostr.Filter{Kinds: []int{30023}}); n != 2 {
				t.Fatalf("after B's deletion %d articles, want 2", n)
			}
			mustSave(t, s, deletion("A", 150, nostr.Tag{"a", a}))
			if n, _ := s.Count(ctx, nostr.Filter{Kinds: []int{30023}}); n != 1 || !has(t, s, other) {
				t.Fatalf("after A's deletion %d articles, want only the other one", n)
			}
			if err := s.Save(ctx, mkEvent("A", 30023, 150, "v2", nostr.Tag{"d", "post"})); !errors.Is(err, ErrDeleted) {
				t.Errorf("older version after deletion: %v, want ErrDeleted", err)
			}
			mustSave(t, s, mkEvent("A", 30023, 151, "v3", nostr.Tag{"d", "post"}))
			// An older deletion does not lower the marker.
			mustSave(t, s, deletion("A", 120, nostr.Tag{"a", a}))
			if err := s.Save(ctx, mkEvent("A", 30023, 140, "v0", nostr.Tag{"d", "post"})); !errors.Is(err, ErrReplaced) && !errors.Is(err, ErrDeleted) {
				t.Errorf("old version: %v", err)
			}
			// A deletion older than the live version leaves it.
			mustSave(t, s, deletion("A", 140, nostr.Tag{"a", a}))
			if n, _ := s.Count(ctx, nostr.Filter{Tags: nostr.TagMap{"d": {"post"}}}); n != 1 {
				t.Errorf("live version count %d, want 1", n)
			}
			checkConsistent(t, s)
		})
		t.Run("replaceable by address", func(t *testing.T) {
			s := ec.open(t, t.TempDir(), Options{})
			mustSave(t, s, mkEvent("A", 0, 100, "profile"))
			mustSave(t, s, deletion("A", 100, nostr.Tag{"a", "0:" + pubkey("A") + ":"}))
			if n, _ := s.Count(ctx, nostr.Filter{Kinds: []int{0}}); n != 0 {
				t.Errorf("profile survived its deletion")
			}
			if err := s.Save(ctx, mkEvent("A", 0, 90, "older")); !errors.Is(err, ErrDeleted) {
				t.Errorf("older profile: %v, want ErrDeleted", err)
			}
			checkConsistent(t, s)
		})
		t.Run("deleting a deletion has no effect", func(t *testing.T) {
			s := ec.open(t, t.TempDir(), Options{})
			note := mkEvent("A", 1, 100, "x")
			del1 := deletion("A", 200, nostr.Tag{"e", note.ID})
			mustSave(t, s, note, del1)
			del2 := deletion("A", 300, nostr.Tag{"e", del1.ID})
			mustSave(t, s, del2)
			if !has(t, s, del1) {
				t.Error("a deletion request was deleted")
			}
			if has(t, s, note) {
				t.Error("the deleted note came back")
			}
			// A deletion request named by an earlier one can still be stored.
			pre := deletion("B", 400, nostr.Tag{"e", pubkey("whatever")})
			mustSave(t, s, deletion("B", 300, nostr.Tag{"e", pre.ID}))
			mustSave(t, s, pre)
			checkConsistent(t, s)
		})
		t.Run("malformed tags are ignored", func(t *testing.T) {
			s := ec.open(t, t.TempDir(), Options{})
			note := mkEvent("A", 1, 100, "x")
			mustSave(t, s, note, deletion("A", 200,
				nostr.Tag{"e"}, nostr.Tag{"e", "zz"}, nostr.Tag{"a", "x:y"}, nostr.Tag{"a", "1:" + pubkey("A") + ":"},
				nostr.Tag{"a", "30000:" + strings.ToUpper(pubkey("A")) + ":d"}))
			if !has(t, s, note) {
				t.Error("note deleted by a malformed tag")
			}
			checkConsistent(t, s)
		})
	})
}

func TestExpiration(t *testing.T) {
	ctx := context.Background()
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		clock := &fixedClock{t: 1000}
		s := ec.open(t, t.TempDir(), Options{Now: clock.now})
		past := mkEvent("A", 1, 10, "past", nostr.Tag{"expiration", "500"})
		now := mkEvent("A", 1, 11, "now", nostr.Tag{"expiration", "1000"})
		soon := mkEvent("A", 1, 12, "soon", nostr.Tag{"expiration", "1500"}, nostr.Tag{"t", "x"})
		never := mkEvent("A", 1, 13, "never", nostr.Tag{"expiration", "not a number"})
		zero := mkEvent("A", 30000, 14, "epoch", nostr.Tag{"expiration", "0"}, nostr.Tag{"d", "z"})
		mustSave(t, s, past, now, soon, never, zero)

		want := []string{never.ID, soon.ID}
		if err := sameIDs(queryIDs(t, s, nostr.Filter{}, 0), want); err != nil {
			t.Errorf("Query: %v", err)
		}
		if err := sameIDs(queryIDs(t, s, nostr.Filter{IDs: []string{past.ID, soon.ID}}, 0), []string{soon.ID}); err != nil {
			t.Errorf("Query by id: %v", err)
		}
		if n, _ := s.Count(ctx, nostr.Filter{Authors: []string{pubkey("A")}}); n != 2 {
			t.Errorf("Count = %d, want 2", n)
		}
		if s.Stats().Events != 5 {
			t.Errorf("Stats().Events = %d before sweeping, want 5", s.Stats().Events)
		}

		n, err := s.DeleteExpired(ctx, 1000)
		if err != nil || n != 3 {
			t.Fatalf("DeleteExpired(1000) = %d, %v; want 3", n, err)
		}
		checkConsistent(t, s)
		if s.Stats().Events != 2 {
			t.Errorf("Stats().Events = %d after sweeping, want 2", s.Stats().Events)
		}
		clock.t = 2000
		if err := sameIDs(queryIDs(t, s, nostr.Filter{}, 0), []string{never.ID}); err != nil {
			t.Errorf("Query after the clock moved: %v", err)
		}
		if n, err := s.DeleteExpired(ctx, 2000); err != nil || n != 1 {
			t.Fatalf("DeleteExpired(2000) = %d, %v; want 1", n, err)
		}
		if n, err := s.DeleteExpired(ctx, 3000); err != nil || n != 0 {
			t.Fatalf("DeleteExpired again = %d, %v; want 0", n, err)
		}
		checkConsistent(t, s)
		// An expired event swept away may be stored again (NIP-40 is not NIP-09).
		mustSave(t, s, soon)
	})
}

func TestDeleteExpiredManyChunks(t *testing.T) {
	s := engineCase{name: "memory"}.open(t, "", Options{})
	var evs []*nostr.Event
	for i := range expireChunk*2 + 10 {
		evs = append(evs, mkEvent("A", 1, int64(i), fmt.Sprint(i), nostr.Tag{"expiration", fmt.Sprint(100 + i%50)}))
	}
	saveConcurrently(t, s, evs, 16)
	n, err := s.DeleteExpired(context.Background(), 1000)
	if err != nil || n != len(evs) {
		t.Fatalf("DeleteExpired = %d, %v; want %d", n, err, len(evs))
	}
	checkConsistent(t, s)
}

func TestIDsMax(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		s := ec.open(t, t.TempDir(), Options{})
		for i := range 5 {
			mustSave(t, s, mkEvent("A", 1, int64(100+i), fmt.Sprint(i)))
		}
		count := func(max int) (int, error) {
			n := 0
			err := s.IDs(context.Background(), nostr.Filter{}, max, func(nostr.Timestamp, [32]byte) error {
				n++
				return nil
			})
			return n, err
		}
		if n, err := count(5); err != nil || n != 5 {
			t.Errorf("IDs(max 5) = %d, %v", n, err)
		}
		if n, err := count(4); !errors.Is(err, ErrTooMany) || n != 0 {
			t.Errorf("IDs(max 4) = %d, %v; want ErrTooMany and no calls", n, err)
		}
		if n, err := count(0); err != nil || n != 5 {
			t.Errorf("IDs(no max) = %d, %v", n, err)
		}
	})
}

func TestCallbackErrorsAndCancel(t *testing.T) {
	s := engineCase{name: "memory"}.open(t, "", Options{})
	for i := range 600 {
		mustSave(t, s, mkEvent("A", 1, int64(i), fmt.Sprint(i)))
	}
	boom := errors.New("boom")
	calls := 0
	err := s.Query(context.Background(), nostr.Filter{}, 0, func([]byte) error { calls++; return boom })
	if !errors.Is(err, boom) || calls != 1 {
		t.Errorf("Query with failing callback = %v after %d calls", err, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	calls = 0
	err = s.Query(ctx, nostr.Filter{}, 0, func([]byte) error {
		if calls++; calls == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || calls >= 600 {
		t.Errorf("cancelled Query = %v after %d calls", err, calls)
	}
	if err := s.Save(ctx, mkEvent("A", 1, 1, "late")); !errors.Is(err, context.Canceled) {
		t.Errorf("Save with cancelled context = %v", err)
	}
	if _, err := s.Count(ctx, nostr.Filter{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Count with cancelled context = %v", err)
	}
}

func TestInvalidEvents(t *testing.T) {
	s := NewMemory()
	defer s.Close()
	good := mkEvent("A", 1, 1, "x")
	for name, mutate := range map[string]func(ev *nostr.Event){
		"short id":       func(ev *nostr.Event) { ev.ID = ev.ID[:10] },
		"uppercase id":   func(ev *nostr.Event) { ev.ID = strings.ToUpper(ev.ID) },
		"bad pubkey":     func(ev *nostr.Event) { ev.PubKey = "npub1xyz" },
		"negative kind":  func(ev *nostr.Event) { ev.Kind = -1 },
		"huge kind":      func(ev *nostr.Event) { ev.Kind = 1 << 33 },
		"ephemeral kind": func(ev *nostr.Event) { ev.Kind = 20001 },
	} {
		ev := *good
		mutate(&ev)
		if err := s.Save(context.Background(), &ev); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Save = %v, want ErrInvalid", name, err)
		}
	}
	if s.Stats().Events != 0 {
		t.Error("an invalid event was stored")
	}
}

func TestClose(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		s := ec.open(t, t.TempDir(), Options{})
		mustSave(t, s, mkEvent("A", 1, 1, "x"))
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		ctx := context.Background()
		if err := s.Save(ctx, mkEvent("A", 1, 2, "y")); !errors.Is(err, ErrClosed) {
			t.Errorf("Save after Close = %v", err)
		}
		if err := s.Query(ctx, nostr.Filter{}, 0, func([]byte) error { return nil }); !errors.Is(err, ErrClosed) {
			t.Errorf("Query after Close = %v", err)
		}
		if _, err := s.Count(ctx, nostr.Filter{}); !errors.Is(err, ErrClosed) {
			t.Errorf("Count after Close = %v", err)
		}
		if _, err := s.DeleteExpired(ctx, 10); !errors.Is(err, ErrClosed) {
			t.Errorf("DeleteExpired after Close = %v", err)
		}
		if st := s.Stats(); st.Events != 1 {
			t.Errorf("Stats after Close = %+v", st)
		}
	})
}

func TestReopen(t *testing.T) {
	for _, ec := range engineCases() {
		if !ec.disk {
			continue
		}
		t.Run(ec.name, func(t *testing.T) {
			dir := t.TempDir()
			s := ec.open(t, dir, Options{})
			first := []*nostr.Event{
				mkEvent("A", 1, 100, "a", nostr.Tag{"t", "x"}),
				mkEvent("A", 0, 101, "profile"),
				mkEvent("B", 1, 102, "b"),
			}
			mustSave(t, s, first...)
			del := deletion("B", 200, nostr.Tag{"e", first[2].ID})
			mustSave(t, s, del)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s = ec.open(t, dir, Options{Engine: ""}) // detected from the files
			if st := s.Stats(); st.Events != 3 || st.DiskBytes <= 0 {
				t.Errorf("Stats after reopen = %+v", st)
			}
			want := []string{del.ID, first[1].ID, first[0].ID}
			if err := sameIDs(queryIDs(t, s, nostr.Filter{}, 0), want); err != nil {
				t.Errorf("after reopen: %v", err)
			}
			if err := s.Save(context.Background(), first[2]); !errors.Is(err, ErrDeleted) {
				t.Errorf("tombstone lost on reopen: %v", err)
			}
			mustSave(t, s, mkEvent("A", 0, 150, "profile 2"), mkEvent("C", 1, 300, "c"))
			checkConsistent(t, s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			for _, other := range Engines() {
				if other == ec.name {
					continue
				}
				if s, err := Open(dir, Options{Engine: other}); err == nil {
					s.Close()
					t.Errorf("opening %s data as %s succeeded", ec.name, other)
				}
			}
		})
	}
}

func TestOpenOptions(t *testing.T) {
	if _, err := Open(t.TempDir(), Options{Engine: "sqlite"}); err == nil {
		t.Error("unknown engine accepted")
	}
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustSave(t, s, mkEvent("A", 1, 1, "x"))
	if s2, err := Open(dir, Options{}); err == nil {
		s2.Close()
		t.Error("a store directory was opened twice at once")
	}
	if got, _ := detectEngine(dir); got != defaultEngine() {
		t.Errorf("new store uses %q, want %q", got, defaultEngine())
	}
}

// saveConcurrently saves evs from n goroutines and fails on any error.
func saveConcurrently(t testing.TB, s Store, evs []*nostr.Event, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(evs))
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(evs); i += n {
				if err := s.Save(context.Background(), evs[i]); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Save: %v", err)
	}
}

func TestConcurrentSaves(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		dir := t.TempDir()
		s := ec.open(t, dir, Options{})
		var evs []*nostr.Event
		for i := range 64 * 10 {
			evs = append(evs, mkEvent(fmt.Sprint("author", i%64), 1, int64(i), fmt.Sprint(i), nostr.Tag{"t", fmt.Sprint(i % 7)}))
		}
		// Every goroutine also tries one duplicate of another's event.
		dups := append([]*nostr.Event(nil), evs...)
		var wg sync.WaitGroup
		var mu sync.Mutex
		dupCount := 0
		for g := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; i < len(evs); i += 64 {
					if err := s.Save(context.Background(), evs[i]); err != nil && !errors.Is(err, ErrDuplicate) {
						t.Errorf("Save: %v", err)
					} else if err != nil {
						mu.Lock()
						dupCount++
						mu.Unlock()
					}
				}
				if err := s.Save(context.Background(), dups[(g*10+5)%len(dups)]); errors.Is(err, ErrDuplicate) {
					mu.Lock()
					dupCount++
					mu.Unlock()
				} else if err != nil {
					t.Errorf("Save: %v", err)
				}
			}()
		}
		wg.Wait()
		if dupCount != 64 {
			t.Errorf("%d saves reported duplicates, want 64", dupCount)
		}
		if n, _ := s.Count(context.Background(), nostr.Filter{}); n != int64(len(evs)) {
			t.Errorf("Count = %d, want %d", n, len(evs))
		}
		if n, _ := s.Count(context.Background(), nostr.Filter{Tags: nostr.TagMap{"t": {"3"}}}); n != int64((len(evs)+3)/7) {
			t.Errorf("tag count = %d", n)
		}
		checkConsistent(t, s)
		if ec.disk { // durable: all there after reopening
			s.Close()
			s = ec.open(t, dir, Options{})
			if n := len(queryAll(t, s)); n != len(evs) {
				t.Errorf("after reopen %d events, want %d", n, len(evs))
			}
		}
	})
}

func TestCorruptRecord(t *testing.T) {
	s := engineCase{name: "memory"}.open(t, "", Options{})
	ev := mkEvent("A", 1, 1, "x")
	mustSave(t, s, ev)
	var serial uint64
	err := s.eng.Update(func(tx kvWriter) error {
		v, err := tx.Get(idKey(mustHex32(t, ev.ID)))
		if err != nil {
			return err
		}
		serial, _ = decodeU64(v, "serial")
		return tx.Put(eventKey(serial), []byte{recordVersion, 1, 2, 3})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Query(context.Background(), nostr.Filter{}, 0, func([]byte) error { return nil }); !errors.Is(err, errCorrupt) {
		t.Errorf("Query over a corrupt record = %v", err)
	}
	if err := s.Save(context.Background(), deletion("A", 2, nostr.Tag{"e", ev.ID})); err == nil {
		t.Error("deleting a corrupt record succeeded")
	}
	// A failed transaction changed nothing, and the writer still works.
	mustSave(t, s, mkEvent("B", 1, 3, "y"))
	if s.Stats().Events != 2 {
		t.Errorf("Stats().Events = %d, want 2", s.Stats().Events)
	}
}

func mustHex32(t testing.TB, s string) [32]byte {
	var b [32]byte
	if !decodeHex32(s, &b) {
		t.Fatalf("bad hex %q", s)
	}
	return b
}

func TestTiesOrderedByID(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		s := ec.open(t, t.TempDir(), Options{})
		var evs []*nostr.Event
		for i := range 12 {
			evs = append(evs, mkEvent(fmt.Sprint("author", i%3), 1, 100, fmt.Sprint(i), nostr.Tag{"t", "tie"}))
		}
		newer := mkEvent("A", 1, 101, "newer", nostr.Tag{"t", "tie"})
		older := mkEvent("A", 1, 99, "older", nostr.Tag{"t", "tie"})
		mustSave(t, s, evs[:6]...)
		mustSave(t, s, older, newer)
		mustSave(t, s, evs[6:]...)
		var want []string
		for _, ev := range evs {
			want = append(want, ev.ID)
		}
		slices.Sort(want)
		want = append(append([]string{newer.ID}, want...), older.ID)
		for name, f := range map[string]nostr.Filter{
			"time":    {},
			"tag":     {Tags: nostr.TagMap{"t": {"tie"}}},
			"authors": {Authors: []string{pubkey("author0"), pubkey("author1"), pubkey("author2"), pubkey("A")}},
			"ids":     {IDs: append([]string{older.ID, newer.ID}, want[1:13]...)},
		} {
			if err := sameIDs(queryIDs(t, s, f, 0), want); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		if err := sameIDs(queryIDs(t, s, nostr.Filter{}, 3), want[:3]); err != nil {
			t.Errorf("limit: %v", err)
		}
	})
}

func TestManyTags(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		s := ec.open(t, t.TempDir(), Options{})
		var tags []nostr.Tag
		for i := range 3000 {
			tags = append(tags, nostr.Tag{"p", pubkey(fmt.Sprint("follow", i%2500))}) // 500 repeats
		}
		list := mkEvent("A", 3, 100, "", tags...)
		newer := mkEvent("A", 3, 200, "", tags[:10]...)
		mustSave(t, s, list)
		ctx := context.Background()
		f := nostr.Filter{Tags: nostr.TagMap{"p": {pubkey("follow2400"), pubkey("follow7")}}}
		if n, err := s.Count(ctx, f); err != nil || n != 1 {
			t.Errorf("Count = %d, %v; want 1", n, err)
		}
		checkConsistent(t, s)
		mustSave(t, s, newer) // replaces the list: 2,500 index entries go
		if n, _ := s.Count(ctx, nostr.Filter{Tags: nostr.TagMap{"p": {pubkey("follow2400")}}}); n != 0 {
			t.Errorf("old list still indexed")
		}
		if n, _ := s.Count(ctx, f); n != 1 {
			t.Errorf("new list not indexed")
		}
		checkConsistent(t, s)
	})
}

func TestCloseWhileBusy(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		s := ec.open(t, t.TempDir(), Options{})
		var wg sync.WaitGroup
		// busy is done once every worker has finished an operation, so
		// Close lands while all eight are in their loops.
		var busy sync.WaitGroup
		stop := make(chan struct{})
		for g := range 8 {
			wg.Add(1)
			busy.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					var err error
					if g%2 == 0 {
						err = s.Save(context.Background(), mkEvent(fmt.Sprint(g), 1, int64(i), fmt.Sprint(i)))
					} else {
						err = s.Query(context.Background(), nostr.Filter{Kinds: []int{1}}, 20, func([]byte) error { return nil })
					}
					if i == 0 {
						busy.Done()
					}
					if errors.Is(err, ErrClosed) {
						return
					}
					if err != nil {
						t.Errorf("during Close: %v", err)
						return
					}
				}
			}()
		}
		busy.Wait()
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		close(stop)
		wg.Wait()
	})
}

// Encode writes exactly what ev.MarshalJSON writes, whether the encoder
// stays in the buffer Encode sized or outgrows it (content that is all
// escapes, many tags), and SaveEncoded stores that JSON.
func TestSaveEncoded(t *testing.T) { forEachEngine(t, saveEncoded) }

func saveEncoded(t *testing.T, ec engineCase) {
	s := ec.open(t, t.TempDir(), Options{})
	many := nostr.Tags{}
	for i := range 300 {
		many = append(many, nostr.Tag{"t", fmt.Sprint("tag", i)})
	}
	evs := []*nostr.Event{
		mkEvent("A", 1, 100, "hello", nostr.Tag{"t", "x"}),
		mkEvent("A", 1, 101, strings.Repeat("\x00\"\n\u2028<>&é", 500)),
		mkEvent("B", 3, 102, ""),
		mkEvent("B", 1, 103, "many tags", many...),
	}
	for _, ev := range evs {
		raw, err := ev.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		enc, err := Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc.JSON(), raw) {
			t.Fatalf("Encode wrote %.200s\nMarshalJSON %.200s", enc.JSON(), raw)
		}
		if err := SaveEncoded(context.Background(), s, enc); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc.JSON(), raw) {
			t.Fatalf("SaveEncoded changed the JSON: %.200s", enc.JSON())
		}
		var got []byte
		err = s.Query(context.Background(), nostr.Filter{IDs: []string{ev.ID}}, 0, func(r []byte) error {
			got = append([]byte(nil), r...)
			return nil
		})
		if err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("stored %.200s, %v; want %.200s", got, err, raw)
		}
		if err := SaveEncoded(context.Background(), s, enc); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("second save: %v", err)
		}
	}
}

// Evict removes events and their index entries with no deletion marker:
// gone from every query, counted out, and storable again.
func TestEvict(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		s := ec.open(t, t.TempDir(), Options{})
		a := mkEvent("A", 1, 100, "one", nostr.Tag{"t", "x"})
		b := mkEvent("B", 1, 101, "two")
		r := mkEvent("A", 30000, 102, "addr", nostr.Tag{"d", "k"})
		mustSave(t, s, a, b, r)
		ctx := context.Background()
		n, err := Evict(ctx, s, []string{a.ID, r.ID, strings.Repeat("0", 64)})
		if err != nil || n != 2 {
			t.Fatalf("Evict: %d, %v", n, err)
		}
		if has(t, s, a) || has(t, s, r) || !has(t, s, b) {
			t.Fatal("wrong events left")
		}
		if got := queryIDs(t, s, nostr.Filter{Tags: nostr.TagMap{"t": {"x"}}}, 0); len(got) != 0 {
			t.Fatalf("tag index kept %v", got)
		}
		if st := s.Stats(); st.Events != 1 {
			t.Fatalf("count %d after eviction", st.Events)
		}
		mustSave(t, s, a, r) // no tombstone: both may come back
		if _, err := Evict(ctx, s, []string{"zz"}); err == nil {
			t.Fatal("a malformed id was accepted")
		}
		if _, err := Evict(ctx, notOurs{s}, []string{a.ID}); err == nil {
			t.Fatal("a foreign Store was accepted")
		}
	})
}

type notOurs struct{ Store }

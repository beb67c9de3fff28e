package store

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/nbd-wtf/go-nostr"
)

// TestJournalAfter: After walks events in the order they were stored (not
// by created_at), resumes after a serial, honours max, and skips what was
// deleted since.
func TestJournalAfter(t *testing.T) {
	ctx := context.Background()
	for _, open := range []func(t *testing.T) Store{
		func(t *testing.T) Store { return NewMemory() },
		func(t *testing.T) Store {
			s, err := Open(t.TempDir(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	} {
		s := open(t)
		sk := nostr.GeneratePrivateKey()
		var ids []string
		for i := range 5 {
			ev := &nostr.Event{Kind: 1, CreatedAt: nostr.Timestamp(1000 - i*10), Content: "x"}
			ev.Sign(sk)
			if err := s.Save(ctx, ev); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, ev.ID)
		}
		j := s.(Journal)
		read := func(after uint64, max int) (got []string, serials []uint64) {
			if err := j.After(ctx, after, max, func(serial uint64, raw []byte) error {
				var ev nostr.Event
				if err := json.Unmarshal(raw, &ev); err != nil {
					return err
				}
				got = append(got, ev.ID)
				serials = append(serials, serial)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			return
		}
		got, serials := read(0, 0)
		if len(got) != 5 {
			t.Fatalf("After(0) gave %d events, want 5", len(got))
		}
		for i := range got {
			if got[i] != ids[i] {
				t.Fatalf("event %d is %.8s, want %.8s (store order)", i, got[i], ids[i])
			}
			if i > 0 && serials[i] <= serials[i-1] {
				t.Fatalf("serials not increasing: %v", serials)
			}
		}
		got2, _ := read(serials[1], 2)
		if len(got2) != 2 || got2[0] != ids[2] || got2[1] != ids[3] {
			t.Fatalf("After(serial of #1, 2) = %v, want events 2 and 3", got2)
		}
		if rest, _ := read(serials[4], 0); len(rest) != 0 {
			t.Fatalf("After(last) = %v, want none", rest)
		}
		del := &nostr.Event{Kind: 5, CreatedAt: 2000, Tags: nostr.Tags{{"e", ids[0]}}}
		del.Sign(sk)
		if err := s.Save(ctx, del); err != nil {
			t.Fatal(err)
		}
		got3, _ := read(0, 0)
		if len(got3) != 5 || got3[0] != ids[1] || got3[4] != del.ID {
			t.Fatalf("after a deletion After(0) = %.8v, want events 1-4 and the deletion", got3)
		}
		s.Close()
	}
}

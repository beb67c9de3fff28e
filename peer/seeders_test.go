package peer

import (
	"bytes"
	"encoding/hex"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/nostr"
)

func TestAnnouncersExpiryAndCaps(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	a := newSeeders(time.Minute, 3, 2)
	r := func(i byte) [32]byte { return [32]byte{i} }

	if !a.add(Announcement{Root: r(1), PubKey: "p1", Chunks: 5}, t0) || !a.add(Announcement{Root: r(1), PubKey: "p2", Chunks: 5}, t0.Add(10*time.Second)) || a.add(Announcement{Root: r(1), PubKey: "p1", Chunks: 5}, t0) {
		t.Fatal("add: a new announcer is fresh, a known one not")
	}
	if got := a.get(r(1), t0.Add(20*time.Second)); len(got) != 2 {
		t.Fatalf("two announcers: %+v", got)
	}
	// A third announcer replaces the oldest (p1).
	a.add(Announcement{Root: r(1), PubKey: "p3", Chunks: 7}, t0.Add(20*time.Second))
	got := a.get(r(1), t0.Add(20*time.Second))
	if len(got) != 2 || got[0].PubKey == "p1" || got[1].PubKey == "p1" {
		t.Fatalf("per-root cap: %+v", got)
	}
	// Announcing again refreshes: p2 at 10 s would expire at 70 s.
	a.add(Announcement{Root: r(1), PubKey: "p2", Chunks: 9}, t0.Add(50*time.Second))
	got = a.get(r(1), t0.Add(75*time.Second))
	if len(got) != 2 {
		t.Fatalf("refresh: %+v", got)
	}
	// p3 (20 s) expires past 80 s, p2 (50 s) past 110 s.
	if got = a.get(r(1), t0.Add(90*time.Second)); len(got) != 1 || got[0].PubKey != "p2" || got[0].Chunks != 9 {
		t.Fatalf("expiry: %+v", got)
	}
	if got = a.get(r(1), t0.Add(2*time.Minute)); len(got) != 0 || a.len() != 0 {
		t.Fatalf("all expired: %+v, %d roots", got, a.len())
	}

	// Root cap: the least recently announced root goes first.
	for i := byte(1); i <= 3; i++ {
		a.add(Announcement{Root: r(i), PubKey: "p", Chunks: 1}, t0.Add(time.Duration(i)*time.Second))
	}
	a.add(Announcement{Root: r(1), PubKey: "q", Chunks: 1}, t0.Add(4*time.Second)) // root 1 is now the newest
	a.add(Announcement{Root: r(4), PubKey: "p", Chunks: 1}, t0.Add(5*time.Second)) // evicts root 2
	if a.len() != 3 || a.get(r(2), t0.Add(5*time.Second)) != nil || a.get(r(1), t0.Add(5*time.Second)) == nil {
		t.Fatalf("root cap: %d roots; root 2 %v", a.len(), a.get(r(2), t0.Add(5*time.Second)))
	}
}

func TestParseAnnouncementTags(t *testing.T) {
	root := hex.EncodeToString(bytes.Repeat([]byte{7}, 32))
	for _, c := range []struct {
		tags nostr.Tags
		ok   bool
	}{
		{nostr.Tags{{"t", "entropy"}, {"x", root}, {"chunks", "3"}}, true},
		{nostr.Tags{{"x", root}}, false},
		{nostr.Tags{{"x", root}, {"chunks", "0"}}, false},
		{nostr.Tags{{"x", root}, {"chunks", "-1"}}, false},
		{nostr.Tags{{"x", "ABC"}, {"chunks", "1"}}, false},
		{nostr.Tags{{"x", root}, {"x", root}, {"chunks", "1"}}, false},
	} {
		_, err := ParseAnnouncement(&nostr.Event{Kind: KindAnnounce, Tags: c.tags, CreatedAt: 1000}, time.Unix(1000, 0), time.Minute)
		ok := err == nil
		if ok != c.ok {
			t.Errorf("%v: ok %v, want %v", c.tags, ok, c.ok)
		}
	}
}

package peer

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/nostr"
)

// TestRecentCache: bounded by count (the oldest by created_at leaves
// first), by age (nothing older than the window is kept or served), and
// it says when events left so the relay can be told again.
func TestRecentCache(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	c := NewRecentCache(3, time.Hour)
	for i, created := range []int64{100, 300, 200} {
		if !c.Put(string(rune('a'+i)), now.Unix()-created, []byte{byte(i)}, now) {
			t.Fatalf("put %d refused", i)
		}
	}
	if c.Evicted(now) {
		t.Fatal("evicted before anything left")
	}
	// Full: a newer event evicts the oldest ("b", 300 s old).
	if !c.Put("d", now.Unix()-50, []byte("d"), now) {
		t.Fatal("newer event refused")
	}
	if _, ok := c.Get("b", now); ok || c.Len() != 3 || !c.Evicted(now) {
		t.Fatalf("oldest not evicted: len %d", c.Len())
	}
	// An event older than everything kept is refused when full.
	if c.Put("e", now.Unix()-1000, nil, now) {
		t.Fatal("an older event displaced a newer one")
	}
	// Past the window: refused, and expired on the way.
	if c.Put("f", now.Unix()-7200, nil, now) {
		t.Fatal("an event older than the window was kept")
	}
	later := now.Add(time.Hour - 150*time.Second) // "a" (100 s) and "d" (50 s) stay, "c" (200 s) is out
	if _, ok := c.Get("c", later); ok {
		t.Fatal("served an event older than the window")
	}
	if raw, ok := c.Get("a", later); !ok || raw[0] != 0 {
		t.Fatal("lost an event within the window")
	}
	if !c.Evicted(later) || c.Len() != 2 || len(c.IDs(10)) != 2 || len(c.IDs(1)) != 1 {
		t.Fatalf("after expiry: len %d", c.Len())
	}
}

// TestParseP2P: each malformed DataChannel message is refused with a
// reason.
func TestParseP2P(t *testing.T) {
	id := strings.Repeat("ab", 32)
	if m, err := parseP2P(p2pRequest(id)); err != nil || m.Type != P2PRequest || m.EventID != id {
		t.Fatalf("request: %+v %v", m, err)
	}
	if m, err := parseP2P([]byte(`{"type":"P2P_EVENTS","event":{"id":"x"}}`)); err != nil || m.Type != P2PEvents {
		t.Fatalf("events: %+v %v", m, err)
	}
	for _, bad := range []string{
		`not json`,
		`[]`,
		`{"type":"P2P_REQUEST"}`,
		`{"type":"P2P_REQUEST","event_id":"` + strings.ToUpper(id) + `"}`,
		`{"type":"P2P_REQUEST","event_id":"abc"}`,
		`{"type":"P2P_EVENTS"}`,
		`{"type":"P2P_HELLO"}`,
		`{"type":"P2P_REQ","filter":{}}`,
		`{"type":"P2P_REQ","sub":"s"}`,
		`{"type":"P2P_REQ","sub":"s","filter":[1]}`,
		`{"type":"P2P_REQ","sub":"` + strings.Repeat("s", 65) + `","filter":{}}`,
		`{"type":"P2P_EOSE"}`,
		`{"type":"P2P_EVENTS","event":"` + strings.Repeat("x", maxP2PMessage) + `"}`,
	} {
		if _, err := parseP2P([]byte(bad)); err == nil {
			t.Errorf("accepted %.60s", bad)
		}
	}
}

// TestRecentCacheQuery: a filter over the cache answers as a relay does:
// only matching events within the window, newest first (the lowest id
// first on a tie), at most the limit; by ids too.
func TestRecentCacheQuery(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	c := NewRecentCache(100, time.Hour)
	sk := nostr.GeneratePrivateKey()
	var evs []*nostr.Event
	for i, age := range []int64{10, 20, 20, 30, 4000} {
		ev := &nostr.Event{Kind: 1 + i%2, CreatedAt: nostr.Timestamp(now.Unix() - age), Content: fmt.Sprint(i), Tags: nostr.Tags{}}
		ev.Sign(sk)
		raw, _ := json.Marshal(ev)
		c.PutEvent(ev, raw, now)
		evs = append(evs, ev)
	}
	ids := func(raws [][]byte) (out []string) {
		for _, r := range raws {
			out = append(out, idOf(r))
		}
		return out
	}
	// Kind 1: events 0, 2 (20 s), 4 is past the window.
	if got := ids(c.Query(nostr.Filter{Kinds: []int{1}}, now)); !slices.Equal(got, []string{evs[0].ID, evs[2].ID}) {
		t.Fatalf("kind 1: %v", got)
	}
	tie := []string{evs[1].ID, evs[2].ID}
	slices.Sort(tie)
	if got := ids(c.Query(nostr.Filter{Limit: 3}, now)); !slices.Equal(got, append([]string{evs[0].ID}, tie...)) {
		t.Fatalf("limit 3: %v, want newest first, ties by id", got)
	}
	if got := ids(c.Query(nostr.Filter{IDs: []string{evs[3].ID, evs[4].ID, evs[3].ID}}, now)); !slices.Equal(got, []string{evs[3].ID}) {
		t.Fatalf("by ids: %v", got)
	}
}

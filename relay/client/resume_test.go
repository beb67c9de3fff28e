package client

import (
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/nostr"
)

func TestBackoff(t *testing.T) {
	min, max := 250*time.Millisecond, 30*time.Second
	for n, want := range []time.Duration{250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000} {
		want *= time.Millisecond
		if lo := backoff(n, min, max, 0); lo != want/2 {
			t.Errorf("attempt %d: lowest %v, want %v", n, lo, want/2)
		}
		if hi := backoff(n, min, max, 0.999999); hi > want || hi < want*99/100 {
			t.Errorf("attempt %d: highest %v, want about %v", n, hi, want)
		}
	}
	if d := backoff(1000, min, max, 0.5); d > max {
		t.Errorf("attempt 1000: %v, above the cap", d)
	}
}

func TestResume(t *testing.T) {
	since := nostr.Timestamp(100)
	f := nostr.Filter{Kinds: []int{1}, Since: &since, Limit: 5}
	r := newResume(3)

	// Never live: the filter as it was.
	if g := r.filter(f, time.Minute); g.Since != &since || g.Limit != 5 {
		t.Fatalf("before EOSE: %v", g)
	}
	if !r.add("a", 1000) || r.add("a", 1000) {
		t.Fatal("a: first add not new, or second new")
	}
	r.add("b", 1010)
	r.liveUntil(2000)
	g := r.filter(f, time.Minute)
	if *g.Since != 1010-60 || g.Limit != 0 || *f.Since != 100 {
		t.Fatalf("after newest 1010: since %d limit %d (original since %d)", *g.Since, g.Limit, *f.Since)
	}

	// The connection ended before the newest event's time: resume from there.
	r.liveUntil(1005)
	if g := r.filter(f, time.Minute); *g.Since != 1005-60 {
		t.Fatalf("live until 1005: since %d", *g.Since)
	}

	// Evicting ids raises since to the evicted created_at: what is older
	// could no longer be recognised.
	r.liveUntil(5000)
	r.add("c", 1020)
	r.add("d", 1030) // evicts a (1000)
	r.add("e", 1040) // evicts b (1010)
	if g := r.filter(f, time.Hour); *g.Since != 1010 {
		t.Fatalf("after eviction: since %d, want 1010", *g.Since)
	}
	if !r.add("a", 1000) {
		t.Fatal("an evicted id is not recognised any more, so it is new")
	}

	// A filter's own later since wins.
	late := nostr.Timestamp(4000)
	f.Since = &late
	if g := r.filter(f, time.Minute); *g.Since != 4000 {
		t.Fatalf("filter since 4000: %d", *g.Since)
	}
}

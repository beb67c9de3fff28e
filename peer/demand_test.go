package peer

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/nostr"
)

// TestDemandTable: a root's signal goes at most once per DemandInterval;
// heard requesters count for DemandWindow, each once; the most wanted root
// comes first.
func TestDemandTable(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	d := newDemand()
	r1, r2 := [32]byte{1}, [32]byte{2}
	if !d.send(r1, t0) || d.send(r1, t0.Add(29*time.Second)) || !d.send(r2, t0) || !d.send(r1, t0.Add(DemandInterval)) {
		t.Fatal("send: once per root per interval")
	}
	d.hear(r1, "a", t0, t0)
	d.hear(r1, "a", t0.Add(time.Second), t0.Add(time.Second)) // the same requester again
	d.hear(r1, "b", t0, t0)
	d.hear(r2, "c", t0.Add(2*time.Minute), t0.Add(2*time.Minute))
	top := d.top(1, t0.Add(2*time.Minute))
	if len(top) != 2 || top[0].Root != r1 || top[0].Requesters != 2 || top[1].Requesters != 1 {
		t.Fatalf("top %+v", top)
	}
	if top := d.top(2, t0.Add(2*time.Minute)); len(top) != 1 || top[0].Root != r1 {
		t.Fatalf("at least two: %+v", top)
	}
	// a and b (heard at 0-1 s) age out past 5 min; c (2 min) stays.
	if top := d.top(1, t0.Add(DemandWindow+2*time.Second)); len(top) != 1 || top[0].Root != r2 {
		t.Fatalf("after the window: %+v", top)
	}
}

// TestParseDemand: Entropy's kind 20003 is read; malformed, stale and
// future signals are refused.
func TestParseDemand(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	sk := nostr.GeneratePrivateKey()
	root := [32]byte{7}
	good := DemandEvent(root, "", now)
	good.Sign(sk)
	if r, err := ParseDemand(good, now); err != nil || r != root || good.Tags[0][1] != "entropy" {
		t.Fatalf("good: %x %v %v", r, err, good.Tags)
	}
	x := strings.Repeat("ab", 32)
	for name, ev := range map[string]*nostr.Event{
		"no x":   {Kind: KindDemand, CreatedAt: nostr.Timestamp(now.Unix()), Tags: nostr.Tags{{"t", "entropy"}}},
		"two x":  {Kind: KindDemand, CreatedAt: nostr.Timestamp(now.Unix()), Tags: nostr.Tags{{"x", x}, {"x", x}}},
		"bad x":  {Kind: KindDemand, CreatedAt: nostr.Timestamp(now.Unix()), Tags: nostr.Tags{{"x", "AB"}}},
		"stale":  DemandEvent(root, "", now.Add(-DemandWindow-time.Second)),
		"future": DemandEvent(root, "", now.Add(2*time.Minute)),
		"kind":   {Kind: KindAnnounce, CreatedAt: nostr.Timestamp(now.Unix()), Tags: nostr.Tags{{"x", x}}},
	} {
		if _, err := ParseDemand(ev, now); !errors.Is(err, ErrDemand) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

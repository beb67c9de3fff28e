package cold

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Unix(1_800_000_000, 0)

func h(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func chunks(root string, n int) []Chunk {
	out := make([]Chunk, n)
	for i := range out {
		out[i] = Chunk{Hash: h(fmt.Sprintf("%s/%d", root, i)), Size: 1000}
	}
	return out
}

func TestEligible(t *testing.T) {
	for _, c := range []struct {
		ev   Evidence
		want bool
	}{
		{Evidence{}, false},                    // no upload
		{Evidence{Up: 0, Down: 10}, false},     // takes only
		{Evidence{Up: 1}, true},                // uploads, never took
		{Evidence{Up: 20, Down: 10}, true},     // ratio 2.0
		{Evidence{Up: 19, Down: 10}, false},    // 1.9
		{Evidence{Up: 1 << 30, Down: 1}, true}, // large
	} {
		if got := Eligible(c.ev, 2.0); got != c.want {
			t.Errorf("Eligible(%+v) = %v", c.ev, got)
		}
	}
}

func TestPremium(t *testing.T) {
	for _, c := range []struct {
		held     time.Duration
		replicas int
		expired  bool
		want     int64
	}{
		{24 * time.Hour, 1, false, 9},
		{24 * time.Hour, 1, true, 5}, // 4.5 rounds up
		{48 * time.Hour, 3, false, 14},
		{24 * time.Hour, 12, false, 1}, // max(1, 10-12)
		{time.Minute, 3, true, 1},      // at least 1
	} {
		if got := Premium(c.held, c.replicas, c.expired); got != c.want {
			t.Errorf("Premium(%v, %d, %v) = %d, want %d", c.held, c.replicas, c.expired, got, c.want)
		}
	}
}

// setup: a file of n chunks with one seeder, and the holders given.
func setup(cfg Config, n int, holders map[string]Evidence) (*Assigner, [32]byte, []Chunk) {
	a := NewAssigner(cfg, [32]byte{1})
	root := h("root")
	cs := chunks("root", n)
	a.SetFile(root, cs, 1)
	for id, ev := range holders {
		a.SetPeer(id, ev, true)
	}
	return a, root, cs
}

func acceptAll(a *Assigner, offers []Offer, now time.Time) {
	for _, o := range offers {
		a.Answered(o.Holder, o.Root, o.Chunks, now)
	}
}

var good = Evidence{Up: 100, Down: 10}

func TestPlacement(t *testing.T) {
	a, root, cs := setup(Config{Replicas: 3}, 8, map[string]Evidence{
		"h1": good, "h2": good, "h3": good, "h4": good,
		"taker":  {Up: 10, Down: 100}, // ratio 0.1
		"nobody": {},                  // never uploaded
	})
	acts := a.Tick(t0)
	per := map[string]int{}
	perChunk := map[[32]byte]int{}
	for _, o := range acts.Offers {
		if o.Root != root || o.Renew || !o.Expires.Equal(t0.Add(TTL)) {
			t.Fatalf("offer %+v", o)
		}
		per[o.Holder] += len(o.Chunks)
		for _, c := range o.Chunks {
			perChunk[c]++
		}
	}
	if per["taker"] != 0 || per["nobody"] != 0 {
		t.Fatalf("ineligible peers offered chunks: %v", per)
	}
	for _, c := range cs {
		if perChunk[c.Hash] != 3 {
			t.Fatalf("chunk offered to %d holders, want 3", perChunk[c.Hash])
		}
	}
	for _, id := range []string{"h1", "h2", "h3", "h4"} {
		if per[id] != 6 { // 24 assignments over 4 holders, the least loaded first
			t.Fatalf("holder load %v", per)
		}
	}
	// Nothing more while the offers are out.
	if acts := a.Tick(t0.Add(time.Second)); len(acts.Offers) != 0 {
		t.Fatalf("offered again: %+v", acts.Offers)
	}
	acceptAll(a, acts.Offers, t0.Add(time.Second))
	for _, as := range a.Assignments() {
		if as.State != Held {
			t.Fatalf("%+v", as)
		}
	}
}

func TestPlacementLimits(t *testing.T) {
	// 40 chunks, 3 replicas, 2 holders: each takes at most 16.
	a, _, _ := setup(Config{Replicas: 3}, 40, map[string]Evidence{"h1": good, "h2": good})
	per := map[string]int{}
	for _, o := range a.Tick(t0).Offers {
		per[o.Holder] += len(o.Chunks)
	}
	if per["h1"] != 16 || per["h2"] != 16 {
		t.Fatalf("loads %v, want 16 each", per)
	}
	// A file with enough seeders gets nobody.
	b := NewAssigner(Config{}, [32]byte{})
	b.SetFile(h("popular"), chunks("popular", 4), 3)
	b.SetPeer("h1", good, true)
	b.SetPeer("h2", good, false) // unreachable
	if acts := b.Tick(t0); len(acts.Offers) != 0 {
		t.Fatalf("a popular file was offered: %+v", acts.Offers)
	}
	b.SetFile(h("rare"), chunks("rare", 4), 2)
	for _, o := range b.Tick(t0).Offers {
		if o.Holder != "h1" {
			t.Fatalf("an unreachable holder was offered chunks: %+v", o)
		}
	}
}

func TestDeclineAndLapse(t *testing.T) {
	a, root, _ := setup(Config{Replicas: 1}, 2, map[string]Evidence{"h1": good, "h2": good})
	acts := a.Tick(t0)
	if len(acts.Offers) != 2 {
		t.Fatalf("offers %+v", acts.Offers)
	}
	// h1 declines, h2 never answers.
	var h1 Offer
	for _, o := range acts.Offers {
		if o.Holder == "h1" {
			h1 = o
		}
	}
	a.Answered("h1", root, nil, t0)
	acts = a.Tick(t0.Add(2 * time.Minute))
	if len(acts.Ended) != 2 {
		t.Fatalf("ended %+v", acts.Ended)
	}
	if len(acts.Offers) != 0 {
		t.Fatalf("both holders cooling, yet offers %+v", acts.Offers)
	}
	// After the cool-off the chunks are offered again.
	acts = a.Tick(t0.Add(15 * time.Minute))
	n := 0
	for _, o := range acts.Offers {
		n += len(o.Chunks)
	}
	if n != 2 || len(h1.Chunks) != 1 {
		t.Fatalf("re-offered %d chunks", n)
	}
}

// held returns an assigner whose one chunk (data) is held by h1, and data.
func heldBy(t *testing.T, holders map[string]Evidence) (*Assigner, [32]byte, []byte) {
	t.Helper()
	data := []byte(strings.Repeat("cold storage ", 100))
	a := NewAssigner(Config{Replicas: 1, ChallengeEvery: time.Minute}, [32]byte{7})
	root := h("r")
	a.SetFile(root, []Chunk{{sha256.Sum256(data), int64(len(data))}}, 1)
	for id, ev := range holders {
		a.SetPeer(id, ev, true)
	}
	acts := a.Tick(t0)
	if len(acts.Offers) != 1 || acts.Offers[0].Holder != "h1" {
		t.Fatalf("offers %+v", acts.Offers)
	}
	acceptAll(a, acts.Offers, t0)
	return a, root, data
}

// challenge ticks until a challenge is issued, within 2 min of from.
func challenge(t *testing.T, a *Assigner, from time.Time) (Challenge, time.Time) {
	t.Helper()
	for now := from; now.Before(from.Add(2 * time.Minute)); now = now.Add(time.Second) {
		if acts := a.Tick(now); len(acts.Challenges) > 0 {
			if len(acts.Challenges) != 1 {
				t.Fatalf("challenges %+v", acts.Challenges)
			}
			return acts.Challenges[0], now
		}
	}
	t.Fatal("no challenge within 2 min (mean every minute)")
	return Challenge{}, time.Time{}
}

func TestChallengePassed(t *testing.T) {
	a, _, data := heldBy(t, map[string]Evidence{"h1": good})
	var offsets, nonces = map[uint32]bool{}, map[[32]byte]bool{}
	now := t0
	for range 5 {
		var c Challenge
		c, now = challenge(t, a, now)
		if c.Holder != "h1" || !c.Deadline.Equal(now.Add(ProofTimeout)) || int(c.Offset) > len(data) {
			t.Fatalf("challenge %+v", c)
		}
		offsets[c.Offset], nonces[c.Nonce] = true, true
		a.Proved("h1", c.Chunk, c.Nonce, c.Want(data) == c.Want(data), now.Add(time.Second))
		now = now.Add(time.Second)
	}
	if len(nonces) != 5 || len(offsets) < 4 {
		t.Fatalf("nonces or offsets repeat: %d nonces, %d offsets", len(nonces), len(offsets))
	}
	as := a.Assignments()
	if len(as) != 1 || as[0].Passed != 5 {
		t.Fatalf("%+v", as)
	}
}

func TestChallengeWant(t *testing.T) {
	data := []byte("abcdef")
	c := Challenge{Offset: 2, Nonce: h("n")}
	want := sha256.Sum256(append(append([]byte("ab"), c.Nonce[:]...), "cdef"...))
	if c.Want(data) != want {
		t.Fatal("Want is not sha256(chunk[:off] + nonce + chunk[off:])")
	}
	c.Offset = 6
	if c.Want(data) != sha256.Sum256(append([]byte("abcdef"), c.Nonce[:]...)) {
		t.Fatal("offset at the end")
	}
}

// TestChallengeFailed: a wrong proof, or none by the deadline, ends the
// assignment, benches the holder and hands the chunk to another.
func TestChallengeFailed(t *testing.T) {
	for _, miss := range []bool{false, true} {
		t.Run(fmt.Sprintf("missed=%v", miss), func(t *testing.T) {
			a, root, data := heldBy(t, map[string]Evidence{"h1": good})
			a.SetPeer("h2", good, true) // a second holder turns up
			c, now := challenge(t, a, t0)
			if miss {
				now = now.Add(ProofTimeout + time.Second)
				a.Proved("h1", c.Chunk, c.Nonce, true, now) // too late: ignored
			} else {
				a.Proved("h1", c.Chunk, c.Nonce, false, now.Add(time.Second))
				now = now.Add(time.Second)
			}
			acts := a.Tick(now)
			if len(acts.Ended) != 1 || !strings.Contains(acts.Ended[0].Reason, "custody challenge failed") {
				t.Fatalf("ended %+v", acts.Ended)
			}
			if len(acts.Offers) != 1 || acts.Offers[0].Holder != "h2" || acts.Offers[0].Chunks[0] != sha256.Sum256(data) {
				t.Fatalf("not reassigned to h2: %+v", acts.Offers)
			}
			acceptAll(a, acts.Offers, now)
			for _, hs := range a.Holders(now) {
				if hs.Holder == "h1" && (hs.Eligible || hs.Failed != 1 || hs.Benched.IsZero()) {
					t.Fatalf("h1 not benched: %+v", hs)
				}
			}
			// Benched: h1 is not offered the file again, even with room.
			a.SetFile(h("other"), chunks("other", 1), 1)
			for _, o := range a.Tick(now.Add(time.Hour)).Offers {
				if o.Holder == "h1" {
					t.Fatalf("benched holder offered %+v", o)
				}
			}
			// A day later it is eligible again.
			if hs := a.Holders(now.Add(25 * time.Hour)); !hs[0].Eligible {
				t.Fatalf("h1 still benched: %+v", hs[0])
			}
			_ = root
		})
	}
}

func TestProvedStale(t *testing.T) {
	a, _, data := heldBy(t, map[string]Evidence{"h1": good})
	c, now := challenge(t, a, t0)
	a.Proved("h1", c.Chunk, h("other nonce"), false, now) // not this challenge
	a.Proved("h2", c.Chunk, c.Nonce, false, now)          // not this holder
	a.Proved("h1", c.Chunk, c.Nonce, c.Want(data) == c.Want(data), now)
	if as := a.Assignments(); len(as) != 1 || as[0].Passed != 1 {
		t.Fatalf("%+v", as)
	}
}

func TestRenewAndExpire(t *testing.T) {
	a, root, _ := heldBy(t, map[string]Evidence{"h1": good})
	a.cfg.ChallengeEvery = 100 * time.Hour // out of the way
	for _, as := range a.as {
		as.next = t0.Add(100 * time.Hour)
	}
	// Renewal offered once less than TTL/4 is left.
	if acts := a.Tick(t0.Add(17 * time.Hour)); len(acts.Offers) != 0 {
		t.Fatalf("renewed early: %+v", acts.Offers)
	}
	acts := a.Tick(t0.Add(19 * time.Hour))
	if len(acts.Offers) != 1 || !acts.Offers[0].Renew {
		t.Fatalf("no renewal: %+v", acts.Offers)
	}
	if again := a.Tick(t0.Add(19*time.Hour + time.Minute)); len(again.Offers) != 0 {
		t.Fatalf("renewal offered twice: %+v", again.Offers)
	}
	acceptAll(a, acts.Offers, t0.Add(19*time.Hour))
	as := a.Assignments()
	if len(as) != 1 || as[0].Renewed != 1 || !as[0].Expires.Equal(t0.Add(43*time.Hour)) {
		t.Fatalf("%+v", as)
	}
	if hs := a.Holders(t0); hs[0].Premium != Premium(19*time.Hour, 1, false) {
		t.Fatalf("premium %+v", hs[0])
	}
	// The holder turns into a taker: no renewal, and the term ends.
	a.SetPeer("h1", Evidence{Up: 1, Down: 100}, true)
	if acts := a.Tick(t0.Add(40 * time.Hour)); len(acts.Offers) != 0 {
		t.Fatalf("renewed an ineligible holder: %+v", acts.Offers)
	}
	acts = a.Tick(t0.Add(43 * time.Hour))
	if len(acts.Ended) != 1 || acts.Ended[0].Reason != "term ended unrenewed" {
		t.Fatalf("ended %+v", acts.Ended)
	}
	_ = root
}

func TestHoldings(t *testing.T) {
	var hs Holdings
	root := h("r")
	var cs [][32]byte
	for i := range 20 {
		cs = append(cs, h(fmt.Sprint(i)))
	}
	acc, why := hs.Take(Offer{Root: root, Chunks: cs[:10], Expires: t0.Add(time.Hour)}, "a", t0)
	if len(acc) != 10 || why != "" {
		t.Fatalf("%d %q", len(acc), why)
	}
	acc, why = hs.Take(Offer{Root: root, Chunks: cs[10:], Expires: t0.Add(time.Hour)}, "b", t0)
	if len(acc) != 6 || !strings.Contains(why, "4 chunks declined") {
		t.Fatalf("%d %q", len(acc), why)
	}
	// Full, a renewal still goes through.
	acc, why = hs.Take(Offer{Root: root, Chunks: cs[:2], Expires: t0.Add(2 * time.Hour), Renew: true}, "a", t0)
	if len(acc) != 2 || why != "" {
		t.Fatalf("renewal %d %q", len(acc), why)
	}
	if !hs.Holds(cs[0]) || hs.Holds(cs[19]) {
		t.Fatal("Holds")
	}
	gone := hs.Expire(t0.Add(time.Hour))
	if len(gone) != 14 || len(hs.List()) != 2 {
		t.Fatalf("expired %d, left %d", len(gone), len(hs.List()))
	}
	hs.Drop("a", cs[0])
	if hs.Holds(cs[0]) {
		t.Fatal("Drop")
	}
}

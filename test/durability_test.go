package e2e

import (
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/test/harness"
)

// Rate limits off: these tests measure durability, not policy.
var unlimited = []string{"--events-per-second", "0", "--events-per-second-ip", "0"}

const durabilityConns = 4

// storeEngines are the on-disk engines `cairn node --store-engine` offers.
var storeEngines = []string{"lmdb", "bbolt", "pebble"}

// forEachEngine runs fn as one subtest per store engine.
func forEachEngine(t *testing.T, fn func(t *testing.T, engineFlags []string)) {
	for _, e := range storeEngines {
		t.Run(e, func(t *testing.T) { fn(t, append(slices.Clone(unlimited), "--store-engine", e)) })
	}
}

// TestDurabilityAfterOK: every event answered OK true survives a SIGKILL
// that comes right after the last OK.
func TestDurabilityAfterOK(t *testing.T) { forEachEngine(t, durabilityAfterOK) }

func durabilityAfterOK(t *testing.T, flags []string) {
	n := 2000
	if testing.Short() {
		n = 200
	}
	node := harness.Start(t, flags...)
	evs := makeEvents(t, "durable", n, nostr.Now()-10)

	a := newAcks()
	var wg sync.WaitGroup
	start := time.Now()
	for i := range durabilityConns {
		c := harness.Dial(t, node.WSURL)
		part := evs[i*n/durabilityConns : (i+1)*n/durabilityConns]
		wg.Add(1)
		go func() {
			defer wg.Done()
			pipeline(c, part, a, time.Minute)
		}()
	}
	wg.Wait()
	ok, refused := a.counts()
	if ok != n {
		t.Fatalf("%d of %d events got OK true, %d refused (e.g. %v)", ok, n, refused, firstReasons(a, 3))
	}
	t.Logf("%d events acknowledged over %d pipelined connections in %v", n, durabilityConns, time.Since(start))

	node.Kill9()
	node.Restart()
	checkAllPresent(t, node, evs)
}

// TestDurabilityKillDuringFlood: SIGKILL in the middle of a flood loses no
// acknowledged event, and the store opens cleanly afterwards.
func TestDurabilityKillDuringFlood(t *testing.T) { forEachEngine(t, killDuringFlood) }

func killDuringFlood(t *testing.T, flags []string) {
	n := 4000
	if testing.Short() {
		n = 400
	}
	node := harness.Start(t, flags...)
	evs := makeEvents(t, "flood", n, nostr.Now()-10)

	a := newAcks()
	var wg sync.WaitGroup
	for i := range durabilityConns {
		c := harness.Dial(t, node.WSURL)
		part := evs[i*n/durabilityConns : (i+1)*n/durabilityConns]
		wg.Add(1)
		go func() {
			defer wg.Done()
			pipeline(c, part, a, time.Minute)
		}()
	}
	// Kill once a quarter of the flood is acknowledged, while the rest is in flight.
	deadline := time.Now().Add(time.Minute)
	for ok, _ := a.counts(); ok < n/4; ok, _ = a.counts() {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d events acknowledged after a minute", ok, n)
		}
		time.Sleep(time.Millisecond)
	}
	node.Kill9()
	wg.Wait() // every OK the relay sent before dying has been read
	ok, _ := a.counts()
	t.Logf("killed with %d of %d events acknowledged", ok, n)
	if ok == n {
		t.Logf("the flood finished before the kill landed; the test still checks every event")
	}

	node.Restart()
	var acked []nostr.Event
	for _, ev := range evs {
		if a.ok[ev.ID] {
			acked = append(acked, ev)
		}
	}
	checkAllPresent(t, node, acked)

	// The restarted store takes writes and serves every event it kept intact.
	c := harness.Dial(t, node.WSURL)
	sk, _ := seededKey("flood")
	after := nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Content: "after the crash"}
	after.Sign(sk)
	if ok, reason := c.Publish(after); !ok {
		t.Fatalf("publishing after the restart: %s", reason)
	}
	_, pk := seededKey("flood")
	for _, ev := range fetchByAuthor(t, c, pk, n+1) {
		if !ev.CheckID() {
			t.Fatalf("event %s read back after the crash does not hash to its id", ev.ID)
		}
		if ok, _ := ev.CheckSignature(); !ok {
			t.Fatalf("event %s read back after the crash has a bad signature", ev.ID)
		}
	}
}

// checkAllPresent asks node for evs by id and by author and fails unless
// every one comes back unchanged.
func checkAllPresent(t *testing.T, node *harness.Node, evs []nostr.Event) {
	t.Helper()
	c := harness.Dial(t, node.WSURL)
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	got := fetchByIDs(t, c, ids)
	missing := 0
	for _, ev := range evs {
		g, ok := got[ev.ID]
		if !ok {
			if missing < 5 {
				t.Errorf("acknowledged event %s (created_at %d) lost after SIGKILL", ev.ID, ev.CreatedAt)
			}
			missing++
			continue
		}
		sameEvent(t, ev, g)
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged events lost after SIGKILL", missing, len(evs))
	}
	if len(evs) == 0 {
		return
	}
	// Events stored but not yet acknowledged when the process died are
	// there too, so ask for all of the author's events, not len(evs).
	byAuthor := map[string]bool{}
	for _, ev := range fetchByAuthor(t, c, evs[0].PubKey, len(evs)) {
		byAuthor[ev.ID] = true
	}
	for _, ev := range evs {
		if !byAuthor[ev.ID] {
			t.Fatalf("event %s is served by id but not by author", ev.ID)
		}
	}
}

func firstReasons(a *acks, n int) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, r := range a.refused {
		if len(out) == n {
			break
		}
		out = append(out, r)
	}
	return out
}

// TestStateAfterKill: replacement, deletion and expiration decisions made
// before a SIGKILL still hold after the restart.
func TestStateAfterKill(t *testing.T) { forEachEngine(t, stateAfterKill) }

func stateAfterKill(t *testing.T, flags []string) {
	node := harness.Start(t, flags...)
	c := harness.Dial(t, node.WSURL)
	sk, pk := seededKey("state")
	now := nostr.Now()
	signed := func(kind int, at nostr.Timestamp, content string, tags ...nostr.Tag) nostr.Event {
		ev := nostr.Event{Kind: kind, CreatedAt: at, Content: content, Tags: tags}
		if err := ev.Sign(sk); err != nil {
			t.Fatal(err)
		}
		if ok, reason := c.Publish(ev); !ok {
			t.Fatalf("publishing kind %d %q: %s", kind, content, reason)
		}
		return ev
	}
	signed(0, now-20, `{"name":"old"}`)
	profile := signed(0, now-10, `{"name":"new"}`)
	signed(30023, now-20, "draft", nostr.Tag{"d", "post"})
	article := signed(30023, now-10, "final", nostr.Tag{"d", "post"})
	doomed := signed(1, now-20, "to be deleted")
	deletion := signed(5, now-10, "", nostr.Tag{"e", doomed.ID})
	kept := signed(1, now-5, "kept")
	expiry := now + 2
	expiring := signed(1, now, "expires while the node is down", nostr.Tag{"expiration", strconv.FormatInt(int64(expiry), 10)})

	node.Kill9()
	for nostr.Now() <= expiry {
		time.Sleep(100 * time.Millisecond)
	}
	node.Restart()
	c = harness.Dial(t, node.WSURL)

	want := []nostr.Event{kept, deletion, profile, article}
	got := c.Query("all", nostr.Filter{Authors: []string{pk}})
	if len(got) != len(want) {
		t.Fatalf("after restart the author has %d events, want %d: %v", len(got), len(want), contents(got))
	}
	byID := map[string]nostr.Event{}
	for _, ev := range got {
		byID[ev.ID] = ev
	}
	for _, ev := range want {
		g, ok := byID[ev.ID]
		if !ok {
			t.Fatalf("after restart %d:%q is missing; the author has %v", ev.Kind, ev.Content, contents(got))
		}
		sameEvent(t, ev, g)
	}
	if ok, reason := c.Publish(doomed); ok {
		t.Errorf("a deleted event was accepted again after the restart")
	} else {
		t.Logf("re-publishing the deleted event: %s", reason)
	}
	if got := c.Query("exp", nostr.Filter{IDs: []string{expiring.ID}}); len(got) != 0 {
		t.Errorf("an event that expired while the node was down is still served")
	}
}

func contents(evs []nostr.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = strconv.Itoa(ev.Kind) + ":" + ev.Content
	}
	return out
}

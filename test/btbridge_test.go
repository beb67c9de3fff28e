package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/test/harness"
)

// bridgeStatus is what these tests read of /api/status.
type bridgeStatus struct {
	Npub  string `json:"npub"`
	Store struct {
		Events int64 `json:"events"`
	} `json:"store"`
	BTDHT struct {
		Addr   string `json:"addr"`
		Nodes  int    `json:"nodes"`
		Bridge *struct {
			Cursor    uint64 `json:"cursor"`
			Events    int64  `json:"events"`
			Bundles   int64  `json:"bundles"`
			Published int64  `json:"published_events"`
			Seq       int64  `json:"seq"`
			Error     string `json:"error"`
		} `json:"bridge"`
	} `json:"bt_dht"`
}

// bridgeEvents are n events of `authors` authors, interleaved.
func bridgeEvents(t *testing.T, authors, n int) []nostr.Event {
	per := make([][]nostr.Event, authors)
	for a := range authors {
		per[a] = makeEvents(t, fmt.Sprintf("bridge-%d", a), n/authors, nostr.Now()-10)
	}
	var evs []nostr.Event
	for i := range n / authors {
		for a := range authors {
			evs = append(evs, per[a][i])
		}
	}
	return evs
}

// flood sends evs over conns pipelined connections to url and records the
// answers in a.
func flood(t *testing.T, url string, evs []nostr.Event, conns int, a *acks) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i := range conns {
		c := harness.Dial(t, url)
		part := evs[i*len(evs)/conns : (i+1)*len(evs)/conns]
		wg.Add(1)
		go func() {
			defer wg.Done()
			pipeline(c, part, a, 2*time.Minute)
		}()
	}
	return &wg
}

// TestBridgeSurvivesKill: a `cairn node --bt-bridge` on a private loopback
// Mainline DHT of three nodes takes 5,000 events of five authors over four
// pipelined websocket connections: a fifth first, archived (the cursor on
// disk), then the rest, killed with SIGKILL once half of those are
// acknowledged; restarted, it keeps what it archived and is sent what was
// not acknowledged again.
// Once the bridge's archive pointer covers everything the store holds,
// `cairn follow --archive --print npub(A)` against another node walks the
// archive over the DHT and BitTorrent alone: every acknowledged event is in
// a bundle, as sent, each signature checked on the way.
func TestBridgeSurvivesKill(t *testing.T) {
	const n = 5000
	b := harness.Start(t)
	var bs bridgeStatus
	getJSON(t, b.URL+"/api/status", &bs)
	if bs.BTDHT.Addr == "" {
		t.Fatal("B runs no Mainline DHT node")
	}
	harness.Start(t, "--bt-dht-bootstrap", bs.BTDHT.Addr)
	a := harness.Start(t, append([]string{"--bt-bridge", "--bt-dht-bootstrap", bs.BTDHT.Addr}, unlimited...)...)
	evs := bridgeEvents(t, 5, n)

	ack := newAcks()
	status := func() bridgeStatus {
		var st bridgeStatus
		getJSON(t, a.URL+"/api/status", &st)
		if st.BTDHT.Bridge == nil {
			t.Fatal("A's status shows no bridge")
		}
		return st
	}
	// A first part, archived before the kill: the cursor is on disk.
	first := n / 5
	flood(t, a.WSURL, evs[:first], durabilityConns, ack).Wait()
	deadline := time.Now().Add(time.Minute)
	for status().BTDHT.Bridge.Events < int64(first) {
		if time.Now().After(deadline) {
			t.Fatalf("the bridge did not archive the first %d events in a minute: %+v", first, *status().BTDHT.Bridge)
		}
		time.Sleep(200 * time.Millisecond) // polling the bridge's status, bounded by the deadline
	}
	archived := status().BTDHT.Bridge.Events
	start := time.Now()
	wg := flood(t, a.WSURL, evs[first:], durabilityConns, ack)
	deadline = time.Now().Add(2 * time.Minute)
	for ok, _ := ack.counts(); ok < first+(n-first)/2; ok, _ = ack.counts() {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d events acknowledged after two minutes", ok, n)
		}
		time.Sleep(time.Millisecond) // polling the acknowledgement count, bounded by the deadline
	}
	a.Kill9()
	wg.Wait()
	before, _ := ack.counts()
	t.Logf("%d events archived before the flood; killed with %d of %d events acknowledged (%v into the flood)", archived, before, n, time.Since(start))

	a.Restart()
	var rest []nostr.Event
	for _, ev := range evs {
		ack.mu.Lock()
		ok := ack.ok[ev.ID]
		ack.mu.Unlock()
		if !ok {
			rest = append(rest, ev)
		}
	}
	if got := status().BTDHT.Bridge.Events; got < archived {
		t.Fatalf("after the restart the bridge has archived %d events, %d before the kill: its state was lost", got, archived)
	}
	flood(t, a.WSURL, rest, durabilityConns, ack).Wait()
	if ok, refused := ack.counts(); ok != n {
		t.Fatalf("%d of %d events acknowledged after the restart, %d refused (e.g. %v)", ok, n, refused, firstReasons(ack, 3))
	}

	// The bridge catches up from its cursor: wait until its pointer covers
	// every event the store holds.
	var as bridgeStatus
	deadline = time.Now().Add(3 * time.Minute)
	for {
		as = status()
		br := as.BTDHT.Bridge
		if br.Events >= as.Store.Events && br.Published >= as.Store.Events {
			t.Logf("bridge: %d events in %d bundles, pointer seq %d; store %d events", br.Events, br.Bundles, br.Seq, as.Store.Events)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bridge never covered the store: %+v, store %d events", *br, as.Store.Events)
		}
		time.Sleep(500 * time.Millisecond) // polling the bridge's status, bounded by the deadline
	}

	var out, errOut string
	var code int
	for try := 0; ; try++ {
		if try == 20 {
			t.Fatalf("cairn follow --archive never succeeded: %d %s", code, errOut)
		}
		if try > 0 {
			time.Sleep(time.Second) // between reads, bounded by the tries
		}
		out, errOut, code = harness.RunTimeout(t, 3*time.Minute, "follow", "--node", b.URL, "--archive", "--print", as.Npub)
		if code == 0 {
			break
		}
	}
	got := map[string]nostr.Event{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev nostr.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("printed %q: %v", l, err)
		}
		if _, dup := got[ev.ID]; dup {
			t.Fatalf("event %s is in two bundles", ev.ID)
		}
		got[ev.ID] = ev
	}
	missing := 0
	for _, ev := range evs {
		g, ok := got[ev.ID]
		if !ok {
			if missing < 5 {
				t.Errorf("acknowledged event %s is in no bundle of the archive", ev.ID)
			}
			missing++
			continue
		}
		sameEvent(t, ev, g)
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged events are in no bundle", missing, n)
	}
	steps := strings.Split(strings.TrimSpace(errOut), "\n")
	t.Logf("archive read: %d events; %s", len(got), steps[len(steps)-1])
	if !slices.ContainsFunc(steps, func(s string) bool { return strings.Contains(s, "every signature checked") }) {
		t.Fatalf("the read did not report checking signatures: %s", errOut)
	}
}

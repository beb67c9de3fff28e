package e2e

import (
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/test/harness"
)

var syncSummary = regexp.MustCompile(`synced with \S+: (\d+) up, (\d+) down`)

// syncSets gives two nodes different events with an overlap and returns
// what only a has, what only b has and what both have.
func syncSets(t *testing.T, a, b *harness.Node) (onlyA, onlyB, both []nostr.Event) {
	t.Helper()
	n := 300
	if testing.Short() {
		n = 60
	}
	evs := makeEvents(t, "sync", n, nostr.Now()-10)
	onlyA, onlyB, both = evs[:n/3], evs[n/3:2*n/3-n/10], evs[2*n/3-n/10:]
	publishAll(t, a, append(slices.Clone(onlyA), both...))
	publishAll(t, b, append(slices.Clone(onlyB), both...))
	return onlyA, onlyB, both
}

func publishAll(t *testing.T, node *harness.Node, evs []nostr.Event) {
	t.Helper()
	c := harness.Dial(t, node.WSURL)
	a := newAcks()
	pipeline(c, evs, a, time.Minute)
	if ok, refused := a.counts(); ok != len(evs) {
		t.Fatalf("%d of %d events accepted, %d refused: %v", ok, len(evs), refused, firstReasons(a, 3))
	}
}

// runSync runs `cairn sync url {"authors":[sync author]} --data-dir dir` and
// returns its up and down counts. The filter leaves out each node's own
// cairn-p2p addressing record, which it publishes at start.
func runSync(t *testing.T, url, dir string) (up, down int) {
	t.Helper()
	_, pk := seededKey("sync")
	out, errOut, code := harness.Run(t, "sync", url, `{"authors":["`+pk+`"]}`, "--data-dir", dir)
	if code != 0 {
		t.Fatalf("cairn sync %s --data-dir %s exited %d\nstdout:\n%s\nstderr:\n%s", url, dir, code, out, errOut)
	}
	m := syncSummary.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("cairn sync printed no `synced with URL: N up, M down` line:\n%s\nstderr:\n%s", out, errOut)
	}
	up, _ = strconv.Atoi(m[1])
	down, _ = strconv.Atoi(m[2])
	t.Logf("cairn sync %s --data-dir %s: %d up, %d down", url, dir, up, down)
	return up, down
}

func wantCounts(t *testing.T, what string, up, down, wantUp, wantDown int) {
	t.Helper()
	if up != wantUp || down != wantDown {
		t.Fatalf("%s: %d up, %d down; want %d up, %d down", what, up, down, wantUp, wantDown)
	}
}

// holdsExactly fails unless node serves exactly evs for the sync author.
func holdsExactly(t *testing.T, node *harness.Node, evs []nostr.Event) {
	t.Helper()
	c := harness.Dial(t, node.WSURL)
	_, pk := seededKey("sync")
	got := fetchByAuthor(t, c, pk, len(evs))
	have := map[string]nostr.Event{}
	for _, ev := range got {
		have[ev.ID] = ev
	}
	for _, ev := range evs {
		g, ok := have[ev.ID]
		if !ok {
			t.Fatalf("node %s lacks event %s after sync (has %d of %d)", node.DataDir, ev.ID, len(have), len(evs))
		}
		sameEvent(t, ev, g)
	}
	if len(got) != len(evs) {
		t.Fatalf("node %s holds %d events, want %d", node.DataDir, len(got), len(evs))
	}
}

// TestSyncStoppedStore: sync the store of a stopped node with a running one.
func TestSyncStoppedStore(t *testing.T) {
	a, b := harness.Start(t, unlimited...), harness.Start(t, unlimited...)
	onlyA, onlyB, both := syncSets(t, a, b)
	union := slices.Concat(onlyA, onlyB, both)

	a.Stop()
	up, down := runSync(t, b.WSURL, a.DataDir)
	wantCounts(t, "first sync", up, down, len(onlyA), len(onlyB))
	up, down = runSync(t, b.WSURL, a.DataDir)
	wantCounts(t, "second sync", up, down, 0, 0)

	a.Restart()
	holdsExactly(t, a, union)
	holdsExactly(t, b, union)
}

// TestSyncThroughRelays: a third data dir syncs with two running nodes in
// turn, carrying each one's events to the other, in both directions.
func TestSyncThroughRelays(t *testing.T) {
	a, b := harness.Start(t, unlimited...), harness.Start(t, unlimited...)
	onlyA, onlyB, both := syncSets(t, a, b)
	union := slices.Concat(onlyA, onlyB, both)
	via := t.TempDir()

	up, down := runSync(t, a.WSURL, via)
	wantCounts(t, "pull from a", up, down, 0, len(onlyA)+len(both))
	up, down = runSync(t, b.WSURL, via)
	wantCounts(t, "exchange with b", up, down, len(onlyA), len(onlyB))
	up, down = runSync(t, a.WSURL, via)
	wantCounts(t, "push to a", up, down, len(onlyB), 0)

	for _, n := range []*harness.Node{a, b} {
		up, down = runSync(t, n.WSURL, via)
		wantCounts(t, "second sync with "+n.WSURL, up, down, 0, 0)
	}
	holdsExactly(t, a, union)
	holdsExactly(t, b, union)
}

// TestSyncRunningStore: `cairn sync` on the data dir of a running node must
// either refuse quickly and say why, or work, with the running node then
// serving what sync wrote. It must not hang or damage the store.
func TestSyncRunningStore(t *testing.T) {
	for _, engine := range storeEngines {
		t.Run(engine, func(t *testing.T) {
			a := harness.Start(t, append(unlimited, "--store-engine", engine)...)
			b := harness.Start(t, unlimited...)
			onlyA, onlyB, both := syncSets(t, a, b)
			out, errOut, code := harness.RunTimeout(t, 20*time.Second, "sync", b.WSURL, "--data-dir", a.DataDir)
			if code != 0 {
				if !regexp.MustCompile(`(?i)stop it|running|lock`).MatchString(out + errOut) {
					t.Errorf("sync on a running node's data dir failed without saying why:\nstdout:\n%s\nstderr:\n%s", out, errOut)
				}
				holdsExactly(t, a, slices.Concat(onlyA, both))
			} else {
				t.Logf("sync on a running %s node's data dir worked:\n%s", engine, out)
				holdsExactly(t, a, slices.Concat(onlyA, onlyB, both))
			}
			a.Stop()
			a.Restart()
			c := harness.Dial(t, a.WSURL)
			c.Query("alive", nostr.Filter{Limit: 1})
		})
	}
}

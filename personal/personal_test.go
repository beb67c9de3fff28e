package personal

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/nostr"
)

func signed(t *testing.T, n byte, kind int, at nostr.Timestamp, tags nostr.Tags) *nostr.Event {
	t.Helper()
	ev := &nostr.Event{Kind: kind, CreatedAt: at, Tags: tags, Content: "x"}
	if err := ev.Sign(strings.Repeat(fmt.Sprintf("%02x", n), 32)); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestPolicy(t *testing.T) {
	owner := signed(t, 1, 1, 1, nostr.Tags{})
	other := signed(t, 2, 1, 1, nostr.Tags{})
	p := Policy{Owner: owner.PubKey}
	if ok, _ := p.FromClient(owner); !ok {
		t.Fatal("the owner was refused")
	}
	if ok, why := p.FromClient(other); ok || !strings.HasPrefix(why, "restricted:") {
		t.Fatalf("another key: %v %q", ok, why)
	}
	if ok, why := p.FromOverlay(other, Topic(other.PubKey)); !ok {
		t.Fatal(why)
	}
	if ok, _ := p.FromOverlay(other, Topic(owner.PubKey)); ok {
		t.Fatal("an event on another author's topic was accepted")
	}
	if ok, why := p.FromOverlay(other, BroadcastTopic); !ok {
		t.Fatalf("any author on the broadcast topic: %s", why)
	}
	bad := *other
	bad.Content = "changed"
	if ok, why := p.FromOverlay(&bad, Topic(other.PubKey)); ok || !strings.HasPrefix(why, "invalid:") {
		t.Fatalf("tampered overlay event: %v %q", ok, why)
	}
}

func TestFollows(t *testing.T) {
	pk := func(c string) string { return strings.Repeat(c, 64) }
	a := signed(t, 1, 3, 1, nostr.Tags{{"p", pk("a")}, {"p", pk("b")}})
	b := signed(t, 1, 3, 2, nostr.Tags{{"p", pk("b")}, {"p", pk("c")}, {"p", "junk"}})
	join, leave := Follows(a, b)
	if fmt.Sprint(join) != fmt.Sprint([]string{pk("c")}) || fmt.Sprint(leave) != fmt.Sprint([]string{pk("a")}) {
		t.Fatalf("join %v leave %v", join, leave)
	}
	if join, _ := Follows(nil, a); len(join) != 2 {
		t.Fatalf("first list: %v", join)
	}
}

func TestCacheNeverEvictsOwner(t *testing.T) {
	owner := signed(t, 1, 1, 1, nostr.Tags{})
	c := NewCache(owner.PubKey, 2)
	if ev := c.Add(owner); ev != nil {
		t.Fatal("the owner's event counted")
	}
	var evicted []string
	var evs []*nostr.Event
	for i := range 4 {
		ev := signed(t, byte(2+i), 1, nostr.Timestamp(10+i), nostr.Tags{})
		evs = append(evs, ev)
		evicted = append(evicted, c.Add(ev)...)
	}
	if c.Len() != 2 || len(evicted) != 2 || evicted[0] != evs[0].ID || evicted[1] != evs[1].ID {
		t.Fatalf("len %d, evicted %v", c.Len(), evicted)
	}
}

func TestResendSchedule(t *testing.T) {
	q := NewQueue()
	t0 := time.Unix(0, 0)
	q.Add("e1", "n1", t0)
	now := t0
	var gaps []time.Duration
	for try := 1; ; try++ {
		due := q.Due(now)
		if len(due) != 1 || due[0].Try != try {
			t.Fatalf("try %d: due %v", try, due)
		}
		last := now
		if q.Done("e1", "n1", false, now) {
			if try != MaxTries {
				t.Fatalf("gave up after %d tries", try)
			}
			break
		}
		if len(q.Due(now)) != 0 {
			t.Fatal("due again at once")
		}
		now = now.Add(FirstRetry << (try - 1))
		gaps = append(gaps, now.Sub(last))
	}
	if gaps[0] != 5*time.Minute || gaps[1] != 10*time.Minute || gaps[8] != 5*256*time.Minute {
		t.Fatalf("gaps %v", gaps)
	}
	q.Add("e2", "n1", now)
	q.Done("e2", "n1", true, now)
	if q.Len() != 0 {
		t.Fatal("a delivered send stayed queued")
	}
}

func TestPolicyNodeSignaling(t *testing.T) {
	owner := signed(t, 1, 1, 1, nostr.Tags{})
	node := signed(t, 9, 1, 1, nostr.Tags{})
	p := Policy{Owner: owner.PubKey, Node: node.PubKey}
	toNode := signed(t, 2, 20001, 1, nostr.Tags{{"p", node.PubKey}})
	if ok, why := p.FromClient(toNode); !ok {
		t.Fatalf("signaling to the node refused: %s", why)
	}
	stored := signed(t, 2, 1, 1, nostr.Tags{{"p", node.PubKey}})
	if ok, _ := p.FromClient(stored); ok {
		t.Fatal("a stored kind from another key passed by naming the node")
	}
	elsewhere := signed(t, 2, 20001, 1, nostr.Tags{{"p", owner.PubKey}})
	if ok, _ := p.FromClient(elsewhere); ok {
		t.Fatal("signaling to someone else passed")
	}
}

func TestCacheExempt(t *testing.T) {
	node := signed(t, 9, 30078, 1, nostr.Tags{})
	c := NewCache(strings.Repeat("0", 64), 1)
	c.Exempt(node.PubKey)
	if c.Add(node) != nil || c.Len() != 0 {
		t.Fatal("an exempt key's event counted")
	}
	a := signed(t, 2, 1, 5, nostr.Tags{})
	b := signed(t, 3, 1, 4, nostr.Tags{})
	c.Add(a)
	if ev := c.Add(b); len(ev) != 1 || ev[0] != b.ID {
		t.Fatalf("an event older than the rest should go at once: %v", ev)
	}
}

func TestMayRead(t *testing.T) {
	owner := strings.Repeat("a", 64)
	open := Policy{Owner: owner}
	if ok, _ := open.MayRead(nil); !ok {
		t.Fatal("open reads refused")
	}
	p := Policy{Owner: owner, PrivateReads: true}
	if ok, why := p.MayRead(nil); ok || !strings.HasPrefix(why, "auth-required:") {
		t.Fatalf("unauthenticated: %v %q", ok, why)
	}
	if ok, why := p.MayRead([]string{strings.Repeat("b", 64)}); ok || !strings.HasPrefix(why, "restricted:") {
		t.Fatalf("another key: %v %q", ok, why)
	}
	if ok, _ := p.MayRead([]string{strings.Repeat("b", 64), owner}); !ok {
		t.Fatal("the owner was refused")
	}
}

func TestFromDirectAndTargets(t *testing.T) {
	owner := signed(t, 1, 1, 1, nostr.Tags{})
	p := Policy{Owner: owner.PubKey}
	reply := signed(t, 2, 1, 1, nostr.Tags{{"e", owner.ID}, {"p", owner.PubKey}})
	if ok, why := p.FromDirect(reply); !ok {
		t.Fatal(why)
	}
	if ok, why := p.FromDirect(signed(t, 2, 1, 1, nostr.Tags{})); ok || !strings.HasPrefix(why, "restricted:") {
		t.Fatalf("an event not naming the owner: %v %q", ok, why)
	}
	bad := *reply
	bad.Content = "changed"
	if ok, why := p.FromDirect(&bad); ok || !strings.HasPrefix(why, "invalid:") {
		t.Fatalf("tampered: %v %q", ok, why)
	}
	a, b := strings.Repeat("a", 64), strings.Repeat("b", 64)
	mk := func(kind int, tags nostr.Tags) *nostr.Event { return &nostr.Event{Kind: kind, Tags: tags} }
	for _, c := range []struct {
		ev   *nostr.Event
		want []string
	}{
		{mk(1, nostr.Tags{{"p", a}, {"p", b}, {"p", a}, {"p", owner.PubKey}}), []string{a, b}},
		{mk(1, nostr.Tags{{"p", a}, {"q", "x"}}), nil},
		{mk(7, nostr.Tags{{"p", b}, {"p", a}}), []string{b}},
		{mk(6, nostr.Tags{{"p", a}}), nil},
		{mk(1, nostr.Tags{{"p", "short"}}), nil},
	} {
		if got := Targets(c.ev, owner.PubKey); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("kind %d %v: %v, want %v", c.ev.Kind, c.ev.Tags, got, c.want)
		}
	}
}

func TestQueueEntries(t *testing.T) {
	q := NewQueue()
	t0 := time.Unix(100, 0)
	q.Add("e1", "n1", t0)
	q.Add("e2", "n1", t0.Add(time.Second))
	q.Done("e1", "n1", false, t0)
	es := q.Entries()
	if len(es) != 2 || es[0].ID != "e2" || es[1].Try != 2 || !es[1].Next.Equal(t0.Add(FirstRetry)) {
		t.Fatalf("entries %+v", es)
	}
	r := NewQueue()
	r.Load(append(es, Entry{ID: "e3", Target: "n1", Try: 0}, Entry{ID: "e4", Target: "n1", Try: MaxTries + 1}))
	if fmt.Sprint(r.Entries()) != fmt.Sprint(es) {
		t.Fatalf("reloaded %+v", r.Entries())
	}
	if d := r.Due(t0.Add(FirstRetry)); len(d) != 2 || d[1].Try != 2 {
		t.Fatalf("due after reload %+v", d)
	}
}

func TestAsks(t *testing.T) {
	a := NewAsks()
	t0 := time.Unix(1000, 0)
	if !a.Allow("k", t0) || a.Allow("k", t0.Add(AskInterval-time.Second)) {
		t.Fatal("a second ask within the interval was allowed")
	}
	if !a.Allow("other", t0) || !a.Allow("k", t0.Add(AskInterval)) {
		t.Fatal("an ask was refused")
	}
}

func TestCatchUpFilter(t *testing.T) {
	a := strings.Repeat("ab", 32)
	f := CatchUpFilter(a, 0, false)
	if f.Since != nil || f.Limit != CatchUpFirst || len(f.Authors) != 1 || f.Authors[0] != a {
		t.Fatalf("nothing held: %+v", f)
	}
	f = CatchUpFilter(a, 1000, true)
	if f.Since == nil || *f.Since != 1000 || f.Until != nil || f.Limit != CatchUpLimit {
		t.Fatalf("held: %+v", f)
	}
	if _, ok := NextPage(f, CatchUpLimit-1, 1500); ok {
		t.Fatal("a page that was not full asked for another")
	}
	next, ok := NextPage(f, CatchUpLimit, 1500)
	if !ok || next.Until == nil || *next.Until != 1500 || *next.Since != 1000 {
		t.Fatalf("after a full page: %+v %v", next, ok)
	}
	if _, ok := NextPage(next, CatchUpLimit, 1500); ok {
		t.Fatal("a page no older than the last asked again: it would never end")
	}
	if _, ok := NextPage(f, CatchUpLimit, 1000); ok {
		t.Fatal("a page reaching the window's start asked again")
	}
	if _, ok := NextPage(CatchUpFilter(a, 0, false), CatchUpFirst, 1500); ok {
		t.Fatal("the first catch-up of an author asks one page")
	}
}

func TestCatchUps(t *testing.T) {
	c := NewCatchUps()
	if !c.Start("a") || c.Start("a") || !c.Start("b") {
		t.Fatal("one catch-up per author at a time")
	}
	if !c.Done("a") {
		t.Fatal("a Start during the run must run it again")
	}
	if c.Start("a") {
		t.Fatal("the second run counts as running")
	}
	if !c.Done("a") || c.Done("a") {
		t.Fatal("again once per Start while running")
	}
	if !c.Start("a") || c.Done("b") || c.Done("a") {
		t.Fatal("done clears")
	}
}

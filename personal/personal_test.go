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

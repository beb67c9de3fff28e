package personal

import (
	"container/heap"
	"fmt"
	"slices"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/event"
)

// TopicPrefix names an author's GossipSub topic: the prefix and the
// author's pubkey in hex. A post costs one message per follower's node.
const TopicPrefix = "/cairn/author/1/"

// Topic is the topic of author's posts.
func Topic(author string) string { return TopicPrefix + author }

// Policy decides what a personal node accepts.
type Policy struct {
	// Owner is the node owner's pubkey: the only author a client may
	// publish as.
	Owner string
}

// FromClient accepts an event a client publishes only when the owner
// signed it; the reason carries NIP-01's restricted: prefix.
func (p Policy) FromClient(ev *nostr.Event) (bool, string) {
	if ev.PubKey != p.Owner {
		return false, "restricted: this is a personal node: only its owner " + p.Owner[:16] + "… may publish here"
	}
	return true, ""
}

// FromOverlay accepts an event that came from the overlay on topic: its id
// and signature must hold and its author must be the topic's.
func (p Policy) FromOverlay(ev *nostr.Event, topic string) (bool, string) {
	if err := event.Verify(ev); err != nil {
		return false, "invalid: " + err.Error()
	}
	if topic != Topic(ev.PubKey) {
		return false, fmt.Sprintf("invalid: an event of %.16s on the topic %s", ev.PubKey, topic)
	}
	return true, ""
}

// Follows compares two kind 3 follow lists (prev may be nil) and returns
// the authors to subscribe to and to leave.
func Follows(prev, next *nostr.Event) (join, leave []string) {
	set := func(ev *nostr.Event) map[string]bool {
		out := map[string]bool{}
		if ev == nil {
			return out
		}
		for _, t := range ev.Tags {
			if len(t) >= 2 && t[0] == "p" && event.IsHex(t[1], 64) {
				out[t[1]] = true
			}
		}
		return out
	}
	a, b := set(prev), set(next)
	for pk := range b {
		if !a[pk] {
			join = append(join, pk)
		}
	}
	for pk := range a {
		if !b[pk] {
			leave = append(leave, pk)
		}
	}
	slices.Sort(join)
	slices.Sort(leave)
	return join, leave
}

// Cache bounds the events of others a personal node keeps: past max, the
// oldest by created_at go; the owner's are never counted nor evicted.
type Cache struct {
	owner string
	max   int
	h     evHeap
	in    map[string]bool
}

// NewCache keeps at most max events of others.
func NewCache(owner string, max int) *Cache {
	return &Cache{owner: owner, max: max, in: map[string]bool{}}
}

// Add records a stored event and returns the ids to evict.
func (c *Cache) Add(ev *nostr.Event) []string {
	if ev.PubKey == c.owner || c.in[ev.ID] {
		return nil
	}
	c.in[ev.ID] = true
	heap.Push(&c.h, item{id: ev.ID, at: ev.CreatedAt})
	var out []string
	for c.h.Len() > c.max {
		it := heap.Pop(&c.h).(item)
		delete(c.in, it.id)
		out = append(out, it.id)
	}
	return out
}

// Len is the number of others' events held.
func (c *Cache) Len() int { return c.h.Len() }

type item struct {
	id string
	at nostr.Timestamp
}

type evHeap []item

func (h evHeap) Len() int { return len(h) }
func (h evHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].id < h[j].id
}
func (h evHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *evHeap) Push(x any)   { *h = append(*h, x.(item)) }
func (h *evHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// Resend schedule: NostrP2P's, 5 x 2^n minutes after the n-th failure, at
// most MaxTries sends in all.
const (
	FirstRetry = 5 * time.Minute
	MaxTries   = 10
)

// Attempt is a send to make now.
type Attempt struct {
	ID     string // event id
	Target string // the receiving node's owner pubkey
	Try    int    // 1 for the first send
}

type pending struct {
	Attempt
	next time.Time
}

// Queue is the resend queue: events that must reach a node (a reply to
// its owner, a post its follower missed). Keeping it across restarts is the
// edge's work (not built yet).
type Queue struct {
	p map[[2]string]*pending
}

// NewQueue returns an empty queue.
func NewQueue() *Queue { return &Queue{p: map[[2]string]*pending{}} }

// Add queues a first send of id to target, due now.
func (q *Queue) Add(id, target string, now time.Time) {
	k := [2]string{id, target}
	if q.p[k] == nil {
		q.p[k] = &pending{Attempt: Attempt{ID: id, Target: target, Try: 1}, next: now}
	}
}

// Due returns the sends due at now, oldest first.
func (q *Queue) Due(now time.Time) []Attempt {
	var out []pending
	for _, p := range q.p {
		if !p.next.After(now) {
			out = append(out, *p)
		}
	}
	slices.SortFunc(out, func(a, b pending) int {
		if c := a.next.Compare(b.next); c != 0 {
			return c
		}
		if a.ID != b.ID {
			if a.ID < b.ID {
				return -1
			}
			return 1
		}
		if a.Target < b.Target {
			return -1
		}
		return 1
	})
	as := make([]Attempt, len(out))
	for i, p := range out {
		as[i] = p.Attempt
	}
	return as
}

// Done records the outcome of a send: delivered, it leaves the queue;
// failed, it is due again 5 x 2^(try-1) minutes later, and gives up after
// MaxTries (gaveUp).
func (q *Queue) Done(id, target string, delivered bool, now time.Time) (gaveUp bool) {
	k := [2]string{id, target}
	p := q.p[k]
	if p == nil {
		return false
	}
	if delivered {
		delete(q.p, k)
		return false
	}
	if p.Try >= MaxTries {
		delete(q.p, k)
		return true
	}
	p.next = now.Add(FirstRetry << (p.Try - 1))
	p.Try++
	return false
}

// Len is the number of sends pending.
func (q *Queue) Len() int { return len(q.p) }

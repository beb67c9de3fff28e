package personal

import (
	"cmp"
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

// BroadcastTopic carries every node's posts to every node, NostrP2P's
// way, for small networks (broadcast mode).
const BroadcastTopic = "/cairn/all/1"

// Topic is the topic of author's posts.
func Topic(author string) string { return TopicPrefix + author }

// Policy decides what a personal node accepts.
type Policy struct {
	// Owner is the node owner's pubkey: the only author a client may
	// publish as.
	Owner string
	// Node is the node's own pubkey (its transport identity): an
	// ephemeral event p-tagged to it (a browser's WebRTC signaling) is
	// accepted from anyone, since it is never stored. Empty: none.
	Node string
	// PrivateReads serves reads only to a client authenticated (NIP-42)
	// as the owner.
	PrivateReads bool
}

// MayRead decides a read (REQ, COUNT, NEG-OPEN) by a client authenticated
// as authed (none: not authenticated).
func (p Policy) MayRead(authed []string) (bool, string) {
	if !p.PrivateReads || slices.Contains(authed, p.Owner) {
		return true, ""
	}
	if len(authed) == 0 {
		return false, "auth-required: this personal node serves reads only to its owner: authenticate (NIP-42) as " + p.Owner[:16] + "…"
	}
	return false, "restricted: this personal node serves reads only to its owner " + p.Owner[:16] + "…"
}

// FromClient accepts an event a client publishes only when the owner
// signed it, or when it is ephemeral and addressed (p tag) to the node
// itself; the reason carries NIP-01's restricted: prefix.
func (p Policy) FromClient(ev *nostr.Event) (bool, string) {
	if p.Node != "" && nostr.IsEphemeralKind(ev.Kind) {
		for _, t := range ev.Tags {
			if len(t) >= 2 && t[0] == "p" && t[1] == p.Node {
				return true, ""
			}
		}
	}
	if ev.PubKey != p.Owner {
		return false, "restricted: this is a personal node: only its owner " + p.Owner[:16] + "… may publish here"
	}
	return true, ""
}

// FromOverlay accepts an event that came from the overlay on topic: its id
// and signature must hold and its author must be the topic's (any author
// on BroadcastTopic).
func (p Policy) FromOverlay(ev *nostr.Event, topic string) (bool, string) {
	if err := event.Verify(ev); err != nil {
		return false, "invalid: " + err.Error()
	}
	if topic != Topic(ev.PubKey) && topic != BroadcastTopic {
		return false, fmt.Sprintf("invalid: an event of %.16s on the topic %s", ev.PubKey, topic)
	}
	return true, ""
}

// FromDirect accepts an event another node delivered straight to this one
// (a reply, mention or reaction to the owner): its id and signature must
// hold and it must p-tag the owner.
func (p Policy) FromDirect(ev *nostr.Event) (bool, string) {
	if err := event.Verify(ev); err != nil {
		return false, "invalid: " + err.Error()
	}
	for _, t := range ev.Tags {
		if len(t) >= 2 && t[0] == "p" && t[1] == p.Owner {
			return true, ""
		}
	}
	return false, "restricted: a direct delivery must name this node's owner in a p tag"
}

// Targets are the users an owner's event goes to directly, besides its
// followers, as NostrP2P sends them: every p-tagged user of a post (a
// reply or mention; not a quote repost, which has a q tag), the first
// p-tagged user of a reaction; never the owner. Reposts and other kinds go
// to followers only.
func Targets(ev *nostr.Event, owner string) []string {
	var out []string
	add := func(pk string) {
		if pk != owner && event.IsHex(pk, 64) && !slices.Contains(out, pk) {
			out = append(out, pk)
		}
	}
	switch ev.Kind {
	case 1:
		if ev.Tags.Find("q") != nil {
			return nil
		}
		for _, t := range ev.Tags {
			if len(t) >= 2 && t[0] == "p" {
				add(t[1])
			}
		}
	case 7:
		if t := ev.Tags.Find("p"); t != nil {
			add(t[1])
		}
	}
	return out
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
// oldest by created_at go (the lower id first on a tie); the owner's (and
// those of keys made exempt, such as the node's own) are never counted nor
// evicted.
type Cache struct {
	keep map[string]bool
	max  int
	h    evHeap
	in   map[string]bool
}

// NewCache keeps at most max events of others.
func NewCache(owner string, max int) *Cache {
	return &Cache{keep: map[string]bool{owner: true}, max: max, in: map[string]bool{}}
}

// Exempt never counts nor evicts pubkey's events (the node's own key,
// whose addressing record must stay).
func (c *Cache) Exempt(pubkey string) { c.keep[pubkey] = true }

// Add records a stored event and returns the ids to evict.
func (c *Cache) Add(ev *nostr.Event) []string {
	if c.keep[ev.PubKey] || c.in[ev.ID] {
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

// Max is the most events of others kept.
func (c *Cache) Max() int { return c.max }

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

// Entry is a pending send as it is kept across restarts.
type Entry struct {
	ID     string    `json:"id"`
	Target string    `json:"target"`
	Try    int       `json:"try"`
	Next   time.Time `json:"next"`
}

// Entries lists the pending sends, soonest first, for the edge to save.
func (q *Queue) Entries() []Entry {
	out := make([]Entry, 0, len(q.p))
	for _, p := range q.p {
		out = append(out, Entry{ID: p.ID, Target: p.Target, Try: p.Try, Next: p.next})
	}
	slices.SortFunc(out, func(a, b Entry) int {
		if c := a.Next.Compare(b.Next); c != 0 {
			return c
		}
		return cmp.Compare(a.ID+a.Target, b.ID+b.Target)
	})
	return out
}

// Load puts saved entries back (a duplicate of one pending is skipped, an
// entry with a try out of range is dropped).
func (q *Queue) Load(es []Entry) {
	for _, e := range es {
		k := [2]string{e.ID, e.Target}
		if q.p[k] != nil || e.Try < 1 || e.Try > MaxTries {
			continue
		}
		q.p[k] = &pending{Attempt: Attempt{ID: e.ID, Target: e.Target, Try: e.Try}, next: e.Next}
	}
}

// AskInterval is how long a node waits before asking an author's node
// again for the same missing profile, follow list or post (NostrP2P's one
// hour).
const AskInterval = time.Hour

// Asks limits requests to authors' nodes: one per key per AskInterval.
type Asks struct {
	last map[string]time.Time
}

// NewAsks returns an empty limiter.
func NewAsks() *Asks { return &Asks{last: map[string]time.Time{}} }

// Allow reports whether a request for key may go out at now, and records
// it if so. Keys older than AskInterval are forgotten.
func (a *Asks) Allow(key string, now time.Time) bool {
	if t, ok := a.last[key]; ok && now.Sub(t) < AskInterval {
		return false
	}
	for k, t := range a.last {
		if now.Sub(t) >= AskInterval {
			delete(a.last, k)
		}
	}
	a.last[key] = now
	return true
}

// CatchUpLimit is the most events one catch-up request asks for; when
// nothing of the author is held yet it asks for their latest
// CatchUpFirst (NostrP2P's latest-50 default).
const (
	CatchUpLimit = 100
	CatchUpFirst = 50
	// CatchUpPages bounds the requests of one catch-up.
	CatchUpPages = 10
)

// CatchUpFilter is the request a node sends, on returning or on
// (re)joining author's topic, for what it missed: author's events since
// newest, the newest of theirs it holds (inclusive: several events may
// share a second; a copy already held is harmless), or their latest
// CatchUpFirst when it holds none (held false).
func CatchUpFilter(author string, newest nostr.Timestamp, held bool) nostr.Filter {
	if !held {
		return nostr.Filter{Authors: []string{author}, Limit: CatchUpFirst}
	}
	s := newest
	return nostr.Filter{Authors: []string{author}, Since: &s, Limit: CatchUpLimit}
}

// NextPage is the request after a full page (got as many as f asked for,
// newest first, oldest the oldest of them): the same window, older than
// what came. ok is false when there is no further page to ask: the page was
// not full, or its oldest is no older than the window's start or than
// before (a second holding a page of events of its own).
func NextPage(f nostr.Filter, got int, oldest nostr.Timestamp) (next nostr.Filter, ok bool) {
	if f.Limit == 0 || got < f.Limit || f.Since == nil || oldest <= *f.Since {
		return f, false
	}
	if f.Until != nil && oldest >= *f.Until {
		return f, false
	}
	u := oldest
	next = f
	next.Until = &u
	return next, true
}

// CatchUps keeps one catch-up per author at a time: Start reports whether
// one may begin now; a Start while one runs is remembered, and Done then
// reports that it must run again (what triggered it may have come after
// the running one asked).
type CatchUps struct {
	running map[string]bool
	again   map[string]bool
}

// NewCatchUps returns an empty tracker.
func NewCatchUps() *CatchUps {
	return &CatchUps{running: map[string]bool{}, again: map[string]bool{}}
}

// Start asks to catch up with author.
func (c *CatchUps) Start(author string) bool {
	if c.running[author] {
		c.again[author] = true
		return false
	}
	c.running[author] = true
	return true
}

// Done ends author's catch-up; again: begin another at once (Start was
// called meanwhile), and it counts as running.
func (c *CatchUps) Done(author string) (again bool) {
	if c.again[author] {
		delete(c.again, author)
		return true
	}
	delete(c.running, author)
	return false
}

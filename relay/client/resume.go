package client

import (
	"container/heap"
	"math/rand/v2"
	"time"

	"github.com/cairn-nostr/cairn/nostr"
)

// backoff is the wait before reconnect attempt n (0 first): min doubled n
// times, capped at max, then jittered into its upper half (r in [0,1)) so
// that many clients dropped together do not come back together.
func backoff(n int, min, max time.Duration, r float64) time.Duration {
	d := min
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d/2 + time.Duration(r*float64(d/2))
}

// jitter is backoff's random source.
func jitter() float64 { return rand.Float64() }

// resume is what a subscription remembers between connections: the ids it
// delivered (at most max, the oldest by created_at evicted first) and
// where to resume. Pure: the caller gives it the events and the times.
type resume struct {
	max    int
	ids    map[string]nostr.Timestamp
	byTime tsHeap
	newest nostr.Timestamp
	seen   bool            // newest is set
	floor  nostr.Timestamp // created_at of the newest id evicted
	caught nostr.Timestamp // the time until which the subscription was live; 0: never
}

func newResume(max int) *resume {
	return &resume{max: max, ids: map[string]nostr.Timestamp{}}
}

// add records a delivered event and reports whether it is new.
func (r *resume) add(id string, at nostr.Timestamp) bool {
	if _, dup := r.ids[id]; dup {
		return false
	}
	r.ids[id] = at
	heap.Push(&r.byTime, tsID{at, id})
	for len(r.ids) > r.max {
		old := heap.Pop(&r.byTime).(tsID)
		delete(r.ids, old.id)
		if old.at > r.floor {
			r.floor = old.at
		}
	}
	if !r.seen || at > r.newest {
		r.newest, r.seen = at, true
	}
	return true
}

// liveUntil records that the subscription had caught up (EOSE) on a
// connection that ended at now.
func (r *resume) liveUntil(now nostr.Timestamp) { r.caught = now }

// filter returns f to re-send after a reconnect. Before the subscription
// was ever live, that is f itself (stored events not yet delivered are
// asked for again; the ids drop the repeats). After, since is set margin
// before the newest created_at delivered (or before the time the
// connection ended, when that is earlier or nothing came), and never below
// the created_at of an evicted id, which could no longer be recognised;
// limit is dropped, since the point is everything missed.
func (r *resume) filter(f nostr.Filter, margin time.Duration) nostr.Filter {
	if r.caught == 0 {
		return f
	}
	at := r.caught
	if r.seen && r.newest < at {
		at = r.newest
	}
	since := at - nostr.Timestamp(margin/time.Second)
	if since < r.floor {
		since = r.floor
	}
	if f.Since != nil && *f.Since > since {
		since = *f.Since
	}
	f.Since = &since
	f.Limit, f.LimitZero = 0, false
	return f
}

type tsID struct {
	at nostr.Timestamp
	id string
}

// tsHeap is a min-heap by created_at.
type tsHeap []tsID

func (h tsHeap) Len() int           { return len(h) }
func (h tsHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h tsHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *tsHeap) Push(x any)        { *h = append(*h, x.(tsID)) }
func (h *tsHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

package peer

import (
	"cmp"
	"container/heap"
	"slices"
	"time"

	"github.com/cairn-nostr/cairn/nostr"
)

// RecentCache is a super peer's cache of recent events (NIP-95): at most
// Max events, none older than Window by created_at, the oldest evicted
// first. It keeps each event's JSON as the relay sent it, to serve the
// same bytes. Not safe for concurrent use.
type RecentCache struct {
	Max     int
	Window  time.Duration
	byID    map[string]*recentEntry
	order   recentHeap
	evicted bool     // an event left since the last Evicted call
	removed []string // ids that left since the last TakeRemoved call
}

type recentEntry struct {
	id      string
	raw     []byte
	created int64
	ev      *nostr.Event // for Query; nil when put by id only
	index   int
}

// NewRecentCache returns a cache of at most max events of the last window.
func NewRecentCache(max int, window time.Duration) *RecentCache {
	return &RecentCache{Max: max, Window: window, byID: map[string]*recentEntry{}}
}

// Put stores an event (already verified) by id, with its created_at (unix
// seconds) and JSON. An event older than the window is refused (false).
func (c *RecentCache) Put(id string, created int64, raw []byte, now time.Time) bool {
	c.expire(now)
	if created < now.Add(-c.Window).Unix() {
		return false
	}
	if _, ok := c.byID[id]; ok {
		return true
	}
	if len(c.byID) >= c.Max {
		if c.order[0].created > created {
			return false // older than everything kept
		}
		c.remove(c.order[0])
	}
	e := &recentEntry{id: id, raw: raw, created: created}
	c.byID[id] = e
	heap.Push(&c.order, e)
	return true
}

// PutEvent stores a verified event with its JSON, queryable by filter.
func (c *RecentCache) PutEvent(ev *nostr.Event, raw []byte, now time.Time) bool {
	if !c.Put(ev.ID, int64(ev.CreatedAt), raw, now) {
		return false
	}
	c.byID[ev.ID].ev = ev
	return true
}

// Query returns the JSON of the cached events within the window that match
// f, in NIP-01's order (newest first, the lowest id first on a tie), at
// most f.Limit when it is set.
func (c *RecentCache) Query(f nostr.Filter, now time.Time) [][]byte {
	cut := now.Add(-c.Window).Unix()
	var hits []*recentEntry
	if len(f.IDs) > 0 {
		for _, id := range f.IDs {
			if e, ok := c.byID[id]; ok && e.ev != nil && e.created >= cut && f.Matches(e.ev) {
				hits = append(hits, e)
			}
		}
	} else {
		for _, e := range c.byID {
			if e.ev != nil && e.created >= cut && f.Matches(e.ev) {
				hits = append(hits, e)
			}
		}
	}
	slices.SortFunc(hits, func(a, b *recentEntry) int {
		if d := cmp.Compare(b.created, a.created); d != 0 {
			return d
		}
		return cmp.Compare(a.id, b.id)
	})
	hits = slices.CompactFunc(hits, func(a, b *recentEntry) bool { return a == b })
	if f.Limit > 0 && len(hits) > f.Limit {
		hits = hits[:f.Limit]
	}
	out := make([][]byte, len(hits))
	for i, e := range hits {
		out[i] = e.raw
	}
	return out
}

// Get returns the JSON of event id, if cached and within the window.
func (c *RecentCache) Get(id string, now time.Time) ([]byte, bool) {
	e, ok := c.byID[id]
	if !ok || e.created < now.Add(-c.Window).Unix() {
		return nil, false
	}
	return e.raw, true
}

// Has reports whether event id is cached.
func (c *RecentCache) Has(id string) bool { _, ok := c.byID[id]; return ok }

// TakeRemoved returns the ids that left the cache (evicted or expired)
// since the last call, for a persistent copy to drop them too.
func (c *RecentCache) TakeRemoved() []string {
	out := c.removed
	c.removed = nil
	return out
}

// Len is the number of events cached.
func (c *RecentCache) Len() int { return len(c.byID) }

// IDs lists the cached ids (for PEER_CACHE_HAVE), at most max.
func (c *RecentCache) IDs(max int) []string {
	out := make([]string, 0, min(max, len(c.byID)))
	for id := range c.byID {
		if len(out) == max {
			break
		}
		out = append(out, id)
	}
	return out
}

// Evicted reports whether an event left the cache since the last call (the
// relay's idea of what this peer caches is then stale).
func (c *RecentCache) Evicted(now time.Time) bool {
	c.expire(now)
	e := c.evicted
	c.evicted = false
	return e
}

func (c *RecentCache) expire(now time.Time) {
	cut := now.Add(-c.Window).Unix()
	for len(c.order) > 0 && c.order[0].created < cut {
		c.remove(c.order[0])
	}
}

func (c *RecentCache) remove(e *recentEntry) {
	heap.Remove(&c.order, e.index)
	delete(c.byID, e.id)
	c.evicted = true
	c.removed = append(c.removed, e.id)
}

// recentHeap orders entries oldest first.
type recentHeap []*recentEntry

func (h recentHeap) Len() int           { return len(h) }
func (h recentHeap) Less(i, j int) bool { return h[i].created < h[j].created }
func (h recentHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *recentHeap) Push(x any) {
	e := x.(*recentEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *recentHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

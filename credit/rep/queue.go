package rep

// Queue decides which request waiting for a serving slot goes next when a
// seeder is busy (every slot taken): the requester with the most premium
// credits with this node first (Entropy's premium, earned by holding its
// cold-storage chunks: package credit/cold), then the one that asked
// first. Requests are named by the caller's ids. It is not safe for
// concurrent use.
//
//	if q.Ask(id, premium) { serve, then next, ok := q.Done() }  // a slot at once
//	else wait for id to come out of a Done; give up with q.Leave(id)
type Queue struct {
	slots, busy int
	wait        []waiter
	seq         uint64
}

type waiter struct {
	id      uint64
	premium int64
	seq     uint64
}

// NewQueue returns a queue of slots serving slots (at least 1).
func NewQueue(slots int) *Queue { return &Queue{slots: max(slots, 1)} }

// Ask takes a slot for request id if one is free and nobody waits, and
// reports whether it did; otherwise id waits.
func (q *Queue) Ask(id uint64, premium int64) bool {
	if q.busy < q.slots && len(q.wait) == 0 {
		q.busy++
		return true
	}
	q.seq++
	q.wait = append(q.wait, waiter{id, max(premium, 0), q.seq})
	return false
}

// Done frees the slot of a request served and hands it to the waiter that
// goes next, if any (ok).
func (q *Queue) Done() (next uint64, ok bool) {
	if len(q.wait) == 0 {
		q.busy = max(q.busy-1, 0)
		return 0, false
	}
	best := 0
	for i, w := range q.wait {
		b := q.wait[best]
		if w.premium > b.premium || (w.premium == b.premium && w.seq < b.seq) {
			best = i
		}
	}
	next = q.wait[best].id
	q.wait = append(q.wait[:best], q.wait[best+1:]...)
	return next, true
}

// Leave takes id out of the waiters (it gave up); false if it was not
// waiting (it was handed a slot meanwhile, which it must give back with
// Done).
func (q *Queue) Leave(id uint64) bool {
	for i, w := range q.wait {
		if w.id == id {
			q.wait = append(q.wait[:i], q.wait[i+1:]...)
			return true
		}
	}
	return false
}

// Waiting is how many requests wait; Busy how many slots are taken.
func (q *Queue) Waiting() int { return len(q.wait) }
func (q *Queue) Busy() int    { return q.busy }

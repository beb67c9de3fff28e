package room

import (
	"container/heap"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/cairn-nostr/cairn/nostr"
)

// Rejection is an event Replay refused, with the reason (one of the
// package's sentinel errors, wrapped with the detail).
type Rejection struct {
	ID  string
	Err error
}

// Log is a replayed authority log.
type Log struct {
	Room    string
	Genesis Entry
	// State is the state after every applied entry.
	State *State
	// Order is every entry that holds its place in the chain (verified,
	// of this room, its prev known, seq and lamport following), in replay
	// order, applied or not.
	Order []Entry
	// Applied is the part of Order that took effect.
	Applied []Entry
	// Rejected lists what did not take effect, sorted by id.
	Rejected []Rejection

	why map[string]error
}

// Err is why the event id was rejected; nil if it was applied (or never
// seen).
func (l *Log) Err(id string) error { return l.why[id] }

// Tip is where the next entry attaches: after the last entry in replay
// order, with a Lamport time above every entry's.
func (l *Log) Tip() Point {
	last, max := l.Genesis, l.Genesis.Lamport
	for _, e := range l.Order {
		last = e
		if e.Lamport > max {
			max = e.Lamport
		}
	}
	return Point{Prev: last.ID, Seq: last.Seq + 1, Lamport: max + 1}
}

// StateAt is the state right after the entry id took effect (the genesis
// included); ok is false if id was not applied. This is the ACL at that
// point of the chain.
func (l *Log) StateAt(id string) (s *State, ok bool) {
	s = newState(l.Genesis)
	if id == l.Genesis.ID {
		return s, true
	}
	for _, e := range l.Applied {
		s.apply(e)
		if e.ID == id {
			return s, true
		}
	}
	return nil, false
}

// Replay verifies the events of room (in any order; duplicates count
// once) and applies them in replay order, each only if its signer held
// the capability at that point:
//
//   - Structure. An event that does not verify, is not a log entry, names
//     another room, is dated more than MaxSkew after now, or does not
//     follow its prev (seq one more, lamport above) is rejected, and so is
//     everything built on it; an entry whose prev is not here is an orphan.
//     Dropping, reordering or altering entries therefore shows.
//
//   - Order. The genesis first; then, repeatedly, of the entries whose prev
//     is already placed, the one of lowest (lamport, pubkey, id). Entries
//     with the same prev (concurrent) are thus ordered by Lamport time, then
//     lower pubkey, then lower id.
//
//   - Authority. Each entry is checked against the state the entries before
//     it produced. An entry that is refused keeps its place in the chain
//     (what builds on it is judged on its own) but changes nothing.
//
//   - Retroactivity. An applied entry stays applied when its signer later
//     loses the role, provided the entry that took the role away built on
//     it (had it among its ancestors). Entries of the demoted signer that
//     it had not seen are rejected (ErrConcurrent) and the replay is run
//     again without them: a revoked moderator cannot act by attaching an
//     entry to an old point of the chain.
//
//   - Sequencer mode (on while the creator's last SEQUENCE entry set a
//     wait). An entry that changes the ACL (all but a user leaving) by
//     anyone but the creator is pending (ErrPending): it holds its place
//     and takes effect when the creator countersigns it (an e tag of a
//     later SEQUENCE entry of the creator), right before that entry and
//     judged against the state there. It takes effect at once, alone, if
//     the creator was absent: no entry of the creator is dated within the
//     wait before it, and the creator's first entry dated after it, if
//     any, built on it (on return, what the creator did not see waits
//     for its countersignature). The concurrency rule reads a
//     countersigned entry's point as its countersignature's.
//
//   - Placements (see Entry) are entries of their request's signer: its
//     capability is checked, and a request takes effect at most once
//     (ErrReused). A moderation event without prev, seq and lamport is a
//     request, not an entry: it is skipped, not rejected.
//
// It returns ErrGenesis when no valid genesis of room is among events; the
// Log still lists the rejections.
func Replay(room string, events []*nostr.Event, now time.Time) (*Log, error) {
	l := &Log{Room: room, why: map[string]error{}}
	reject := func(id string, err error) {
		if _, dup := l.why[id]; !dup {
			l.why[id] = err
			l.Rejected = append(l.Rejected, Rejection{id, err})
		}
	}
	defer func() {
		sort.Slice(l.Rejected, func(i, j int) bool { return l.Rejected[i].ID < l.Rejected[j].ID })
	}()

	// Copies claiming one id count once: a copy that verifies wins over
	// altered ones, whatever the order (all that verify are the same
	// event); among copies that fail, the lowest reason is reported.
	parsed := map[string]Entry{}
	failed := map[string]error{}
	var ids []string
	for _, ev := range events {
		if ev == nil {
			continue
		}
		if _, ok := parsed[ev.ID]; ok {
			continue
		}
		_, fails := failed[ev.ID]
		e, err := ParseEntry(ev)
		switch {
		case err == nil:
			parsed[ev.ID] = e
			delete(failed, ev.ID)
		case errors.Is(err, ErrUnplaced):
			// a request, not an entry: its placement (if any) is what counts
			continue
		case !fails || err.Error() < failed[ev.ID].Error():
			failed[ev.ID] = err
		}
		if !fails {
			ids = append(ids, ev.ID)
		}
	}
	var entries []Entry
	for _, id := range ids {
		e, ok := parsed[id]
		if !ok {
			if err, bad := failed[id]; bad {
				reject(id, err)
			}
			continue
		}
		switch {
		case e.Room != room:
			reject(e.ID, fmt.Errorf("%w: h is %.16s, this room is %.16s", ErrWrongRoom, e.Room, room))
		case time.Unix(e.CreatedAt, 0).After(now.Add(MaxSkew)):
			reject(e.ID, ErrFuture)
		default:
			entries = append(entries, e)
		}
	}
	sort.Slice(entries, func(i, j int) bool { return less(entries[i], entries[j]) })
	if len(entries) > maxEntries {
		for _, e := range entries[maxEntries:] {
			reject(e.ID, ErrTooMany)
		}
		entries = entries[:maxEntries]
	}

	children := map[string][]Entry{}
	found := false
	for _, e := range entries {
		switch {
		case e.Action.Op != OpGenesis:
			children[e.Prev] = append(children[e.Prev], e)
		case !found:
			l.Genesis, found = e, true // the lowest id, as entries are sorted
		default:
			reject(e.ID, fmt.Errorf("%w: a second genesis (%.16s is the first)", ErrMalformed, l.Genesis.ID))
		}
	}
	if !found {
		for _, e := range entries {
			reject(e.ID, fmt.Errorf("%w: %v", ErrOrphan, ErrGenesis))
		}
		return l, ErrGenesis
	}

	// Place the entries: a walk from the genesis, lowest ready entry first.
	parent := map[string]Entry{l.Genesis.ID: l.Genesis}
	ready := &entryHeap{}
	for _, c := range children[l.Genesis.ID] {
		heap.Push(ready, c)
	}
	for ready.Len() > 0 {
		e := heap.Pop(ready).(Entry)
		p := parent[e.Prev]
		if e.Seq != p.Seq+1 || e.Lamport <= p.Lamport {
			reject(e.ID, fmt.Errorf("%w: seq %d lamport %d after seq %d lamport %d", ErrChain, e.Seq, e.Lamport, p.Seq, p.Lamport))
			continue
		}
		l.Order = append(l.Order, e)
		parent[e.ID] = e
		for _, c := range children[e.ID] {
			heap.Push(ready, c)
		}
	}
	for _, e := range entries {
		if _, placed := parent[e.ID]; !placed && e.Action.Op != OpGenesis {
			reject(e.ID, fmt.Errorf("%w: prev %.16s", ErrOrphan, e.Prev))
		}
	}

	// Apply, again without what the concurrency rule excludes, until
	// nothing more is excluded. Each run excludes at least one entry; the
	// ancestor test is O(1) (tree intervals) and a demotion looks only at
	// the demoted user's entries, so a run costs O(entries).
	isAncestor := treeIntervals(l.Genesis, l.Order)
	alone := absence(l.Genesis, l.Order, isAncestor)
	creator := l.Genesis.Author
	excluded := map[string]error{}
	var denied map[string]error
	type took struct {
		e  Entry
		at string // where it took effect: itself, or the countersignature
	}
	for {
		l.State, l.Applied, denied = newState(l.Genesis), nil, map[string]error{}
		appliedBy := map[string][]took{}
		usedRequest := map[string]bool{}
		var waiting []Entry // pending, in replay order
		again := false
		// take applies e where at is (e itself, or the creator's entry
		// countersigning it) if its signer may; it reports whether the
		// concurrency rule excluded something (then replay again).
		take := func(e Entry, at string) bool {
			if e.Request != nil && usedRequest[e.Request.ID] {
				denied[e.ID] = fmt.Errorf("%w: request %.16s", ErrReused, e.Request.ID)
				return false
			}
			if err := l.State.authorize(e); err != nil {
				denied[e.ID] = err
				return false
			}
			if e.Request != nil {
				usedRequest[e.Request.ID] = true
			}
			demoted := l.State.apply(e)
			l.Applied = append(l.Applied, e)
			appliedBy[e.Author] = append(appliedBy[e.Author], took{e, at})
			more := false
			for _, d := range demoted {
				if d == e.Author {
					continue
				}
				for _, a := range appliedBy[d] {
					if !isAncestor(a.at, at) {
						excluded[a.e.ID] = fmt.Errorf("%w: %s of %.16s in %.16s", ErrConcurrent, e.Action.Op, d, at)
						more = true
					}
				}
			}
			return more
		}
		for _, e := range l.Order {
			if excluded[e.ID] != nil {
				continue
			}
			// The creator's countersignatures: the entries they name that
			// wait take effect here, in replay order, before the entry.
			if e.Author == creator && len(e.Action.Acks) > 0 && l.State.authorize(e) == nil && len(waiting) > 0 {
				acked := map[string]bool{}
				for _, id := range e.Action.Acks {
					acked[id] = true
				}
				var still []Entry
				for _, w := range waiting {
					if !acked[w.ID] || again {
						still = append(still, w)
					} else if take(w, e.ID) {
						again = true
					}
				}
				waiting = still
				if again {
					break
				}
			}
			if w := l.State.Sequencer; w > 0 && e.Author != creator && changesACL(e) && !alone(e, w) {
				if e.Request != nil && usedRequest[e.Request.ID] {
					denied[e.ID] = fmt.Errorf("%w: request %.16s", ErrReused, e.Request.ID)
				} else if err := l.State.authorize(e); err != nil {
					denied[e.ID] = err // refused now: it would not wait
				} else {
					waiting = append(waiting, e)
				}
				continue
			}
			if take(e, e.ID) {
				again = true
				break
			}
		}
		if !again {
			for _, w := range waiting {
				denied[w.ID] = fmt.Errorf("%w: %s by %.16s", ErrPending, w.Action.Op, w.Author)
			}
			break
		}
	}
	for _, e := range l.Order {
		if err := excluded[e.ID]; err != nil {
			reject(e.ID, err)
		} else if err := denied[e.ID]; err != nil {
			reject(e.ID, err)
		}
	}
	return l, nil
}

// changesACL reports whether e changes the room's authority: everything
// but the creator's sequence entries and a user leaving.
func changesACL(e Entry) bool {
	a := e.Action
	return a.Op != OpSequence && !(a.Op == OpRevoke && a.Target == e.Author)
}

// absence returns the sequencer mode's test "the creator was absent for
// wait when e was made": no entry of the creator (the genesis included)
// is dated in the wait before e (up to e's own second), and the first
// entry of the creator dated after e, if any, built on e (the creator
// came back having seen it). Both are properties of the set of entries,
// so the answer does not depend on the order they arrived in.
func absence(g Entry, order []Entry, isAncestor func(a, e string) bool) func(e Entry, wait time.Duration) bool {
	present := []Entry{g}
	for _, e := range order {
		if e.Author == g.Author {
			present = append(present, e)
		}
	}
	sort.Slice(present, func(i, j int) bool {
		if present[i].CreatedAt != present[j].CreatedAt {
			return present[i].CreatedAt < present[j].CreatedAt
		}
		return present[i].ID < present[j].ID
	})
	return func(e Entry, wait time.Duration) bool {
		from := e.CreatedAt - int64(wait/time.Second)
		i := sort.Search(len(present), func(i int) bool { return present[i].CreatedAt > from })
		if i < len(present) && present[i].CreatedAt <= e.CreatedAt {
			return false
		}
		j := sort.Search(len(present), func(i int) bool { return present[i].CreatedAt > e.CreatedAt })
		return j == len(present) || isAncestor(e.ID, present[j].ID)
	}
}

// Pending lists the entries that wait for the creator's countersignature
// (sequencer mode), in replay order: what the creator's next sequence
// entry may countersign.
func (l *Log) Pending() []string {
	var ids []string
	for _, e := range l.Order {
		if errors.Is(l.why[e.ID], ErrPending) {
			ids = append(ids, e.ID)
		}
	}
	return ids
}

// Needed is the set of entries a host keeps of this log: the genesis,
// every entry that took effect or is pending, and every entry one of
// those builds on (a refused entry keeps its place in the chain, and what
// extends it needs it). An entry outside it (refused, with nothing that
// stands built on it; or out of the chain: forged, orphaned, of another
// room) changes nothing for anyone, so a node pulling the room need not
// store or serve it.
func (l *Log) Needed() map[string]bool {
	need := map[string]bool{l.Genesis.ID: true}
	prev := make(map[string]string, len(l.Order))
	for _, e := range l.Order {
		prev[e.ID] = e.Prev
	}
	for _, e := range l.Order {
		if err := l.why[e.ID]; err != nil && !errors.Is(err, ErrPending) {
			continue
		}
		for id := e.ID; !need[id]; id = prev[id] {
			need[id] = true
		}
	}
	return need
}

// maxEntries is MaxEntries; tests lower it.
var maxEntries = MaxEntries

// treeIntervals numbers the placed entries in a depth-first walk of the
// tree they form (children in replay order) and returns the test "a is a
// proper ancestor of e": a's interval holds e's.
func treeIntervals(g Entry, order []Entry) func(a, e string) bool {
	kids := map[string][]string{}
	for _, e := range order {
		kids[e.Prev] = append(kids[e.Prev], e.ID)
	}
	in, out := map[string]int{}, map[string]int{}
	clock := 0
	type frame struct {
		id   string
		next int
	}
	stack := []frame{{id: g.ID}}
	in[g.ID] = clock
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if top.next < len(kids[top.id]) {
			c := kids[top.id][top.next]
			top.next++
			clock++
			in[c] = clock
			stack = append(stack, frame{id: c})
			continue
		}
		clock++
		out[top.id] = clock
		stack = stack[:len(stack)-1]
	}
	return func(a, e string) bool {
		return a != e && in[a] <= in[e] && out[e] <= out[a]
	}
}

// less is replay order among ready entries: Lamport time, then pubkey,
// then id.
func less(a, b Entry) bool {
	if a.Lamport != b.Lamport {
		return a.Lamport < b.Lamport
	}
	if a.Author != b.Author {
		return a.Author < b.Author
	}
	return a.ID < b.ID
}

type entryHeap []Entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return less(h[i], h[j]) }
func (h entryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *entryHeap) Push(x any)        { *h = append(*h, x.(Entry)) }
func (h *entryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

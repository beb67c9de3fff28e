package sched

import (
	"cmp"
	"container/heap"
	"math"
	"slices"
	"time"
)

// urgentGain is how much sooner a second peer must be expected to deliver a
// window chunk, as a fraction of the wait at the peer holding it, before
// the chunk is requested twice outside endgame.
const urgentGain = 0.5

// refresh recounts, if needed, how many usable peers have each chunk.
func (s *Scheduler) refresh() {
	if !s.availDirty {
		return
	}
	s.availDirty = false
	clear(s.avail)
	clear(s.clean)
	for _, p := range s.peers {
		if !p.usable() {
			continue
		}
		for c := range s.chunks {
			if s.canon[c] != c || !p.has.Has(c) {
				continue
			}
			s.avail[c]++
			if !p.avoid.Has(c) {
				s.clean[c]++
			}
		}
	}
}

// takeable reports whether c may be requested from p: p has it and either
// has not failed on it, or no usable peer that has not failed on it has it.
func (s *Scheduler) takeable(p *peer, c int) bool {
	return p.has.Has(c) && (!p.avoid.Has(c) || s.clean[c] == 0)
}

// schedule issues new requests.
func (s *Scheduler) schedule(now time.Time) {
	if s.remaining == 0 || len(s.peers) == 0 {
		return
	}
	s.refresh()
	// Faster peers choose first; ties by Config.Score, then by ID
	// (s.peers is sorted by ID).
	type ranked struct {
		p           *peer
		rate, score float64
	}
	var rk []ranked
	for _, p := range s.peers {
		if p.usable() {
			rk = append(rk, ranked{p, s.rate(p), s.score(p.id)})
		}
	}
	if len(rk) == 0 {
		return
	}
	slices.SortStableFunc(rk, func(a, b ranked) int {
		if c := cmp.Compare(b.rate, a.rate); c != 0 {
			return c
		}
		return cmp.Compare(b.score, a.score)
	})
	order := make([]*peer, len(rk))
	for i, r := range rk {
		order[i] = r.p
	}
	window := s.window()
	s.windowPass(now, order, window)
	s.rarestPass(now, order, window)
	s.endgamePass(now, order)
}

// window returns the canonical chunks of the playback window still missing,
// in playback order.
func (s *Scheduler) window() []int {
	if s.playhead < 0 || s.cfg.Window <= 0 {
		return nil
	}
	var w []int
	for i := s.playhead; i < len(s.chunks) && i < s.playhead+s.cfg.Window; i++ {
		c := s.canon[i]
		if !s.done.Has(c) && !slices.Contains(w, c) {
			w = append(w, c)
		}
	}
	return w
}

// windowPass requests each window chunk, in order, from the peer expected to
// deliver it soonest, if that peer can take a request now; otherwise the
// chunk waits for it. A window chunk already requested is requested again
// from a peer expected to deliver it much sooner (or if overdue).
func (s *Scheduler) windowPass(now time.Time, order []*peer, window []int) {
	for _, c := range window {
		if len(s.out[c]) == 0 {
			best, _ := s.fastest(c, order, now, false)
			if best != nil && s.canSend(best, now) {
				s.send(best, c, now)
			}
			continue
		}
		if len(s.out[c]) >= s.cfg.EndgameCopies {
			continue
		}
		best, t := s.fastest(c, order, now, true)
		if best == nil || !s.canSend(best, now) {
			continue
		}
		h := s.holderETA(c, now)
		if t < urgentGain*h {
			s.send(best, c, now)
		}
	}
}

// fastest returns the usable peer with the smallest expected delivery time
// for c, and that time. With dup set, peers already asked for c, or that
// failed on it, are skipped.
func (s *Scheduler) fastest(c int, order []*peer, now time.Time, dup bool) (*peer, float64) {
	var best *peer
	bestT := math.Inf(1)
	for _, p := range order {
		if dup {
			if !p.has.Has(c) || p.avoid.Has(c) || s.find(p, c) != nil {
				continue
			}
		} else if !s.takeable(p, c) {
			continue
		}
		if t := s.ect(p, s.chunks[c].Size, now); t < bestT {
			best, bestT = p, t
		}
	}
	return best, bestT
}

// holderETA is when, in seconds from now, the first of c's outstanding
// requests is expected to arrive; +Inf if every one is overdue (the peers
// holding them look stalled).
func (s *Scheduler) holderETA(c int, now time.Time) float64 {
	h := math.Inf(1)
	for _, r := range s.out[c] {
		if e := s.expected(r, now); e >= 0 && e < h {
			h = e
		}
	}
	return h
}

// rarestPass hands out chunks outside the window, rarest first (ties by the
// seeded key), one request per peer per round, faster peers first.
func (s *Scheduler) rarestPass(now time.Time, order []*peer, window []int) {
	ready := false
	for _, p := range order {
		if s.canSend(p, now) {
			ready = true
			break
		}
	}
	if !ready {
		return
	}
	// Candidates by availability, then the seeded key (its top 48 bits;
	// the index settles the rare tie). Few are needed per tick, so they
	// come out of a heap into a sorted prefix on demand.
	h := candHeap(s.candBuf[:0])
	defer func() { s.candBuf = h[:0] }()
	for c := range s.chunks {
		if s.canon[c] == c && !s.done.Has(c) && len(s.out[c]) == 0 && s.avail[c] > 0 && !slices.Contains(window, c) {
			h = append(h, cand{uint64(s.avail[c])<<48 | s.key[c]>>16, c})
		}
	}
	if len(h) == 0 {
		return
	}
	heap.Init(&h)
	var cands []int
	var taken []bool
	at := func(j int) (int, bool) {
		for len(cands) <= j && h.Len() > 0 {
			cands = append(cands, heap.Pop(&h).(cand).c)
			taken = append(taken, false)
		}
		if j < len(cands) {
			return cands[j], true
		}
		return 0, false
	}
	cursor := make([]int, len(order))
	for {
		progress := false
		for k, p := range order {
			if !s.canSend(p, now) {
				continue
			}
			for {
				j := cursor[k]
				c, ok := at(j)
				if !ok {
					break
				}
				cursor[k]++
				if !taken[j] && s.takeable(p, c) {
					taken[j] = true
					s.send(p, c, now)
					progress = true
					break
				}
			}
		}
		if !progress {
			return
		}
	}
}

type cand struct {
	rank uint64
	c    int
}

type candHeap []cand

func (h candHeap) Len() int { return len(h) }
func (h candHeap) Less(i, j int) bool {
	if h[i].rank != h[j].rank {
		return h[i].rank < h[j].rank
	}
	return h[i].c < h[j].c
}
func (h candHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *candHeap) Push(x any)   { *h = append(*h, x.(cand)) }
func (h *candHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// endgamePass runs once every chunk some usable peer has is requested: a
// peer with a free slot is asked for an outstanding chunk too, if it is
// expected to deliver it before the peer holding it (or that one is
// overdue); the first arrival cancels the others.
func (s *Scheduler) endgamePass(now time.Time, order []*peer) {
	if s.cfg.EndgameCopies <= 1 {
		return
	}
	var pending []int
	for c := range s.chunks {
		if s.canon[c] != c || s.done.Has(c) {
			continue
		}
		if len(s.out[c]) == 0 {
			if s.avail[c] > 0 {
				return // not endgame yet
			}
			continue
		}
		pending = append(pending, c)
	}
	for {
		progress := false
		for _, p := range order {
			if !s.canSend(p, now) {
				continue
			}
			best, bestGain := -1, 0.0
			for _, c := range pending {
				if len(s.out[c]) >= s.cfg.EndgameCopies || !p.has.Has(c) || p.avoid.Has(c) || s.find(p, c) != nil {
					continue
				}
				h := s.holderETA(c, now)
				t := s.ect(p, s.chunks[c].Size, now)
				if t >= h {
					continue
				}
				if gain := h - t; best < 0 || gain > bestGain {
					best, bestGain = c, gain
				}
			}
			if best >= 0 {
				s.send(p, best, now)
				progress = true
			}
		}
		if !progress {
			return
		}
	}
}

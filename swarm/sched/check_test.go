package sched

import (
	"fmt"
	"slices"
)

// check verifies the scheduler's internal bookkeeping.
func (s *Scheduler) check() error {
	total := 0
	for c := range s.chunks {
		if s.canon[c] != c && len(s.out[c]) > 0 {
			return fmt.Errorf("non-canonical chunk %d has requests", c)
		}
		if len(s.out[c]) > 0 && s.done.Has(c) {
			return fmt.Errorf("verified chunk %d has %d requests", c, len(s.out[c]))
		}
		if len(s.out[c]) > s.cfg.EndgameCopies {
			return fmt.Errorf("chunk %d has %d requests > %d copies", c, len(s.out[c]), s.cfg.EndgameCopies)
		}
		seen := map[*peer]bool{}
		for _, r := range s.out[c] {
			if r.chunk != c {
				return fmt.Errorf("request for %d filed under %d", r.chunk, c)
			}
			if seen[r.peer] {
				return fmt.Errorf("chunk %d requested twice from %s", c, r.peer.id)
			}
			seen[r.peer] = true
			if !slices.Contains(r.peer.reqs, r) {
				return fmt.Errorf("request %s/%d missing from peer", r.peer.id, c)
			}
		}
		total += len(s.out[c])
	}
	if total != s.outstanding {
		return fmt.Errorf("outstanding %d, counted %d", s.outstanding, total)
	}
	if s.outstanding > s.cfg.MaxRequests {
		return fmt.Errorf("outstanding %d > MaxRequests %d", s.outstanding, s.cfg.MaxRequests)
	}
	perPeer := 0
	for i, p := range s.peers {
		if i > 0 && s.peers[i-1].id >= p.id {
			return fmt.Errorf("peers out of order at %s", p.id)
		}
		if !p.present || s.byID[p.id] != p {
			return fmt.Errorf("peer %s listed but not present", p.id)
		}
		if len(p.reqs) > s.cfg.MaxDepth {
			return fmt.Errorf("peer %s has %d requests > MaxDepth %d", p.id, len(p.reqs), s.cfg.MaxDepth)
		}
		if p.banned && len(p.reqs) > 0 {
			return fmt.Errorf("banned peer %s has requests", p.id)
		}
		var b int64
		for _, r := range p.reqs {
			if r.peer != p || !slices.Contains(s.out[r.chunk], r) {
				return fmt.Errorf("peer %s request %d inconsistent", p.id, r.chunk)
			}
			b += r.size
		}
		if b != p.outBytes {
			return fmt.Errorf("peer %s outBytes %d, counted %d", p.id, p.outBytes, b)
		}
		perPeer += len(p.reqs)
	}
	if perPeer != s.outstanding {
		return fmt.Errorf("peers hold %d requests, outstanding %d", perPeer, s.outstanding)
	}
	for id, p := range s.byID {
		if p.id != id {
			return fmt.Errorf("byID[%s] is %s", id, p.id)
		}
		if !p.present && len(p.reqs) > 0 {
			return fmt.Errorf("absent peer %s has requests", id)
		}
	}
	rem, chunks := 0, 0
	var bytes int64
	for i := range s.chunks {
		c := s.canon[i]
		if s.done.Has(c) {
			chunks++
			bytes += s.chunks[i].Size
		} else if c == i {
			rem++
		}
	}
	if rem != s.remaining || chunks != s.doneChunks || bytes != s.doneBytes {
		return fmt.Errorf("progress: remaining %d/%d chunks %d/%d bytes %d/%d", s.remaining, rem, s.doneChunks, chunks, s.doneBytes, bytes)
	}
	return nil
}

package sched

import "math"

// score is Config.Score of id, 0 without one (or for NaN).
func (s *Scheduler) score(id PeerID) float64 {
	if s.cfg.Score == nil {
		return 0
	}
	if v := s.cfg.Score(id); !math.IsNaN(v) {
		return v
	}
	return 0
}

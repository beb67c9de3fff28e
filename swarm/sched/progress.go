package sched

import "time"

// Progress is a snapshot for a progress bar.
type Progress struct {
	Chunks, ChunksDone int
	Bytes, BytesDone   int64
	// Wasted counts bytes received but not used: duplicates in endgame,
	// late answers, corrupt data.
	Wasted int64
	// Outstanding is the number of requests in flight.
	Outstanding int
	// Peers is the number of connected peers, Active of those with
	// requests in flight, Banned of those banned.
	Peers, Active, Banned int
	// Rate is the sum of the measured rates of the active peers, in
	// bytes/s; ETA is the remaining bytes at that rate (0 if Rate is 0).
	Rate float64
	ETA  time.Duration
	Done bool
	// PeerStats lists the connected peers, by ID.
	PeerStats []PeerStats
}

// PeerStats is what the scheduler knows of one connected peer.
type PeerStats struct {
	ID PeerID
	// Rate is the estimated throughput in bytes/s (InitialRate until
	// measured; Measured says which).
	Rate     float64
	Measured bool
	// Depth is the pipeline depth granted now; Outstanding lists the
	// chunks requested, in send order.
	Depth       int
	Outstanding []int
	// Has is the number of distinct chunks the peer announced.
	Has int
	// Bytes and Chunks count verified data received from the peer.
	Bytes  int64
	Chunks int
	// Failures.
	Strikes, Corrupt, Timeouts, Busy, NotFound int
	BlockedUntil                               time.Time
	Banned                                     bool
	BannedUntil                                time.Time
}

// Progress returns a snapshot of the download.
func (s *Scheduler) Progress() Progress {
	pr := Progress{
		Chunks:      len(s.chunks),
		ChunksDone:  s.doneChunks,
		Bytes:       s.totalBytes,
		BytesDone:   s.doneBytes,
		Wasted:      s.wasted,
		Outstanding: s.outstanding,
		Peers:       len(s.peers),
		Done:        s.remaining == 0,
	}
	for _, p := range s.peers {
		st := PeerStats{
			ID:           p.id,
			Rate:         s.rate(p),
			Measured:     p.known(),
			Depth:        s.depth(p),
			Has:          p.has.Count(),
			Bytes:        p.gotBytes,
			Chunks:       p.gotChunks,
			Strikes:      p.strikes,
			Corrupt:      p.corrupt,
			Timeouts:     p.timeouts,
			Busy:         p.busies,
			NotFound:     p.notFound,
			BlockedUntil: p.blockedUntil,
			Banned:       p.banned,
			BannedUntil:  p.bannedUntil,
		}
		for _, r := range p.reqs {
			st.Outstanding = append(st.Outstanding, r.chunk)
		}
		if p.banned {
			pr.Banned++
		}
		if len(p.reqs) > 0 {
			pr.Active++
			if st.Measured {
				pr.Rate += st.Rate
			}
		}
		pr.PeerStats = append(pr.PeerStats, st)
	}
	if left := s.totalBytes - s.doneBytes; left > 0 && pr.Rate > 0 {
		pr.ETA = time.Duration(float64(left) / pr.Rate * float64(time.Second))
	}
	return pr
}

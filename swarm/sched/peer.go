package sched

import (
	"math"
	"time"
)

// minRate (bytes/s) keeps estimates finite for a peer that only timed out.
const minRate = 1024

// minSample is the shortest busy time a delivery is credited with, so that
// a delivery at the instant of its request does not read as infinite speed.
const minSample = time.Millisecond

// request is one outstanding REQUEST.
type request struct {
	peer  *peer
	chunk int // canonical index
	size  int64
	sent  time.Time
}

// peer is what the scheduler knows of one peer. Records of absent peers are
// kept while they carry strikes or a ban.
type peer struct {
	id      PeerID
	present bool
	has     Bitfield // canonical indexes the peer announced
	avoid   Bitfield // chunks it corrupted or timed out on: ask others first

	reqs     []*request // outstanding, in send order
	outBytes int64

	tat time.Time // GCRA theoretical arrival time of the next request

	blockedUntil time.Time // BUSY / timeout / credit backoff
	streak       int       // BUSY answers and timeouts in a row
	probation    bool      // timed out and has not delivered since

	banned      bool
	bannedUntil time.Time
	strikes     int

	// Rate estimate: exponentially weighted sums of delivered bytes and of
	// busy time (time with at least one request outstanding). mark is the
	// start of the busy interval not yet accounted.
	accBytes, accTime float64
	mark              time.Time
	lastArrival       time.Time

	// Statistics.
	gotBytes  int64
	gotChunks int
	timeouts  int
	busies    int
	notFound  int
	corrupt   int
}

func (p *peer) known() bool { return p.accTime > 0 }

// rate is the peer's estimated throughput in bytes/s.
func (s *Scheduler) rate(p *peer) float64 {
	if !p.known() {
		return s.cfg.InitialRate
	}
	return math.Max(p.accBytes/p.accTime, minRate)
}

// sample folds a delivery of n bytes (0 for a timeout) over the busy time
// since p.mark into the rate estimate.
func (s *Scheduler) sample(p *peer, n int64, now time.Time) {
	dt := max(now.Sub(p.mark), minSample)
	keep := 1 - s.cfg.RateAlpha
	p.accBytes = keep*p.accBytes + float64(n)
	p.accTime = keep*p.accTime + dt.Seconds()
	p.mark = now
}

// depth is how many requests may be outstanding at p.
func (s *Scheduler) depth(p *peer) int {
	if p.probation {
		return 1
	}
	if !p.known() {
		return s.cfg.MinDepth
	}
	extra := s.rate(p) * s.cfg.DepthWindow.Seconds() / float64(s.meanSize)
	if extra >= float64(s.cfg.MaxDepth-s.cfg.MinDepth) {
		return s.cfg.MaxDepth
	}
	return s.cfg.MinDepth + int(extra)
}

// nextToken is the earliest time the token bucket admits a request to p.
func (s *Scheduler) nextToken(p *peer) time.Time {
	return p.tat.Add(-time.Duration(s.cfg.RequestBurst-1) * s.interval)
}

// usable reports whether p may be asked for anything at all.
func (p *peer) usable() bool { return p.present && !p.banned }

// canSend reports whether a request to p may go out at now.
func (s *Scheduler) canSend(p *peer, now time.Time) bool {
	return p.usable() &&
		s.outstanding < s.cfg.MaxRequests &&
		len(p.reqs) < s.depth(p) &&
		!now.Before(p.blockedUntil) &&
		!now.Before(s.nextToken(p))
}

// backlog estimates the bytes p has still to send for its outstanding
// requests.
func (s *Scheduler) backlog(p *peer, now time.Time) float64 {
	if len(p.reqs) == 0 {
		return 0
	}
	return math.Max(0, float64(p.outBytes)-s.rate(p)*now.Sub(p.mark).Seconds())
}

// ect is the expected time, in seconds from now, for p to deliver a chunk of
// size bytes requested as soon as p accepts a request: the wait for its
// backoff or token bucket, its backlog, then the chunk itself.
func (s *Scheduler) ect(p *peer, size int64, now time.Time) float64 {
	wait := max(p.blockedUntil.Sub(now), s.nextToken(p).Sub(now), 0)
	return wait.Seconds() + (s.backlog(p, now)+float64(size))/s.rate(p)
}

// expected is the expected arrival of outstanding request r, in seconds
// from now (negative when it is overdue), assuming p serves its requests in
// order.
func (s *Scheduler) expected(r *request, now time.Time) float64 {
	p := r.peer
	var ahead int64
	for _, q := range p.reqs {
		ahead += q.size
		if q == r {
			break
		}
	}
	return p.mark.Sub(now).Seconds() + float64(ahead)/s.rate(p)
}

// deadline is when outstanding request r times out.
func (s *Scheduler) deadline(r *request) time.Time {
	p := r.peer
	start := r.sent
	if p.lastArrival.After(start) {
		start = p.lastArrival
	}
	d := s.cfg.Timeout
	if s.cfg.AdaptiveTimeout && p.known() {
		exp := s.cfg.TimeoutFactor * float64(r.size) / s.rate(p)
		d = s.cfg.MaxTimeout
		if exp < d.Seconds() {
			d = max(time.Duration(exp*float64(time.Second)), s.cfg.MinTimeout)
		}
	}
	return start.Add(d)
}

// backoff pauses p after a BUSY answer or a timeout.
func (s *Scheduler) backoff(p *peer, now time.Time) {
	d := s.cfg.Backoff
	for i := 0; i < p.streak && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.cfg.MaxBackoff)
	p.streak++
	if until := now.Add(d); until.After(p.blockedUntil) {
		p.blockedUntil = until
	}
}

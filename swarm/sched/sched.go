package sched

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Scheduler decides which chunk to request from which peer. It is a pure
// state machine: see the package documentation for the caller's loop. It is
// not safe for concurrent use.
type Scheduler struct {
	cfg      Config
	interval time.Duration // between two requests to one peer (1/RequestRate)

	chunks     []Chunk
	canon      []int   // canon[i]: the first index with chunks[i]'s hash
	groupBytes []int64 // by canonical index: bytes of every chunk sharing its hash
	groupCount []int   // by canonical index: how many chunks share its hash
	byHash     map[[32]byte]int
	key        []uint64 // seeded tie-break between equally rare chunks
	meanSize   int64
	totalBytes int64

	done       Bitfield // canonical indexes verified
	remaining  int      // canonical chunks not verified
	doneChunks int      // all indexes verified
	doneBytes  int64
	wasted     int64 // bytes received but not used: duplicates, corrupt data
	doneSent   bool

	playhead int // -1 when not streaming

	out         [][]*request // by canonical index
	outstanding int

	peers []*peer          // present peers, sorted by ID
	byID  map[PeerID]*peer // present peers, and absent ones with strikes or a ban

	avail      []int32 // by canonical index: usable peers that have it
	clean      []int32 // ... and do not avoid it
	availDirty bool

	now     time.Time
	actions []Action
	candBuf []cand // scratch for rarestPass
}

// New returns a scheduler for the given chunks, of which those in have are
// already verified (a resumed download) and are never requested.
func New(cfg Config, chunks []Chunk, have Bitfield) (*Scheduler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	n := len(chunks)
	for i, c := range chunks {
		if c.Size <= 0 {
			return nil, fmt.Errorf("%w: chunk %d has size %d", ErrConfig, i, c.Size)
		}
	}
	s := &Scheduler{
		cfg:        cfg,
		interval:   time.Duration(float64(time.Second) / cfg.RequestRate),
		chunks:     slices.Clone(chunks),
		canon:      make([]int, n),
		groupBytes: make([]int64, n),
		groupCount: make([]int, n),
		byHash:     make(map[[32]byte]int, n),
		key:        make([]uint64, n),
		done:       NewBitfield(n),
		playhead:   0,
		out:        make([][]*request, n),
		byID:       make(map[PeerID]*peer),
		avail:      make([]int32, n),
		clean:      make([]int32, n),
	}
	if s.interval <= 0 {
		s.interval = 1
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x636169726e)) // "cairn"
	for i, c := range chunks {
		if !cfg.InOrder {
			s.key[i] = rng.Uint64() // else 0: the index breaks the tie
		}
		s.totalBytes += c.Size
		k, ok := s.byHash[c.Hash]
		if !ok {
			k = i
			s.byHash[c.Hash] = i
		}
		s.canon[i] = k
		s.groupBytes[k] += c.Size
		s.groupCount[k]++
	}
	if n > 0 {
		s.meanSize = max(s.totalBytes/int64(n), 1)
	} else {
		s.meanSize = 1
	}
	for i := range n {
		if s.canon[i] == i {
			s.remaining++
		}
	}
	for i := range n {
		if have.Has(i) && !s.done.Has(s.canon[i]) {
			s.markDone(s.canon[i])
		}
	}
	return s, nil
}

// Len is the number of chunks.
func (s *Scheduler) Len() int { return len(s.chunks) }

// Chunk returns chunk i as given to New.
func (s *Scheduler) Chunk(i int) Chunk { return s.chunks[i] }

// Index returns the index of the chunk with hash h (the first one, when
// several chunks share a hash). Chunks sharing a hash are fetched once: the
// scheduler only requests the first, and counts all of them done with it.
func (s *Scheduler) Index(h [32]byte) (int, bool) {
	i, ok := s.byHash[h]
	return i, ok
}

// Verified reports whether chunk i is verified.
func (s *Scheduler) Verified(i int) bool {
	return i >= 0 && i < len(s.chunks) && s.done.Has(s.canon[i])
}

// Complete reports whether every chunk is verified.
func (s *Scheduler) Complete() bool { return s.remaining == 0 }

// advance moves the clock to now (never backwards) and lifts expired bans.
func (s *Scheduler) advance(now time.Time) time.Time {
	if now.Before(s.now) {
		now = s.now
	}
	s.now = now
	for _, p := range s.peers {
		s.maybeUnban(p, now)
	}
	return now
}

func (s *Scheduler) maybeUnban(p *peer, now time.Time) {
	if p.banned && !now.Before(p.bannedUntil) {
		p.banned = false
		p.strikes = 0
		p.avoid.reset()
		s.availDirty = true
	}
}

func (s *Scheduler) valid(chunk int) bool { return chunk >= 0 && chunk < len(s.chunks) }

// AddPeer registers a connected peer. It has no chunks until PeerHas.
func (s *Scheduler) AddPeer(id PeerID, now time.Time) {
	now = s.advance(now)
	p := s.byID[id]
	if p == nil {
		n := len(s.chunks)
		p = &peer{id: id, has: NewBitfield(n), avoid: NewBitfield(n)}
		s.byID[id] = p
	}
	if p.present {
		return
	}
	p.present = true
	p.has.reset()
	p.tat = time.Time{}
	i, _ := slices.BinarySearchFunc(s.peers, id, func(q *peer, id PeerID) int { return strings.Compare(string(q.id), string(id)) })
	s.peers = slices.Insert(s.peers, i, p)
	s.maybeUnban(p, now)
	s.availDirty = true
}

// RemovePeer forgets a disconnected peer; its outstanding chunks return to
// the pool. Its strikes and ban are remembered.
func (s *Scheduler) RemovePeer(id PeerID, now time.Time) {
	s.advance(now)
	p := s.byID[id]
	if p == nil || !p.present {
		return
	}
	for len(p.reqs) > 0 {
		s.drop(p.reqs[0])
	}
	p.present = false
	i := slices.Index(s.peers, p)
	s.peers = slices.Delete(s.peers, i, i+1)
	if p.strikes == 0 && !p.banned {
		delete(s.byID, id)
	}
	s.availDirty = true
}

// PeerHas replaces the set of chunks peer id has.
func (s *Scheduler) PeerHas(id PeerID, have Bitfield, now time.Time) {
	s.advance(now)
	p := s.byID[id]
	if p == nil || !p.present {
		return
	}
	p.has.reset()
	for i := range s.chunks {
		if have.Has(i) {
			p.has.Set(s.canon[i])
		}
	}
	s.availDirty = true
}

// PeerHasAll records that peer id has every chunk (a seeder).
func (s *Scheduler) PeerHasAll(id PeerID, now time.Time) {
	s.PeerHas(id, FullBitfield(len(s.chunks)), now)
}

// PeerHasChunk records that peer id has gained chunk i.
func (s *Scheduler) PeerHasChunk(id PeerID, i int, now time.Time) {
	s.advance(now)
	p := s.byID[id]
	if p == nil || !p.present || !s.valid(i) {
		return
	}
	p.has.Set(s.canon[i])
	s.availDirty = true
}

// SetPlayhead moves the playhead to chunk i: the Window chunks from i on
// are fetched first. A negative i stops streaming (plain rarest first).
// Requests already sent stay; the next Tick re-prioritises what is sent
// next.
func (s *Scheduler) SetPlayhead(i int, now time.Time) {
	s.advance(now)
	s.playhead = min(max(i, -1), len(s.chunks)-1)
}

// Received reports that peer id delivered n bytes for chunk i, which passed
// (ok) or failed verification against the chunk's hash. Verified data is
// used even when it was not requested from this peer (a late answer after a
// timeout or cancel); corrupt data earns the peer a strike, and the chunk is
// fetched again from another peer.
func (s *Scheduler) Received(id PeerID, i int, n int64, ok bool, now time.Time) {
	now = s.advance(now)
	if !s.valid(i) {
		return
	}
	c := s.canon[i]
	p := s.byID[id]
	if p != nil && !p.present {
		p = nil
	}
	var r *request
	if p != nil {
		r = s.find(p, c)
		if r != nil || len(p.reqs) > 0 {
			// The peer was busy since p.mark: credit it with the bytes
			// (none if they were garbage).
			credit := max(n, 0)
			if !ok {
				credit = 0
			}
			s.sample(p, credit, now)
		}
		if r != nil {
			s.drop(r)
		}
		p.lastArrival = now
	}
	if !ok {
		s.wasted += max(n, 0)
		if p == nil {
			return
		}
		p.corrupt++
		p.avoid.Set(c)
		s.availDirty = true
		p.strikes++
		if p.strikes >= s.cfg.MaxStrikes && !p.banned {
			s.ban(p, now)
		}
		return
	}
	if p != nil {
		p.streak = 0
		p.probation = false
	}
	if s.done.Has(c) {
		s.wasted += max(n, 0)
		return
	}
	if p != nil {
		p.gotBytes += max(n, 0)
		p.gotChunks++
	}
	s.markDone(c)
	for len(s.out[c]) > 0 {
		q := s.out[c][0]
		s.drop(q)
		s.actions = append(s.actions, Cancel{Peer: q.peer.id, Chunk: c})
	}
}

// Failed reports that peer id refused or lost the request for chunk i.
// NOT_FOUND clears the chunk from the peer's set; BUSY backs the peer off
// exponentially; INSUFFICIENT_CREDIT backs it off for CreditBackoff; a
// timeout counts against the peer's rate and backs it off; a disconnection
// only returns the chunk to the pool. The peer-level effects apply even if
// the request was no longer outstanding.
func (s *Scheduler) Failed(id PeerID, i int, why Reason, now time.Time) {
	now = s.advance(now)
	if !s.valid(i) {
		return
	}
	c := s.canon[i]
	p := s.byID[id]
	if p == nil || !p.present {
		return
	}
	r := s.find(p, c)
	switch why {
	case ReasonNotFound:
		p.notFound++
		if p.has.Has(c) {
			p.has.Clear(c)
			s.availDirty = true
		}
	case ReasonBusy:
		p.busies++
		s.backoff(p, now)
	case ReasonInsufficientCredit:
		if until := now.Add(s.cfg.CreditBackoff); until.After(p.blockedUntil) {
			p.blockedUntil = until
		}
	case ReasonTimeout:
		if r != nil {
			s.drop(r)
			s.timedOut(p, c, now)
			return
		}
	}
	if r != nil {
		s.drop(r)
	}
}

// timedOut penalises p for a request for c that timed out (already dropped).
func (s *Scheduler) timedOut(p *peer, c int, now time.Time) {
	p.timeouts++
	s.sample(p, 0, now)
	p.probation = true
	p.avoid.Set(c)
	s.availDirty = true
	s.backoff(p, now)
}

// Tick returns what the caller must do now: cancels and bans caused by the
// events since the last Tick, then timeouts, then new requests, then Done
// once everything is verified.
func (s *Scheduler) Tick(now time.Time) []Action {
	now = s.advance(now)
	s.expire(now)
	s.schedule(now)
	if s.remaining == 0 && !s.doneSent {
		s.doneSent = true
		s.actions = append(s.actions, Done{})
	}
	a := s.actions
	s.actions = nil
	return a
}

// NextWake is the next time at which Tick would act without any new event:
// a request timing out, a backoff or ban ending, a token bucket refilling.
// It is zero when no such time exists. Calling Tick earlier is harmless.
func (s *Scheduler) NextWake() time.Time {
	var w time.Time
	consider := func(t time.Time) {
		if t.After(s.now) && (w.IsZero() || t.Before(w)) {
			w = t
		}
	}
	for _, p := range s.peers {
		for _, r := range p.reqs {
			consider(s.deadline(r))
		}
		if p.banned {
			consider(p.bannedUntil)
			continue
		}
		if s.remaining > 0 {
			consider(p.blockedUntil)
			if len(p.reqs) < s.depth(p) {
				consider(s.nextToken(p))
			}
		}
	}
	return w
}

// expire times out overdue requests.
func (s *Scheduler) expire(now time.Time) {
	for _, p := range s.peers {
		for k := 0; k < len(p.reqs); {
			r := p.reqs[k]
			if now.Before(s.deadline(r)) {
				k++
				continue
			}
			s.drop(r)
			s.actions = append(s.actions, Cancel{Peer: p.id, Chunk: r.chunk})
			s.timedOut(p, r.chunk, now)
		}
	}
}

// ban bans p, cancelling its outstanding requests.
func (s *Scheduler) ban(p *peer, now time.Time) {
	for len(p.reqs) > 0 {
		r := p.reqs[0]
		s.drop(r)
		s.actions = append(s.actions, Cancel{Peer: p.id, Chunk: r.chunk})
	}
	p.banned = true
	p.bannedUntil = now.Add(s.cfg.BanDuration)
	s.availDirty = true
	s.actions = append(s.actions, Ban{Peer: p.id, Until: p.bannedUntil})
}

func (s *Scheduler) markDone(c int) {
	s.done.Set(c)
	s.remaining--
	s.doneChunks += s.groupCount[c]
	s.doneBytes += s.groupBytes[c]
}

// find returns p's outstanding request for c, or nil.
func (s *Scheduler) find(p *peer, c int) *request {
	for _, r := range p.reqs {
		if r.chunk == c {
			return r
		}
	}
	return nil
}

// send issues a request for c to p.
func (s *Scheduler) send(p *peer, c int, now time.Time) {
	r := &request{peer: p, chunk: c, size: s.chunks[c].Size, sent: now}
	if len(p.reqs) == 0 {
		p.mark = now
	}
	p.reqs = append(p.reqs, r)
	p.outBytes += r.size
	s.out[c] = append(s.out[c], r)
	s.outstanding++
	p.tat = maxTime(p.tat, now).Add(s.interval)
	s.actions = append(s.actions, Request{Peer: p.id, Chunk: c})
}

// drop removes outstanding request r.
func (s *Scheduler) drop(r *request) {
	p := r.peer
	p.reqs = slices.DeleteFunc(p.reqs, func(q *request) bool { return q == r })
	p.outBytes -= r.size
	s.out[r.chunk] = slices.DeleteFunc(s.out[r.chunk], func(q *request) bool { return q == r })
	s.outstanding--
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

package sched

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// FuzzScheduler feeds random event sequences to a Scheduler and checks its
// invariants after every Tick: no request for a verified chunk, to a banned,
// backed-off or absent peer, or for a chunk the peer lacks; per-peer and
// global limits; the token bucket; consistent bookkeeping; Done once. At the
// end a fresh honest peer joins and must bring the download to Done.
func FuzzScheduler(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{7, 3, 0, 0, 0, 1, 2, 0, 9, 8, 10, 6, 0, 1, 9, 6, 0, 0, 9})
	f.Add([]byte{15, 200, 1, 2, 3, 0, 0, 0, 1, 2, 2, 2, 9, 9, 6, 1, 0, 9, 6, 1, 0, 9, 6, 1, 0, 9, 8, 255, 9})
	f.Add([]byte{4, 9, 9, 9, 0, 0, 0, 1, 2, 1, 7, 0, 0, 1, 9, 7, 0, 0, 2, 8, 20, 9, 1, 0, 9, 5, 3, 9})
	rng := rand.New(rand.NewPCG(1, 2))
	for range 16 {
		b := make([]byte, 64+rng.IntN(192))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a := newFuzzer(t, data)
		a.run()
		// Determinism: the same events give the same actions.
		b := newFuzzer(t, data)
		b.run()
		if a.trace.String() != b.trace.String() {
			t.Fatalf("two runs differ:\n%s\n----\n%s", a.trace.String(), b.trace.String())
		}
	})
}

type fuzzer struct {
	t     *testing.T
	data  []byte
	pos   int
	s     *Scheduler
	cfg   Config
	n     int
	now   time.Time
	ids   []PeerID
	sent  map[PeerID][]time.Time
	done  bool
	trace strings.Builder
}

func (fz *fuzzer) next() int {
	if fz.pos >= len(fz.data) {
		return 0
	}
	b := fz.data[fz.pos]
	fz.pos++
	return int(b)
}

func newFuzzer(t *testing.T, data []byte) *fuzzer {
	fz := &fuzzer{t: t, data: data, now: epoch, ids: []PeerID{"A", "B", "C", "D"}, sent: map[PeerID][]time.Time{}}
	fz.n = 1 + fz.next()%16
	k := fz.next()
	fz.cfg = Config{
		Window:          k%6 - 1,
		MinDepth:        1 + k/6%2,
		MaxDepth:        2 + k/12%3,
		EndgameCopies:   1 + k/36%3,
		AdaptiveTimeout: k/108%2 == 1,
		Seed:            uint64(k),
	}
	k = fz.next()
	fz.cfg.MaxStrikes = 1 + k%3
	fz.cfg.RequestBurst = 1 + k/3%3
	fz.cfg.MaxRequests = 1 + k/9%8
	if k/72%2 == 1 {
		fz.cfg.RequestRate = 3
	}
	chunks := make([]Chunk, fz.n)
	dup := fz.next()
	for i := range chunks {
		chunks[i] = Chunk{Hash: chunkHash(i), Size: int64(1+fz.next()%8) << 18}
		if i > 0 && dup&(1<<(i%8)) != 0 && dup > 200 {
			chunks[i].Hash = chunks[i-1].Hash // identical content
		}
	}
	have := NewBitfield(fz.n)
	for i := range fz.n {
		if fz.next()%5 == 0 {
			have.Set(i)
		}
	}
	s, err := New(fz.cfg, chunks, have)
	if err != nil {
		t.Fatal(err)
	}
	fz.s, fz.cfg = s, fz.cfg.withDefaults()
	return fz
}

func (fz *fuzzer) peer() PeerID { return fz.ids[fz.next()%len(fz.ids)] }

// chunkFor picks a chunk for an event from p: usually one outstanding at p.
func (fz *fuzzer) chunkFor(id PeerID) int {
	k := fz.next()
	if p := fz.s.byID[id]; p != nil && len(p.reqs) > 0 && k%4 != 0 {
		return p.reqs[k%len(p.reqs)].chunk
	}
	return k%(fz.n+2) - 1 // out of range now and then
}

func (fz *fuzzer) run() {
	s := fz.s
	for fz.pos < len(fz.data) {
		switch op := fz.next() % 12; op {
		case 0:
			s.AddPeer(fz.peer(), fz.now)
		case 1:
			s.RemovePeer(fz.peer(), fz.now)
		case 2:
			s.PeerHasAll(fz.peer(), fz.now)
		case 3:
			id := fz.peer()
			bits := fz.next() | fz.next()<<8
			b := NewBitfield(fz.n)
			for i := range fz.n {
				if bits&(1<<i) != 0 {
					b.Set(i)
				}
			}
			s.PeerHas(id, b, fz.now)
		case 4:
			id := fz.peer()
			s.PeerHasChunk(id, fz.next()%(fz.n+1), fz.now)
		case 5:
			s.SetPlayhead(fz.next()%(fz.n+2)-1, fz.now)
		case 6:
			id := fz.peer()
			c := fz.chunkFor(id)
			k := fz.next()
			size := int64(k) << 14
			s.Received(id, c, size, k%3 != 0, fz.now)
		case 7:
			id := fz.peer()
			c := fz.chunkFor(id)
			s.Failed(id, c, Reason(1+fz.next()%6), fz.now) // includes an unknown reason
		case 8:
			k := fz.next()
			switch {
			case k == 255:
				fz.now = fz.now.Add(31 * time.Minute)
			case k == 254:
				fz.now = fz.now.Add(-time.Second) // the clock never goes back
			default:
				fz.now = fz.now.Add(time.Duration(k) * 37 * time.Millisecond)
			}
		default:
			fz.tick()
		}
	}
	fz.tick()
	fz.finish()
}

func (fz *fuzzer) tick() []Action {
	s := fz.s
	now := fz.now
	if now.Before(s.now) {
		now = s.now
	}
	acts := s.Tick(fz.now)
	for _, a := range acts {
		fmt.Fprintf(&fz.trace, "%v %v\n", now.Sub(epoch), a)
		switch a := a.(type) {
		case Request:
			p := s.byID[a.Peer]
			switch {
			case a.Chunk < 0 || a.Chunk >= fz.n:
				fz.t.Fatalf("request for chunk %d of %d", a.Chunk, fz.n)
			case s.Verified(a.Chunk):
				fz.t.Fatalf("request for verified chunk %d", a.Chunk)
			case p == nil || !p.present:
				fz.t.Fatalf("request to absent peer %s", a.Peer)
			case p.banned || now.Before(p.bannedUntil):
				fz.t.Fatalf("request to banned peer %s", a.Peer)
			case now.Before(p.blockedUntil):
				fz.t.Fatalf("request to peer %s backed off until %v", a.Peer, p.blockedUntil.Sub(epoch))
			case !p.has.Has(a.Chunk):
				fz.t.Fatalf("request to %s for chunk %d it lacks", a.Peer, a.Chunk)
			}
			ts := append(fz.sent[a.Peer], now)
			fz.sent[a.Peer] = ts
			interval := time.Duration(float64(time.Second) / fz.cfg.RequestRate)
			limit := fz.cfg.RequestBurst - 1 + int(math.Ceil(float64(time.Second)/float64(interval)))
			n := 0
			for _, t := range ts {
				if now.Sub(t) < time.Second {
					n++
				}
			}
			if n > limit {
				fz.t.Fatalf("%d requests to %s within a second (limit %d)", n, a.Peer, limit)
			}
		case Cancel:
		case Ban:
			// A ban decided before the clock jumped past its end has
			// lifted already by the time Tick reports it.
			if p := s.byID[a.Peer]; a.Until.After(now) && (p == nil || !p.banned || p.strikes < fz.cfg.MaxStrikes) {
				fz.t.Fatalf("ban of %s without %d strikes", a.Peer, fz.cfg.MaxStrikes)
			}
		case Done:
			if fz.done {
				fz.t.Fatalf("Done twice")
			}
			fz.done = true
			for i := range fz.n {
				if !s.Verified(i) {
					fz.t.Fatalf("Done with chunk %d missing", i)
				}
			}
		}
	}
	if err := s.check(); err != nil {
		fz.t.Fatalf("after tick at %v: %v", now.Sub(epoch), err)
	}
	for _, p := range s.peers {
		if len(p.reqs) > fz.cfg.MaxDepth {
			fz.t.Fatalf("peer %s has %d outstanding > %d", p.id, len(p.reqs), fz.cfg.MaxDepth)
		}
	}
	_ = s.Progress()
	return acts
}

// finish adds an honest peer with everything, answers its requests after
// 100 ms, ignores every other peer, and expects Done.
func (fz *fuzzer) finish() {
	s := fz.s
	const z = PeerID("Z")
	now := maxTime(fz.now, s.now)
	s.AddPeer(z, now)
	s.PeerHasAll(z, now)
	type due struct {
		at    time.Time
		chunk int
	}
	var pending []due
	deadline := now.Add(3 * time.Hour)
	for steps := 0; !fz.done; steps++ {
		if steps > 100000 || now.After(deadline) {
			fz.t.Fatalf("no Done %v after the honest peer joined: %s", now.Sub(fz.now), fz.describe())
		}
		fz.now = now
		for _, a := range fz.tick() {
			if r, ok := a.(Request); ok && r.Peer == z {
				pending = append(pending, due{now.Add(100 * time.Millisecond), r.Chunk})
			}
		}
		if fz.done {
			return
		}
		next := s.NextWake()
		if len(pending) > 0 && (next.IsZero() || pending[0].at.Before(next)) {
			next = pending[0].at
		}
		if next.IsZero() {
			fz.t.Fatalf("stuck: nothing to wait for: %s", fz.describe())
		}
		now = maxTime(next, now)
		for len(pending) > 0 && !pending[0].at.After(now) {
			s.Received(z, pending[0].chunk, s.Chunk(pending[0].chunk).Size, true, now)
			pending = pending[1:]
		}
	}
}

func (fz *fuzzer) describe() string {
	pr := fz.s.Progress()
	out := fmt.Sprintf("chunks %d/%d out %d;", pr.ChunksDone, pr.Chunks, pr.Outstanding)
	for _, st := range pr.PeerStats {
		out += fmt.Sprintf(" %s{rate %.0f depth %d out %v has %d banned %v blocked %v}", st.ID, st.Rate, st.Depth, st.Outstanding, st.Has, st.Banned, st.BlockedUntil.Sub(epoch))
	}
	return out
}

package sched

import (
	"crypto/sha256"
	"fmt"
	"math"
	"testing"
	"time"
)

// firstRequests starts a scheduler with peers a, b and c (every chunk each,
// one request each at most) and returns who is asked for the window's
// chunk 0 and the order of the first requests.
func firstRequests(t *testing.T, score func(PeerID) float64) (PeerID, []PeerID) {
	t.Helper()
	chunks := make([]Chunk, 6)
	for i := range chunks {
		chunks[i] = Chunk{Hash: sha256.Sum256([]byte(fmt.Sprint(i))), Size: 1 << 20}
	}
	s, err := New(Config{Window: 1, MinDepth: 1, MaxDepth: 1, Score: score}, chunks, Bitfield{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []PeerID{"a", "b", "c"} {
		s.AddPeer(id, epoch)
		s.PeerHasAll(id, epoch)
	}
	var first PeerID
	var order []PeerID
	for _, a := range s.Tick(epoch) {
		if r, ok := a.(Request); ok {
			if r.Chunk == 0 {
				first = r.Peer
			}
			order = append(order, r.Peer)
		}
	}
	return first, order
}

// TestScoreOrdersEqualPeers: among peers of equal (unmeasured) rate the
// better-scored is asked first and for the playhead's chunk, a struck
// (negative) one last; without a Score the order is by ID.
func TestScoreOrdersEqualPeers(t *testing.T) {
	first, order := firstRequests(t, nil)
	if first != "a" || fmt.Sprint(order) != "[a b c]" {
		t.Fatalf("without a score: chunk 0 from %s, order %v; want a, [a b c]", first, order)
	}
	rep := map[PeerID]float64{"a": -16, "b": 0, "c": 3.2}
	first, order = firstRequests(t, func(p PeerID) float64 { return rep[p] })
	if first != "c" || fmt.Sprint(order) != "[c b a]" {
		t.Fatalf("scores %v: chunk 0 from %s, order %v; want c, [c b a]", rep, first, order)
	}
	// NaN counts as 0: it neither wins nor breaks the sort.
	first, order = firstRequests(t, func(p PeerID) float64 {
		if p == "a" {
			return math.NaN()
		}
		return rep[p]
	})
	if first != "c" || fmt.Sprint(order) != "[c a b]" {
		t.Fatalf("with a NaN: chunk 0 from %s, order %v; want c, [c a b]", first, order)
	}
}

// TestScoreAfterRate: a measured faster peer still goes first whatever the
// scores: the score only orders peers of equal rate.
func TestScoreAfterRate(t *testing.T) {
	chunks := make([]Chunk, 8)
	for i := range chunks {
		chunks[i] = Chunk{Hash: sha256.Sum256([]byte(fmt.Sprint(i))), Size: 1 << 20}
	}
	rep := map[PeerID]float64{"slow": 5, "fast": -1}
	s, err := New(Config{Window: 1, MinDepth: 1, MaxDepth: 1, RequestRate: 1e6, Score: func(p PeerID) float64 { return rep[p] }}, chunks, Bitfield{})
	if err != nil {
		t.Fatal(err)
	}
	now := epoch
	for _, id := range []PeerID{"fast", "slow"} {
		s.AddPeer(id, now)
		s.PeerHasAll(id, now)
	}
	asked := map[PeerID]int{}
	for _, a := range s.Tick(now) {
		if r, ok := a.(Request); ok {
			asked[r.Peer] = r.Chunk
		}
	}
	// fast delivers at 100 MiB/s, slow at 1 MiB/s.
	s.Received("fast", asked["fast"], 1<<20, true, now.Add(10*time.Millisecond))
	s.Received("slow", asked["slow"], 1<<20, true, now.Add(time.Second))
	now = now.Add(time.Second)
	s.SetPlayhead(7, now)
	for _, a := range s.Tick(now) {
		if r, ok := a.(Request); ok && r.Chunk == 7 {
			if r.Peer != "fast" {
				t.Fatalf("the playhead's chunk went to %s, want the faster peer", r.Peer)
			}
			return
		}
	}
	t.Fatal("the playhead's chunk was not requested")
}

package sched

import (
	"fmt"
	"testing"
	"time"
)

// largeSwarm is a 10 GiB file (2,048 chunks of 5 MiB) and 50 peers of 1 to
// 5 MiB/s, 10 to 150 ms away, each with 50 to 90% of the chunks.
func largeSwarm(tb testing.TB) (*sim, float64) {
	var peers []simPeerSpec
	var capacity float64
	for i := range 50 {
		bw := float64(1+i%5) * MiB
		capacity += bw
		peers = append(peers, simPeerSpec{id: PeerID(fmt.Sprintf("P%02d", i)), bw: bw,
			lat: time.Duration(10+i*7%150) * time.Millisecond, frac: 0.5 + float64(i%5)/10})
	}
	m := newSim(tb, simConfig{chunks: 2048, size: 5 * MiB, seed: 1, peers: peers})
	m.noCheck = true
	return m, capacity
}

// TestSimLarge: the large swarm downloads at >= 0.9 of the sum of the
// bandwidths.
func TestSimLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large simulation")
	}
	m, capacity := largeSwarm(t)
	m.run(10 * time.Hour)
	m.checkComplete()
	if eff := m.report("large", capacity); eff < 0.9 {
		t.Errorf("efficiency %.3f < 0.9", eff)
	}
}

// BenchmarkSimLarge simulates the large swarm's whole download and reports
// the wall time per Tick.
func BenchmarkSimLarge(b *testing.B) {
	var ticks int
	for b.Loop() {
		m, _ := largeSwarm(b)
		m.run(10 * time.Hour)
		ticks += m.ticks
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(ticks), "ns/tick")
}

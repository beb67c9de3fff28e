package turn

import (
	"fmt"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// BenchmarkPaths compares one DataChannel between two pion peers on
// loopback over a direct path (host candidates) with the same through the
// server (relay candidates only), uncapped and at the default per-
// allocation rate: the time to connect (offer to open channel), to the
// first message once sending begins, and throughput of 32 MiB in 64 KiB
// messages with flow control. Each op is a fresh pair of peers.
func BenchmarkPaths(b *testing.B) {
	const total = 32 << 20
	for _, p := range []struct {
		name string
		rate int64 // -1: no server
	}{{"direct", -1}, {"relayed", 0}, {fmt.Sprintf("relayed-capped-%dMiB", DefaultRate>>20), DefaultRate}} {
		b.Run(p.name, func(b *testing.B) {
			var servers [2][]webrtc.ICEServer
			policy := webrtc.ICETransportPolicyAll
			if p.rate >= 0 {
				s := start(b, func(c *Config) { c.Rate = p.rate })
				servers = [2][]webrtc.ICEServer{turnServer(s, mint(b, s, "a", time.Hour)), turnServer(s, mint(b, s, "b", time.Hour))}
				policy = webrtc.ICETransportPolicyRelay
			}
			var connect, first, all time.Duration
			for range b.N {
				t0 := time.Now()
				pp := connect2(b, servers, policy)
				connect += time.Since(t0)
				f, a := pp.send(b, total)
				first += f
				all += a
				pp.a.Close()
				pp.b.Close()
			}
			n := float64(b.N)
			b.ReportMetric(float64(connect.Milliseconds())/n, "ms-connect")
			b.ReportMetric(float64(first.Microseconds())/1000/n, "ms-first-msg")
			b.ReportMetric(float64(total)*n/(1<<20)/all.Seconds(), "MiB/s")
		})
	}
}

var connect2 = connect

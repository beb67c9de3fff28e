package bt

import (
	"context"
	"crypto/ed25519"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/identity"
)

// BenchmarkBEP44: twenty DHT nodes on loopback (private, bootstrapped off
// each other). Each round a new key puts a feed pointer from one node
// (PutFeed: a get traversal for the highest seq, then puts to the closest
// nodes) and another node gets and checks it (GetFeed). The ceiling, in the
// same run: one KRPC ping between two of the nodes, the shortest exchange
// the DHT has. Reported: put and get medians, the ping's, and ping/put and
// ping/get (how many round trips' worth each costs, inverted).
//
//	go test -tags libsecp256k1,nosqlite ./bt -run '^$' -bench BEP44 -benchtime 50x -count 3
func BenchmarkBEP44(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	nodes := privateDHT(b, ctx, 20)
	var puts, gets, pings []time.Duration
	b.ResetTimer()
	for i := range b.N {
		k := identity.Generate()
		p := Pointer{IH: [20]byte{byte(i), 1, 2}, TS: time.Now().Unix(), NPK: k.Public}
		t0 := time.Now()
		seq, err := nodes[i%20].PutFeed(ctx, Key(k), p)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		got, gseq, err := nodes[(i+10)%20].GetFeed(ctx, Key(k).Public().(ed25519.PublicKey), k.Public, 0)
		if err != nil || got.IH != p.IH || gseq != seq {
			b.Fatalf("get: %v (seq %d, put %d)", err, gseq, seq)
		}
		t2 := time.Now()
		to, _ := net.ResolveUDPAddr("udp", nodes[(i+5)%20].Addr())
		if res := nodes[i%20].s.Ping(to); res.Err != nil {
			b.Fatal(res.Err)
		}
		t3 := time.Now()
		puts, gets, pings = append(puts, t1.Sub(t0)), append(gets, t2.Sub(t1)), append(pings, t3.Sub(t2))
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(median(puts)), "ms-put-p50")
	b.ReportMetric(ms(slices.Max(puts)), "ms-put-max")
	b.ReportMetric(ms(median(gets)), "ms-get-p50")
	b.ReportMetric(ms(slices.Max(gets)), "ms-get-max")
	b.ReportMetric(ms(median(pings)), "ms-ping-p50")
	b.ReportMetric(float64(median(pings))/float64(median(puts)), "ping/put-p50")
	b.ReportMetric(float64(median(pings))/float64(median(gets)), "ping/get-p50")
}

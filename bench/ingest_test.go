package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"
)

// BenchmarkIngest publishes b.N signed events into a fresh node (relay and
// on-disk store) over 1 and over 64 websockets, as `cairn bench relay`'s
// ingest phase does, for profiling the ingest path alone. Signing happens
// before the timer starts; the CPU profile still shows it (`Sign`), apart.
//
//	go test -tags libsecp256k1 ./bench -run '^$' -bench Ingest/64 -benchtime 30000x -cpuprofile ingest.prof
//
// It reports CPU per event of the whole process (relay and clients) and,
// measured just before, CPU per signature check: their quotient is the
// figure the relay benchmark calls "CPU per event as a ratio of a check".
func BenchmarkIngest(b *testing.B) {
	for _, conns := range []int{1, 64} {
		b.Run(fmt.Sprint(conns), func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
			defer cancel()
			keys := make([]string, signingKeys)
			for i := range keys {
				keys[i] = nostr.GeneratePrivateKey()
			}
			c := newCorpus(1, 1000, time.Now())
			evs, err := signedEvents(ctx, c, keys, b.N, c.newest-int64(b.N)-60, 2, nil)
			if err != nil {
				b.Fatal(err)
			}
			msgs, err := eventMsgs(evs)
			if err != nil {
				b.Fatal(err)
			}
			_, checkCPU, err := verifyRate(ctx, evs[:min(len(evs), 2000)], 500*time.Millisecond)
			if err != nil {
				b.Fatal(err)
			}
			n, err := startNode(b.TempDir(), "")
			if err != nil {
				b.Fatal(err)
			}
			defer stopNode(n)
			b.ResetTimer()
			res, err := ingest(ctx, n.RelayURL(), msgs, conns, 1000)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if res.refused > 0 {
				b.Fatalf("%d events refused, the first with %q", res.refused, res.refusal)
			}
			perEvent := res.usage.cpuPer(res.accepted)
			b.ReportMetric(Rate(res.accepted, res.elapsed), "events/s")
			b.ReportMetric(perEvent, "cpu-µs/event")
			b.ReportMetric(checkCPU, "cpu-µs/check")
			b.ReportMetric(checkCPU/perEvent, "check/event")
		})
	}
}

//go:build !js

package swarm

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/blobstore"
)

// BenchmarkSwarmCapped: four seeders, each capped at R bytes/s of upload
// (p2p Limits.UploadBytesPerSecond), to one fetcher. The aim is a rate of
// at least 0.85 x 4R ("of-4R"), and the time to the first verified chunk
// ("first-chunk-ms"); "of-4R-sustained" leaves out the bytes the seeders'
// token buckets let through at once when a download starts. One iteration is one whole 24 MiB download into a
// fresh store.
//
//	go test ./swarm/ -run '^$' -bench SwarmCapped -benchtime 3x
func BenchmarkSwarmCapped(b *testing.B) {
	for _, rate := range []int64{2 << 20, 4 << 20} {
		b.Run(fmt.Sprintf("R=%dMiB", rate>>20), func(b *testing.B) {
			c := big(b)
			ss := newSeeders(b, c, 4, 0, rate)
			fetcher := newHost(b, nil, nil)
			tr := NewLibp2p(fetcher)
			for _, s := range ss {
				if err := fetcher.Connect(context.Background(), s.h.AddrInfo()); err != nil {
					b.Fatal(err)
				}
			}
			var total, first time.Duration
			b.ResetTimer()
			for range b.N {
				blobs := blobstore.NewMemory(0)
				d, err := NewDownload(Config{Map: c.m, Blobs: blobs})
				if err != nil {
					b.Fatal(err)
				}
				for _, s := range ss {
					d.AddPeer(Libp2pPeer(s.h.ID()), tr, HasAll)
				}
				err = d.Wait(context.Background())
				p := d.Progress()
				d.Close()
				if err != nil {
					b.Fatal(err)
				}
				total += p.Elapsed
				first += p.FirstChunk
				// Let the seeders' buckets refill to their burst only, as
				// after any pause.
				time.Sleep(200 * time.Millisecond)
			}
			b.StopTimer()
			mibps := float64(c.m.Size) * float64(b.N) / total.Seconds() / (1 << 20)
			b.ReportMetric(mibps, "MiB/s")
			b.ReportMetric(mibps/float64(4*rate>>20), "of-4R")
			// Each seeder's bucket starts with a burst (a tenth of a
			// second at R): without it, the sustained rate.
			burst := float64(4 * max(rate/10, 64<<10+4))
			sustained := (float64(c.m.Size)*float64(b.N) - burst*float64(b.N)) / total.Seconds()
			b.ReportMetric(sustained/float64(4*rate), "of-4R-sustained")
			b.ReportMetric(float64(first.Milliseconds())/float64(b.N), "first-chunk-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

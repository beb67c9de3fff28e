package bt

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/identity"
)

// BenchmarkFeedFollow: twenty DHT nodes on loopback. Each round a new
// author publishes a feed of 20 events over 3 days (bundles, index,
// announces, locator, pointer) from one node, and a follower on another
// node, with only the npub, finds and verifies it (locator, pointer,
// seeders, index, bundles). The ceiling, in the same run: the follower
// fetching the same index and bundles from the seeder it is handed
// directly, no DHT. Reported: publish, follow (publish to found), direct,
// and direct/follow.
func BenchmarkFeedFollow(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	nodes := privateDHT(b, ctx, 20)
	ca, cb := newClient(b), newClient(b)
	seeder := fmt.Sprintf("127.0.0.1:%d", ca.Port())
	var pub, fol, dir []time.Duration
	b.ResetTimer()
	for i := range b.N {
		k := identity.Generate()
		var evs []*nostr.Event
		for j := range 20 {
			ev := &nostr.Event{Kind: 1, CreatedAt: nostr.Timestamp(1700000000 + j*15000), Tags: nostr.Tags{}, Content: fmt.Sprintf("note %d of round %d", j, i)}
			if err := ev.Sign(k.Secret); err != nil {
				b.Fatal(err)
			}
			evs = append(evs, ev)
		}
		att := Attestation(Key(k).Public().(ed25519.PublicKey), 1700000000)
		if err := att.Sign(k.Secret); err != nil {
			b.Fatal(err)
		}
		f, err := BuildFeed(evs, k.Public, time.Now(), seeder)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if _, err := nodes[i%20].Publish(ctx, ca, Key(k), att, f, time.Now()); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		var steps []string
		got, err := nodes[(i+10)%20].Follow(ctx, cb, k.Public, FollowOptions{Dir: b.TempDir(), Progress: func(s string) {
			steps = append(steps, fmt.Sprintf("%s %s", time.Since(t1).Round(time.Millisecond), s))
		}})
		if time.Since(t1) > 5*time.Second {
			b.Logf("slow follow: %q", steps)
		}
		if err != nil || len(got.Events) != len(evs) {
			b.Fatalf("follow: %v", err)
		}
		t2 := time.Now()
		tmp := b.TempDir()
		for j, file := range append([]File{f.Index}, f.Bundles...) {
			m := metainfo.Magnet{InfoHash: file.MI.HashInfoBytes()}
			if _, err := fetchBytes(ctx, cb, &m, "", []string{seeder}, filepath.Join(tmp, fmt.Sprint(j)), MaxBundleBytes); err != nil {
				b.Fatal(err)
			}
		}
		t3 := time.Now()
		pub = append(pub, t1.Sub(t0))
		fol = append(fol, t2.Sub(t1))
		dir = append(dir, t3.Sub(t2))
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(median(pub)), "ms-publish-p50")
	b.ReportMetric(ms(median(fol)), "ms-follow-p50")
	b.ReportMetric(ms(slices.Max(fol)), "ms-follow-max")
	b.ReportMetric(ms(median(dir)), "ms-direct-p50")
	b.ReportMetric(ms(slices.Max(dir)), "ms-direct-max")
	b.ReportMetric(float64(median(dir))/float64(median(fol)), "direct/follow-p50")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

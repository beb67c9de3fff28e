package bt

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/bt/wot"
	"github.com/cairn-nostr/cairn/identity"
)

// followGraph is 30 users' follows by index: 0 follows 1-3; 1-3 follow
// 4-9 (and 0, and each other); 4-9 follow 10-15 (degree 3) and 1; 10-29
// follow the next one round. User 9 never publishes a feed.
func followGraph() map[int][]int {
	g := map[int][]int{0: {1, 2, 3}}
	for i := 1; i <= 3; i++ {
		g[i] = []int{0, 1 + i%3, 2 + 2*i, 3 + 2*i}
	}
	for i := 4; i <= 9; i++ {
		g[i] = []int{i + 6, 1}
	}
	for i := 10; i < 30; i++ {
		g[i] = []int{(i + 1) % 30}
	}
	return g
}

// TestCrawlDegreeTwo: thirty users publish their feeds (a kind 3 of their
// follows and a note) into a private DHT of 20 loopback nodes; a crawl
// from user 0 with depth 2, knowing only user 0's pubkey, reaches exactly
// the users within two follows (a breadth-first walk of the graph, done
// here independently), each with its degree, fetches every published feed
// among them with every event verified, and reports the one with no feed;
// with a bound of 6 users it stops at 6 and says so.
func TestCrawlDegreeTwo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	nodes := privateDHT(t, ctx, 20)
	ca, cb := newClient(t), newClient(t)
	g := followGraph()
	keys := make([]identity.Key, 30)
	for i := range keys {
		keys[i] = identity.Generate()
	}
	base := int64(1700000000)
	start := time.Now()
	for i, k := range keys {
		if i == 9 {
			continue
		}
		contacts := &nostr.Event{Kind: 3, CreatedAt: nostr.Timestamp(base), Tags: nostr.Tags{}}
		for _, f := range g[i] {
			contacts.Tags = append(contacts.Tags, nostr.Tag{"p", keys[f].Public})
		}
		if err := contacts.Sign(k.Secret); err != nil {
			t.Fatal(err)
		}
		evs := []*nostr.Event{contacts, signed(t, k, 1, base+10, fmt.Sprintf("note of user %d", i))}
		f, err := BuildFeed(evs, k.Public, time.Unix(base+20, 0), fmt.Sprintf("127.0.0.1:%d", ca.Port()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nodes[i%20].Publish(ctx, ca, Key(k), attest(t, k, base), f, time.Unix(base+20, 0)); err != nil {
			t.Fatalf("publishing user %d: %v", i, err)
		}
	}
	t.Logf("30 feeds published into 20 DHT nodes in %v", time.Since(start).Round(time.Millisecond))

	// The degree-2 set, by a plain breadth-first walk.
	want := map[string]int{keys[0].Public: 0}
	frontier := []int{0}
	for d := 1; d <= 2; d++ {
		var next []int
		for _, u := range frontier {
			for _, f := range g[u] {
				if _, ok := want[keys[f].Public]; !ok {
					want[keys[f].Public] = d
					next = append(next, f)
				}
			}
		}
		frontier = next
	}

	start = time.Now()
	res, err := nodes[7].Crawl(ctx, cb, keys[0].Public, wot.Bounds{MaxDepth: 2, Parallel: 4, Deadline: time.Now().Add(2 * time.Minute)}, FollowOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("crawl: %d users, %d feeds, %d failed, in %v", len(res.Depth), len(res.Found), len(res.Failed), time.Since(start).Round(time.Millisecond))
	if !maps.Equal(res.Depth, want) {
		t.Fatalf("reached %d users %v, want the degree-2 set of %d %v", len(res.Depth), res.Depth, len(want), want)
	}
	if len(res.Failed) != 1 || res.Failed[keys[9].Public] == "" {
		t.Fatalf("failed: %v (want user 9 only, which has no feed)", res.Failed)
	}
	if len(res.Found) != len(want)-1 || res.Truncated || res.Expired {
		t.Fatalf("%d feeds found of %d, truncated %v, expired %v", len(res.Found), len(want)-1, res.Truncated, res.Expired)
	}
	for _, u := range res.Found {
		evs := res.Events[u]
		if len(evs) != 2 || evs[0].PubKey != u {
			t.Fatalf("user %.16s: %d events", u, len(evs))
		}
	}

	res, err = nodes[3].Crawl(ctx, cb, keys[0].Public, wot.Bounds{MaxDepth: 2, MaxUsers: 6, Parallel: 4}, FollowOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Depth) != 6 || !res.Truncated {
		t.Fatalf("bounded to 6 users: reached %d, truncated %v", len(res.Depth), res.Truncated)
	}
}

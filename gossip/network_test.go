package gossip

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/personal"
)

// netNode is one personal node of a simulated network of real libp2p
// hosts in one process.
type netNode struct {
	k   key
	g   *Node
	mu  sync.Mutex
	got map[string]time.Time // event id -> delivered at
}

type netResult struct {
	n, posts, expected, delivered, extra int
	followers                            int // sum over posts of the author's followers
	received, receivedBytes              uint64
	p50, p99                             time.Duration
	lurkerMessages                       uint64
}

// followGraph: node i follows 5 others picked with Zipf weights (a few
// authors are popular), except the last 10% who follow nobody (lurkers).
func followGraph(n int, rng *rand.Rand) [][]int {
	fol := make([][]int, n)
	lurkers := n / 10
	for i := 0; i < n-lurkers; i++ {
		for len(fol[i]) < 5 && len(fol[i]) < n-1 {
			// weight 1/(j+1): inverse transform over the harmonic sum
			var sum float64
			for j := 0; j < n; j++ {
				sum += 1 / float64(j+1)
			}
			x := rng.Float64() * sum
			j := 0
			for ; j < n-1; j++ {
				x -= 1 / float64(j+1)
				if x <= 0 {
					break
				}
			}
			if j != i && !slices.Contains(fol[i], j) {
				fol[i] = append(fol[i], j)
			}
		}
	}
	return fol
}

func runNetwork(t *testing.T, n int, broadcast bool) netResult {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	fs := &finders{recs: map[[32]byte][]peer.AddrInfo{}}
	nodes := make([]*netNode, n)
	for i := range nodes {
		h := newHost(t)
		nn := &netNode{k: newKey(1000 + i), got: map[string]time.Time{}}
		g, err := New(ctx, Config{
			Host: h, Policy: personal.Policy{Owner: nn.k.pk}, Broadcast: broadcast,
			Finder: fs.of(peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}), Rediscover: 200 * time.Millisecond,
			Deliver: func(_ context.Context, ev *nostr.Event) error {
				nn.mu.Lock()
				if _, dup := nn.got[ev.ID]; !dup {
					nn.got[ev.ID] = time.Now()
				}
				nn.mu.Unlock()
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(g.Close)
		nn.g = g
		nodes[i] = nn
	}
	// Each node knows three others at start (its bootstrap peers).
	for i, a := range nodes {
		for range 3 {
			b := nodes[rng.IntN(n)]
			if b != a {
				ai := peer.AddrInfo{ID: b.g.cfg.Host.ID(), Addrs: b.g.cfg.Host.Addrs()}
				if err := a.g.cfg.Host.Connect(ctx, ai); err != nil {
					t.Fatalf("node %d: %v", i, err)
				}
			}
		}
	}
	fol := followGraph(n, rng)
	followersOf := make([][]int, n)
	for i, fs := range fol {
		for _, a := range fs {
			followersOf[a] = append(followersOf[a], i)
		}
	}
	for i, nn := range nodes {
		if err := nn.g.Follow(nn.k.pk); err != nil {
			t.Fatal(err)
		}
		for _, a := range fol[i] {
			if err := nn.g.Follow(nodes[a].k.pk); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Ready when, for every author with followers, a post can reach every
	// follower: from the author to the topic peers it knows (flood
	// publish), then along GossipSub's mesh.
	topicOf := func(a int) string {
		if broadcast {
			return personal.BroadcastTopic
		}
		return personal.Topic(nodes[a].k.pk)
	}
	index := map[peer.ID]int{}
	for i, nn := range nodes {
		index[nn.g.cfg.Host.ID()] = i
	}
	connected := func(a int) bool {
		want := append([]int{a}, followersOf[a]...)
		if broadcast {
			want = make([]int, n)
			for i := range want {
				want[i] = i
			}
		}
		seen := map[int]bool{a: true}
		queue := []int{a}
		for len(queue) > 0 {
			i := queue[0]
			queue = queue[1:]
			next := nodes[i].g.Mesh(topicOf(a))
			if i == a {
				next = nodes[i].g.ps.ListPeers(topicOf(a))
			}
			for _, p := range next {
				if j, ok := index[p]; ok && !seen[j] {
					seen[j] = true
					queue = append(queue, j)
				}
			}
		}
		for _, i := range want {
			if !seen[i] {
				return false
			}
		}
		return true
	}
	// GossipSub keeps a pruned peer out of a mesh for a minute (its
	// backoff), so a crowded topic can take that long to settle.
	waitUpTo(t, 150*time.Second, "every author's followers to be reachable on its topic", func() bool {
		for a := range nodes {
			if (broadcast || len(followersOf[a]) > 0) && !connected(a) {
				return false
			}
		}
		return true
	})
	var before, beforeBytes uint64
	for _, nn := range nodes {
		st := nn.g.Stats()
		before += st.Received
		beforeBytes += st.ReceivedBytes
	}
	// One post by every node.
	posted := make([]time.Time, n)
	posts := make([]*nostr.Event, n)
	res := netResult{n: n, posts: n}
	for a, nn := range nodes {
		posts[a] = nn.k.sign(t, 1, fmt.Sprintf("post by node %d", a))
		res.followers += len(followersOf[a])
		if broadcast {
			res.expected += n - 1
		} else {
			res.expected += len(followersOf[a])
		}
	}
	// One post at a time, each waited for (bounded) before the next: the
	// figures are per post, not a burst's.
	for a, nn := range nodes {
		want := followersOf[a]
		if broadcast {
			want = nil
			for i := range nodes {
				if i != a {
					want = append(want, i)
				}
			}
		}
		posted[a] = time.Now()
		if err := nn.g.Publish(ctx, posts[a]); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			all := true
			for _, i := range want {
				nodes[i].mu.Lock()
				_, ok := nodes[i].got[posts[a].ID]
				nodes[i].mu.Unlock()
				all = all && ok
			}
			if all {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	count := func() (delivered, extra int) {
		for i, nn := range nodes {
			nn.mu.Lock()
			for a, p := range posts {
				if _, ok := nn.got[p.ID]; !ok {
					continue
				}
				if broadcast || slices.Contains(fol[i], a) {
					delivered++
				} else {
					extra++
				}
			}
			nn.mu.Unlock()
		}
		return
	}
	res.delivered, res.extra = count()
	var lat []time.Duration
	for i, nn := range nodes {
		nn.mu.Lock()
		for a, p := range posts {
			if at, ok := nn.got[p.ID]; ok && (broadcast || slices.Contains(fol[i], a)) {
				lat = append(lat, at.Sub(posted[a]))
			}
		}
		nn.mu.Unlock()
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		res.p50 = lat[len(lat)/2]
		res.p99 = lat[min(len(lat)-1, len(lat)*99/100)]
	}
	for i, nn := range nodes {
		st := nn.g.Stats()
		res.received += st.Received
		res.receivedBytes += st.ReceivedBytes
		if !broadcast && len(fol[i]) == 0 {
			res.lurkerMessages += st.Received - nn.g.ReceivedOn(personal.Topic(nn.k.pk)) // echoes of its own posts aside
		}
	}
	res.received -= before
	res.receivedBytes -= beforeBytes
	return res
}

func (r netResult) report(t *testing.T, mode string) {
	perPost := float64(r.received) / float64(r.posts)
	t.Logf("%s, %d nodes: delivered %d/%d (ratio %.3f), to non-followers %d; latency p50 %v p99 %v; "+
		"messages received per post %.1f, bytes per post %.0f; followers per post %.2f (the ceiling: one message each), messages/followers %.2f; per node per post %.3f",
		mode, r.n, r.delivered, r.expected, float64(r.delivered)/float64(r.expected), r.extra,
		r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), perPost, float64(r.receivedBytes)/float64(r.posts),
		float64(r.followers)/float64(r.posts), float64(r.received)/float64(max(r.followers, 1)), perPost/float64(r.n))
}

// TestNetwork: personal nodes on loopback (real libp2p hosts in one
// process) with a Zipf follow graph, each posting once. In multicast mode
// every post reaches exactly its author's followers, and nodes that follow
// nobody receive no message at all; broadcast mode reaches every node.
// The figures (delivery, latency, messages and bytes per post against the
// followers, the least a post can cost) are logged, never asserted. The
// unit run (under -race) takes 10 nodes; docs/BENCHMARKS.md's figures come
// from
//
//	CAIRN_GOSSIP_NODES=10,50 go test -count=1 -run TestNetwork -v ./gossip/
func TestNetwork(t *testing.T) {
	sizes := []int{10}
	if s := os.Getenv("CAIRN_GOSSIP_NODES"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			v, err := strconv.Atoi(f)
			if err != nil || v < 4 {
				t.Fatalf("CAIRN_GOSSIP_NODES=%q: want sizes of at least 4, comma-separated", s)
			}
			sizes = append(sizes, v)
		}
	}
	for _, n := range sizes {
		for _, broadcast := range []bool{false, true} {
			mode := "multicast"
			if broadcast {
				mode = "broadcast"
			}
			t.Run(fmt.Sprintf("%s-%d", mode, n), func(t *testing.T) {
				r := runNetwork(t, n, broadcast)
				r.report(t, mode)
				if r.delivered != r.expected || r.extra != 0 {
					t.Fatalf("delivered %d of %d, %d to non-followers", r.delivered, r.expected, r.extra)
				}
				if !broadcast && r.lurkerMessages != 0 {
					t.Fatalf("nodes following nobody received %d messages", r.lurkerMessages)
				}
			})
		}
	}
}

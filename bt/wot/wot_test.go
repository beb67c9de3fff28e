package wot

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// graph: 30 users u0..u29; u0 follows u1-u3; u1-u3 follow u4-u9 (and back
// to u0, and each other); u4-u9 follow u10-u15 (degree 3); u16-u29 are
// followed by no one reached.
func graph() map[string][]string {
	g := map[string][]string{}
	u := func(i int) string { return fmt.Sprintf("u%d", i) }
	g[u(0)] = []string{u(1), u(2), u(3)}
	for i := 1; i <= 3; i++ {
		g[u(i)] = []string{u(0), u(1 + i%3), u(2 + 2*i), u(3 + 2*i)}
	}
	for i := 4; i <= 9; i++ {
		g[u(i)] = []string{u(i + 6), u(1)}
	}
	for i := 10; i < 30; i++ {
		g[u(i)] = []string{u((i + 1) % 30)}
	}
	return g
}

// run crawls g, ending fetches in a random order (seed), failing those in fail.
func run(t *testing.T, g map[string][]string, b Bounds, seed uint64, fail map[string]bool) Result {
	t.Helper()
	c := New("u0", b)
	rng := rand.New(rand.NewPCG(seed, 1))
	var inflight []string
	now := time.Unix(1000, 0)
	for steps := 0; !c.Done(now); steps++ {
		if steps > 1000 {
			t.Fatal("crawl did not end")
		}
		inflight = append(inflight, c.Next()...)
		if len(inflight) > max(b.Parallel, 1) {
			t.Fatalf("%d fetches at once, bound %d", len(inflight), b.Parallel)
		}
		if len(inflight) == 0 {
			t.Fatal("not done, nothing to fetch")
		}
		i := rng.IntN(len(inflight))
		u := inflight[i]
		inflight = slices.Delete(inflight, i, i+1)
		if fail[u] {
			c.Failed(u, "unreachable")
		} else {
			c.Found(u, g[u])
		}
		now = now.Add(time.Second)
	}
	return c.Result(now)
}

// TestDegreeTwo: the crawl reaches exactly the users within two follows,
// each with its degree, whatever order fetches end in.
func TestDegreeTwo(t *testing.T) {
	want := map[string]int{"u0": 0, "u1": 1, "u2": 1, "u3": 1}
	for i := 4; i <= 9; i++ {
		want[fmt.Sprintf("u%d", i)] = 2
	}
	for seed := range uint64(20) {
		r := run(t, graph(), Bounds{MaxDepth: 2, Parallel: 3}, seed, nil)
		if !maps.Equal(r.Depth, want) {
			t.Fatalf("seed %d: reached %v, want %v", seed, r.Depth, want)
		}
		if len(r.Found) != len(want) || r.Truncated || r.Expired {
			t.Fatalf("seed %d: %+v", seed, r)
		}
	}
	if r := run(t, graph(), Bounds{MaxDepth: 1}, 0, nil); len(r.Depth) != 4 {
		t.Fatalf("depth 1 reached %v", r.Depth)
	}
}

// TestMaxUsers: a bound on users cuts the same users whatever the order of
// fetches, and says so.
func TestMaxUsers(t *testing.T) {
	var first map[string]int
	for seed := range uint64(20) {
		r := run(t, graph(), Bounds{MaxDepth: 2, MaxUsers: 6, Parallel: 4}, seed, nil)
		if len(r.Depth) != 6 || !r.Truncated {
			t.Fatalf("seed %d: %d users, truncated %v", seed, len(r.Depth), r.Truncated)
		}
		if first == nil {
			first = r.Depth
		} else if !maps.Equal(first, r.Depth) {
			t.Fatalf("seed %d reached %v, seed 0 %v", seed, r.Depth, first)
		}
	}
}

// TestFailedAndDeadline: a user whose feed fails is reported with the
// reason and its follows are not taken; a deadline ends the crawl with
// what it had.
func TestFailedAndDeadline(t *testing.T) {
	r := run(t, graph(), Bounds{MaxDepth: 2}, 0, map[string]bool{"u3": true})
	if r.Failed["u3"] != "unreachable" {
		t.Fatalf("failed: %v", r.Failed)
	}
	if _, ok := r.Depth["u9"]; ok { // only u3 follows u8, u9
		t.Fatalf("a failed user's follows were taken: %v", r.Depth)
	}
	c := New("u0", Bounds{MaxDepth: 2, Deadline: time.Unix(100, 0)})
	c.Next()
	c.Found("u0", graph()["u0"])
	if c.Done(time.Unix(99, 0)) {
		t.Fatal("done before the deadline with users left")
	}
	res := c.Result(time.Unix(100, 0))
	if !c.Done(time.Unix(100, 0)) || !res.Expired || len(res.Found) != 1 || len(res.Depth) != 4 {
		t.Fatalf("at the deadline: done %v, %+v", c.Done(time.Unix(100, 0)), res)
	}
	if err := c.Found("u7", nil); err == nil {
		t.Fatal("Found of a user not being fetched was taken")
	}
}

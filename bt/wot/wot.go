// Package wot is the web-of-trust crawl's pure core: from a root user it
// decides whose feed to fetch next, level by level (the root at degree 0,
// whom the root follows at 1, whom they follow at 2, ...), within bounds
// (deepest degree, most users, a deadline, how many fetches at once), and
// what the crawl reached. The caller fetches and feeds back:
//
//	c := wot.New(root, bounds)
//	for !c.Done(now) {
//		for _, u := range c.Next() { start fetching u's feed }
//		wait for one fetch; c.Found(u, follows) or c.Failed(u, reason)
//	}
//	res := c.Result(now)
//
// Levels are strict: the users of degree d+1 are taken, in a fixed order
// (the users of degree d in the order they were taken, each one's follows
// in their order), only once every user of degree d is found or failed, so
// each user gets its true degree and a bound on users cuts the same users
// whatever order the fetches end in.
package wot

import (
	"fmt"
	"slices"
	"time"
)

// Bounds limit a crawl.
type Bounds struct {
	// MaxDepth is the deepest degree taken (2: follows of follows).
	MaxDepth int
	// MaxUsers bounds the users taken, the root included (0: no bound).
	MaxUsers int
	// Deadline ends the crawl, whatever is left (zero: none).
	Deadline time.Time
	// Parallel bounds the fetches at once (0: 1).
	Parallel int
}

type state int

const (
	queued state = iota
	fetching
	found
	failed
)

type user struct {
	depth   int
	st      state
	follows []string
	reason  string
}

// Crawl is one crawl's state.
type Crawl struct {
	b         Bounds
	users     map[string]*user
	level     []string // the users of the current degree, in order
	depth     int      // the current degree
	next      int      // the next of level to hand out
	inflight  int
	truncated bool
}

// New starts a crawl at root.
func New(root string, b Bounds) *Crawl {
	if b.Parallel <= 0 {
		b.Parallel = 1
	}
	c := &Crawl{b: b, users: map[string]*user{root: {depth: 0}}, level: []string{root}}
	return c
}

// Next hands out the users whose feeds to fetch now (marked in flight):
// users of the current degree, no more than Parallel in flight.
func (c *Crawl) Next() []string {
	var out []string
	for c.inflight < c.b.Parallel && c.next < len(c.level) {
		u := c.level[c.next]
		c.next++
		c.users[u].st = fetching
		c.inflight++
		out = append(out, u)
	}
	return out
}

// Found records the follows (pubkeys, from their newest kind 3) of a user
// handed out by Next.
func (c *Crawl) Found(u string, follows []string) error {
	us, err := c.take(u)
	if err != nil {
		return err
	}
	us.st, us.follows = found, append([]string(nil), follows...)
	c.advance()
	return nil
}

// Failed records that a user's feed could not be had, and why.
func (c *Crawl) Failed(u, reason string) error {
	us, err := c.take(u)
	if err != nil {
		return err
	}
	us.st, us.reason = failed, reason
	c.advance()
	return nil
}

func (c *Crawl) take(u string) (*user, error) {
	us, ok := c.users[u]
	if !ok || us.st != fetching {
		return nil, fmt.Errorf("wot: %.16s was not being fetched", u)
	}
	c.inflight--
	return us, nil
}

// advance opens the next degree once every user of this one is done.
func (c *Crawl) advance() {
	if c.inflight > 0 || c.next < len(c.level) || c.depth >= c.b.MaxDepth {
		return
	}
	var lvl []string
	for _, u := range c.level {
		for _, f := range c.users[u].follows {
			if _, ok := c.users[f]; ok {
				continue
			}
			if c.b.MaxUsers > 0 && len(c.users) >= c.b.MaxUsers {
				c.truncated = true
				continue
			}
			c.users[f] = &user{depth: c.depth + 1}
			lvl = append(lvl, f)
		}
	}
	if len(lvl) == 0 {
		return
	}
	c.level, c.next, c.depth = lvl, 0, c.depth+1
}

// Done: nothing left to fetch and nothing in flight, or the deadline has
// passed (the caller stops its fetches then).
func (c *Crawl) Done(now time.Time) bool {
	if !c.b.Deadline.IsZero() && !now.Before(c.b.Deadline) {
		return true
	}
	return c.inflight == 0 && c.next >= len(c.level)
}

// Result is what a crawl reached.
type Result struct {
	// Depth is every user taken, with its degree (found, failed or not
	// fetched before the deadline).
	Depth map[string]int
	// Found are the users whose feeds were had (sorted); Failed why the
	// others were not.
	Found  []string
	Failed map[string]string
	// Truncated: MaxUsers left users out. Expired: the deadline ended the
	// crawl first.
	Truncated, Expired bool
}

// Result reports the crawl at now.
func (c *Crawl) Result(now time.Time) Result {
	r := Result{Depth: map[string]int{}, Failed: map[string]string{}, Truncated: c.truncated}
	r.Expired = !c.b.Deadline.IsZero() && !now.Before(c.b.Deadline) && (c.inflight > 0 || c.next < len(c.level))
	for u, us := range c.users {
		r.Depth[u] = us.depth
		switch us.st {
		case found:
			r.Found = append(r.Found, u)
		case failed:
			r.Failed[u] = us.reason
		}
	}
	slices.Sort(r.Found)
	return r
}

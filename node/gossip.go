package node

import (
	"context"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/gossip"
	"github.com/cairn-nostr/cairn/personal"
)

// A personal node's follower multicast (package gossip): at start it joins
// its owner's topic and the topics of the authors in its owner's latest
// follow list (kind 3); each owner's kind 3 it stores later moves it
// between topics (the core's Follows). Every event of the owner it stores
// is published on the owner's topic; what arrives on a followed topic,
// verified there, goes through the relay in process: stored, shown live to
// the owner's subscribed clients, counted against the cap.

// follows is the owner's follow list the node last acted on.
type follows struct {
	mu   sync.Mutex
	last *nostr.Event
}

// startGossip starts GossipSub on the libp2p host; Start calls it before
// any goroutine that could store an event.
func (n *Node) startGossip() error {
	p := n.personal
	var finder gossip.Finder
	if n.cfg.P2P.DHT {
		finder = n.host
	}
	g, err := gossip.New(n.ctx, gossip.Config{
		Host:   n.host.Libp2p(),
		Policy: p.pol,
		Deliver: func(ctx context.Context, ev *nostr.Event) error {
			return n.relay.Publish(ctx, ev)
		},
		Serve: func(ctx context.Context, f nostr.Filter) ([]*nostr.Event, error) {
			// The owner's own events (their profile, follow list and
			// posts, which the node publishes anyway) and, unless reads
			// are private, those of the authors the node carries (it is on
			// their topics, which the DHT tells anyone), for a follower
			// whose author's node is down.
			f.Authors = p.servable(f.Authors)
			if len(f.Authors) == 0 {
				return nil, nil
			}
			return n.queryLimited(ctx, f)
		},
		Meshed:     n.catchUp,
		Finder:     finder,
		Broadcast:  n.cfg.Personal.Broadcast,
		Rediscover: n.cfg.Personal.Rediscover,
		Logger:     n.log.With("part", "gossip"),
	})
	if err != nil {
		return err
	}
	n.gossip = g
	if err := g.Follow(p.pol.Owner); err != nil {
		return err
	}
	var last *nostr.Event
	library{n.store}.Query(n.ctx, nostr.Filter{Kinds: []int{nostr.KindFollowList}, Authors: []string{p.pol.Owner}, Limit: 1}, "", func(ev *nostr.Event) error {
		if last == nil || ev.CreatedAt > last.CreatedAt {
			last = ev
		}
		return nil
	})
	if last != nil {
		n.followList(last)
	}
	n.group.Go(n.resendLoop)
	select { // what the saved queue holds may be due
	case p.resend.kick <- struct{}{}:
	default:
	}
	return nil
}

// gossipEvent is the relay's OnEvent hook of a personal node: the owner's
// stored events go out on its topic, its follow lists move the node
// between topics.
func (n *Node) gossipEvent(ev *nostr.Event) {
	g := n.gossip
	if g == nil || ev.PubKey != n.personal.pol.Owner || nostr.IsEphemeralKind(ev.Kind) {
		return
	}
	if ev.Kind == nostr.KindFollowList {
		n.followList(ev)
	}
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	if err := g.Publish(ctx, ev); err != nil && n.ctx.Err() == nil {
		n.log.Warn("publishing the owner's event to followers", "id", ev.ID, "err", err)
	}
	n.queueDirect(ev)
}

// followList joins the topics of authors next follows and leaves those it
// no longer does, and catches up with each author it joins.
func (n *Node) followList(next *nostr.Event) {
	f := &n.personal.follows
	f.mu.Lock()
	if f.last != nil && next.CreatedAt < f.last.CreatedAt {
		f.mu.Unlock()
		return
	}
	join, leave := personal.Follows(f.last, next)
	f.last = next
	if err := n.gossip.Follow(join...); err != nil {
		n.log.Warn("following authors", "err", err)
	}
	n.gossip.Unfollow(leave...)
	f.mu.Unlock()
	if len(join)+len(leave) > 0 {
		n.log.Info("follow list applied", "joined", len(join), "left", len(leave))
	}
	for _, a := range join {
		n.catchUp(a)
	}
}

// has reports whether the owner's follow list names author.
func (f *follows) has(author string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last == nil {
		return false
	}
	for _, t := range f.last.Tags {
		if len(t) >= 2 && t[0] == "p" && t[1] == author {
			return true
		}
	}
	return false
}

// servable keeps, of the authors a direct request names, those whose
// events this node serves: the owner, and unless reads are private the
// authors it follows; none named means the owner.
func (p *personalNode) servable(authors []string) []string {
	if len(authors) == 0 {
		return []string{p.pol.Owner}
	}
	var out []string
	for _, a := range authors {
		if a == p.pol.Owner || (!p.pol.PrivateReads && p.follows.has(a)) {
			out = append(out, a)
		}
	}
	return out
}

// catchUp asks for what the node missed of a followed author (GossipSub
// does not replay a post made while this node was down or away): on start
// and on following them (followList), and each time their topic's mesh
// gets a first peer again (gossip's Meshed). The request goes to the
// author's node, or to nodes carrying the author (gossip.Get), for their
// events since the newest the node holds; what comes back is checked as an
// overlay event is and goes through the relay like one. One catch-up per
// author at a time (the core's CatchUps); one triggered meanwhile runs
// after it.
func (n *Node) catchUp(author string) {
	p := n.personal
	if n.gossip == nil || author == p.pol.Owner || !p.follows.has(author) {
		return
	}
	p.mu.Lock()
	ok := p.catchups.Start(author)
	p.mu.Unlock()
	if !ok {
		return
	}
	n.spawn(func(ctx context.Context) {
		for {
			n.catchUpOnce(ctx, author)
			p.mu.Lock()
			again := p.catchups.Done(author)
			p.mu.Unlock()
			if !again || ctx.Err() != nil {
				return
			}
		}
	})
}

func (n *Node) catchUpOnce(ctx context.Context, author string) {
	p := n.personal
	var newest nostr.Timestamp
	held := false
	library{n.store}.Query(ctx, nostr.Filter{Authors: []string{author}, Limit: 1}, "", func(ev *nostr.Event) error {
		if !held || ev.CreatedAt > newest {
			newest, held = ev.CreatedAt, true
		}
		return nil
	})
	f := personal.CatchUpFilter(author, newest, held)
	for range personal.CatchUpPages {
		p.catchUpAsks.Add(1)
		actx, cancel := context.WithTimeout(ctx, time.Minute)
		evs, err := n.gossip.Get(actx, author, f)
		cancel()
		if err != nil {
			p.catchUpFailed.Add(1)
			if ctx.Err() == nil {
				n.log.Debug("catching up with an author", "author", author, "err", err)
			}
			return
		}
		oldest := nostr.Timestamp(1<<63 - 1)
		for _, ev := range evs {
			oldest = min(oldest, ev.CreatedAt)
			if n.holds(ctx, ev.ID) {
				continue
			}
			if err := n.relay.Publish(ctx, ev); err != nil {
				n.log.Debug("storing an event caught up", "id", ev.ID, "err", err)
				continue
			}
			p.caughtUp.Add(1)
		}
		next, more := personal.NextPage(f, len(evs), oldest)
		if !more {
			return
		}
		f = next
	}
}

// holds reports whether the store has the event id.
func (n *Node) holds(ctx context.Context, id string) bool {
	found := false
	library{n.store}.Query(ctx, nostr.Filter{IDs: []string{id}}, "", func(*nostr.Event) error {
		found = true
		return nil
	})
	return found
}

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
			// Only the owner's own events: their profile, follow list and
			// posts, which the node publishes anyway.
			f.Authors = []string{p.pol.Owner}
			return n.queryLimited(ctx, f)
		},
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
// no longer does.
func (n *Node) followList(next *nostr.Event) {
	f := &n.personal.follows
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last != nil && next.CreatedAt < f.last.CreatedAt {
		return
	}
	join, leave := personal.Follows(f.last, next)
	f.last = next
	if err := n.gossip.Follow(join...); err != nil {
		n.log.Warn("following authors", "err", err)
	}
	n.gossip.Unfollow(leave...)
	if len(join)+len(leave) > 0 {
		n.log.Info("follow list applied", "joined", len(join), "left", len(leave))
	}
}

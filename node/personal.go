package node

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"

	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/gossip"
	"github.com/cairn-nostr/cairn/personal"
	"github.com/cairn-nostr/cairn/relay"
	"github.com/cairn-nostr/cairn/store"
)

// A personal node (cairn node --personal npub1…) belongs to one user, as a
// NostrP2P server does: its relay accepts writes from a client only when
// the owner signed them (the personal core's Policy, a RejectEvent hook);
// what the node publishes in process (its addressing record, and the
// followed authors' posts the overlay delivers, verified first) passes.
// With --private-reads, reads need NIP-42 AUTH as the owner. Other people's
// events are kept up to --personal-max-events, the oldest evicted first
// (the core's Cache); the owner's and the node's own are never evicted.

// PersonalConfig makes a node a personal server.
type PersonalConfig struct {
	// Owner is the owner's pubkey, npub or hex; empty: not a personal node.
	Owner string
	// PrivateReads serves reads only to a client authenticated (NIP-42)
	// as the owner; it turns the relay's auth to "all".
	PrivateReads bool
	// MaxEvents is the most events of others kept (NostrP2P keeps
	// 100 x 1024); 0 means DefaultPersonalMaxEvents.
	MaxEvents int
	// Rediscover is how often a followed topic with no peer is looked up
	// again in the DHT (0: gossip's 30 s); tests shorten it.
	Rediscover time.Duration `json:"-"`
	// NP2PListen is where NostrP2P's client API listens: host:port, "off",
	// or "" for the HTTP listen address with its port + 1.
	NP2PListen string
	// Broadcast is NostrP2P's mode for small networks: one GossipSub topic
	// for all nodes; every post reaches every node (gossip.Config.Broadcast).
	Broadcast bool
	// Now is the clock of the resend queue (nil: time.Now); ResendCheck
	// how often it is looked at (0: DefaultResendCheck). Tests set them.
	Now         func() time.Time `json:"-"`
	ResendCheck time.Duration    `json:"-"`
}

// DefaultPersonalMaxEvents is NostrP2P's bound: 100 x 1024 events.
const DefaultPersonalMaxEvents = 100 * 1024

// OwnerHex reads an npub or a hex pubkey.
func OwnerHex(s string) (string, error) {
	if strings.HasPrefix(s, "npub1") {
		prefix, v, err := nip19.Decode(s)
		if err != nil || prefix != "npub" {
			return "", fmt.Errorf("personal owner %q is not a valid npub: check it was copied whole", s)
		}
		return v.(string), nil
	}
	if !event.IsHex(s, 64) {
		return "", fmt.Errorf("personal owner %q: give the owner's npub1… (or 64 lowercase hex digits)", s)
	}
	return s, nil
}

func (c PersonalConfig) validate() error {
	if c.Owner == "" {
		if c.PrivateReads {
			return fmt.Errorf("--private-reads needs --personal <owner npub>")
		}
		return nil
	}
	if _, err := OwnerHex(c.Owner); err != nil {
		return err
	}
	if c.NP2PListen != "" && c.NP2PListen != "off" {
		if _, _, err := net.SplitHostPort(c.NP2PListen); err != nil {
			return fmt.Errorf("--np2p-listen %q: want host:port (or off)", c.NP2PListen)
		}
	}
	if c.MaxEvents < 0 {
		return fmt.Errorf("--personal-max-events must not be negative (0 means %d)", DefaultPersonalMaxEvents)
	}
	return nil
}

// personalNode is the node's personal side.
type personalNode struct {
	pol   personal.Policy
	st    store.Store
	mu    sync.Mutex
	cache *personal.Cache
	// evicted counts others' events removed past the cap; refused counts
	// client writes refused.
	evicted, refused atomic.Uint64
	follows          follows
	resend           *resender
	asks             *personal.Asks     // guarded by mu
	catchups         *personal.CatchUps // guarded by mu
	// catchUpAsks counts catch-up requests, catchUpFailed those no node
	// answered, caughtUp the events they brought that were new.
	catchUpAsks, catchUpFailed, caughtUp atomic.Uint64
}

// PersonalStatus is the personal side in /api/status.
type PersonalStatus struct {
	Owner        string `json:"owner"`
	PrivateReads bool   `json:"private_reads"`
	MaxEvents    int    `json:"max_events"`
	OthersHeld   int    `json:"others_held"`
	Evicted      uint64 `json:"evicted"`
	Refused      uint64 `json:"refused"`
	// Gossip is follower multicast: topics, messages and drops.
	Gossip *gossip.Stats `json:"gossip,omitempty"`
	// Resend is the queue of direct deliveries not yet made.
	Resend ResendStatus `json:"resend"`
	// CatchUp is what the node asked followed authors' nodes (or their
	// carriers) for what it missed: requests, those unanswered, and the
	// new events they brought.
	CatchUp CatchUpStatus `json:"catch_up"`
}

// CatchUpStatus counts catch-up requests.
type CatchUpStatus struct {
	Requests uint64 `json:"requests"`
	Failed   uint64 `json:"failed"`
	Events   uint64 `json:"events"`
}

// setupPersonal wires a personal node's hooks into the relay, and loads
// the events of others already stored into the cache (evicting past the
// cap).
func (n *Node) setupPersonal(ctx context.Context) error {
	cfg := n.cfg.Personal
	owner, _ := OwnerHex(cfg.Owner) // validated
	max := cfg.MaxEvents
	if max == 0 {
		max = DefaultPersonalMaxEvents
	}
	p := &personalNode{
		pol:   personal.Policy{Owner: owner, Node: n.key.Public, PrivateReads: cfg.PrivateReads},
		st:    n.store,
		cache: personal.NewCache(owner, max),
		asks:  personal.NewAsks(),

		catchups: personal.NewCatchUps(),
	}
	p.cache.Exempt(n.key.Public)
	r, err := openResend(n.cfg.DataDir)
	if err != nil {
		return err
	}
	p.resend = r
	n.personal = p
	var held []*nostr.Event
	err = n.store.Query(ctx, nostr.Filter{}, 0, func(raw []byte) error {
		var ev nostr.Event
		if err := ev.UnmarshalJSON(raw); err != nil {
			return nil
		}
		held = append(held, &nostr.Event{ID: ev.ID, PubKey: ev.PubKey, CreatedAt: ev.CreatedAt})
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the stored events for the personal cache: %w", err)
	}
	var out []string
	for _, ev := range held {
		out = append(out, p.cache.Add(ev)...)
	}
	if err := p.evict(ctx, out); err != nil {
		return err
	}
	n.relay.RejectEvent = append(n.relay.RejectEvent, p.checkWrite)
	n.relay.RejectRead = append(n.relay.RejectRead, func(c *relay.Conn) (bool, string) {
		ok, why := p.pol.MayRead(c.AuthedPubkeys())
		return !ok, why
	})
	n.relay.OnEvent = append(n.relay.OnEvent, n.gossipEvent, func(ev *nostr.Event) {
		if nostr.IsEphemeralKind(ev.Kind) {
			return
		}
		p.mu.Lock()
		out := p.cache.Add(ev)
		p.mu.Unlock()
		if err := p.evict(context.Background(), out); err != nil {
			n.log.Warn("evicting others' events past the personal cap", "err", err)
		}
	})
	return nil
}

// checkWrite is the relay's RejectEvent hook: a client may publish only as
// the owner; the node's own publications (c nil: its records, and what the
// overlay delivered, verified there) pass.
func (p *personalNode) checkWrite(c *relay.Conn, ev *nostr.Event) (bool, string) {
	if c == nil {
		return false, ""
	}
	if ok, why := p.pol.FromClient(ev); !ok {
		p.refused.Add(1)
		return true, why
	}
	return false, ""
}

func (p *personalNode) evict(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	k, err := store.Evict(ctx, p.st, ids)
	p.evicted.Add(uint64(k))
	return err
}

func (p *personalNode) status(g *gossip.Node) *PersonalStatus {
	p.mu.Lock()
	held := p.cache.Len()
	p.mu.Unlock()
	var gs *gossip.Stats
	if g != nil {
		s := g.Stats()
		gs = &s
	}
	return &PersonalStatus{
		Gossip:       gs,
		Resend:       p.resend.status(),
		CatchUp:      CatchUpStatus{Requests: p.catchUpAsks.Load(), Failed: p.catchUpFailed.Load(), Events: p.caughtUp.Load()},
		Owner:        p.pol.Owner,
		PrivateReads: p.pol.PrivateReads,
		MaxEvents:    p.cache.Max(),
		OthersHeld:   held,
		Evicted:      p.evicted.Load(),
		Refused:      p.refused.Load(),
	}
}

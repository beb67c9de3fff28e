// Package gossip is follower multicast for personal nodes over GossipSub
// (go-libp2p-pubsub): one topic per author (personal.Topic), each message
// one signed Nostr event as its NIP-01 JSON, libp2p's own message signing
// off. A node subscribes to the authors its owner follows and publishes its
// owner's events on the owner's topic, so a post costs messages in
// proportion to its author's followers, not to the network.
//
// Every message is checked before it is delivered or forwarded: decoded,
// its id and signature verified, and its author matched against the topic
// (personal.Policy.FromOverlay); a bad one is rejected, which GossipSub's
// peer scoring counts against the peer that sent it. The message id is the
// event id joined with its signature (see ID): a copy of an event with a
// forged signature gets an id of its own, so it cannot take the genuine
// event's place in GossipSub's seen-message cache, which records an id
// before the validators run.
//
// Nodes find each other per topic through a Finder (the DHT: each node
// provides the hash of every topic it is on, and looks up the providers of
// a topic it has no peers on), then GossipSub meshes them.
//
//	g, _ := gossip.New(ctx, gossip.Config{Host: h, Policy: pol, Deliver: store, Finder: dht})
//	g.Follow(author)            // subscribe: author's posts reach Deliver
//	g.Publish(ctx, ownEvent)    // on the owner's topic
//	g.Close()
package gossip

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/personal"
)

// Finder finds the nodes on a topic: p2p.Host's DHT provider records, keyed
// by TopicKey.
type Finder interface {
	Provide(ctx context.Context, key [32]byte) error
	FindProviders(ctx context.Context, key [32]byte, max int) ([]peer.AddrInfo, error)
}

// TopicKey is a topic's DHT key: the SHA-256 of its name.
func TopicKey(topic string) [32]byte { return sha256.Sum256([]byte(topic)) }

// Config is what a gossip node needs.
type Config struct {
	Host host.Host
	// Policy checks what arrives (FromOverlay); Policy.Owner's topic is
	// the one Publish uses.
	Policy personal.Policy
	// Deliver stores a verified event from a followed author's topic.
	Deliver func(ctx context.Context, ev *nostr.Event) error
	// Serve answers a direct request for stored events (nil: none are
	// served).
	Serve func(ctx context.Context, f nostr.Filter) ([]*nostr.Event, error)
	// Finder finds the other nodes of a topic, and the owner's node for a
	// direct delivery; nil: only peers already connected are used, and
	// direct requests reach nobody.
	Finder Finder
	// Rediscover is how often a topic with no peer is looked up again
	// (default 30 s); ProvideEvery how often its record is renewed
	// (default 12 h).
	Rediscover   time.Duration
	ProvideEvery time.Duration
	// Broadcast is NostrP2P's mode, for small networks: every node is on
	// one topic (personal.BroadcastTopic), the owner's events go there,
	// and everything arriving there is delivered; Follow joins nothing.
	Broadcast bool
	// Meshed, when set, is called (in a goroutine of the node's, never
	// from GossipSub's loop) with an author whose topic's mesh went from
	// no peer to a first: the node has just found, or found again, a node
	// carrying that author, and can ask it for what it missed (GossipSub
	// does not replay). Calls for one author may come together.
	Meshed func(author string)
	Logger *slog.Logger
}

// Stats are a gossip node's counters.
type Stats struct {
	Topics []string `json:"topics"`
	// Received counts event messages that arrived from peers (before any
	// check, duplicates included); ReceivedBytes their data.
	Received      uint64 `json:"received"`
	ReceivedBytes uint64 `json:"received_bytes"`
	// Sent counts event messages sent to peers (forwarding included);
	// SendDropped those GossipSub dropped because a peer's queue was full.
	Sent        uint64 `json:"sent"`
	SentBytes   uint64 `json:"sent_bytes"`
	SendDropped uint64 `json:"send_dropped"`
	// Delivered counts events handed to Deliver and stored; Published the
	// owner's events published.
	Delivered uint64 `json:"delivered"`
	Published uint64 `json:"published"`
	// Dropped counts messages refused by the checks, by reason: decode,
	// signature (id or signature), topic (an author not the topic's).
	Dropped map[string]uint64 `json:"dropped"`
	// Direct requests (DirectProtocol): events delivered to other users'
	// nodes, received for the owner, refused, and requests for events
	// served.
	DirectSent     uint64 `json:"direct_sent"`
	DirectReceived uint64 `json:"direct_received"`
	DirectRefused  uint64 `json:"direct_refused"`
	Served         uint64 `json:"served"`
}

// Node is a running gossip node.
type Node struct {
	cfg  Config
	log  *slog.Logger
	ps   *pubsub.PubSub
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu     sync.Mutex
	topics map[string]*joined
	// What the tracer keeps, under tmu (never held across a call into
	// GossipSub, whose event loop runs the tracer): the topics joined,
	// event messages received per topic, and GossipSub's mesh per topic
	// as its grafts and prunes report it.
	tmu         sync.Mutex
	joinedSet   map[string]bool
	recvByTopic map[string]uint64
	mesh        map[string]map[peer.ID]bool
	meshed      map[string]bool // authors for Meshed, not yet handed over
	meshedKick  chan struct{}

	received, receivedBytes, sent, sentBytes atomic.Uint64
	delivered, published                     atomic.Uint64
	dropDecode, dropSig, dropTopic           atomic.Uint64
	directIn, directOut, directRefused       atomic.Uint64
	served, sendDropped                      atomic.Uint64
}

type joined struct {
	t      *pubsub.Topic
	sub    *pubsub.Subscription
	cancel context.CancelFunc
}

// ID is the GossipSub message id of an event: its id and signature, so a
// copy with a forged signature is a different message. Data that is not an
// event gets the hash of its bytes.
func ID(data []byte) string {
	var ev nostr.Event
	if err := ev.UnmarshalJSON(data); err == nil && len(ev.ID) == 64 && len(ev.Sig) == 128 {
		return ev.ID + ev.Sig
	}
	h := sha256.Sum256(data)
	return "x" + hex.EncodeToString(h[:])
}

// New starts GossipSub on cfg.Host; everything it runs ends with ctx or
// Close.
func New(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Host == nil || cfg.Deliver == nil || !event.IsHex(cfg.Policy.Owner, 64) {
		return nil, errors.New("gossip: Host, Deliver and Policy.Owner (64 hex digits) are required")
	}
	if cfg.Rediscover <= 0 {
		cfg.Rediscover = 30 * time.Second
	}
	if cfg.ProvideEvery <= 0 {
		cfg.ProvideEvery = 12 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	g := &Node{cfg: cfg, log: cfg.Logger, topics: map[string]*joined{},
		joinedSet: map[string]bool{}, recvByTopic: map[string]uint64{}, mesh: map[string]map[peer.ID]bool{},
		meshed: map[string]bool{}, meshedKick: make(chan struct{}, 1)}
	g.ctx, g.stop = context.WithCancel(ctx)
	ps, err := pubsub.NewGossipSub(g.ctx, cfg.Host,
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(func(m *pb.Message) string { return ID(m.Data) }),
		pubsub.WithPeerExchange(true),
		// Off by default in this version: a post made before the mesh
		// formed (its first heartbeat) would reach nobody.
		pubsub.WithFloodPublish(true),
		pubsub.WithRawTracer(tracer{g}),
	)
	if err != nil {
		g.stop()
		return nil, fmt.Errorf("starting gossipsub: %w", err)
	}
	g.ps = ps
	if cfg.Broadcast {
		if _, err := g.join(personal.BroadcastTopic); err != nil {
			g.stop()
			return nil, err
		}
	}
	cfg.Host.SetStreamHandler(DirectProtocol, g.serveDirect)
	if cfg.Meshed != nil {
		g.wg.Add(1)
		go func() { defer g.wg.Done(); g.handMeshed() }()
	}
	if cfg.Finder != nil {
		g.wg.Add(1)
		go func() { defer g.wg.Done(); g.provideHome() }()
	}
	return g, nil
}

// Close leaves every topic and waits for the node's goroutines.
func (g *Node) Close() {
	g.cfg.Host.RemoveStreamHandler(DirectProtocol)
	g.stop()
	g.wg.Wait()
}

// provideHome keeps the owner's home record in the DHT: at once (retried
// every Rediscover until it succeeds), then every ProvideEvery.
func (g *Node) provideHome() {
	key := HomeKey(g.cfg.Policy.Owner)
	for {
		wait := g.cfg.ProvideEvery
		if err := g.cfg.Finder.Provide(g.ctx, key); err != nil {
			g.log.Debug("providing the owner's home record", "err", err)
			wait = g.cfg.Rediscover
		}
		select {
		case <-g.ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// Follow subscribes to the topics of authors: their events reach Deliver.
// In broadcast mode it only checks the keys: every author's events arrive
// on the one topic.
func (g *Node) Follow(authors ...string) error {
	var errs []error
	if g.cfg.Broadcast {
		for _, a := range authors {
			if !event.IsHex(a, 64) {
				errs = append(errs, fmt.Errorf("gossip: author %q is not 64 hex digits", a))
			}
		}
		return errors.Join(errs...)
	}
	for _, a := range authors {
		if !event.IsHex(a, 64) {
			errs = append(errs, fmt.Errorf("gossip: author %q is not 64 hex digits", a))
			continue
		}
		if _, err := g.join(personal.Topic(a)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Unfollow leaves the topics of authors (the owner's own stays).
func (g *Node) Unfollow(authors ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, a := range authors {
		if a == g.cfg.Policy.Owner {
			continue
		}
		j := g.topics[personal.Topic(a)]
		if j == nil || j.sub == nil {
			continue
		}
		j.cancel()
		j.sub.Cancel()
		j.sub = nil
	}
}

// Publish sends an event of the owner on the owner's topic. The event is
// checked as a receiver would check it.
func (g *Node) Publish(ctx context.Context, ev *nostr.Event) error {
	if ev.PubKey != g.cfg.Policy.Owner {
		return fmt.Errorf("gossip: only the owner's events are published here, not %.16s…'s", ev.PubKey)
	}
	topic := personal.Topic(ev.PubKey)
	if g.cfg.Broadcast {
		topic = personal.BroadcastTopic
	}
	j, err := g.join(topic)
	if err != nil {
		return err
	}
	raw, err := ev.MarshalJSON()
	if err != nil {
		return err
	}
	if err := j.t.Publish(ctx, raw); err != nil {
		return fmt.Errorf("publishing %s: %w", ev.ID, err)
	}
	g.published.Add(1)
	return nil
}

// ReceivedOn counts the event messages received on a topic, duplicates
// and refused ones included; "" counts those of topics never joined.
func (g *Node) ReceivedOn(topic string) uint64 {
	g.tmu.Lock()
	defer g.tmu.Unlock()
	return g.recvByTopic[topic]
}

// Mesh lists this node's GossipSub mesh peers on a topic, the peers it
// forwards that topic's messages to.
func (g *Node) Mesh(topic string) []peer.ID {
	g.tmu.Lock()
	defer g.tmu.Unlock()
	var out []peer.ID
	for p := range g.mesh[topic] {
		out = append(out, p)
	}
	return out
}

// Peers lists the peers known on author's topic.
func (g *Node) Peers(author string) []peer.ID { return g.ps.ListPeers(personal.Topic(author)) }

// TopicPeers lists the peers known on a topic.
func (g *Node) TopicPeers(topic string) []peer.ID { return g.ps.ListPeers(topic) }

// Stats reports the counters.
func (g *Node) Stats() Stats {
	g.mu.Lock()
	var ts []string
	for name, j := range g.topics {
		if j.sub != nil {
			ts = append(ts, name)
		}
	}
	g.mu.Unlock()
	slices.Sort(ts)
	return Stats{
		Topics:   ts,
		Received: g.received.Load(), ReceivedBytes: g.receivedBytes.Load(),
		Sent: g.sent.Load(), SentBytes: g.sentBytes.Load(), SendDropped: g.sendDropped.Load(),
		Delivered: g.delivered.Load(), Published: g.published.Load(),
		Dropped:    map[string]uint64{"decode": g.dropDecode.Load(), "signature": g.dropSig.Load(), "topic": g.dropTopic.Load()},
		DirectSent: g.directOut.Load(), DirectReceived: g.directIn.Load(), DirectRefused: g.directRefused.Load(),
		Served: g.served.Load(),
	}
}

// join subscribes to a topic, with its reader and its discovery, unless it
// is subscribed already. A topic's handle and validator, once made, stay
// for the node's life (GossipSub refuses a second handle or validator).
func (g *Node) join(name string) (*joined, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	j := g.topics[name]
	if j != nil && j.sub != nil {
		return j, nil
	}
	if err := g.ctx.Err(); err != nil {
		return nil, fmt.Errorf("gossip: closed: %w", err)
	}
	if j == nil {
		g.tmu.Lock()
		g.joinedSet[name] = true
		g.tmu.Unlock()
		err := g.ps.RegisterTopicValidator(name, g.validate, pubsub.WithValidatorTimeout(2*time.Second), pubsub.WithValidatorConcurrency(64))
		if err != nil {
			return nil, fmt.Errorf("gossip: validator for %s: %w", name, err)
		}
		t, err := g.ps.Join(name)
		if err != nil {
			return nil, fmt.Errorf("gossip: joining %s: %w", name, err)
		}
		j = &joined{t: t}
		g.topics[name] = j
	}
	sub, err := j.t.Subscribe()
	if err != nil {
		return nil, fmt.Errorf("gossip: subscribing to %s: %w", name, err)
	}
	ctx, cancel := context.WithCancel(g.ctx)
	j.sub, j.cancel = sub, cancel
	g.wg.Add(2)
	go func() { defer g.wg.Done(); g.read(ctx, sub) }()
	go func() { defer g.wg.Done(); g.discover(ctx, name) }()
	return j, nil
}

// validate checks a message before it is delivered or forwarded.
func (g *Node) validate(_ context.Context, _ peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	ev, err := event.Decode(m.Data)
	if err != nil {
		g.dropDecode.Add(1)
		return pubsub.ValidationReject
	}
	if m.GetTopic() != personal.Topic(ev.PubKey) && m.GetTopic() != personal.BroadcastTopic {
		g.dropTopic.Add(1)
		return pubsub.ValidationReject
	}
	if ok, _ := g.cfg.Policy.FromOverlay(ev, m.GetTopic()); !ok { // id and signature
		g.dropSig.Add(1)
		return pubsub.ValidationReject
	}
	m.ValidatorData = ev
	return pubsub.ValidationAccept
}

// read hands what arrives on a topic to Deliver.
func (g *Node) read(ctx context.Context, sub *pubsub.Subscription) {
	self := g.cfg.Host.ID()
	for {
		m, err := sub.Next(ctx)
		if err != nil {
			return
		}
		if m.ReceivedFrom == self {
			continue
		}
		ev, ok := m.ValidatorData.(*nostr.Event)
		if !ok {
			continue
		}
		if err := g.cfg.Deliver(ctx, ev); err != nil {
			if ctx.Err() == nil {
				g.log.Debug("storing an event from the overlay", "id", ev.ID, "err", err)
			}
			continue
		}
		g.delivered.Add(1)
	}
}

// WantPeers is how many peers on a topic a node looks for: below it, it
// looks the topic's providers up again.
const WantPeers = 4

// discover provides the topic and, while it has fewer than WantPeers peers
// on it, looks up and dials the nodes that provide it: every Rediscover
// while lookups bring new peers (or it has none), less often (doubling, up
// to 16 times) while they bring nobody new.
func (g *Node) discover(ctx context.Context, name string) {
	f := g.cfg.Finder
	if f == nil {
		return
	}
	key := TopicKey(name)
	var provided time.Time
	wait := g.cfg.Rediscover
	for {
		if time.Since(provided) >= g.cfg.ProvideEvery {
			if err := f.Provide(ctx, key); err != nil {
				g.log.Debug("providing a topic", "topic", name, "err", err)
			} else {
				provided = time.Now()
			}
		}
		peers := g.ps.ListPeers(name)
		if len(peers) < WantPeers {
			fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			found, err := f.FindProviders(fctx, key, 2*WantPeers)
			cancel()
			if err != nil {
				g.log.Debug("finding a topic's nodes", "topic", name, "err", err)
			}
			fresh := 0
			for _, ai := range found {
				if ai.ID == g.cfg.Host.ID() || len(ai.Addrs) == 0 || slices.Contains(peers, ai.ID) {
					continue
				}
				fresh++
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				if err := g.cfg.Host.Connect(cctx, ai); err != nil {
					g.log.Debug("dialling a topic's node", "peer", ai.ID, "err", err)
				}
				cancel()
			}
			if fresh > 0 || len(peers) == 0 {
				wait = g.cfg.Rediscover
			} else {
				wait = min(2*wait, 16*g.cfg.Rediscover)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// handMeshed hands the authors the tracer noted to Meshed.
func (g *Node) handMeshed() {
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-g.meshedKick:
		}
		g.tmu.Lock()
		var as []string
		for a := range g.meshed {
			as = append(as, a)
		}
		clear(g.meshed)
		g.tmu.Unlock()
		slices.Sort(as)
		for _, a := range as {
			g.cfg.Meshed(a)
		}
	}
}

// tracer counts event messages on the wire.
type tracer struct{ g *Node }

func (t tracer) RecvRPC(rpc *pubsub.RPC) {
	for _, m := range rpc.GetPublish() {
		t.g.received.Add(1)
		t.g.receivedBytes.Add(uint64(len(m.GetData())))
		t.g.tmu.Lock()
		topic := m.GetTopic()
		if !t.g.joinedSet[topic] {
			topic = "" // a topic this node never joined: counted together
		}
		t.g.recvByTopic[topic]++
		t.g.tmu.Unlock()
	}
}

func (t tracer) SendRPC(rpc *pubsub.RPC, _ peer.ID) {
	for _, m := range rpc.GetPublish() {
		t.g.sent.Add(1)
		t.g.sentBytes.Add(uint64(len(m.GetData())))
	}
}

// Graft, Prune, Leave and RemovePeer keep the node's view of its mesh
// (Mesh). GossipSub calls them from its event loop; tmu is never held
// across a call into GossipSub.
func (t tracer) Graft(p peer.ID, topic string) {
	t.g.tmu.Lock()
	defer t.g.tmu.Unlock()
	m := t.g.mesh[topic]
	if m == nil {
		m = map[peer.ID]bool{}
		t.g.mesh[topic] = m
	}
	if len(m) == 0 && t.g.cfg.Meshed != nil && strings.HasPrefix(topic, personal.TopicPrefix) {
		t.g.meshed[strings.TrimPrefix(topic, personal.TopicPrefix)] = true
		select {
		case t.g.meshedKick <- struct{}{}:
		default:
		}
	}
	m[p] = true
}

func (t tracer) Prune(p peer.ID, topic string) {
	t.g.tmu.Lock()
	defer t.g.tmu.Unlock()
	delete(t.g.mesh[topic], p)
}

func (t tracer) Leave(topic string) {
	t.g.tmu.Lock()
	defer t.g.tmu.Unlock()
	delete(t.g.mesh, topic)
}

func (t tracer) RemovePeer(p peer.ID) {
	t.g.tmu.Lock()
	defer t.g.tmu.Unlock()
	for _, m := range t.g.mesh {
		delete(m, p)
	}
}

func (tracer) AddPeer(peer.ID, protocol.ID)             {}
func (tracer) OnNewOutboundStream(peer.ID, protocol.ID) {}
func (tracer) OnClosedOutboundStream(peer.ID)           {}
func (tracer) Join(string)                              {}
func (tracer) ValidateMessage(*pubsub.Message)          {}
func (tracer) DeliverMessage(*pubsub.Message)           {}
func (tracer) RejectMessage(*pubsub.Message, string)    {}
func (tracer) DuplicateMessage(*pubsub.Message)         {}
func (tracer) ThrottlePeer(peer.ID)                     {}
func (tracer) DropRPC(*pubsub.RPC, peer.ID)             {}
func (tracer) UndeliverableMessage(*pubsub.Message)     {}

package node

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/cairn-nostr/cairn/gossip"
	"github.com/cairn-nostr/cairn/identity"
	"github.com/cairn-nostr/cairn/personal"
	"github.com/cairn-nostr/cairn/relay/client"
)

func signedBy(t *testing.T, k identity.Key, kind int, at nostr.Timestamp, content string) *nostr.Event {
	t.Helper()
	ev := &nostr.Event{Kind: kind, CreatedAt: at, Tags: nostr.Tags{}, Content: content}
	if err := ev.Sign(k.Secret); err != nil {
		t.Fatal(err)
	}
	return ev
}

func stored(t *testing.T, n *Node, ev *nostr.Event) bool {
	t.Helper()
	var found bool
	err := n.store.Query(context.Background(), nostr.Filter{IDs: []string{ev.ID}}, 0, func([]byte) error {
		found = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestPersonalWrites: a personal node's relay takes the owner's events and
// refuses another key's with restricted:; what the node publishes in
// process (the overlay's deliveries) passes; past the cap the oldest events
// of others are evicted, never the owner's.
func TestPersonalWrites(t *testing.T) {
	owner, other := identity.Generate(), identity.Generate()
	cfg := TestingConfig(t)
	cfg.Personal = PersonalConfig{Owner: owner.Npub(), MaxEvents: 2}
	n := startNode(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, n.RelayURL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	now := nostr.Now()
	mine := signedBy(t, owner, 1, now-1000, "mine")
	if err := c.Publish(ctx, "EVENT", mine); err != nil {
		t.Fatalf("the owner's post: %v", err)
	}
	theirs := signedBy(t, other, 1, now, "theirs")
	err = c.Publish(ctx, "EVENT", theirs)
	if !errors.Is(err, client.ErrRefused) || !strings.Contains(err.Error(), "restricted:") {
		t.Fatalf("another key's post: %v", err)
	}
	if stored(t, n, theirs) {
		t.Fatal("the refused event was stored")
	}
	// Overlay deliveries come in process; three of others with a cap of 2.
	var others []*nostr.Event
	for i := range 3 {
		ev := signedBy(t, identity.Generate(), 1, now+nostr.Timestamp(i), "followed")
		others = append(others, ev)
		if err := n.Relay().Publish(ctx, ev); err != nil {
			t.Fatalf("in-process publish: %v", err)
		}
	}
	if stored(t, n, others[0]) || !stored(t, n, others[1]) || !stored(t, n, others[2]) {
		t.Fatal("the oldest event of others was not the one evicted")
	}
	if !stored(t, n, mine) {
		t.Fatal("the owner's older event was evicted")
	}
	st := n.Status().Personal
	if st == nil || st.Evicted != 1 || st.OthersHeld != 2 || st.Refused != 1 || st.Owner != owner.Public {
		t.Fatalf("status %+v", st)
	}
}

// TestPersonalCapAtStart: a node restarted with a lower cap evicts the
// oldest events of others it held.
func TestPersonalCapAtStart(t *testing.T) {
	owner := identity.Generate()
	cfg := TestingConfig(t)
	cfg.Personal = PersonalConfig{Owner: owner.Public, MaxEvents: 10}
	n := startNode(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var evs []*nostr.Event
	for i := range 4 {
		ev := signedBy(t, identity.Generate(), 1, nostr.Timestamp(1000+i), "x")
		evs = append(evs, ev)
		if err := n.Relay().Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	cfg.Personal.MaxEvents = 1
	m, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop(context.Background())
	for i, ev := range evs {
		if stored(t, m, ev) != (i == 3) {
			t.Fatalf("event %d: stored %v", i, !(i == 3))
		}
	}
}

// TestPersonalPrivateReads: with --private-reads a read needs AUTH as the
// owner: none gets auth-required:, another key restricted:.
func TestPersonalPrivateReads(t *testing.T) {
	owner, other := identity.Generate(), identity.Generate()
	cfg := TestingConfig(t)
	cfg.Personal = PersonalConfig{Owner: owner.Npub(), PrivateReads: true}
	n := startNode(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dial := func() *client.Conn {
		c, err := client.Dial(ctx, n.RelayURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	c := dial()
	if _, err := c.Query(ctx, nostr.Filter{}); err == nil || !strings.Contains(err.Error(), "auth-required:") {
		t.Fatalf("unauthenticated read: %v", err)
	}
	c = dial()
	err := c.PublishAs(ctx, signedBy(t, other, 1, nostr.Now(), "x"), other.Secret)
	if err == nil || !strings.Contains(err.Error(), "restricted:") {
		t.Fatalf("another key's post after AUTH: %v", err)
	}
	if _, err := c.Query(ctx, nostr.Filter{}); err == nil || !strings.Contains(err.Error(), "restricted:") {
		t.Fatalf("another key's read: %v", err)
	}
	c = dial()
	mine := signedBy(t, owner, 1, nostr.Now(), "mine")
	if err := c.PublishAs(ctx, mine, owner.Secret); err != nil {
		t.Fatal(err)
	}
	got, err := c.Query(ctx, nostr.Filter{Authors: []string{owner.Public}})
	if err != nil || len(got) != 1 || got[0].ID != mine.ID {
		t.Fatalf("the owner's read: %v %v", got, err)
	}
}

func TestPersonalConfig(t *testing.T) {
	for _, p := range []PersonalConfig{
		{Owner: "npub1nope"},
		{Owner: strings.Repeat("A", 64)},
		{PrivateReads: true},
		{Owner: strings.Repeat("a", 64), MaxEvents: -1},
	} {
		cfg := TestingConfig(t)
		cfg.Personal = p
		if err := cfg.Validate(); err == nil {
			t.Errorf("%+v was accepted", p)
		}
	}
}

// personalNode starts a personal node of owner bootstrapped to hub.
func startPersonal(t *testing.T, owner identity.Key, hub *Node) *Node {
	t.Helper()
	cfg := TestingConfig(t)
	cfg.Personal = PersonalConfig{Owner: owner.Public, Rediscover: 300 * time.Millisecond}
	for _, m := range hub.Host().Addrs() {
		cfg.P2P.Bootstrap = append(cfg.P2P.Bootstrap, m.String())
	}
	n := startNode(t, cfg)
	connectedTo(t, n, hub.Host().ID().String())
	return n
}

// publishTo publishes ev to n's relay as a client does.
func publishTo(t *testing.T, ctx context.Context, n *Node, ev *nostr.Event) {
	t.Helper()
	cl, err := client.Dial(ctx, n.RelayURL())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Publish(ctx, "EVENT", ev); err != nil {
		t.Fatal(err)
	}
}

// waitStored waits (bounded) until n stores ev.
func waitStored(t *testing.T, n *Node, ev *nostr.Event, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !stored(t, n, ev) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; status %+v", what, n.Status().Personal.Gossip)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPersonalBroadcast: in broadcast mode a post reaches a node whose
// owner follows nobody.
func TestPersonalBroadcast(t *testing.T) {
	hub := startNode(t, TestingConfig(t))
	ka, kb := identity.Generate(), identity.Generate()
	start := func(owner identity.Key) *Node {
		cfg := TestingConfig(t)
		cfg.Personal = PersonalConfig{Owner: owner.Public, Rediscover: 300 * time.Millisecond, Broadcast: true}
		for _, m := range hub.Host().Addrs() {
			cfg.P2P.Bootstrap = append(cfg.P2P.Bootstrap, m.String())
		}
		return startNode(t, cfg)
	}
	a, b := start(ka), start(kb)
	waitCond(t, "A among B's peers on the broadcast topic", func() bool {
		return slices.Contains(b.gossip.TopicPeers(personal.BroadcastTopic), a.Host().ID())
	})
	post := signedBy(t, kb, 1, nostr.Now(), "to everyone")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, b.RelayURL())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Publish(ctx, "EVENT", post); err != nil {
		t.Fatal(err)
	}
	waitStored(t, a, post, "B's post on A's node")
	t.Logf("A mesh on the broadcast topic: %d peers", len(a.gossip.Mesh(personal.BroadcastTopic)))
}

// TestPersonalFollowers: three personal nodes that know only a hub. A's
// owner publishes a follow list naming B; A's node finds B's through the
// DHT and B's owner's post reaches A's relay, live to A's subscribed
// client. C's node, which follows nobody, receives no message.
func TestPersonalFollowers(t *testing.T) {
	hub := startNode(t, TestingConfig(t))
	ka, kb, kc := identity.Generate(), identity.Generate(), identity.Generate()
	a, b, c := startPersonal(t, ka, hub), startPersonal(t, kb, hub), startPersonal(t, kc, hub)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	publish := func(n *Node, ev *nostr.Event) { t.Helper(); publishTo(t, ctx, n, ev) }
	follow := &nostr.Event{Kind: 3, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"p", kb.Public}}}
	if err := follow.Sign(ka.Secret); err != nil {
		t.Fatal(err)
	}
	publish(a, follow)
	deadline := time.Now().Add(30 * time.Second)
	for !slices.Contains(a.gossip.Peers(kb.Public), b.Host().ID()) {
		if time.Now().After(deadline) {
			t.Fatal("A's node never found B's on B's topic")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A's owner's client, subscribed, sees B's post arrive live.
	live := make(chan string, 4)
	sub, err := client.Dial(ctx, a.RelayURL())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ready := make(chan struct{})
	go sub.Subscribe(ctx, nostr.Filter{Authors: []string{kb.Public}}, func(ev *nostr.Event) { live <- ev.ID }, func() { close(ready) })
	<-ready
	post := signedBy(t, kb, 1, nostr.Now(), "to my followers")
	publish(b, post)
	waitStored(t, a, post, "B's post on A's node")
	select {
	case id := <-live:
		if id != post.ID {
			t.Fatalf("live event %s", id)
		}
	case <-ctx.Done():
		t.Fatal("A's subscribed client never saw B's post")
	}
	if got := c.Status().Personal.Gossip; got.Received != 0 || stored(t, c, post) {
		t.Fatalf("C, following nobody, received %d messages", got.Received)
	}
	if got := hub.Status().Personal; got != nil {
		t.Fatal("the hub is not a personal node")
	}
	st := a.Status().Personal.Gossip
	if st.Delivered != 1 || !slices.Contains(st.Topics, personal.Topic(kb.Public)) {
		t.Fatalf("A's gossip %+v", st)
	}
	// A post through B's NostrP2P API reaches A's node the same way.
	second := signedBy(t, kb, 1, nostr.Now(), "through NostrP2P's API")
	if code, body := (np2pClient{t, b.NP2PURL()}).publish(second); code != 200 {
		t.Fatalf("B's API: %d %s", code, body)
	}
	waitStored(t, a, second, "B's API post on A's node")
	t.Logf("A %+v; B %+v", st, b.Status().Personal.Gossip)

	// C's NostrP2P client asks for B's profile, which C lacks: the answer
	// is empty (as NostrP2P's), and C's node fetches it from B's node.
	profile := signedBy(t, kb, 0, nostr.Now(), `{"name":"b"}`)
	publish(b, profile)
	served := b.Status().Personal.Gossip.Served // A's catch-ups count too
	cc := np2pClient{t, c.NP2PURL()}
	if got := cc.req(`{"kinds":[0],"authors":["` + kb.Public + `"]}`); len(got) != 0 {
		t.Fatalf("C had B's profile already: %+v", got)
	}
	waitStored(t, c, profile, "B's profile fetched by C's node")
	got := cc.req(`{"kinds":[0],"authors":["` + kb.Public + `"]}`)
	if len(got) != 1 || got[0].Content != profile.Content {
		t.Fatalf("C's answer: %+v", got)
	}
	if st := b.Status().Personal.Gossip; st.Served < served+1 {
		t.Fatalf("B served %d requests, %d before C's", st.Served, served)
	}
}

// np2pEvent is NostrP2P's Np2pEvent as its documentation and wire show it,
// declared here apart from package np2p: the test is a client of its own.
type np2pEvent struct {
	Id         [32]byte
	Pubkey     [32]byte
	Created_at float64
	Kind       uint16
	Tags       [][][]byte
	Content    string
	Sig        *[64]byte
}

// np2pClient speaks NostrP2P's REST + MessagePack API.
type np2pClient struct {
	t    *testing.T
	base string
}

func (c np2pClient) publish(ev *nostr.Event) (int, string) {
	c.t.Helper()
	raw, _ := ev.MarshalJSON()
	resp, err := http.Post(c.base+"/publish", "application/json", bytes.NewReader(raw))
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (c np2pClient) req(filter string) []np2pEvent {
	c.t.Helper()
	r, _ := http.NewRequest("POST", c.base+"/req", strings.NewReader(filter))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept-Encoding", "gzip")
	tr := &http.Transport{DisableCompression: true} // read the gzip ourselves
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(r)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Access-Control-Allow-Origin") == "" {
		c.t.Fatalf("/req: %d %v", resp.StatusCode, resp.Header)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	var out struct{ Evts []np2pEvent }
	if err := msgpack.NewDecoder(zr).Decode(&out); err != nil {
		c.t.Fatal(err)
	}
	return out.Evts
}

// TestNostrP2PAPI: a client of NostrP2P's API publishes to a personal node
// and reads back, MessagePack in gzip; another key's event is refused; the
// relay's websocket sees what the API took.
func TestNostrP2PAPI(t *testing.T) {
	owner, other := identity.Generate(), identity.Generate()
	cfg := TestingConfig(t)
	cfg.Personal = PersonalConfig{Owner: owner.Npub(), PrivateReads: true}
	n := startNode(t, cfg)
	if n.NP2PURL() == "" || n.NP2PURL() == n.URL() {
		t.Fatalf("API at %q", n.NP2PURL())
	}
	c := np2pClient{t, n.NP2PURL()}
	post := signedBy(t, owner, 1, nostr.Now(), "posted through NostrP2P's API")
	if code, body := c.publish(post); code != 200 || !strings.Contains(body, "SUCCESS") {
		t.Fatalf("publish: %d %s", code, body)
	}
	if code, body := c.publish(signedBy(t, other, 1, nostr.Now(), "not the owner")); code != 403 || !strings.Contains(body, "restricted:") {
		t.Fatalf("another key: %d %s", code, body)
	}
	if code, _ := c.publish(signedBy(t, owner, 30023, nostr.Now(), "a kind the API does not take")); code != 400 {
		t.Fatalf("kind 30023: %d", code)
	}
	got := c.req(`{"kinds":[40000],"limit":10}`)
	if len(got) != 1 || got[0].Content != post.Content || got[0].Sig == nil || hex.EncodeToString(got[0].Id[:]) != post.ID {
		t.Fatalf("share-all: %+v", got)
	}
	got = c.req(`{"kinds":[1],"ids":["` + post.ID + `"],"authors":["` + owner.Public + `"]}`)
	if len(got) != 1 || got[0].Sig != nil || got[0].Kind != 1 {
		t.Fatalf("post by id: %+v", got)
	}
	if !stored(t, n, post) {
		t.Fatal("the API's post is not in the relay's store")
	}
	if st := n.Status().Personal; st.Refused != 1 {
		t.Fatalf("refused %d", st.Refused)
	}
}

// fakeClock is the resend queue's clock in tests.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPersonalResend: a reply to a user whose node is down waits in the
// resend queue, which survives the sender's restart; once the user's node
// is back and the 5 minutes have passed, the reply reaches it directly
// (the user does not follow the sender).
func TestPersonalResend(t *testing.T) {
	hub := startNode(t, TestingConfig(t))
	ka, kb := identity.Generate(), identity.Generate()
	clock := &fakeClock{}
	clock.ns.Store(time.Now().UnixNano())
	cfgFor := func(owner identity.Key) Config {
		cfg := TestingConfig(t)
		cfg.Personal = PersonalConfig{Owner: owner.Public, Rediscover: 300 * time.Millisecond, Now: clock.now, ResendCheck: 50 * time.Millisecond}
		for _, m := range hub.Host().Addrs() {
			cfg.P2P.Bootstrap = append(cfg.P2P.Bootstrap, m.String())
		}
		return cfg
	}
	cfgA, cfgB := cfgFor(ka), cfgFor(kb)
	b := startNode(t, cfgB)
	bPost := signedBy(t, kb, 1, nostr.Now(), "anyone there?")
	if err := b.Relay().Publish(context.Background(), bPost); err != nil {
		t.Fatal(err)
	}
	if err := b.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	a := startNode(t, cfgA)
	connectedTo(t, a, hub.Host().ID().String())
	reply := &nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Content: "yes", Tags: nostr.Tags{{"e", bPost.ID, "", "root"}, {"p", kb.Public}}}
	if err := reply.Sign(ka.Secret); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, a.RelayURL())
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Publish(ctx, "EVENT", reply); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	waitCond(t, "a failed first send", func() bool { return a.Status().Personal.Resend.Failed >= 1 })
	if st := a.Status().Personal.Resend; st.Pending != 1 {
		t.Fatalf("resend %+v", st)
	}
	// The queue survives a restart of the sender.
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	a = startNode(t, cfgA)
	if st := a.Status().Personal.Resend; st.Pending != 1 {
		t.Fatalf("after restart: %+v", st)
	}
	b = startNode(t, cfgB)
	connectedTo(t, b, hub.Host().ID().String())
	if stored(t, b, reply) {
		t.Fatal("delivered before its time")
	}
	// B's home record of this run is in the DHT before the retry is due.
	waitCond(t, "B's home record with its new addresses", func() bool {
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		found, _ := a.Host().FindProviders(fctx, gossip.HomeKey(kb.Public), 4)
		for _, ai := range found {
			for _, m := range ai.Addrs {
				if ai.ID == b.Host().ID() && slices.ContainsFunc(b.Host().AddrInfo().Addrs, m.Equal) {
					return true
				}
			}
		}
		return false
	})
	failed := a.Status().Personal.Resend.Failed
	clock.advance(personal.FirstRetry)
	waitCond(t, "the retry", func() bool { st := a.Status().Personal.Resend; return st.Pending == 0 || st.Failed > failed })
	if st := a.Status().Personal.Resend; st.Pending != 0 {
		t.Fatalf("the retry failed: %+v", st)
	}
	waitStored(t, b, reply, "the reply on B's node after the retry")
	waitCond(t, "an empty queue", func() bool { return a.Status().Personal.Resend.Pending == 0 })
	if st := b.Status().Personal.Gossip; st.DirectReceived != 1 {
		t.Fatalf("B %+v", st)
	}
}

// TestPersonalCatchUp: GossipSub does not replay, so a follower's node that
// was down during a post asks for what it missed when it returns. A and D
// follow B, C follows nobody. With A down, B posts; A, back, gets the post
// from B's node. With A down again B posts and D receives it; with B's
// node down too, A, back, gets the second post from D, which carries B.
// C's node receives nothing and asks nothing.
func TestPersonalCatchUp(t *testing.T) {
	hub := startNode(t, TestingConfig(t))
	ka, kb, kc, kd := identity.Generate(), identity.Generate(), identity.Generate(), identity.Generate()
	cfgFor := func(owner identity.Key) Config {
		cfg := TestingConfig(t)
		cfg.Personal = PersonalConfig{Owner: owner.Public, Rediscover: 300 * time.Millisecond}
		for _, m := range hub.Host().Addrs() {
			cfg.P2P.Bootstrap = append(cfg.P2P.Bootstrap, m.String())
		}
		return cfg
	}
	cfgA, cfgB := cfgFor(ka), cfgFor(kb)
	a, b, c, d := startNode(t, cfgA), startNode(t, cfgB), startNode(t, cfgFor(kc)), startNode(t, cfgFor(kd))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	publish := func(n *Node, ev *nostr.Event) { t.Helper(); publishTo(t, ctx, n, ev) }
	followB := func(n *Node, k identity.Key) {
		t.Helper()
		ev := &nostr.Event{Kind: 3, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"p", kb.Public}}}
		if err := ev.Sign(k.Secret); err != nil {
			t.Fatal(err)
		}
		publish(n, ev)
		waitCond(t, "a follower's node on B's topic", func() bool {
			return slices.Contains(n.gossip.Peers(kb.Public), b.Host().ID())
		})
	}
	followB(a, ka)
	followB(d, kd)

	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	first := signedBy(t, kb, 1, nostr.Now(), "posted while A's node was down")
	publish(b, first)
	waitStored(t, d, first, "B's first post on D's node, live")
	a = startNode(t, cfgA)
	waitStored(t, a, first, "B's first post on A's node after it returned")
	// A asked B's node. The post may have come by GossipSub's own gossip
	// instead (peers announce what they received in the last few
	// heartbeats to a node that joins the mesh), when A returned quickly
	// enough: then the catch-up finds nothing new.
	if st := a.Status().Personal.CatchUp; st.Requests < 1 {
		t.Fatalf("A's catch-up %+v", st)
	}

	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	second := signedBy(t, kb, 1, nostr.Now()+1, "posted while A's node was down, and then B's went down")
	publish(b, second)
	waitStored(t, d, second, "B's second post on D's node, live")
	if err := b.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	a = startNode(t, cfgA)
	waitStored(t, a, second, "B's second post on A's node, from D")
	if st := d.Status().Personal.Gossip; st.Served < 1 {
		t.Fatalf("D served nothing: %+v", st)
	}
	if stored(t, c, first) || stored(t, c, second) {
		t.Fatal("C's node, following nobody, has B's posts")
	}
	if st := c.Status().Personal; st.Gossip.Received != 0 || st.CatchUp.Requests != 0 {
		t.Fatalf("C's node: gossip %+v, catch-up %+v", st.Gossip, st.CatchUp)
	}
	t.Logf("A's catch-up %+v; D's gossip %+v", a.Status().Personal.CatchUp, d.Status().Personal.Gossip)
}

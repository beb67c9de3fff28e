package gossip

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/personal"
)

func newHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func connectAll(t *testing.T, hs ...host.Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, a := range hs {
		for _, b := range hs[i+1:] {
			if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

type key struct{ sk, pk string }

func newKey(n int) key {
	sk := fmt.Sprintf("%064x", n+1)
	pk, _ := nostr.GetPublicKey(sk)
	return key{sk, pk}
}

func (k key) sign(t *testing.T, kind int, content string) *nostr.Event {
	t.Helper()
	ev := &nostr.Event{Kind: kind, CreatedAt: nostr.Now(), Tags: nostr.Tags{}, Content: content}
	if err := ev.Sign(k.sk); err != nil {
		t.Fatal(err)
	}
	return ev
}

// member is a gossip node with what it delivered.
type member struct {
	g   *Node
	h   host.Host
	mu  sync.Mutex
	got []*nostr.Event
	new chan struct{}
}

func (m *member) has(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.ContainsFunc(m.got, func(e *nostr.Event) bool { return e.ID == id })
}

func newMember(t *testing.T, ctx context.Context, owner key) *member {
	t.Helper()
	m := &member{h: newHost(t), new: make(chan struct{}, 64)}
	g, err := New(ctx, Config{Host: m.h, Policy: personal.Policy{Owner: owner.pk}, Deliver: func(_ context.Context, ev *nostr.Event) error {
		m.mu.Lock()
		m.got = append(m.got, ev)
		m.mu.Unlock()
		select {
		case m.new <- struct{}{}:
		default:
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	m.g = g
	return m
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitUpTo(t, 20*time.Second, what, cond)
}

func waitUpTo(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFollowerMulticast: A follows B and gets B's posts; C, connected to
// both but following nobody, receives no message of B's topic at all.
func TestFollowerMulticast(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ka, kb, kc := newKey(1), newKey(2), newKey(3)
	a, b, c := newMember(t, ctx, ka), newMember(t, ctx, kb), newMember(t, ctx, kc)
	connectAll(t, a.h, b.h, c.h)
	// Each node is on its owner's topic, as a personal node is.
	for _, m := range []struct {
		m *member
		k key
	}{{a, ka}, {b, kb}, {c, kc}} {
		if err := m.m.g.Follow(m.k.pk); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.g.Follow(kb.pk); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B on A's view of B's topic", func() bool { return slices.Contains(a.g.Peers(kb.pk), b.h.ID()) })
	waitFor(t, "A on B's view of B's topic", func() bool { return slices.Contains(b.g.Peers(kb.pk), a.h.ID()) })
	post := kb.sign(t, 1, "hello followers")
	if err := b.g.Publish(ctx, post); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B's post at A", func() bool { return a.has(post.ID) })
	if err := b.g.Publish(ctx, ka.sign(t, 1, "not mine")); err == nil {
		t.Fatal("B's node published A's event")
	}
	// C learns of B's topic only through B and A; it got no message.
	if st := c.g.Stats(); st.Received != 0 || c.has(post.ID) {
		t.Fatalf("C, a non-follower, received %d messages", st.Received)
	}
	st := a.g.Stats()
	if st.Delivered != 1 || st.Received < 1 {
		t.Fatalf("A's stats %+v", st)
	}
	t.Logf("post: B sent %d message(s), A received %d, C received %d", b.g.Stats().Sent, st.Received, c.g.Stats().Received)

	// Unfollowed, B's next post no longer reaches A.
	a.g.Unfollow(kb.pk)
	waitFor(t, "A off B's topic", func() bool { return !slices.Contains(b.g.Peers(kb.pk), a.h.ID()) })
	later := kb.sign(t, 1, "after unfollow")
	if err := b.g.Publish(ctx, later); err != nil {
		t.Fatal(err)
	}
	// A marker on A's own topic, published by A's owner's other node (C
	// here, following A), proves the network has moved past B's post.
	if err := c.g.Follow(ka.pk); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "C on A's topic", func() bool { return slices.Contains(a.g.Peers(ka.pk), c.h.ID()) })
	marker := ka.sign(t, 1, "marker")
	if err := a.g.Publish(ctx, marker); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the marker at C", func() bool { return c.has(marker.ID) })
	if a.has(later.ID) {
		t.Fatal("A received B's post after unfollowing")
	}
}

// TestForgedDropped: events forged onto B's topic by a peer running plain
// GossipSub are dropped and counted: a tampered event, another author's
// event, bytes that are no event. A copy of B's post with a forged
// signature, sent first, does not keep the genuine post from arriving.
func TestForgedDropped(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ka, kb, kx := newKey(1), newKey(2), newKey(9)
	a, b := newMember(t, ctx, ka), newMember(t, ctx, kb)
	xh := newHost(t)
	x, err := pubsub.NewGossipSub(ctx, xh, pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign), pubsub.WithNoAuthor(), pubsub.WithFloodPublish(true),
		pubsub.WithMessageIdFn(func(m *pb.Message) string { return ID(m.Data) }))
	if err != nil {
		t.Fatal(err)
	}
	connectAll(t, a.h, b.h, xh)
	if err := b.g.Follow(kb.pk); err != nil {
		t.Fatal(err)
	}
	if err := a.g.Follow(kb.pk); err != nil {
		t.Fatal(err)
	}
	xt, err := x.Join(personal.Topic(kb.pk))
	if err != nil {
		t.Fatal(err)
	}
	xs, err := xt.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer xs.Cancel()
	waitFor(t, "the forger on A's view of B's topic", func() bool { return slices.Contains(a.g.Peers(kb.pk), xh.ID()) })
	waitFor(t, "B on A's view of B's topic", func() bool { return slices.Contains(a.g.Peers(kb.pk), b.h.ID()) })

	post := kb.sign(t, 1, "genuine")
	forgedSig := *post
	forgedSig.Sig = strings.Repeat("ab", 64)
	tampered := *kb.sign(t, 1, "original")
	tampered.Content = "changed"
	wrongAuthor := kx.sign(t, 1, "on someone else's topic")
	for _, ev := range []*nostr.Event{&forgedSig, &tampered, wrongAuthor} {
		raw, _ := ev.MarshalJSON()
		if err := xt.Publish(ctx, raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := xt.Publish(ctx, []byte("not an event")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "four drops at A", func() bool {
		d := a.g.Stats().Dropped
		return d["signature"]+d["topic"]+d["decode"] == 4
	})
	if d := a.g.Stats().Dropped; d["signature"] != 2 || d["topic"] != 1 || d["decode"] != 1 {
		t.Fatalf("drops %v", d)
	}
	if err := b.g.Publish(ctx, post); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the genuine post at A after its forged copy", func() bool { return a.has(post.ID) })
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ev := range a.got {
		if ev.Sig != post.Sig || ev.Content != "genuine" {
			t.Fatalf("A delivered a forged event %+v", ev)
		}
	}
}

func TestIDs(t *testing.T) {
	ev := newKey(1).sign(t, 1, "x")
	raw, _ := ev.MarshalJSON()
	if ID(raw) != ev.ID+ev.Sig {
		t.Fatal("an event's message id is not its id and signature")
	}
	if a, b := ID([]byte("a")), ID([]byte("b")); a == b || !strings.HasPrefix(a, "x") {
		t.Fatal("non-events share an id")
	}
	if _, err := New(context.Background(), Config{}); err == nil {
		t.Fatal("an empty config was accepted")
	}
}

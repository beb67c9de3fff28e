package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/identity"
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

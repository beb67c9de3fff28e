package gossip

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/personal"
)

// TestTwoNodesMesh: two nodes on one topic graft each other, and Mesh
// reports it on both sides (it did not while the tracer dropped GossipSub's
// Graft and Prune).
func TestTwoNodesMesh(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ka, kb := newKey(1), newKey(2)
	a, b := newMember(t, ctx, ka), newMember(t, ctx, kb)
	connectAll(t, a.h, b.h)
	if err := b.g.Follow(kb.pk); err != nil {
		t.Fatal(err)
	}
	if err := a.g.Follow(kb.pk); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		if slices.Contains(a.g.Mesh(personal.Topic(kb.pk)), b.h.ID()) && slices.Contains(b.g.Mesh(personal.Topic(kb.pk)), a.h.ID()) {
			return
		}
		time.Sleep(100 * time.Millisecond) // polls a view GossipSub's heartbeat (1 s) updates
	}
	t.Fatalf("no mesh: a=%v b=%v", a.g.Mesh(personal.Topic(kb.pk)), b.g.Mesh(personal.Topic(kb.pk)))
}

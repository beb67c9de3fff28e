package relay

import (
	"context"
	"errors"
	"testing"

	"github.com/nbd-wtf/go-nostr"
)

// TestPublishInProcess: Publish runs the websocket EVENT pipeline: the
// event is stored, reaches websocket subscribers and in-process listeners,
// and the relay's policy refuses what it would refuse from a client.
func TestPublishInProcess(t *testing.T) {
	r, url := testRelay(t, func(c *Config) { c.MaxContentLength = 10 })
	c := dial(t, url)
	c.send("REQ", "s", nostr.Filter{Kinds: []int{1}})
	c.expect("EOSE")
	heard := make(chan *nostr.Event, 4)
	ctx, cancel := context.WithCancel(context.Background())
	r.Listen(ctx, nostr.Filter{Kinds: []int{1}}, func(ev *nostr.Event) { heard <- ev })

	ev := signed(t, 1, "hello")
	if err := r.Publish(context.Background(), &ev); err != nil {
		t.Fatal(err)
	}
	if got := <-heard; got.ID != ev.ID {
		t.Fatalf("listener heard %s", got.ID)
	}
	if msg := c.expect("EVENT"); len(msg) < 3 {
		t.Fatalf("subscriber got %v", msg)
	}
	if got := c.query(nostr.Filter{IDs: []string{ev.ID}}); len(got) != 1 {
		t.Fatalf("stored: %d events", len(got))
	}
	// Refusals carry the relay's reason.
	long := signed(t, 1, "far too long for this relay")
	if err := r.Publish(context.Background(), &long); !errors.Is(err, ErrRefused) {
		t.Fatalf("over-long content: %v", err)
	}
	bad := signed(t, 1, "x")
	bad.Content = "y"
	if err := r.Publish(context.Background(), &bad); !errors.Is(err, ErrRefused) {
		t.Fatalf("bad id: %v", err)
	}
	// A copy of a stored event is accepted (NIP-01), not a refusal.
	if err := r.Publish(context.Background(), &ev); err != nil {
		t.Fatalf("duplicate: %v", err)
	}
	// A listener whose context ended hears nothing more.
	cancel()
	next := signed(t, 1, "later")
	if err := r.Publish(context.Background(), &next); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-heard:
		t.Fatalf("a cancelled listener heard %s", got.ID)
	default:
	}
}

package webrtc

import (
	"context"
	"errors"
	"sync"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/relay/client"
)

// SignalChannel carries signaling events: any Nostr relay (RelayClient), or a
// fake in tests.
type SignalChannel interface {
	// Publish sends a signed event and returns once the relay accepted it.
	Publish(ctx context.Context, ev *nostr.Event) error
	// Subscribe calls fn for every event matching f until ctx ends or the
	// connection fails; fn must not block for long. ready, when not nil,
	// is called once the subscription is live (the relay's EOSE).
	Subscribe(ctx context.Context, f nostr.Filter, fn func(*nostr.Event), ready func()) error
}

// RelayClient is a SignalChannel over one relay's websocket (NIP-01):
// one connection for publishing, one per subscription. It is safe for
// concurrent use.
type RelayClient struct {
	URL string

	mu   sync.Mutex
	conn *client.Conn // publishing connection, dialed lazily
}

// Close closes the publishing connection.
func (c *RelayClient) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// Publish implements SignalChannel. A refusal wraps client.ErrRefused; any
// other failure drops the connection so the next Publish dials afresh.
func (c *RelayClient) Publish(ctx context.Context, ev *nostr.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		conn, err := client.Dial(ctx, c.URL)
		if err != nil {
			return err
		}
		c.conn = conn
	}
	err := c.conn.Publish(ctx, "EVENT", ev)
	if err != nil && !errors.Is(err, client.ErrRefused) {
		c.conn.Close()
		c.conn = nil
	}
	return err
}

// Subscribe implements SignalChannel, on a connection of its own.
func (c *RelayClient) Subscribe(ctx context.Context, f nostr.Filter, fn func(*nostr.Event), ready func()) error {
	conn, err := client.Dial(ctx, c.URL)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Subscribe(ctx, f, fn, ready)
}

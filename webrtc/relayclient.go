package webrtc

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/relay/client"
)

// SignalChannel carries signaling events: any Nostr relay (RelayClient), or a
// fake in tests.
type SignalChannel interface {
	// Publish sends a signed event and returns once the relay accepted it.
	Publish(ctx context.Context, ev *nostr.Event) error
	// Subscribe calls fn for every event matching f until ctx ends or the
	// subscription ends for good (the channel closed, the relay refused
	// it); fn must not block for long. ready, when not nil, is called once
	// the subscription is live (the relay's EOSE).
	Subscribe(ctx context.Context, f nostr.Filter, fn func(*nostr.Event), ready func()) error
}

// RelayClient is a SignalChannel over one relay (NIP-01): one kept-alive
// client.Session, started at first use, carries the publishes and every
// subscription, and reconnects when the connection drops. It is safe for
// concurrent use; Close ends it.
//
//	rc := &RelayClient{URL: "wss://relay.example"}
//	defer rc.Close()
type RelayClient struct {
	URL string
	// SecretKey (hex), when set, answers the relay's NIP-42 AUTH challenge
	// when it refuses a signal or a subscription with auth-required:.
	SecretKey string

	once sync.Once
	s    atomic.Pointer[client.Session]
	err  error
}

// session starts the Session at first use (no I/O here: it connects in
// the background).
func (c *RelayClient) session() (*client.Session, error) {
	c.once.Do(func() {
		var s *client.Session
		s, c.err = client.NewSession(context.Background(), c.URL, client.SessionConfig{Secret: c.SecretKey})
		c.s.Store(s)
	})
	return c.s.Load(), c.err
}

// Close closes the connection; later calls return client.ErrClosed.
func (c *RelayClient) Close() {
	c.once.Do(func() { c.err = client.ErrClosed })
	if s := c.s.Load(); s != nil {
		s.Close()
	}
}

// Connected reports whether the relay connection is up now (false before
// first use).
func (c *RelayClient) Connected() bool {
	s := c.s.Load()
	return s != nil && s.Connected()
}

// Publish implements SignalChannel: it waits for the relay's OK, sending
// again after a reconnect, until ctx ends. A refusal wraps
// client.ErrRefused.
func (c *RelayClient) Publish(ctx context.Context, ev *nostr.Event) error {
	s, err := c.session()
	if err != nil {
		return err
	}
	return s.Publish(ctx, ev)
}

// Subscribe implements SignalChannel. The subscription outlives reconnects
// (client.Session.Subscribe).
func (c *RelayClient) Subscribe(ctx context.Context, f nostr.Filter, fn func(*nostr.Event), ready func()) error {
	s, err := c.session()
	if err != nil {
		return err
	}
	return s.Subscribe(ctx, f, fn, ready)
}

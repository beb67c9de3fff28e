//go:build js && wasm

package main

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/relay/client"
)

// homeRelay is the tab's relay as the core's home (peer.Events).
type homeRelay struct {
	url, secret string
	ctx         context.Context
	connected   atomic.Bool

	mu   sync.Mutex
	conn *client.Conn
}

func newHomeRelay(ctx context.Context, url, secret string) *homeRelay {
	return &homeRelay{ctx: ctx, url: url, secret: secret}
}

func isRefusal(err error) bool { return errors.Is(err, client.ErrRefused) }

func (h *homeRelay) Publish(ctx context.Context, ev *nostr.Event) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn == nil {
		c, err := client.Dial(ctx, h.url)
		if err != nil {
			h.connected.Store(false)
			return err
		}
		h.conn = c
	}
	err := h.conn.PublishAs(ctx, ev, h.secret)
	if err != nil && !isRefusal(err) {
		h.conn.Close()
		h.conn = nil
		h.connected.Store(false)
		return err
	}
	h.connected.Store(true)
	return err
}

func (h *homeRelay) Query(ctx context.Context, f nostr.Filter) ([]*nostr.Event, error) {
	c, err := client.Dial(ctx, h.url)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Query(ctx, f)
}

func (h *homeRelay) Subscribe(ctx context.Context, f nostr.Filter, fn func(*nostr.Event)) error {
	return h.subscribe(ctx, f, fn, nil)
}

func (h *homeRelay) subscribe(ctx context.Context, f nostr.Filter, fn func(*nostr.Event), ready func()) error {
	c, err := client.Dial(ctx, h.url)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Subscribe(ctx, f, fn, ready)
}

// signal is the home relay as the WebRTC signaling channel.
type signal struct{ *homeRelay }

func (s signal) Subscribe(ctx context.Context, f nostr.Filter, fn func(*nostr.Event), ready func()) error {
	return s.subscribe(ctx, f, fn, ready)
}

//go:build js && wasm

package main

import (
	"context"
	"errors"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/relay/client"
)

// homeRelay is the tab's relay over one kept-alive websocket
// (client.Session: always read, so pings are answered; redialled with
// backoff; publishes retried and subscriptions resumed across reconnects).
// It is the core's home (peer.Events) and, as it is, the WebRTC signaling
// channel.
type homeRelay struct{ *client.Session }

func newHomeRelay(ctx context.Context, url, secret string) (*homeRelay, error) {
	s, err := client.NewSession(ctx, url, client.SessionConfig{Secret: secret})
	if err != nil {
		return nil, err
	}
	return &homeRelay{s}, nil
}

func isRefusal(err error) bool { return errors.Is(err, client.ErrRefused) }

// events is the session as peer.Events.
type events struct{ *homeRelay }

func (e events) Subscribe(ctx context.Context, f nostr.Filter, fn func(*nostr.Event)) error {
	return e.Session.Subscribe(ctx, f, fn, nil)
}

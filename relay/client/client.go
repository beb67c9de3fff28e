// Package client is a small NIP-01 client of one relay: publish an event
// (answering a NIP-42 AUTH challenge when given a key), run a REQ to EOSE,
// follow a subscription, or exchange raw messages (NIP-77 negentropy). The
// node, the NIP-77 sync and WebRTC signaling all talk to relays through it;
// it builds for GOOS=js too.
//
// A Conn is one websocket, used by one goroutine at a time, read only while
// a call is reading: for one-shot exchanges. (go-nostr's Relay was not
// used: it races between Close and its own connection goroutine.)
//
//	c, err := client.Dial(ctx, "wss://relay.example")
//	defer c.Close()
//	err = c.PublishAs(ctx, ev, secretKey)   // ErrRefused / ErrAuthRequired
//	evs, err := c.Query(ctx, filter)         // until EOSE, not verified
//
// A Session is a connection kept alive for as long as it is needed: always
// read (the relay's pings are answered), dialled again with backoff when it
// drops, shared by concurrent publishes, queries and subscriptions, which
// carry over reconnects.
//
//	s, err := client.NewSession(ctx, "wss://relay.example", client.SessionConfig{Secret: sk})
//	defer s.Close()
//	err = s.Publish(ctx, ev)                 // retried until OK or ctx ends
//	err = s.Subscribe(ctx, filter, fn, ready) // resumed after each reconnect
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	websocket "github.com/cairn-nostr/cairn/internal/ws"
	"github.com/cairn-nostr/cairn/nostr"
)

// MaxMessage bounds one message read from a relay.
const MaxMessage = 16 << 20

var (
	// ErrRefused: the relay answered OK false; the error text carries its reason.
	ErrRefused = errors.New("relay refused the event")
	// ErrAuthRequired: the relay refused with auth-required: (wraps ErrRefused).
	ErrAuthRequired = fmt.Errorf("%w: auth-required", ErrRefused)
)

// Conn is one websocket to one relay.
type Conn struct {
	URL       string
	ws        *websocket.Conn
	challenge string // the relay's last AUTH challenge
	subs      int
}

// Dial connects to the relay at url.
func Dial(ctx context.Context, url string) (*Conn, error) {
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", url, err)
	}
	ws.SetReadLimit(MaxMessage)
	return &Conn{URL: url, ws: ws}, nil
}

// Close closes the connection.
// Natively it sends a close frame and waits for the relay's briefly; under
// js it only starts closing (the browser's close event may come late, and
// nothing should wait for it).
func (c *Conn) Close() {
	if !waitIO {
		closeNow(c.ws)
		return
	}
	c.ws.Close(websocket.StatusNormalClosure, "")
}

// Send writes one message: its elements, JSON-encoded as an array.
func (c *Conn) Send(ctx context.Context, msg ...any) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("sending to %s: %w", c.URL, err)
	}
	return nil
}

// Read returns the next message's label and elements, skipping what is not
// a JSON array and remembering AUTH challenges on the way.
func (c *Conn) Read(ctx context.Context) (string, []json.RawMessage, error) {
	for {
		_, b, err := c.ws.Read(ctx)
		if err != nil {
			return "", nil, fmt.Errorf("reading from %s: %w", c.URL, err)
		}
		var msg []json.RawMessage
		if json.Unmarshal(b, &msg) != nil || len(msg) == 0 {
			continue
		}
		label := Str(msg[0])
		if label == "AUTH" && len(msg) > 1 {
			c.challenge = Str(msg[1])
			continue
		}
		return label, msg, nil
	}
}

// Str decodes a JSON string element ("" if it is not one).
func Str(raw json.RawMessage) string {
	var s string
	json.Unmarshal(raw, &s)
	return s
}

// Publish sends ev with verb (EVENT, or AUTH) and waits for its OK. A
// refusal wraps ErrRefused (ErrAuthRequired for auth-required:) and carries
// the relay's reason.
func (c *Conn) Publish(ctx context.Context, verb string, ev *nostr.Event) error {
	if err := c.Send(ctx, verb, ev); err != nil {
		return err
	}
	for {
		label, msg, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if label != "OK" || len(msg) < 4 || Str(msg[1]) != ev.ID {
			continue
		}
		var ok bool
		json.Unmarshal(msg[2], &ok)
		if ok {
			return nil
		}
		reason := Str(msg[3])
		if strings.HasPrefix(reason, "auth-required:") {
			return fmt.Errorf("%w: %s", ErrAuthRequired, reason)
		}
		return fmt.Errorf("%w: %s", ErrRefused, reason)
	}
}

// PublishAs publishes ev, answering the relay's AUTH challenge with secret
// and trying again if the relay requires it.
func (c *Conn) PublishAs(ctx context.Context, ev *nostr.Event, secret string) error {
	err := c.Publish(ctx, "EVENT", ev)
	if !errors.Is(err, ErrAuthRequired) || c.challenge == "" {
		return err
	}
	auth := nostr.Event{
		Kind:      nostr.KindClientAuthentication,
		CreatedAt: nostr.Now(),
		Tags:      nostr.Tags{{"relay", c.URL}, {"challenge", c.challenge}},
	}
	if err := auth.Sign(secret); err != nil {
		return err
	}
	if err := c.Publish(ctx, "AUTH", &auth); err != nil {
		return fmt.Errorf("authenticating: %w", err)
	}
	return c.Publish(ctx, "EVENT", ev)
}

// Query runs one REQ until EOSE and returns the events (not verified).
func (c *Conn) Query(ctx context.Context, f nostr.Filter) ([]*nostr.Event, error) {
	var out []*nostr.Event
	err := c.req(ctx, f, true, func(ev *nostr.Event) { out = append(out, ev) }, nil)
	return out, err
}

// Subscribe runs one REQ and calls fn for every event it brings, stored or
// live, until ctx ends or the relay closes the subscription or the
// connection. ready, when not nil, is called at the relay's EOSE. Events are
// not verified.
func (c *Conn) Subscribe(ctx context.Context, f nostr.Filter, fn func(*nostr.Event), ready func()) error {
	return c.req(ctx, f, false, fn, ready)
}

func (c *Conn) req(ctx context.Context, f nostr.Filter, untilEOSE bool, fn func(*nostr.Event), ready func()) error {
	c.subs++
	id := "cairn" + strconv.Itoa(c.subs)
	if err := c.Send(ctx, "REQ", id, f); err != nil {
		return err
	}
	if untilEOSE {
		defer c.Send(ctx, "CLOSE", id)
	}
	for {
		label, msg, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if len(msg) < 2 || Str(msg[1]) != id {
			continue
		}
		switch label {
		case "EVENT":
			if len(msg) < 3 {
				continue
			}
			var ev nostr.Event
			if json.Unmarshal(msg[2], &ev) == nil {
				fn(&ev)
			}
		case "EOSE":
			if untilEOSE {
				return nil
			}
			if ready != nil {
				ready()
				ready = nil
			}
		case "CLOSED":
			reason := ""
			if len(msg) > 2 {
				reason = Str(msg[2])
			}
			return fmt.Errorf("%s closed the subscription: %s", c.URL, reason)
		}
	}
}

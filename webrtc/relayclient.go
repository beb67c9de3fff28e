package webrtc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/coder/websocket"
	"github.com/nbd-wtf/go-nostr"
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

	mu sync.Mutex
	ws *websocket.Conn // publishing connection, dialed lazily
}

const maxRelayMessage = 1 << 20

// Close closes the publishing connection.
func (c *RelayClient) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ws != nil {
		c.ws.Close(websocket.StatusNormalClosure, "")
		c.ws = nil
	}
}

func (c *RelayClient) dial(ctx context.Context) (*websocket.Conn, error) {
	ws, _, err := websocket.Dial(ctx, c.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", c.URL, err)
	}
	ws.SetReadLimit(maxRelayMessage)
	return ws, nil
}

func send(ctx context.Context, ws *websocket.Conn, msg ...any) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	return ws.Write(ctx, websocket.MessageText, b)
}

func readMsg(ctx context.Context, ws *websocket.Conn) ([]json.RawMessage, string, error) {
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return nil, "", err
		}
		var msg []json.RawMessage
		if json.Unmarshal(b, &msg) != nil || len(msg) < 2 {
			continue
		}
		return msg, str(msg[0]), nil
	}
}

func str(raw json.RawMessage) string {
	var s string
	json.Unmarshal(raw, &s)
	return s
}

// Publish implements SignalChannel.
func (c *RelayClient) Publish(ctx context.Context, ev *nostr.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ws == nil {
		ws, err := c.dial(ctx)
		if err != nil {
			return err
		}
		c.ws = ws
	}
	err := c.publish(ctx, ev)
	if err != nil && !errors.Is(err, errRefused) {
		c.ws.CloseNow()
		c.ws = nil
	}
	return err
}

var errRefused = errors.New("relay refused the event")

func (c *RelayClient) publish(ctx context.Context, ev *nostr.Event) error {
	if err := send(ctx, c.ws, "EVENT", ev); err != nil {
		return fmt.Errorf("publishing to %s: %w", c.URL, err)
	}
	for {
		msg, label, err := readMsg(ctx, c.ws)
		if err != nil {
			return fmt.Errorf("publishing to %s: %w", c.URL, err)
		}
		if label != "OK" || len(msg) < 4 || str(msg[1]) != ev.ID {
			continue
		}
		var ok bool
		json.Unmarshal(msg[2], &ok)
		if !ok {
			return fmt.Errorf("%w: %s", errRefused, str(msg[3]))
		}
		return nil
	}
}

// Subscribe implements SignalChannel.
func (c *RelayClient) Subscribe(ctx context.Context, f nostr.Filter, fn func(*nostr.Event), ready func()) error {
	ws, err := c.dial(ctx)
	if err != nil {
		return err
	}
	defer ws.CloseNow()
	if err := send(ctx, ws, "REQ", "signal", f); err != nil {
		return err
	}
	for {
		msg, label, err := readMsg(ctx, ws)
		if err != nil {
			return err
		}
		if str(msg[1]) != "signal" {
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
			if ready != nil {
				ready()
				ready = nil
			}
		case "CLOSED":
			return fmt.Errorf("%s closed the subscription", c.URL)
		}
	}
}

package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/coder/websocket"
	"github.com/nbd-wtf/go-nostr"
)

// wsClient is the small NIP-01 client the node needs: publish an event
// (answering NIP-42 AUTH) and run a REQ to EOSE, over one websocket. It is
// used by one goroutine at a time. (go-nostr's Relay races between Close and
// its own connection goroutine.)
type wsClient struct {
	url       string
	ws        *websocket.Conn
	challenge string // the relay's last AUTH challenge
	subs      int
}

// maxRelayMessage bounds one message read from a relay.
const maxRelayMessage = 16 << 20

func dialRelay(ctx context.Context, url string) (*wsClient, error) {
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", url, err)
	}
	ws.SetReadLimit(maxRelayMessage)
	return &wsClient{url: url, ws: ws}, nil
}

func (c *wsClient) close() { c.ws.Close(websocket.StatusNormalClosure, "") }

func (c *wsClient) send(ctx context.Context, msg ...any) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// read returns the next message's label and elements, remembering AUTH
// challenges on the way.
func (c *wsClient) read(ctx context.Context) (string, []json.RawMessage, error) {
	for {
		_, b, err := c.ws.Read(ctx)
		if err != nil {
			return "", nil, fmt.Errorf("reading from %s: %w", c.url, err)
		}
		var msg []json.RawMessage
		if json.Unmarshal(b, &msg) != nil || len(msg) == 0 {
			continue
		}
		label := str(msg[0])
		if label == "AUTH" && len(msg) > 1 {
			c.challenge = str(msg[1])
			continue
		}
		return label, msg, nil
	}
}

func str(raw json.RawMessage) string {
	var s string
	json.Unmarshal(raw, &s)
	return s
}

// errAuthRequired: the relay answered auth-required.
var errAuthRequired = errors.New("auth-required")

// publish sends ev and waits for its OK. A refusal is an error carrying the
// relay's reason (wrapping errAuthRequired for auth-required:).
func (c *wsClient) publish(ctx context.Context, verb string, ev *nostr.Event) error {
	if err := c.send(ctx, verb, ev); err != nil {
		return err
	}
	for {
		label, msg, err := c.read(ctx)
		if err != nil {
			return err
		}
		if label != "OK" || len(msg) < 4 || str(msg[1]) != ev.ID {
			continue
		}
		var ok bool
		json.Unmarshal(msg[2], &ok)
		if ok {
			return nil
		}
		reason := str(msg[3])
		if len(reason) >= len("auth-required:") && reason[:len("auth-required:")] == "auth-required:" {
			return fmt.Errorf("%w: %s", errAuthRequired, reason)
		}
		return errors.New(reason)
	}
}

// publishAs publishes ev, answering the relay's AUTH challenge with secret
// and trying again if the relay requires it.
func (c *wsClient) publishAs(ctx context.Context, ev *nostr.Event, secret string) error {
	err := c.publish(ctx, "EVENT", ev)
	if !errors.Is(err, errAuthRequired) || c.challenge == "" {
		return err
	}
	auth := nostr.Event{
		Kind:      nostr.KindClientAuthentication,
		CreatedAt: nostr.Now(),
		Tags:      nostr.Tags{{"relay", c.url}, {"challenge", c.challenge}},
	}
	if err := auth.Sign(secret); err != nil {
		return err
	}
	if err := c.publish(ctx, "AUTH", &auth); err != nil {
		return fmt.Errorf("authenticating: %w", err)
	}
	return c.publish(ctx, "EVENT", ev)
}

// query runs one REQ until EOSE and returns the events (not yet verified).
func (c *wsClient) query(ctx context.Context, f nostr.Filter) ([]*nostr.Event, error) {
	c.subs++
	id := "cairn" + strconv.Itoa(c.subs)
	if err := c.send(ctx, "REQ", id, f); err != nil {
		return nil, err
	}
	defer c.send(ctx, "CLOSE", id)
	var out []*nostr.Event
	for {
		label, msg, err := c.read(ctx)
		if err != nil {
			return out, err
		}
		if len(msg) < 2 || str(msg[1]) != id {
			continue
		}
		switch label {
		case "EVENT":
			if len(msg) < 3 {
				continue
			}
			var ev nostr.Event
			if json.Unmarshal(msg[2], &ev) == nil {
				out = append(out, &ev)
			}
		case "EOSE":
			return out, nil
		case "CLOSED":
			reason := ""
			if len(msg) > 2 {
				reason = str(msg[2])
			}
			return out, fmt.Errorf("%s closed the query: %s", c.url, reason)
		}
	}
}

// subscribe runs one REQ and calls fn for every event it brings, stored or
// live, until ctx ends or the relay closes the subscription or the
// connection. Events are not verified.
func (c *wsClient) subscribe(ctx context.Context, f nostr.Filter, fn func(*nostr.Event)) error {
	c.subs++
	id := "cairn" + strconv.Itoa(c.subs)
	if err := c.send(ctx, "REQ", id, f); err != nil {
		return err
	}
	for {
		label, msg, err := c.read(ctx)
		if err != nil {
			return err
		}
		if len(msg) < 2 || str(msg[1]) != id {
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
		case "CLOSED":
			return fmt.Errorf("%s closed the subscription", c.url)
		}
	}
}

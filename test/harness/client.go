package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nbd-wtf/go-nostr"
)

// Wait is the default bound on one reply from a relay.
const Wait = 10 * time.Second

// Msg is one relay-to-client message: a JSON array, kept undecoded.
type Msg []json.RawMessage

// Label returns the first element ("EVENT", "OK", "EOSE", ...).
func (m Msg) Label() string { return m.Str(0) }

// Str returns element i as a string, or "" when it is not one.
func (m Msg) Str(i int) string {
	var s string
	if i < len(m) {
		json.Unmarshal(m[i], &s)
	}
	return s
}

func (m Msg) String() string {
	b, _ := json.Marshal(m)
	return string(b)
}

// Conn is a raw Nostr client over one websocket, for tests that need to see
// every frame. Messages are read in the background into an ordered queue.
type Conn struct {
	t      testing.TB
	ws     *websocket.Conn
	cancel context.CancelFunc
	in     chan Msg
	done   chan struct{} // closed when the reader stops
	mu     sync.Mutex
	err    error // why the reader stopped
}

// Dial connects to a relay and closes the connection at test cleanup.
func Dial(t testing.TB, url string) *Conn {
	t.Helper()
	c, err := DialErr(t, url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	return c
}

// DialErr is Dial returning the error instead of failing the test.
func DialErr(t testing.TB, url string) (*Conn, error) {
	dctx, dcancel := context.WithTimeout(context.Background(), Wait)
	defer dcancel()
	ws, _, err := websocket.Dial(dctx, url, nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(64 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	c := &Conn{t: t, ws: ws, cancel: cancel, in: make(chan Msg, 1<<16), done: make(chan struct{})}
	go c.read(ctx)
	t.Cleanup(c.Close)
	return c, nil
}

func (c *Conn) read(ctx context.Context) {
	defer close(c.done)
	defer close(c.in)
	for {
		_, data, err := c.ws.Read(ctx)
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		var m Msg
		if err := json.Unmarshal(data, &m); err != nil || len(m) == 0 {
			m = Msg{json.RawMessage(`"UNPARSEABLE"`), json.RawMessage(fmt.Sprintf("%q", data))}
		}
		select {
		case c.in <- m:
		case <-ctx.Done():
			return
		}
	}
}

// Close closes the websocket and waits for the reader to stop.
func (c *Conn) Close() {
	c.ws.Close(websocket.StatusNormalClosure, "")
	c.cancel()
	select {
	case <-c.done:
	case <-time.After(Wait):
	}
}

// Err reports why the connection stopped reading, or nil while it is open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Send writes one message made of parts, encoded as a JSON array.
func (c *Conn) Send(parts ...any) error {
	b, err := json.Marshal(parts)
	if err != nil {
		return err
	}
	return c.SendRaw(b)
}

// SendRaw writes one text frame as is.
func (c *Conn) SendRaw(b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// ErrTimeout is returned by Next when no message came in time.
var ErrTimeout = errors.New("no message from relay in time")

// Next returns the next message, ErrTimeout, or the error that closed the
// connection.
func (c *Conn) Next(timeout time.Duration) (Msg, error) {
	select {
	case m, ok := <-c.in:
		if !ok {
			return nil, fmt.Errorf("connection closed: %w", c.Err())
		}
		return m, nil
	case <-time.After(timeout):
		return nil, ErrTimeout
	}
}

// Expect returns the first message for which match is true, skipping others.
// It fails the test on a timeout or a closed connection.
func (c *Conn) Expect(match func(Msg) bool) Msg {
	c.t.Helper()
	deadline := time.Now().Add(Wait)
	for {
		m, err := c.Next(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("waiting for a reply: %v", err)
		}
		if match(m) {
			return m
		}
	}
}

// Publish sends an EVENT and returns the relay's OK for it.
func (c *Conn) Publish(ev nostr.Event) (ok bool, reason string) {
	c.t.Helper()
	if err := c.Send("EVENT", ev); err != nil {
		c.t.Fatalf("sending EVENT: %v", err)
	}
	m := c.Expect(func(m Msg) bool { return m.Label() == "OK" && m.Str(1) == ev.ID })
	var b bool
	json.Unmarshal(m[2], &b)
	return b, m.Str(3)
}

// Query sends a REQ, collects events until EOSE and closes the subscription.
// It fails the test on CLOSED, a timeout or a dropped connection.
func (c *Conn) Query(subID string, filters ...nostr.Filter) []nostr.Event {
	c.t.Helper()
	evs, err := c.QueryErr(subID, filters...)
	if err != nil {
		c.t.Fatal(err)
	}
	return evs
}

// QueryErr is Query returning an error instead of failing the test.
func (c *Conn) QueryErr(subID string, filters ...nostr.Filter) ([]nostr.Event, error) {
	parts := []any{"REQ", subID}
	for _, f := range filters {
		parts = append(parts, f)
	}
	if err := c.Send(parts...); err != nil {
		return nil, fmt.Errorf("sending REQ: %w", err)
	}
	var evs []nostr.Event
	deadline := time.Now().Add(Wait)
	for {
		m, err := c.Next(time.Until(deadline))
		if err != nil {
			return nil, fmt.Errorf("REQ %s: %w", subID, err)
		}
		if m.Str(1) != subID {
			continue
		}
		switch m.Label() {
		case "EVENT":
			var ev nostr.Event
			if err := json.Unmarshal(m[2], &ev); err != nil {
				return nil, fmt.Errorf("REQ %s: bad event %s: %w", subID, m[2], err)
			}
			evs = append(evs, ev)
		case "EOSE":
			c.Send("CLOSE", subID)
			return evs, nil
		case "CLOSED":
			return nil, fmt.Errorf("REQ %s: CLOSED %q", subID, m.Str(2))
		}
	}
}

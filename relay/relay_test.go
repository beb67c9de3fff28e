package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/store"
)

// testRelay runs a relay over a memory store on loopback.
func testRelay(t *testing.T, mod func(*Config)) (*Relay, string) {
	t.Helper()
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	st := store.NewMemory()
	r, err := New(cfg, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		r.Close()
		srv.Close()
		st.Close()
	})
	return r, "ws" + strings.TrimPrefix(srv.URL, "http")
}

// client is a raw websocket client that reads every message into a channel.
type client struct {
	t  *testing.T
	ws *websocket.Conn
	in chan []json.RawMessage
}

func dial(t *testing.T, url string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(64 << 20)
	c := &client{t: t, ws: ws, in: make(chan []json.RawMessage, 10000)}
	go func() {
		defer close(c.in)
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			var msg []json.RawMessage
			if err := json.Unmarshal(b, &msg); err != nil {
				t.Errorf("relay sent invalid JSON: %s", b)
				return
			}
			c.in <- msg
		}
	}()
	t.Cleanup(func() { ws.Close(websocket.StatusNormalClosure, "") })
	return c
}

func (c *client) raw(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) send(v ...any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.raw(string(b))
}

// expect returns the next message with the given verb, skipping others.
func (c *client) expect(verb string) []json.RawMessage {
	c.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case msg, ok := <-c.in:
			if !ok {
				c.t.Fatalf("connection closed while waiting for %s", verb)
			}
			if str(msg[0]) == verb {
				return msg
			}
		case <-timeout:
			c.t.Fatalf("no %s within 10 s", verb)
		}
	}
}

func str(r json.RawMessage) string {
	var s string
	json.Unmarshal(r, &s)
	return s
}

// publish sends ev and returns the OK's status and reason.
func (c *client) publish(ev nostr.Event) (bool, string) {
	c.t.Helper()
	c.send("EVENT", ev)
	for {
		m := c.expect("OK")
		if str(m[1]) == ev.ID {
			var ok bool
			json.Unmarshal(m[2], &ok)
			return ok, str(m[3])
		}
	}
}

// query runs a REQ and returns the events before EOSE.
func (c *client) query(filters ...nostr.Filter) []nostr.Event {
	c.t.Helper()
	sub := fmt.Sprintf("q%d", time.Now().UnixNano())
	args := []any{"REQ", sub}
	for _, f := range filters {
		args = append(args, f)
	}
	c.send(args...)
	var evs []nostr.Event
	for {
		select {
		case msg := <-c.in:
			switch str(msg[0]) {
			case "EVENT":
				var ev nostr.Event
				if err := json.Unmarshal(msg[2], &ev); err != nil {
					c.t.Fatal(err)
				}
				evs = append(evs, ev)
			case "EOSE":
				c.send("CLOSE", sub)
				return evs
			case "CLOSED":
				c.t.Fatalf("CLOSED: %s", msg[2])
			}
		case <-time.After(10 * time.Second):
			c.t.Fatal("no EOSE")
		}
	}
}

var testKey = nostr.GeneratePrivateKey()

func signed(t testing.TB, kind int, content string, tags ...nostr.Tag) nostr.Event {
	ev := nostr.Event{Kind: kind, Content: content, CreatedAt: nostr.Now(), Tags: nostr.Tags(tags)}
	if ev.Tags == nil {
		ev.Tags = nostr.Tags{}
	}
	if err := ev.Sign(testKey); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestPublishAndQuery(t *testing.T) {
	_, url := testRelay(t, nil)
	c := dial(t, url)
	ev := signed(t, 1, "hello")
	if ok, why := c.publish(ev); !ok {
		t.Fatalf("refused: %s", why)
	}
	got := c.query(nostr.Filter{Authors: []string{ev.PubKey}})
	if len(got) != 1 || got[0].ID != ev.ID || got[0].Content != "hello" {
		t.Fatalf("got %+v", got)
	}
	// NIP-01: a second copy is accepted, with a "duplicate:" message, and
	// neither stored nor broadcast again.
	sub := dial(t, url)
	sub.send("REQ", "live", nostr.Filter{Authors: []string{ev.PubKey}, Since: &ev.CreatedAt})
	if msg := sub.expect("EVENT"); len(msg) < 3 {
		t.Fatalf("stored event: %v", msg)
	}
	sub.expect("EOSE")
	if ok, why := c.publish(ev); !ok || !strings.HasPrefix(why, "duplicate:") {
		t.Fatalf("duplicate: %v %q", ok, why)
	}
	if got := c.query(nostr.Filter{IDs: []string{ev.ID}}); len(got) != 1 {
		t.Fatalf("duplicate stored again: %d copies", len(got))
	}
	marker := signed(t, 1, "after the duplicate")
	if ok, why := c.publish(marker); !ok {
		t.Fatalf("refused: %s", why)
	}
	if msg := sub.expect("EVENT"); !strings.Contains(string(msg[2]), marker.ID) {
		t.Fatalf("the duplicate was broadcast again: %s", msg[2])
	}
}

func TestLiveSubscription(t *testing.T) {
	_, url := testRelay(t, nil)
	sub, pub := dial(t, url), dial(t, url)
	sub.send("REQ", "live", nostr.Filter{Kinds: []int{1, 20001}})
	sub.expect("EOSE")
	for _, kind := range []int{1, 20001} {
		ev := signed(t, kind, "x")
		if ok, why := pub.publish(ev); !ok {
			t.Fatal(why)
		}
		m := sub.expect("EVENT")
		if str(m[1]) != "live" || !strings.Contains(string(m[2]), ev.ID) {
			t.Fatalf("got %s", m)
		}
	}
	// The ephemeral event was delivered but not stored.
	if got := pub.query(nostr.Filter{Kinds: []int{20001}}); len(got) != 0 {
		t.Fatalf("ephemeral event stored: %v", got)
	}
}

// TestRefusals: each bad input gets the right prefix and the connection
// keeps working afterwards.
func TestRefusals(t *testing.T) {
	_, url := testRelay(t, func(c *Config) {
		c.MaxSubscriptions = 2
		c.MaxFilters = 2
		c.MaxMessageBytes = 8192
		c.MinPowDifficulty = 0
	})
	c := dial(t, url)
	good := signed(t, 1, "fine")

	badSig := good
	badSig.Sig = strings.Repeat("ab", 64)
	badID := signed(t, 1, "tampered")
	badID.Content = "changed after signing"

	cases := []struct {
		name   string
		send   func()
		verb   string // OK, NOTICE or CLOSED
		prefix string
	}{
		{"malformed JSON", func() { c.raw(`["EVENT", {"id": `) }, "NOTICE", "invalid:"},
		{"not an array", func() { c.raw(`{"hello":1}`) }, "NOTICE", "invalid:"},
		{"unknown verb", func() { c.raw(`["HELLO"]`) }, "NOTICE", "invalid:"},
		{"bad signature", func() { c.send("EVENT", badSig) }, "OK", "invalid:"},
		{"bad id", func() { c.send("EVENT", badID) }, "OK", "invalid:"},
		{"wrong types", func() { c.raw(`["EVENT",{"id":"` + good.ID + `","pubkey":1}]`) }, "OK", "invalid:"},
		{"oversized", func() { c.raw(`["EVENT",` + strings.Repeat(" ", 20000) + `{}]`) }, "NOTICE", "invalid:"},
		{"too many filters", func() { c.send("REQ", "f", nostr.Filter{}, nostr.Filter{}, nostr.Filter{}) }, "CLOSED", "invalid:"},
		{"bad filter", func() { c.raw(`["REQ","g",{"ids":["abc"]}]`) }, "CLOSED", "invalid:"},
		{"too many subscriptions", func() {
			c.send("REQ", "s1", nostr.Filter{Limit: 1})
			c.send("REQ", "s2", nostr.Filter{Limit: 1})
			c.send("REQ", "s3", nostr.Filter{Limit: 1})
		}, "CLOSED", "rate-limited:"},
		{"auth event as EVENT", func() { c.send("EVENT", signed(t, 22242, "")) }, "OK", "invalid:"},
		{"expired", func() {
			c.send("EVENT", signed(t, 1, "old", nostr.Tag{"expiration", "1000"}))
		}, "OK", "invalid:"},
		{"future", func() {
			ev := nostr.Event{Kind: 1, CreatedAt: nostr.Now() + 3600, Tags: nostr.Tags{}}
			ev.Sign(testKey)
			c.send("EVENT", ev)
		}, "OK", "invalid:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			tc.send()
			m := c.expect(tc.verb)
			reason := str(m[len(m)-1])
			if !strings.HasPrefix(reason, tc.prefix) {
				t.Fatalf("%s %s: want prefix %q", tc.verb, m, tc.prefix)
			}
			if len(reason) < len(tc.prefix)+10 {
				t.Fatalf("reason %q does not say what to do", reason)
			}
		})
	}
	c.t = t
	c.send("CLOSE", "s1")
	c.send("CLOSE", "s2")
	// The connection and the store are unharmed.
	if ok, why := c.publish(good); !ok {
		t.Fatalf("after refusals: %s", why)
	}
	if got := c.query(nostr.Filter{IDs: []string{good.ID, badSig.ID, badID.ID}}); len(got) != 1 {
		t.Fatalf("store has %d events, want 1", len(got))
	}
}

func TestRateLimit(t *testing.T) {
	_, url := testRelay(t, func(c *Config) { c.EventsPerSecond = 5 })
	c := dial(t, url)
	limited := 0
	for i := 0; i < 30; i++ {
		c.send("EVENT", signed(t, 1, fmt.Sprint(i)))
	}
	for i := 0; i < 30; i++ {
		m := c.expect("OK")
		if r := str(m[3]); strings.HasPrefix(r, "rate-limited:") {
			limited++
		}
	}
	if limited < 15 {
		t.Fatalf("only %d of 30 events rate-limited at 5/s", limited)
	}
}

func TestPow(t *testing.T) {
	_, url := testRelay(t, func(c *Config) { c.MinPowDifficulty = 8 })
	c := dial(t, url)
	if ok, why := c.publish(signed(t, 1, "lazy")); ok || !strings.HasPrefix(why, "pow:") {
		t.Fatalf("%v %q", ok, why)
	}
	// Mine a nonce by brute force.
	pk, _ := nostr.GetPublicKey(testKey)
	for n := 0; ; n++ {
		ev := nostr.Event{PubKey: pk, Kind: 1, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"nonce", fmt.Sprint(n), "8"}}}
		ev.ID = ev.GetID()
		if strings.HasPrefix(ev.ID, "00") {
			ev.Sign(testKey)
			if ok, why := c.publish(ev); !ok {
				t.Fatalf("mined event refused: %s", why)
			}
			return
		}
	}
}

func TestAuth(t *testing.T) {
	for _, mode := range []AuthMode{AuthWrites, AuthAll} {
		t.Run(string(mode), func(t *testing.T) {
			_, url := testRelay(t, func(c *Config) { c.Auth = mode })
			c := dial(t, url)
			challenge := str(c.expect("AUTH")[1])
			ev := signed(t, 1, "hi")
			if ok, why := c.publish(ev); ok || !strings.HasPrefix(why, "auth-required:") {
				t.Fatalf("%v %q", ok, why)
			}
			c.send("REQ", "r", nostr.Filter{})
			if mode == AuthAll {
				if m := c.expect("CLOSED"); !strings.HasPrefix(str(m[2]), "auth-required:") {
					t.Fatal(m)
				}
			} else {
				c.expect("EOSE")
			}
			// Wrong challenge, then the right one.
			for _, ch := range []string{"nope", challenge} {
				a := signed(t, 22242, "", nostr.Tag{"relay", url}, nostr.Tag{"challenge", ch})
				c.send("AUTH", a)
				m := c.expect("OK")
				var ok bool
				json.Unmarshal(m[2], &ok)
				if ok != (ch == challenge) {
					t.Fatalf("AUTH with challenge %q: %s", ch, m)
				}
			}
			if ok, why := c.publish(ev); !ok {
				t.Fatalf("after AUTH: %s", why)
			}
		})
	}
}

func TestCount(t *testing.T) {
	_, url := testRelay(t, nil)
	c := dial(t, url)
	for i := 0; i < 5; i++ {
		c.publish(signed(t, 1, fmt.Sprint(i)))
	}
	c.publish(signed(t, 7, "+"))
	c.send("COUNT", "c", nostr.Filter{Kinds: []int{1}})
	m := c.expect("COUNT")
	if string(m[2]) != `{"count":5}` {
		t.Fatalf("got %s", m[2])
	}
	c.send("COUNT", "c2", nostr.Filter{Kinds: []int{1}}, nostr.Filter{Kinds: []int{7, 1}})
	if m := c.expect("COUNT"); string(m[2]) != `{"count":6}` {
		t.Fatalf("union count %s", m[2])
	}
}

func TestNIP11(t *testing.T) {
	r, _ := testRelay(t, func(c *Config) { c.MinPowDifficulty = 3 })
	i := r.info()
	if i.Limitation.MinPowDifficulty != 3 || i.Limitation.MaxMessageLength != r.cfg.MaxMessageBytes {
		t.Fatalf("%+v", i.Limitation)
	}
}

func TestMultipleFiltersDeduplicate(t *testing.T) {
	_, url := testRelay(t, nil)
	c := dial(t, url)
	ev := signed(t, 1, "once", nostr.Tag{"t", "cairn"})
	c.publish(ev)
	got := c.query(nostr.Filter{Kinds: []int{1}}, nostr.Filter{Tags: nostr.TagMap{"t": {"cairn"}}})
	if len(got) != 1 {
		t.Fatalf("got %d events", len(got))
	}
}

func TestIdleTimeout(t *testing.T) {
	_, url := testRelay(t, func(c *Config) { c.IdleTimeout = 200 * time.Millisecond })
	idle, subscribed := dial(t, url), dial(t, url)
	subscribed.send("REQ", "keep", nostr.Filter{Kinds: []int{1}})
	subscribed.expect("EOSE")
	select {
	case _, ok := <-idle.in:
		if ok {
			t.Fatal("unexpected message")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("idle connection not closed")
	}
	// The connection with a subscription is still served.
	if ok, why := subscribed.publish(signed(t, 1, "still here")); !ok {
		t.Fatal(why)
	}
}

// A client that never reads is dropped when its queue fills, and the relay
// goes on serving the others.
func TestSlowReaderDropped(t *testing.T) {
	r, url := testRelay(t, func(c *Config) { c.SendQueue = 8; c.EventsPerSecond = 0; c.EventsPerSecondIP = 0 })
	ctx := context.Background()
	slow, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.CloseNow()
	b, _ := json.Marshal([]any{"REQ", "all", nostr.Filter{Kinds: []int{1}, Limit: 0}})
	slow.Write(ctx, websocket.MessageText, b)
	// The slow client never reads. Publish enough to overflow its queue and
	// the socket buffers.
	pub := dial(t, url)
	big := strings.Repeat("x", 60000)
	for i := 0; i < 200; i++ {
		pub.publish(signed(t, 1, fmt.Sprint(i, big)))
		if r.Stats().Connections == 1 {
			return
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.Stats().Connections != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := r.Stats().Connections; n != 1 {
		t.Fatalf("%d connections: the slow reader was not dropped", n)
	}
}

// Many EVENTs sent without waiting are all answered, and a REQ with many
// results delivers them all, in order, then EOSE: the write loop sends
// queued messages in batches (cork.go).
func TestBatchedWrites(t *testing.T) {
	r, url := testRelay(t, nil)
	c := dial(t, url)
	const signedN, storedN = 40, 2000
	for i := range signedN {
		ev := signed(t, 1, fmt.Sprint("sent ", i))
		c.send("EVENT", ev)
	}
	for range signedN {
		m := c.expect("OK")
		var ok bool
		json.Unmarshal(m[2], &ok)
		if !ok {
			t.Fatalf("refused: %s", m[3])
		}
	}
	// Stored directly (Save does not check signatures): enough results to
	// pass maxCorked several times.
	base := nostr.Timestamp(1_000_000)
	ids := make([]string, storedN)
	pk, _ := nostr.GetPublicKey(testKey)
	for i := range ids {
		ev := nostr.Event{Kind: 30, PubKey: pk, Content: fmt.Sprint("stored ", i),
			CreatedAt: base + nostr.Timestamp(i), Tags: nostr.Tags{}, Sig: strings.Repeat("0", 128)}
		ev.ID = ev.GetID()
		if err := r.store.Save(context.Background(), &ev); err != nil {
			t.Fatal(err)
		}
		ids[storedN-1-i] = ev.ID
	}
	got := c.query(nostr.Filter{Kinds: []int{30}, Limit: storedN})
	if len(got) != storedN {
		t.Fatalf("%d of %d events", len(got), storedN)
	}
	for i, ev := range got {
		if ev.ID != ids[i] {
			t.Fatalf("result %d is %s, want %s", i, ev.ID, ids[i])
		}
	}
}

// RejectRead hooks refuse REQ, COUNT and NEG-OPEN with their message.
func TestRejectRead(t *testing.T) {
	r, url := testRelay(t, nil)
	r.RejectRead = append(r.RejectRead, func(c *Conn) (bool, string) {
		return true, "restricted: no reads here"
	})
	c := dial(t, url)
	c.send("REQ", "r", nostr.Filter{})
	if m := c.expect("CLOSED"); str(m[2]) != "restricted: no reads here" {
		t.Fatal(m)
	}
	c.send("COUNT", "c", nostr.Filter{})
	if m := c.expect("CLOSED"); str(m[2]) != "restricted: no reads here" {
		t.Fatal(m)
	}
	c.send("NEG-OPEN", "n", nostr.Filter{}, "6100")
	if m := c.expect("NEG-ERR"); str(m[2]) != "restricted: no reads here" {
		t.Fatal(m)
	}
}

package node

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nbd-wtf/go-nostr"
)

func TestNodeServesRelayStatusAndMetrics(t *testing.T) {
	n, err := New(TestingConfig(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	defer n.Stop(context.Background())

	// Publish one event through the relay.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, n.RelayURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close(websocket.StatusNormalClosure, "")
	ev := nostr.Event{Kind: 1, Content: "hi", CreatedAt: nostr.Now(), Tags: nostr.Tags{}}
	ev.Sign(nostr.GeneratePrivateKey())
	msg, _ := json.Marshal([]any{"EVENT", ev})
	if err := ws.Write(ctx, websocket.MessageText, msg); err != nil {
		t.Fatal(err)
	}
	_, b, err := ws.Read(ctx)
	if err != nil || !strings.Contains(string(b), `"OK","`+ev.ID+`",true`) {
		t.Fatalf("OK: %s %v", b, err)
	}

	// The node published its cairn-p2p record through its own relay at
	// start: two events, and that connection closes by itself (the
	// WebRTC side listens to its relay in process).
	var st Status
	for deadline := time.Now().Add(5 * time.Second); ; {
		get(t, n.URL()+"/api/status", &st)
		if st.Relay.Connections == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st.Store.Events != 2 || st.Relay.Connections != 1 || st.Npub != n.Key().Npub() {
		t.Fatalf("status %+v", st)
	}
	if st.WebRTC == nil || st.WebRTC.PubKey != n.Key().Public || st.Peers["webrtc"] != 0 {
		t.Fatalf("status lacks the webrtc side: %+v %+v", st.WebRTC, st.Peers)
	}
	if _, ok := st.Transfer["webrtc"]; !ok {
		t.Fatalf("status transfer lacks webrtc: %+v", st.Transfer)
	}
	if st.P2P == nil || st.P2P.PeerID != n.Host().ID().String() || len(st.P2P.Addrs) == 0 {
		t.Fatalf("status lacks the p2p host: %+v", st.P2P)
	}
	var body string
	get(t, n.URL()+"/metrics", &body)
	for _, m := range []string{"cairn_relay_events_stored_total 2", "cairn_relay_connections 1", "cairn_store_events 2"} {
		if !strings.Contains(body, m) {
			t.Errorf("metrics lack %q", m)
		}
	}
	get(t, n.URL()+"/", &body)
	if !strings.Contains(body, "<title>cairn") {
		t.Errorf("web app not served: %.100s", body)
	}
}

func TestNodeKeepsEventsAcrossRestart(t *testing.T) {
	cfg := TestingConfig(t)
	n, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := nostr.Event{Kind: 1, Content: "kept", CreatedAt: nostr.Now(), Tags: nostr.Tags{}}
	ev.Sign(nostr.GeneratePrivateKey())
	if err := n.Store().Save(context.Background(), &ev); err != nil {
		t.Fatal(err)
	}
	key := n.Key()
	if err := n.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	n, err = New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop(context.Background())
	if n.Key() != key {
		t.Fatal("key changed across restart")
	}
	if c, _ := n.Store().Count(context.Background(), nostr.Filter{IDs: []string{ev.ID}}); c != 1 {
		t.Fatalf("count %d after restart", c)
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	c.Listen = "nonsense"
	c.Relay.Auth = "sometimes"
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "host:port") || !strings.Contains(err.Error(), "off, writes or all") {
		t.Fatalf("got %v", err)
	}
	c = DefaultConfig()
	c.NIP95MinUptime = -1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "nip95-min-uptime") {
		t.Fatalf("negative NIP-95 uptime: %v", err)
	}
}

func get(t *testing.T, url string, into any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("%s: %s", url, res.Status)
	}
	if s, ok := into.(*string); ok {
		*s = string(b)
		return
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatal(err)
	}
}

// The web app's routes reach the web handler without shadowing the node's
// own: files by sha256, the API, metrics.
func TestNodeRoutesWebApp(t *testing.T) {
	n := startNode(t, TestingConfig(t))
	for _, tc := range []struct {
		method, path string
		code         int
		has          string
	}{
		{"GET", "/", 200, "<title>cairn"},
		{"GET", "/watch/nevent1xyz", 200, "<title>cairn"},
		{"GET", "/upload", 200, "<title>cairn"},
		{"GET", "/dashboard", 200, "<title>cairn"},
		{"GET", "/missing.js", 404, ""},
		{"GET", "/api/nothing", 404, ""},
		{"GET", "/api/status", 200, `"pubkey"`},
		{"GET", "/api/share", 404, ""}, // POST only: no GET route
		{"GET", "/metrics", 200, "cairn_store_events"},
		{"GET", "/" + strings.Repeat("ab", 32) + ".mp4", 404, "no file or chunk with sha256"},
	} {
		req, _ := http.NewRequest(tc.method, n.URL()+tc.path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.code || !strings.Contains(string(b), tc.has) {
			t.Errorf("%s %s: %s %.80q", tc.method, tc.path, res.Status, b)
		}
	}
}

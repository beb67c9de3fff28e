package node

import (
	"context"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pturn "github.com/pion/turn/v5"

	"github.com/cairn-nostr/cairn/turn"
	"github.com/cairn-nostr/cairn/turn/policy"
)

// TestICEEndpoint: GET /api/ice names the node's STUN and TURN server at
// the host the request came to, with a credential the node's secret (kept
// in the data dir) signs and a TURN client can allocate with; the
// operator's STUN servers follow, its TURN servers (their credentials
// its own) do not; each request gets its own user.
func TestICEEndpoint(t *testing.T) {
	cfg := TestingConfig(t)
	cfg.WebRTC.ICEServers = []string{"stun:stun.example.org:3478", "turn:turn.example.org:3478"}
	cfg.WebRTC.ICEUsername, cfg.WebRTC.ICECredential = "op", "secret"
	n := startICENode(t, cfg)
	var ice, again ICEConfig
	get(t, n.URL()+"/api/ice", &ice)
	get(t, n.URL()+"/api/ice", &again)
	if len(ice.ICEServers) != 2 {
		t.Fatalf("iceServers %+v: want the node's and the operator's STUN server", ice.ICEServers)
	}
	own, extra := ice.ICEServers[0], ice.ICEServers[1]
	port := n.Status().TURN.Addr[strings.LastIndex(n.Status().TURN.Addr, ":"):]
	want := []string{"stun:127.0.0.1" + port, "turn:127.0.0.1" + port + "?transport=udp"}
	if strings.Join(own.URLs, " ") != strings.Join(want, " ") {
		t.Fatalf("urls %v, want %v", own.URLs, want)
	}
	if len(extra.URLs) != 1 || extra.URLs[0] != "stun:stun.example.org:3478" || extra.Username != "" {
		t.Fatalf("extra %+v", extra)
	}
	b, err := os.ReadFile(filepath.Join(cfg.DataDir, "turn-secret"))
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := hex.DecodeString(strings.TrimSpace(string(b)))
	user, err := policy.Verify(secret, own.Username, own.Credential, time.Now())
	if err != nil {
		t.Fatalf("the credential does not verify with the node's secret: %v", err)
	}
	if exp := time.Unix(ice.Expires, 0); exp.Before(time.Now().Add(5*time.Hour)) || exp.After(time.Now().Add(7*time.Hour)) {
		t.Fatalf("expires %v, want in 6h", exp)
	}
	if other, _ := policy.Verify(secret, again.ICEServers[0].Username, again.ICEServers[0].Credential, time.Now()); other == user {
		t.Fatalf("two requests got the same user %q", user)
	}

	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	addr := strings.TrimPrefix(own.URLs[0], "stun:")
	c, err := pturn.NewClient(&pturn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Username: own.Username, Password: own.Credential, Realm: turn.Realm, Conn: conn})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Allocate(); err != nil {
		t.Fatalf("allocating with the credential of /api/ice: %v", err)
	}
	if st := n.Status().TURN; st.Allocations != 1 || st.Users != 1 {
		t.Fatalf("status.turn %+v", st)
	}
}

// TestICEEndpointTCP: with a TCP listener, /api/ice adds its turn: URL
// with transport=tcp.
func TestICEEndpointTCP(t *testing.T) {
	cfg := TestingConfig(t)
	cfg.TURN.TCPListen = "127.0.0.1:0"
	n := startICENode(t, cfg)
	var ice ICEConfig
	get(t, n.URL()+"/api/ice", &ice)
	st := n.Status().TURN
	want := "turn:127.0.0.1" + st.TCPAddr[strings.LastIndex(st.TCPAddr, ":"):] + "?transport=tcp"
	if len(ice.ICEServers) != 1 || len(ice.ICEServers[0].URLs) != 3 || ice.ICEServers[0].URLs[2] != want {
		t.Fatalf("iceServers %+v, want a third URL %s", ice.ICEServers, want)
	}
}

// TestICEEndpointWithoutTURN: --turn=false leaves the operator's STUN
// servers only, and the status has no turn section.
func TestICEEndpointWithoutTURN(t *testing.T) {
	cfg := TestingConfig(t)
	cfg.TURN.Enabled = false
	n := startICENode(t, cfg)
	var ice ICEConfig
	get(t, n.URL()+"/api/ice", &ice)
	if len(ice.ICEServers) != 0 || ice.Expires != 0 || n.Status().TURN != nil {
		t.Fatalf("ice %+v, status.turn %+v", ice, n.Status().TURN)
	}
}

func startICENode(t *testing.T, cfg Config) *Node {
	t.Helper()
	n, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop(context.Background()) })
	return n
}

func TestTURNConfigValidate(t *testing.T) {
	for _, mod := range []func(*TURNConfig){
		func(c *TURNConfig) { c.Listen = "nope" },
		func(c *TURNConfig) { c.RelayIP = "host.example" },
		func(c *TURNConfig) { c.CredentialTTL = Duration(time.Second) },
		func(c *TURNConfig) { c.PerIP = -1 },
		func(c *TURNConfig) { c.TCPListen = "3478" },
		func(c *TURNConfig) { c.RelayPorts = "6000-5000" },
		func(c *TURNConfig) { c.RelayPorts = "5000" },
		func(c *TURNConfig) { c.RelayPorts = "0-10" },
	} {
		c := DefaultConfig()
		c.DataDir = t.TempDir()
		mod(&c.TURN)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "turn") {
			t.Errorf("%+v: %v", c.TURN, err)
		}
	}
}

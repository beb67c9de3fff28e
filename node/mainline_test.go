package node

import (
	"testing"
	"time"
)

// TestMainlineBootstrap: node A, a public node (--reachability public),
// announces itself under the bootstrap infohash on a private loopback
// Mainline DHT; node B has no other bootstrap layer (empty cache, no
// list, no DNS), is joined to the same DHT only, and finds A's libp2p peer
// through it: B connects to A and its status counts the layer.
func TestMainlineBootstrap(t *testing.T) {
	boot := privateDHT(t, 4)
	ca, cb := TestingConfig(t), TestingConfig(t)
	ca.BT.DHTBootstrap, cb.BT.DHTBootstrap = boot, boot
	ca.P2P.Reachability = "public"
	a := startNode(t, ca)
	b := startNode(t, cb)
	var st struct {
		P2P struct {
			Peers     int            `json:"peers"`
			Bootstrap map[string]int `json:"bootstrap"`
		} `json:"p2p"`
	}
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		get(t, b.URL()+"/api/status", &st)
		if st.P2P.Bootstrap["mainline"] > 0 || time.Now().After(deadline) {
			break
		}
	}
	if st.P2P.Bootstrap["mainline"] == 0 {
		t.Fatalf("B found no peer through the Mainline DHT in 90 s: %+v", st.P2P)
	}
	connected := false
	for _, p := range b.host.ConnectedPeers(16) {
		if p.ID == a.host.ID() {
			connected = true
		}
	}
	if !connected {
		t.Fatalf("B counted a Mainline peer but is not connected to A (%s)", a.host.ID())
	}
	t.Logf("B's bootstrap layers: %v", st.P2P.Bootstrap)
}

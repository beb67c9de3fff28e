package node

import (
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// txtServer answers every DNS query on 127.0.0.1 with one TXT record per
// string given, for the name asked; it stops with the test.
func txtServer(t *testing.T, txt ...string) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := buf[:n]
			if len(q) < 12 {
				continue
			}
			end := 12 // the question: labels, then type and class
			for end < len(q) && q[end] != 0 {
				end += int(q[end]) + 1
			}
			end += 5
			if end > len(q) {
				continue
			}
			resp := append([]byte{}, q[:2]...)    // id
			resp = append(resp, 0x81, 0x80, 0, 1) // flags, 1 question
			resp = binary.BigEndian.AppendUint16(resp, uint16(len(txt)))
			resp = append(resp, 0, 0, 0, 0)
			resp = append(resp, q[12:end]...)
			for _, s := range txt {
				resp = append(resp, 0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60)
				resp = binary.BigEndian.AppendUint16(resp, uint16(len(s)+1))
				resp = append(resp, byte(len(s)))
				resp = append(resp, s...)
			}
			pc.WriteTo(resp, from)
		}
	}()
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

// connectedTo waits (bounded) until n has a libp2p connection to peer id.
func connectedTo(t *testing.T, n *Node, id string) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		for _, ai := range n.Host().ConnectedPeers(64) {
			if ai.ID.String() == id {
				return
			}
		}
		select {
		case <-deadline:
			t.Fatalf("%s never connected to %s", n.URL(), id)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestBootstrapLayers: a node finds the network through each layer on its
// own: --bootstrap, the built-in list (only when public bootstrap is on),
// DNS TXT records from a resolver, and after a restart the cache alone.
func TestBootstrapLayers(t *testing.T) {
	a := startNode(t, TestingConfig(t))
	aID := a.Host().ID().String()
	var addrs []string
	for _, m := range a.Host().Addrs() {
		addrs = append(addrs, m.String())
	}
	layer := func(n *Node, name string) int { return n.Status().P2P.Bootstrap[name] }

	// DNS: _dnsaddr TXT records.
	cfg := TestingConfig(t)
	cfg.P2P.BootstrapDNS = []string{"seed.cairn.test"}
	cfg.P2P.Resolver = txtServer(t, "dnsaddr="+addrs[0], "not a dnsaddr")
	d := startNode(t, cfg)
	connectedTo(t, d, aID)
	if layer(d, "dns") != 1 {
		t.Fatalf("dns layer: %v", d.Status().P2P.Bootstrap)
	}

	// Built-in: only with public bootstrap on.
	saved := BuiltinBootstrap
	t.Cleanup(func() { BuiltinBootstrap = saved })
	BuiltinBootstrap = addrs
	off := startNode(t, TestingConfig(t))
	if got := off.Status().P2P.Bootstrap; len(got) != 0 {
		t.Fatalf("public bootstrap off, yet layers %v", got)
	}
	cfg = TestingConfig(t)
	cfg.P2P.PublicBootstrap = true
	cfg.BT.Enabled = false // its client would join the public Mainline DHT
	on := startNode(t, cfg)
	connectedTo(t, on, aID)
	if layer(on, "builtin") != 1 {
		t.Fatalf("builtin layer: %v", on.Status().P2P.Bootstrap)
	}
	BuiltinBootstrap = saved

	// --bootstrap, then the cache alone after a restart.
	cfg = TestingConfig(t)
	cfg.P2P.Bootstrap = addrs
	b, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	connectedTo(t, b, aID)
	if layer(b, "config") != 1 {
		t.Fatalf("config layer: %v", b.Status().P2P.Bootstrap)
	}
	if err := b.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg.P2P.Bootstrap = nil
	b2 := startNode(t, cfg)
	connectedTo(t, b2, aID)
	// The cache may hold more than a: b can have met this test's other
	// nodes through a's DHT before it stopped.
	if got := b2.Status().P2P.Bootstrap; got["cache"] < 1 || got["config"] != 0 {
		t.Fatalf("after a restart: layers %v", got)
	}
}

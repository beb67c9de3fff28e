package natlab

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/test/harness"
)

// TestConnectionFlood: a host that opens 40 TCP connections at once to a
// node's libp2p port (and never speaks) has all but a few closed at once
// by the node (libp2p's resource manager: 8 concurrent connections per
// IPv4 address, 16 new ones in a burst then 1 every 5 s), while a
// connection from another address is still accepted. The lab is needed
// because loopback is exempt from these limits.
func TestConnectionFlood(t *testing.T) {
	requireLab(t)
	harness.Binary(t)
	l := New(t)
	for _, role := range []string{"pub", "flood", "other"} {
		l.AddNS(role)
	}
	l.Link("pub", "f0", "10.77.9.1/24", "flood", "eth0", "10.77.9.2/24")
	l.Link("pub", "o0", "10.77.8.1/24", "other", "eth0", "10.77.8.2/24")
	l.StartNode(t, "pub", "--p2p-listen", "/ip4/0.0.0.0/tcp/4848", "--turn=false")

	const n = 40
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := DialIn(context.Background(), l.NS("flood"), "tcp", "10.77.9.1:4848")
		if err != nil {
			continue // refused outright counts as limited too
		}
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	other, err := DialIn(context.Background(), l.NS("other"), "tcp", "10.77.8.1:4848")
	if err != nil {
		t.Fatalf("a connection from another address during the flood: %v", err)
	}
	defer other.Close()

	// A connection the node keeps gets multistream-select's first line or
	// waits for the handshake (the node's accept timeout is 15 s); one it
	// limits is closed at once (EOF or reset). Read one byte of each, for
	// at most 8 s.
	closed := make([]bool, len(conns))
	var wg sync.WaitGroup
	for i, c := range append(conns, other) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(8 * time.Second))
			_, err := c.Read(make([]byte, 1))
			var ne net.Error
			if err != nil && !(errors.As(err, &ne) && ne.Timeout()) && !errors.Is(err, os.ErrDeadlineExceeded) {
				if i < len(closed) {
					closed[i] = true
				} else {
					t.Errorf("the node closed the connection from another address: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	kept := 0
	for _, c := range closed {
		if !c {
			kept++
		}
	}
	t.Logf("flood: %d connections made of %d, %d kept open by the node, %d closed at once", len(conns), n, kept, len(conns)-kept)
	if kept > 8 {
		t.Fatalf("the node kept %d of %d connections from one address open; want at most 8 (libp2p's per-IP limit)", kept, len(conns))
	}
	if kept == 0 {
		t.Fatal("the node kept no connection from the flooding address: the test saw no difference between kept and limited")
	}
}

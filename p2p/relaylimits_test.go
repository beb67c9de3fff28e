package p2p

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"
)

// TestRelayServiceLimits: the relay service refuses a reservation beyond
// MaxReservations, and ends a relayed connection that carries more than
// CircuitBytes: a chunk larger than that fails over the relay, a smaller
// one passes.
func TestRelayServiceLimits(t *testing.T) {
	relay := newHost(t, func(c *Config) {
		c.DHT = false
		c.ListenAddrs = []string{"/ip4/127.0.0.2/tcp/0"}
		c.NAT = NATConfig{Reachability: ReachPublic, RelayService: true,
			RelayLimits: RelayLimits{MaxReservations: 2, CircuitBytes: 256 << 10, CircuitDuration: time.Minute}}
	})
	private := func() *Host {
		return newHost(t, func(c *Config) {
			c.DHT = false
			c.NAT = NATConfig{Reachability: ReachPrivate, NoAutoRelay: true, DirectWait: 100 * time.Millisecond}
		})
	}
	var reserved []*Host
	var err error
	deadline := time.Now().Add(20 * time.Second)
	for len(reserved) < 2 {
		h := private()
		// The service starts once the relay's reachability is public:
		// retry the first reservation until then.
		for {
			if err = h.Connect(ctxTimeout(t, 10*time.Second), relay.AddrInfo()); err == nil {
				_, err = client.Reserve(ctxTimeout(t, 10*time.Second), h.Libp2p(), relay.AddrInfo())
			}
			if err == nil || len(reserved) > 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("reservation %d: %v", len(reserved)+1, err)
		}
		reserved = append(reserved, h)
	}
	third := private()
	if err := third.Connect(ctxTimeout(t, 10*time.Second), relay.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(ctxTimeout(t, 10*time.Second), third.Libp2p(), relay.AddrInfo()); err == nil {
		t.Fatal("a third reservation on a relay limited to 2")
	} else {
		t.Logf("third reservation refused: %v", err)
	}

	srv := reserved[0]
	small, _ := chunk(1, 64<<10)
	large, _ := chunk(2, 1<<20)
	hs, hl := put(t, srv, small), put(t, srv, large)
	circuit, err := ma.NewMultiaddr(relay.Libp2p().Addrs()[0].String() + "/p2p/" + relay.ID().String() + "/p2p-circuit")
	if err != nil {
		t.Fatal(err)
	}
	fetchVia := func(hash [32]byte) error {
		cli := newHost(t, func(c *Config) {
			c.DHT = false
			c.NAT = NATConfig{NoAutoRelay: true, DirectWait: 100 * time.Millisecond}
		})
		if err := cli.Connect(ctxTimeout(t, 10*time.Second), peer.AddrInfo{ID: srv.ID(), Addrs: []ma.Multiaddr{circuit}}); err != nil {
			t.Fatal(err)
		}
		_, err := cli.Fetch(ctxTimeout(t, 30*time.Second), srv.ID(), hash, hash)
		return err
	}
	if err := fetchVia(hs); err != nil {
		t.Fatalf("64 KiB over a relay allowing 256 KiB per connection: %v", err)
	}
	if err := fetchVia(hl); err == nil {
		t.Fatal("1 MiB over a relay allowing 256 KiB per connection")
	} else {
		t.Logf("1 MiB over the relay: %v", err)
	}
}

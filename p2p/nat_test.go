package p2p

import (
	"bytes"
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// TestRelayedFetch: a private host reserves a slot on a public host's relay
// service (its bootstrap peer), publishes a /p2p-circuit address, and a
// third host that knows only that address fetches a chunk from it through
// the relay (on loopback no hole punch can succeed, so after DirectWait the
// relayed connection is used). Both sides count the bytes as "relay"; the conns list it.
//
// AutoRelay builds circuit addresses only on a relay's public addresses:
// the relay listens on 127.0.0.2, which the test counts as public.
func TestRelayedFetch(t *testing.T) {
	relay := newHost(t, func(c *Config) {
		c.DHT = false
		c.ListenAddrs = []string{"/ip4/127.0.0.2/tcp/0", "/ip4/127.0.0.2/udp/0/quic-v1"}
		c.NAT = NATConfig{Reachability: ReachPublic, RelayService: true}
	})
	srv := newHost(t, func(c *Config) {
		c.DHT = false
		// No relay configured (an empty list, as the node passes): the
		// bootstrap peers are the candidates.
		c.Bootstrap = []peer.AddrInfo{relay.AddrInfo()}
		c.NAT = NATConfig{Reachability: ReachPrivate, Relays: []peer.AddrInfo{}}
	})
	cli := newHost(t, func(c *Config) {
		c.DHT = false
		c.NAT = NATConfig{DirectWait: 200 * time.Millisecond}
	})

	var circuit []ma.Multiaddr
	deadline := time.Now().Add(20 * time.Second)
	for len(circuit) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no /p2p-circuit address within 20 s: %v; status %+v", srv.Libp2p().Addrs(), srv.NATStatus())
		}
		time.Sleep(100 * time.Millisecond)
		for _, a := range srv.Libp2p().Addrs() {
			if isCircuit(a) {
				circuit = append(circuit, a)
			}
		}
	}
	if st := srv.NATStatus(); st.Reachability != "private" || len(st.RelayAddrs) == 0 {
		t.Errorf("private host's NAT status %+v", st)
	}
	if st := relay.NATStatus(); st.Reachability != "public" || !st.RelayService {
		t.Errorf("relay's NAT status %+v", st)
	}

	data, _ := chunk(7, 1<<20)
	hash := put(t, srv, data)
	if err := cli.Connect(ctxTimeout(t, 10*time.Second), peer.AddrInfo{ID: srv.ID(), Addrs: circuit}); err != nil {
		t.Fatal(err)
	}
	got, err := cli.Fetch(ctxTimeout(t, 30*time.Second), srv.ID(), hash, hash)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("fetched bytes differ")
	}
	if c := cli.Stats().Transports[TransportRelay]; c.BytesDown < 1<<20 || c.ChunksFetched != 1 {
		t.Errorf("client relay counters %+v", c)
	}
	var relayed bool
	for _, c := range cli.Conns() {
		if c.Peer == srv.ID().String() && c.Relayed && c.Limited {
			relayed = true
		}
	}
	if !relayed {
		t.Errorf("no relayed, limited connection to the server in %+v", cli.Conns())
	}
}

// TestRelayedButPublic: a peer first reached through a relay but
// listening on a public address is dialed directly for the transfer,
// without waiting for a hole punch (the wait here is a minute: a transfer
// that waited would go over the relay and fail the counters' check).
func TestRelayedButPublic(t *testing.T) {
	relay := newHost(t, func(c *Config) {
		c.DHT = false
		c.ListenAddrs = []string{"/ip4/127.0.0.2/tcp/0"}
		c.NAT = NATConfig{Reachability: ReachPublic, RelayService: true}
	})
	srv := newHost(t, func(c *Config) {
		c.DHT = false
		c.ListenAddrs = []string{"/ip4/127.0.0.3/tcp/0"}
		c.Bootstrap = []peer.AddrInfo{relay.AddrInfo()}
		c.NAT = NATConfig{Reachability: ReachPrivate, Relays: []peer.AddrInfo{}}
	})
	cli := newHost(t, func(c *Config) {
		c.DHT = false
		c.NAT = NATConfig{DirectWait: time.Minute}
	})
	var circuit []ma.Multiaddr
	deadline := time.Now().Add(20 * time.Second)
	for len(circuit) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no /p2p-circuit address within 20 s: %v", srv.Libp2p().Addrs())
		}
		time.Sleep(100 * time.Millisecond)
		for _, a := range srv.Libp2p().Addrs() {
			if isCircuit(a) {
				circuit = append(circuit, a)
			}
		}
	}
	data, _ := chunk(9, 256<<10)
	hash := put(t, srv, data)
	if err := cli.Connect(ctxTimeout(t, 10*time.Second), peer.AddrInfo{ID: srv.ID(), Addrs: circuit}); err != nil {
		t.Fatal(err)
	}
	got, err := cli.Fetch(ctxTimeout(t, 2*time.Minute), srv.ID(), hash, hash)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("fetched bytes differ")
	}
	if c := cli.Stats().Transports[TransportRelay]; c.BytesDown != 0 {
		t.Errorf("the chunk came over the relay (%+v): the public address was not dialed", c)
	}
	var direct bool
	for _, c := range cli.Conns() {
		if c.Peer == srv.ID().String() && !c.Relayed && !c.Limited {
			direct = true
		}
	}
	if !direct {
		t.Errorf("no direct connection to the server in %+v", cli.Conns())
	}
}

// TestStreamContextDirect: with a direct connection the stream context is
// the caller's, without the limited-connection allowance.
func TestStreamContextDirect(t *testing.T) {
	a, b := newHost(t, noDHT), newHost(t, noDHT)
	connect(t, a, b, TransportTCP)
	ctx := context.Background()
	if got := a.streamContext(ctx, b.ID()); got != ctx {
		t.Error("stream context over a direct connection differs from the caller's")
	}
	if cs := a.Conns(); len(cs) != 1 || cs[0].Relayed || cs[0].Direction != "outbound" {
		t.Errorf("conns %+v", cs)
	}
}

// TestMain counts 127.0.0.2 and 127.0.0.3 as public for the whole test
// process, before any host starts: the relay tests listen there, since AutoRelay builds
// circuit addresses only on a relay's public addresses. Set once and never
// restored: libp2p's goroutines read manet.Private4 after a host closes.
func TestMain(m *testing.M) {
	if err := TreatAsPublic("127.0.0.2/31"); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

func TestTreatAsPublic(t *testing.T) {
	if _, err := carvePublic(manet.Private4, "8.8.8.0/24"); err == nil {
		t.Error("a public range was accepted")
	}
	private, err := carvePublic(manet.Private4, "10.77.0.0/24")
	if err != nil {
		t.Fatal(err)
	}
	for ip, public := range map[string]bool{
		"10.77.0.9": true, "10.77.1.9": false, "10.76.0.1": false, "10.0.0.1": false,
		"10.255.0.1": false, "192.168.1.1": false, "172.16.0.1": false,
		"127.0.0.2": true, "127.0.0.1": false,
	} {
		inside := false
		for _, n := range private {
			inside = inside || n.Contains(net.ParseIP(ip))
		}
		if inside == public {
			t.Errorf("%s: public %v, want %v", ip, !inside, public)
		}
	}
}

func TestParseReachability(t *testing.T) {
	for s, want := range map[string]Reachability{"": ReachAuto, "auto": ReachAuto, "public": ReachPublic, "private": ReachPrivate} {
		if got, err := ParseReachability(s); err != nil || got != want {
			t.Errorf("%q: %v %v", s, got, err)
		}
	}
	if _, err := ParseReachability("open"); err == nil {
		t.Error("open accepted")
	}
}

// TestDirectDeadlineShared: the streams to one peer share one wait for a
// direct connection; another peer has its own; a wait over a minute past
// begins again.
func TestDirectDeadlineShared(t *testing.T) {
	var s natState
	t0 := time.Unix(1000, 0)
	p, q := peer.ID("p"), peer.ID("q")
	d := s.directDeadline(p, t0, 5*time.Second)
	if want := t0.Add(5 * time.Second); !d.Equal(want) {
		t.Fatalf("first deadline %v, want %v", d, want)
	}
	if got := s.directDeadline(p, t0.Add(3*time.Second), 5*time.Second); !got.Equal(d) {
		t.Fatalf("a second stream waits until %v, want the first's %v", got, d)
	}
	if got := s.directDeadline(p, t0.Add(30*time.Second), 5*time.Second); !got.Equal(d) {
		t.Fatalf("after the wait ended: %v, want %v (no new wait)", got, d)
	}
	if got := s.directDeadline(q, t0.Add(3*time.Second), 5*time.Second); !got.Equal(t0.Add(8 * time.Second)) {
		t.Fatalf("another peer's deadline %v", got)
	}
	later := t0.Add(2 * time.Minute)
	if got := s.directDeadline(p, later, 5*time.Second); !got.Equal(later.Add(5 * time.Second)) {
		t.Fatalf("a wait begun again: %v", got)
	}
	if len(s.waits) != 1 {
		t.Fatalf("%d waits kept, want the one begun last", len(s.waits))
	}
}

// TestFailedPunchEndsWait: a failed hole punch ends the wait for a direct
// connection at once (the streams take the relayed one), also when it
// fails before any stream waited; a wait already over is left alone.
func TestFailedPunchEndsWait(t *testing.T) {
	var s natState
	t0 := time.Unix(1000, 0)
	p, q := peer.ID("p"), peer.ID("q")
	s.directDeadline(p, t0, 5*time.Second)
	s.endWait(p, t0.Add(time.Second))
	if got := s.directDeadline(p, t0.Add(2*time.Second), 5*time.Second); !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("after a failed punch the wait ends at %v, want %v", got, t0.Add(time.Second))
	}
	s.endWait(q, t0)
	if got := s.directDeadline(q, t0.Add(time.Second), 5*time.Second); !got.Equal(t0) {
		t.Fatalf("a punch failed before the first stream: the stream waits until %v", got)
	}
	s.endWait(p, t0.Add(10*time.Second))
	if got := s.directDeadline(p, t0.Add(11*time.Second), 5*time.Second); !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("an ended wait was moved: %v", got)
	}
}

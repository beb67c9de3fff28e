package turn

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	pturn "github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"

	"github.com/cairn-nostr/cairn/turn/policy"
)

var testSecret = []byte("test secret, 32 bytes long......")

func start(t testing.TB, mod func(*Config)) *Server {
	t.Helper()
	cfg := Config{Listen: "127.0.0.1:0", Secret: testSecret}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// client is a pion TURN client of s over UDP with the given credentials.
func client(t testing.TB, s *Server, user, pass string) *pturn.Client {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return clientOver(t, s.Addr().String(), conn, user, pass)
}

// clientOver is a pion TURN client of server over conn (closed with it).
func clientOver(t testing.TB, server string, conn net.PacketConn, user, pass string) *pturn.Client {
	t.Helper()
	c, err := pturn.NewClient(&pturn.ClientConfig{
		STUNServerAddr: server, TURNServerAddr: server,
		Username: user, Password: pass, Realm: Realm, Conn: conn, RTO: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); conn.Close() })
	return c
}

func mint(t testing.TB, s *Server, user string, ttl time.Duration) policy.Credential {
	t.Helper()
	c, err := s.Credentials(user, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitStats polls s's counters until ok holds, for at most 10 s.
func waitStats(t testing.TB, s *Server, what string, ok func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := s.Stats()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: stats %+v", what, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSTUN: the server answers binding requests with the client's address.
func TestSTUN(t *testing.T) {
	s := start(t, nil)
	c := client(t, s, "", "")
	got, err := c.SendBindingRequest()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.String(), "127.0.0.1:") {
		t.Fatalf("reflexive address %s", got)
	}
}

// TestCredentialsRefused: expired, forged (wrong password, another node's
// secret, an extended expiry) and malformed credentials allocate nothing.
func TestCredentialsRefused(t *testing.T) {
	s := start(t, nil)
	good := mint(t, s, "u1", time.Hour)
	if _, err := client(t, s, good.Username, good.Password).Allocate(); err != nil {
		t.Fatalf("good credentials: %v", err)
	}
	expired, _ := policy.Mint(testSecret, "u2", time.Now().Add(-time.Second))
	other, _ := policy.Mint([]byte("another node's secret, 32 bytes."), "u3", time.Now().Add(time.Hour))
	extended := strings.Replace(good.Username, good.Username[:10], fmt.Sprint(time.Now().Add(48*time.Hour).Unix()), 1)
	bad := []struct{ name, user, pass string }{
		{"expired", expired.Username, expired.Password},
		{"wrong password", good.Username, good.Password[:10] + "AAAA" + good.Password[14:]},
		{"another node's secret", other.Username, other.Password},
		{"extended expiry", extended, good.Password},
		{"no expiry", "u1", policy.Password(testSecret, "u1")},
		{"empty", "", ""},
	}
	for _, b := range bad {
		before := s.Stats().AuthRefused
		_, err := client(t, s, b.user, b.pass).Allocate()
		if err == nil {
			t.Errorf("%s: allocated", b.name)
			continue
		}
		if st := s.Stats(); st.AuthRefused == before && b.user != "" {
			t.Errorf("%s: refused (%v) but not counted as a credential refusal", b.name, err)
		}
	}
	if st := s.Stats(); st.Allocated != 1 {
		t.Fatalf("allocated %d, want only the good one", st.Allocated)
	}
}

// TestQuota: a user's third allocation is refused at PerUser 2 (486), other
// users are not affected, and closing one frees a slot; Total caps all.
func TestQuota(t *testing.T) {
	s := start(t, func(c *Config) { c.Limits = policy.Limits{PerUser: 2, PerIP: 100, Total: 3} })
	u := mint(t, s, "u", time.Hour)
	first, err := client(t, s, u.Username, u.Password).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client(t, s, u.Username, u.Password).Allocate(); err != nil {
		t.Fatal(err)
	}
	_, err = client(t, s, u.Username, u.Password).Allocate()
	if err == nil || !strings.Contains(err.Error(), "486") {
		t.Fatalf("third allocation of one user: %v, want 486 (Allocation Quota Reached)", err)
	}
	v := mint(t, s, "v", time.Hour)
	if _, err := client(t, s, v.Username, v.Password).Allocate(); err != nil {
		t.Fatalf("another user: %v", err)
	}
	w := mint(t, s, "w", time.Hour)
	if _, err := client(t, s, w.Username, w.Password).Allocate(); err == nil {
		t.Fatal("a fourth allocation on a node capped at 3")
	}
	first.Close() // deallocates (a refresh with lifetime 0)
	waitStats(t, s, "the closed allocation to be freed", func(st Stats) bool { return st.Allocations == 2 })
	if _, err := client(t, s, u.Username, u.Password).Allocate(); err != nil {
		t.Fatalf("after closing one: %v", err)
	}
	if st := s.Stats(); st.QuotaRefused != 2 || st.Allocations != 3 || st.Users != 2 {
		t.Fatalf("stats %+v: want 2 refused, 3 live allocations of 2 users", st)
	}
}

// TestPerIPQuota: allocations from one client IP are capped across users.
func TestPerIPQuota(t *testing.T) {
	s := start(t, func(c *Config) { c.Limits = policy.Limits{PerIP: 2} })
	for i := range 3 {
		cr := mint(t, s, fmt.Sprint("user", i), time.Hour)
		_, err := client(t, s, cr.Username, cr.Password).Allocate()
		if (err == nil) != (i < 2) {
			t.Fatalf("allocation %d from 127.0.0.1: %v", i, err)
		}
	}
}

// TestForbiddenPeers: permissions to private and link-local addresses are
// refused; datagrams to the node's own loopback services are dropped
// while those to another allocation on the node pass; with AllowPrivate
// private addresses are allowed but the node's own services still not.
func TestForbiddenPeers(t *testing.T) {
	s := start(t, nil)
	ca := mint(t, s, "a", time.Hour)
	cb := mint(t, s, "b", time.Hour)
	a := client(t, s, ca.Username, ca.Password)
	relayA, err := a.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	b := client(t, s, cb.Username, cb.Password)
	relayB, err := b.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CreatePermission(relayA.LocalAddr()); err != nil { // B hears from A
		t.Fatalf("a permission to another allocation of the node: %v", err)
	}
	for _, peer := range []string{"10.0.0.1:9", "192.168.1.1:9", "169.254.169.254:80", "100.64.0.1:9"} {
		addr, _ := net.ResolveUDPAddr("udp4", peer)
		if err := a.CreatePermission(addr); err == nil {
			t.Errorf("permission to %s granted", peer)
		}
	}
	refused := s.Stats().PeerRefused
	if refused < 4 {
		t.Fatalf("%d refusals counted, want 4", refused)
	}

	// A "service" of the node on loopback: the relay must not reach it.
	svc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if _, err := relayA.WriteTo([]byte("to the service"), svc.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if _, err := relayA.WriteTo([]byte("to B"), relayB.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	relayB.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, from, err := relayB.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "to B" {
		t.Fatalf("B read %q from %v: %v", buf[:n], from, err)
	}
	// The server handles A's datagrams in order: the one to the service
	// was refused before the one to B was relayed.
	if st := s.Stats(); st.PeerRefused != refused+1 {
		t.Fatalf("PeerRefused %d, want %d", st.PeerRefused, refused+1)
	}
	svc.SetReadDeadline(time.Now())
	if n, _, err := svc.ReadFrom(buf); err == nil {
		t.Fatalf("the node's loopback service got %q through the relay", buf[:n])
	}

	lab := start(t, func(c *Config) { c.AllowPrivate = true })
	cl := mint(t, lab, "l", time.Hour)
	l := client(t, lab, cl.Username, cl.Password)
	relayL, err := l.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := net.ResolveUDPAddr("udp4", "10.0.0.1:9")
	if err := l.CreatePermission(addr); err != nil {
		t.Fatalf("AllowPrivate: permission to 10.0.0.1: %v", err)
	}
	relayL.WriteTo([]byte("to the service"), svc.LocalAddr())
	waitStats(t, lab, "the own-service datagram refused", func(st Stats) bool { return st.PeerRefused == 1 })
}

// TestSessionLifetime: an allocation ends when its session does, refreshed
// or not.
func TestSessionLifetime(t *testing.T) {
	s := start(t, func(c *Config) { c.Session = 300 * time.Millisecond })
	cr := mint(t, s, "u", time.Hour)
	if _, err := client(t, s, cr.Username, cr.Password).Allocate(); err != nil {
		t.Fatal(err)
	}
	waitStats(t, s, "the session to end", func(st Stats) bool { return st.SessionEnded == 1 && st.Allocations == 0 })
}

// TestRateCap: datagrams over an allocation's rate are dropped.
func TestRateCap(t *testing.T) {
	s := start(t, func(c *Config) { c.Rate = 64 << 10 })
	ca, cb := mint(t, s, "a", time.Hour), mint(t, s, "b", time.Hour)
	ra, err := client(t, s, ca.Username, ca.Password).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	b := client(t, s, cb.Username, cb.Password)
	rb, err := b.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CreatePermission(ra.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	// Send until the server drops (the kernel may drop some first when
	// the machine is busy, so the count sent proves nothing); whatever
	// passed must fit the bucket: the burst plus the rate over the time.
	p := make([]byte, 1000)
	t0 := time.Now()
	var st Stats
	for i := 0; st.Dropped == 0; i++ {
		if i == 200_000 {
			t.Fatalf("200 MB sent and nothing dropped at a 64 KiB/s cap: %+v", st)
		}
		ra.WriteTo(p, rb.LocalAddr())
		if i%64 == 0 {
			st = s.Stats()
		}
	}
	if limit := 256<<10 + int(time.Since(t0).Seconds()*(64<<10)) + len(p); st.BytesOut > uint64(limit) {
		t.Fatalf("%d bytes relayed in %v, over the bucket's %d", st.BytesOut, time.Since(t0), limit)
	}
}

// TestListenByName: a host name in Listen is resolved; the relay address
// is the address bound, not another interface's.
func TestListenByName(t *testing.T) {
	s := start(t, func(c *Config) { c.Listen = "localhost:0" })
	if got := s.RelayIP().String(); got != "127.0.0.1" {
		t.Fatalf("relay IP %s, want 127.0.0.1", got)
	}
}

// TestRelayPorts: relay sockets take ports within MinPort-MaxPort, and an
// allocation is refused when the range is full.
func TestRelayPorts(t *testing.T) {
	probe, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lo := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()
	if lo > 65000 {
		lo = 40000
	}
	s := start(t, func(c *Config) { c.MinPort, c.MaxPort = lo, lo+1 })
	for i := range 3 {
		cr := mint(t, s, fmt.Sprint("u", i), time.Hour)
		relay, err := client(t, s, cr.Username, cr.Password).Allocate()
		if i == 2 {
			if err == nil {
				t.Fatalf("a third relay in a range of two ports: %v", relay.LocalAddr())
			}
			continue
		}
		if err != nil {
			t.Fatal(err) // a port of the range taken by another process would show here
		}
		if p := relay.LocalAddr().(*net.UDPAddr).Port; p < lo || p > lo+1 {
			t.Fatalf("relay port %d outside %d-%d", p, lo, lo+1)
		}
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []Config{
		{Listen: "127.0.0.1:0", Secret: testSecret, MinPort: 5000, MaxPort: 4000},
		{Listen: "127.0.0.1:0", Secret: testSecret, MinPort: 0, MaxPort: 4000},
		{Listen: "127.0.0.1:0", Secret: []byte("short")},
		{Listen: "nope", Secret: testSecret},
		{Listen: "127.0.0.1:0", Secret: testSecret, Rate: -1},
	} {
		if s, err := New(c); err == nil {
			s.Close()
			t.Errorf("New(%+v) accepted", c)
		}
	}
	s := start(t, nil)
	if _, err := New(Config{Listen: s.Addr().String(), Secret: testSecret}); err == nil || !strings.Contains(err.Error(), "--turn-listen") {
		t.Errorf("a taken port: %v", err)
	}
}

func TestLoadSecret(t *testing.T) {
	p := t.TempDir() + "/turn-secret"
	a, err := LoadSecret(p)
	if err != nil || len(a) != 32 {
		t.Fatal(a, err)
	}
	b, err := LoadSecret(p)
	if err != nil || !bytes.Equal(a, b) {
		t.Fatalf("reloaded %x, %v; want %x", b, err, a)
	}
	bad := t.TempDir() + "/bad"
	if err := os.WriteFile(bad, []byte("zz\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSecret(bad); err == nil {
		t.Fatal("a secret that is not hex")
	}
}

// peers are two pion PeerConnections, with a DataChannel from a to b.
type peers struct {
	a, b *webrtc.PeerConnection
	dc   *webrtc.DataChannel
	recv chan []byte
	open chan struct{}
}

// connect makes two PeerConnections with the ICE servers and policy given,
// negotiates (gathering in full: no trickle needed between two local
// objects) and waits for the channel to open.
func connect(t testing.TB, servers [2][]webrtc.ICEServer, policy webrtc.ICETransportPolicy) *peers {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
	p := &peers{recv: make(chan []byte, 4096), open: make(chan struct{})}
	var err error
	if p.a, err = api.NewPeerConnection(webrtc.Configuration{ICEServers: servers[0], ICETransportPolicy: policy}); err != nil {
		t.Fatal(err)
	}
	if p.b, err = api.NewPeerConnection(webrtc.Configuration{ICEServers: servers[1], ICETransportPolicy: policy}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.a.Close(); p.b.Close() })
	if p.dc, err = p.a.CreateDataChannel("t", nil); err != nil {
		t.Fatal(err)
	}
	p.dc.OnOpen(func() { close(p.open) })
	p.b.OnDataChannel(func(d *webrtc.DataChannel) {
		d.OnMessage(func(m webrtc.DataChannelMessage) { p.recv <- m.Data })
	})
	negotiate := func(from, to *webrtc.PeerConnection, sd webrtc.SessionDescription) {
		g := webrtc.GatheringCompletePromise(from)
		if err := from.SetLocalDescription(sd); err != nil {
			t.Fatal(err)
		}
		<-g
		if err := to.SetRemoteDescription(*from.LocalDescription()); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := p.a.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	negotiate(p.a, p.b, offer)
	answer, err := p.b.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	negotiate(p.b, p.a, answer)
	select {
	case <-p.open:
	case <-time.After(30 * time.Second):
		t.Fatalf("the DataChannel did not open (ICE %s / %s)", p.a.ICEConnectionState(), p.b.ICEConnectionState())
	}
	return p
}

// selected is the candidate types of pc's selected pair, "local/remote".
func selected(t testing.TB, pc *webrtc.PeerConnection) string {
	t.Helper()
	for _, s := range pc.GetStats() {
		if cp, ok := s.(webrtc.ICECandidatePairStats); ok && cp.Nominated && cp.State == webrtc.StatsICECandidatePairStateSucceeded {
			stats := pc.GetStats()
			l, _ := stats[cp.LocalCandidateID].(webrtc.ICECandidateStats)
			r, _ := stats[cp.RemoteCandidateID].(webrtc.ICECandidateStats)
			return l.CandidateType.String() + "/" + r.CandidateType.String()
		}
	}
	return "none"
}

func turnServer(s *Server, cr policy.Credential) []webrtc.ICEServer {
	return []webrtc.ICEServer{{URLs: []string{"turn:" + s.Addr().String() + "?transport=udp"}, Username: cr.Username, Credential: cr.Password}}
}

// send moves total random bytes from p.a to p.b in 64 KiB messages with
// flow control; it returns the time to the first message and to the
// last, from when send began.
func (p *peers) send(t testing.TB, total int) (first, all time.Duration) {
	t.Helper()
	data := make([]byte, total)
	rand.Read(data)
	low := make(chan struct{}, 1)
	p.dc.SetBufferedAmountLowThreshold(1 << 20)
	p.dc.OnBufferedAmountLow(func() {
		select {
		case low <- struct{}{}:
		default:
		}
	})
	t0 := time.Now()
	errc := make(chan error, 1)
	go func() {
		for off := 0; off < total; off += 64 << 10 {
			for p.dc.BufferedAmount() > 4<<20 {
				select {
				case <-low:
				case <-time.After(time.Second):
				}
			}
			if err := p.dc.Send(data[off:min(off+64<<10, total)]); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	var got []byte
	deadline := time.After(2 * time.Minute)
	for len(got) < total {
		select {
		case m := <-p.recv:
			if len(got) == 0 {
				first = time.Since(t0)
			}
			got = append(got, m...)
		case err := <-errc:
			if err != nil {
				t.Fatal(err)
			}
			errc = nil
		case <-deadline:
			t.Fatalf("received %d of %d bytes", len(got), total)
		}
	}
	all = time.Since(t0)
	if !bytes.Equal(got, data) {
		t.Fatal("the bytes received differ from those sent")
	}
	return first, all
}

// TestRelayedPeers: two pion peers limited to relay candidates connect
// through the server and move 4 MiB intact; both selected candidates are
// relays and the server counts the bytes.
func TestRelayedPeers(t *testing.T) {
	s := start(t, nil)
	p := connect(t, [2][]webrtc.ICEServer{turnServer(s, mint(t, s, "a", time.Hour)), turnServer(s, mint(t, s, "b", time.Hour))}, webrtc.ICETransportPolicyRelay)
	p.send(t, 4<<20)
	for _, pc := range []*webrtc.PeerConnection{p.a, p.b} {
		if got := selected(t, pc); got != "relay/relay" {
			t.Fatalf("selected pair %s, want relay/relay", got)
		}
	}
	st := s.Stats()
	if st.Allocations < 2 || st.BytesOut < 4<<20 || st.BytesIn < 4<<20 {
		t.Fatalf("server stats %+v: want 2+ allocations and 4 MiB relayed each way", st)
	}
	if st.PeerRefused != 0 {
		t.Fatalf("%d datagrams refused between two allocations of the node", st.PeerRefused)
	}
}

// TestRelayRefusedWithBadCredentials: the same peers with forged
// credentials gather no relay candidate and never connect.
func TestRelayRefusedWithBadCredentials(t *testing.T) {
	s := start(t, nil)
	cr := mint(t, s, "a", time.Hour)
	cr.Password = policy.Password([]byte("not the node's secret, 32 bytes."), cr.Username)
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{ICEServers: turnServer(s, cr), ICETransportPolicy: webrtc.ICETransportPolicyRelay})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	pc.CreateDataChannel("t", nil)
	offer, _ := pc.CreateOffer(nil)
	g := webrtc.GatheringCompletePromise(pc)
	pc.SetLocalDescription(offer)
	<-g
	if strings.Contains(pc.LocalDescription().SDP, "typ relay") {
		t.Fatal("a relay candidate gathered with forged credentials")
	}
	waitStats(t, s, "the refusal", func(st Stats) bool { return st.AuthRefused > 0 && st.Allocated == 0 })
}

// TestTCP: with TCPListen, a client reaches STUN and TURN over TCP and gets
// a (UDP) relay that carries datagrams to another allocation; the same
// credential checks apply.
func TestTCP(t *testing.T) {
	s := start(t, func(c *Config) { c.TCPListen = "127.0.0.1:0" })
	if s.TCPAddr() == nil || s.Stats().TCPAddr == "" {
		t.Fatal("no TCP address")
	}
	tcpClient := func(user, pass string) *pturn.Client {
		conn, err := net.Dial("tcp", s.TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		return clientOver(t, s.TCPAddr().String(), pturn.NewSTUNConn(conn), user, pass)
	}
	ca := mint(t, s, "a", time.Hour)
	a := tcpClient(ca.Username, ca.Password)
	if _, err := a.SendBindingRequest(); err != nil {
		t.Fatalf("STUN over TCP: %v", err)
	}
	relayA, err := a.Allocate()
	if err != nil {
		t.Fatalf("TURN over TCP: %v", err)
	}
	cb := mint(t, s, "b", time.Hour)
	b := client(t, s, cb.Username, cb.Password) // over UDP
	relayB, err := b.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CreatePermission(relayA.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if _, err := relayA.WriteTo([]byte("over tcp"), relayB.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	relayB.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, _, err := relayB.ReadFrom(buf); err != nil || string(buf[:n]) != "over tcp" {
		t.Fatalf("B read %q: %v", buf[:n], err)
	}
	expired, _ := policy.Mint(testSecret, "c", time.Now().Add(-time.Second))
	if _, err := tcpClient(expired.Username, expired.Password).Allocate(); err == nil {
		t.Fatal("expired credentials allocated over TCP")
	}
}

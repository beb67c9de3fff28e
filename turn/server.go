// Package turn is the node's STUN and TURN server for the browsers it
// serves (pion/turn embedded): a UDP listener answering STUN binding
// requests and TURN allocations, authenticated by short-lived credentials
// the node mints (policy.Mint, handed to tabs by GET /api/ice), with caps on
// allocations per user, per client IP and in total, a bandwidth cap per
// allocation, a session lifetime, and peer addresses checked on every
// permission and every datagram (policy.Rules: no relaying to loopback,
// private or link-local addresses unless allowed, never to the node's own
// services). The decisions are in the pure core turn/policy; this package
// binds them to sockets.
//
//	srv, err := turn.New(turn.Config{Listen: "0.0.0.0:7447", Secret: secret})
//	cred, err := srv.Credentials("s-1a2b", time.Hour)
//	defer srv.Close()
package turn

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pturn "github.com/pion/turn/v5"

	"github.com/cairn-nostr/cairn/turn/policy"
)

// Realm is the TURN realm the server announces.
const Realm = "cairn"

// Config configures a Server.
type Config struct {
	// Listen is the UDP host:port of STUN and TURN (port 0 picks one).
	Listen string
	// TCPListen, when set, is a TCP host:port that also answers STUN and
	// TURN (clients behind firewalls that block UDP reach it over TCP;
	// their relays are still UDP).
	TCPListen string
	// RelayIP is the address written in relay candidates: the node's
	// public IP. Default: the address Listen bound (its host name
	// resolved) unless unspecified, else the first global unicast IPv4
	// address of the machine's interfaces.
	RelayIP netip.Addr
	// Secret keys the credentials (at least policy.MinSecret bytes).
	Secret []byte
	// Limits caps live allocations (default DefaultLimits).
	Limits policy.Limits
	// Rate caps each allocation's relayed bytes per second, each way;
	// datagrams over it are dropped (a token bucket holding one second of
	// it absorbs bursts). 0 is unlimited.
	Rate int64
	// Session ends an allocation this long after it began, refreshed or
	// not (0: DefaultSession).
	Session time.Duration
	// MinPort and MaxPort bound the relay sockets' UDP ports (both 0: any
	// port the system gives), so a firewall can open just that range.
	MinPort, MaxPort int
	// AllowPrivate lets relays reach loopback-free private, link-local and
	// CGNAT addresses: for a lab or tests only (SSRF on a public node).
	AllowPrivate bool
	Logger       *slog.Logger
}

// Defaults.
var (
	DefaultLimits  = policy.Limits{PerUser: 16, PerIP: 32, Total: 512}
	DefaultRate    = int64(4 << 20)
	DefaultSession = time.Hour
)

// Stats counts what the server did.
type Stats struct {
	Addr        string `json:"addr"`
	TCPAddr     string `json:"tcp_addr,omitempty"`
	RelayIP     string `json:"relay_ip"`
	Allocations int    `json:"allocations"`
	Users       int    `json:"users"`
	// Allocated counts allocations ever made; AuthRefused requests with
	// bad, expired or forged credentials; QuotaRefused allocations over a
	// cap; PeerRefused permissions and datagrams to forbidden addresses;
	// Dropped datagrams over an allocation's rate; SessionEnded
	// allocations ended by the session lifetime.
	Allocated    uint64 `json:"allocated"`
	AuthRefused  uint64 `json:"auth_refused"`
	QuotaRefused uint64 `json:"quota_refused"`
	PeerRefused  uint64 `json:"peer_refused"`
	Dropped      uint64 `json:"dropped"`
	SessionEnded uint64 `json:"session_ended"`
	// BytesOut are bytes relayed from clients to peers, BytesIn from
	// peers to clients.
	BytesOut uint64 `json:"bytes_out"`
	BytesIn  uint64 `json:"bytes_in"`
}

// Server is a running STUN/TURN server.
type Server struct {
	cfg   Config
	log   *slog.Logger
	conn  net.PacketConn
	tcp   net.Listener // nil without TCPListen
	srv   *pturn.Server
	rules policy.Rules
	host  string // where relay sockets bind

	mu    sync.Mutex
	quota *policy.Quota
	live  map[uint16]bool // ports of live relay sockets

	allocated, authRefused, quotaRefused, peerRefused, dropped, ended, out, in atomic.Uint64
}

// New listens and serves until Close.
func New(cfg Config) (*Server, error) {
	if len(cfg.Secret) < policy.MinSecret {
		return nil, fmt.Errorf("turn: the secret has %d bytes, want at least %d", len(cfg.Secret), policy.MinSecret)
	}
	if cfg.Limits == (policy.Limits{}) {
		cfg.Limits = DefaultLimits
	}
	if cfg.Session <= 0 {
		cfg.Session = DefaultSession
	}
	if cfg.Rate < 0 || cfg.Limits.PerUser < 0 || cfg.Limits.PerIP < 0 || cfg.Limits.Total < 0 {
		return nil, errors.New("turn: a limit is negative (0 means the default or unlimited)")
	}
	if (cfg.MinPort != 0 || cfg.MaxPort != 0) && (cfg.MinPort < 1 || cfg.MaxPort > 65535 || cfg.MinPort > cfg.MaxPort) {
		return nil, fmt.Errorf("turn relay ports %d-%d: want MIN-MAX within 1-65535, MIN <= MAX", cfg.MinPort, cfg.MaxPort)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("turn listen address %q: want host:port, e.g. 0.0.0.0:3478", cfg.Listen)
	}
	conn, err := net.ListenPacket("udp4", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("turn: listening on udp %s: %w (pass --turn-listen with another port, or --turn=false)", cfg.Listen, err)
	}
	if !cfg.RelayIP.IsValid() {
		cfg.RelayIP = defaultRelayIP(conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr())
	}
	s := &Server{cfg: cfg, log: cfg.Logger, conn: conn, host: host, quota: policy.NewQuota(cfg.Limits), live: map[uint16]bool{}}
	s.rules = policy.Rules{AllowPrivate: cfg.AllowPrivate, Own: ownAddrs(cfg.RelayIP)}
	var listeners []pturn.ListenerConfig
	if cfg.TCPListen != "" {
		if s.tcp, err = net.Listen("tcp4", cfg.TCPListen); err != nil {
			conn.Close()
			return nil, fmt.Errorf("turn: listening on tcp %s: %w (pass --turn-tcp-listen with another port)", cfg.TCPListen, err)
		}
		listeners = append(listeners, pturn.ListenerConfig{Listener: s.tcp, RelayAddressGenerator: relays{s}, PermissionHandler: s.permit})
	}
	s.srv, err = pturn.NewServer(pturn.ServerConfig{
		Realm:         Realm,
		AuthHandler:   s.auth,
		QuotaHandler:  s.admit,
		LoggerFactory: pionLogs{s.log},
		EventHandler: pturn.EventHandler{
			OnAuth: func(src, _ net.Addr, _, username, _, method string, ok bool) {
				if !ok {
					s.authRefused.Add(1)
					s.log.Debug("turn: refused credentials", "from", src, "user", username, "method", method)
				}
			},
			OnAllocationCreated: func(src, dst net.Addr, proto, user, _ string, relay net.Addr, _ int) {
				s.mu.Lock()
				s.quota.Open(key(src, dst, proto), user, addrOf(src).Addr())
				s.mu.Unlock()
				s.allocated.Add(1)
				s.log.Debug("turn: allocation", "from", src, "user", user, "relay", relay)
			},
			OnAllocationDeleted: func(src, dst net.Addr, proto, _, _ string) {
				s.mu.Lock()
				s.quota.Close(key(src, dst, proto))
				s.mu.Unlock()
			},
		},
		PacketConnConfigs: []pturn.PacketConnConfig{{
			PacketConn:            conn,
			RelayAddressGenerator: relays{s},
			PermissionHandler:     s.permit,
		}},
		ListenerConfigs: listeners,
	})
	if err != nil {
		conn.Close()
		if s.tcp != nil {
			s.tcp.Close()
		}
		return nil, fmt.Errorf("turn: %w", err)
	}
	return s, nil
}

// Addr is the UDP address STUN and TURN answer on.
func (s *Server) Addr() *net.UDPAddr { return s.conn.LocalAddr().(*net.UDPAddr) }

// TCPAddr is the TCP address STUN and TURN answer on; nil without
// Config.TCPListen.
func (s *Server) TCPAddr() *net.TCPAddr {
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr().(*net.TCPAddr)
}

// RelayIP is the address in relay candidates.
func (s *Server) RelayIP() netip.Addr { return s.cfg.RelayIP }

// Credentials mints a credential for user valid for ttl.
func (s *Server) Credentials(user string, ttl time.Duration) (policy.Credential, error) {
	return policy.Mint(s.cfg.Secret, user, time.Now().Add(ttl))
}

// Stats reports the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	n, users := s.quota.Live()
	s.mu.Unlock()
	var tcp string
	if a := s.TCPAddr(); a != nil {
		tcp = a.String()
	}
	return Stats{
		Addr: s.Addr().String(), TCPAddr: tcp, RelayIP: s.cfg.RelayIP.String(), Allocations: n, Users: users,
		Allocated: s.allocated.Load(), AuthRefused: s.authRefused.Load(), QuotaRefused: s.quotaRefused.Load(),
		PeerRefused: s.peerRefused.Load(), Dropped: s.dropped.Load(), SessionEnded: s.ended.Load(),
		BytesOut: s.out.Load(), BytesIn: s.in.Load(),
	}
}

// Close stops the server and ends every allocation.
func (s *Server) Close() error { return s.srv.Close() }

func (s *Server) auth(ra *pturn.RequestAttributes) (string, []byte, bool) {
	user, pass, err := policy.Check(s.cfg.Secret, ra.Username, time.Now())
	if err != nil {
		s.authRefused.Add(1)
		s.log.Debug("turn: refused credentials", "from", ra.SrcAddr, "err", err)
		return "", nil, false
	}
	return user, pturn.GenerateAuthKey(ra.Username, ra.Realm, pass), true
}

func (s *Server) admit(user, _ string, src net.Addr) bool {
	s.mu.Lock()
	err := s.quota.Admit(user, addrOf(src).Addr())
	s.mu.Unlock()
	if err != nil {
		s.quotaRefused.Add(1)
		s.log.Debug("turn: refused an allocation", "from", src, "err", err)
		return false
	}
	return true
}

func (s *Server) permit(src net.Addr, peer net.IP) bool {
	ip, ok := netip.AddrFromSlice(peer)
	if !ok {
		return false
	}
	if err := s.rules.PeerIP(ip); err != nil {
		s.peerRefused.Add(1)
		s.log.Debug("turn: refused a permission", "from", src, "err", err)
		return false
	}
	return true
}

// isAllocation tells whether ap (an own address) is a live relay socket.
func (s *Server) isAllocation(ap netip.AddrPort) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live[ap.Port()]
}

func key(src, dst net.Addr, proto string) string {
	return proto + " " + src.String() + " " + dst.String()
}

func addrOf(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort()
	case *net.TCPAddr:
		return a.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// defaultRelayIP is the address the listener bound (a host name resolved)
// unless it is unspecified, else the first global unicast IPv4 address of
// the machine, else 127.0.0.1.
func defaultRelayIP(bound netip.Addr) netip.Addr {
	if bound = bound.Unmap(); bound.IsValid() && !bound.IsUnspecified() {
		return bound
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap().Is4() && ip.IsGlobalUnicast() {
				return ip.Unmap()
			}
		}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

// ownAddrs are the relay IP and every address of the machine's interfaces
// (read once, at start): the node's services listen there.
func ownAddrs(relay netip.Addr) []netip.Addr {
	own := []netip.Addr{relay}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				own = append(own, ip.Unmap())
			}
		}
	}
	return own
}

// LoadSecret reads the credential secret from path (hex), creating a
// random 32-byte one (mode 0600) when the file does not exist.
func LoadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		sec, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(sec) < policy.MinSecret {
			return nil, fmt.Errorf("turn secret %s is not %d+ bytes of hex: delete it and a new one is made at start", path, policy.MinSecret)
		}
		return sec, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading the turn secret: %w", err)
	}
	sec := make([]byte, 32)
	rand.Read(sec)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(hex.EncodeToString(sec)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("writing the turn secret: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("writing the turn secret: %w", err)
	}
	return sec, nil
}

// relays is the RelayAddressGenerator: UDP relay sockets on the listen
// host, wrapped so every datagram passes the rules and the rate, and
// closed at the session's end.
type relays struct{ s *Server }

func (relays) Validate() error { return nil }

func (r relays) AllocatePacketConn(conf pturn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	s := r.s
	if conf.Network != "udp4" {
		return nil, nil, fmt.Errorf("turn: %s relays are not offered (IPv4 only)", conf.Network)
	}
	pc, err := r.listen(conf.Network, conf.RequestedPort)
	if err != nil {
		return nil, nil, err
	}
	port := uint16(pc.LocalAddr().(*net.UDPAddr).Port)
	now := time.Now()
	burst := max(s.cfg.Rate, 256<<10)
	c := &relayConn{PacketConn: pc, s: s, port: port,
		up: policy.NewBucket(s.cfg.Rate, burst, now), down: policy.NewBucket(s.cfg.Rate, burst, now)}
	s.mu.Lock()
	s.live[port] = true
	s.mu.Unlock()
	c.mu.Lock() // Close reads the timer
	c.timer = time.AfterFunc(s.cfg.Session, func() {
		s.ended.Add(1)
		s.log.Debug("turn: session lifetime reached", "relay", port, "user", conf.UserID)
		c.Close() // the allocation's read loop ends and deletes it
	})
	c.mu.Unlock()
	return c, &net.UDPAddr{IP: s.cfg.RelayIP.AsSlice(), Port: int(port)}, nil
}

// listen binds a relay socket: at the port asked for, else within
// MinPort-MaxPort (random tries, then in order), else anywhere.
func (r relays) listen(network string, requested int) (net.PacketConn, error) {
	s := r.s
	at := func(port int) (net.PacketConn, error) {
		return net.ListenPacket(network, net.JoinHostPort(s.host, strconv.Itoa(port)))
	}
	if requested != 0 || s.cfg.MinPort == 0 {
		return at(requested)
	}
	n := s.cfg.MaxPort - s.cfg.MinPort + 1
	start := mrand.IntN(n)
	for i := range n {
		if pc, err := at(s.cfg.MinPort + (start+i)%n); err == nil {
			return pc, nil
		}
	}
	return nil, fmt.Errorf("turn: no free UDP port in %d-%d for a relay", s.cfg.MinPort, s.cfg.MaxPort)
}

func (relays) AllocateListener(pturn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errors.New("turn: TCP relays (RFC 6062) are not offered")
}

func (relays) AllocateConn(pturn.AllocateConnConfig) (net.Conn, error) {
	return nil, errors.New("turn: TCP relays (RFC 6062) are not offered")
}

// relayConn is one allocation's relay socket.
type relayConn struct {
	net.PacketConn
	s     *Server
	port  uint16
	timer *time.Timer
	once  sync.Once

	mu       sync.Mutex
	up, down *policy.Bucket
}

// WriteTo sends a client's datagram to a peer, if the peer is allowed and
// the allocation's rate has room (else the datagram is dropped).
func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ap := addrOf(addr)
	if err := c.s.rules.Peer(ap, c.s.isAllocation); err != nil {
		c.s.peerRefused.Add(1)
		return 0, err
	}
	c.mu.Lock()
	ok := c.up.Take(len(p), time.Now())
	c.mu.Unlock()
	if !ok {
		c.s.dropped.Add(1)
		return len(p), nil
	}
	n, err := c.PacketConn.WriteTo(p, addr)
	c.s.out.Add(uint64(n))
	return n, err
}

// ReadFrom returns the next datagram from a peer within the allocation's
// rate, dropping those over it.
func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			return n, addr, err
		}
		c.mu.Lock()
		ok := c.down.Take(n, time.Now())
		c.mu.Unlock()
		if ok {
			c.s.in.Add(uint64(n))
			return n, addr, nil
		}
		c.s.dropped.Add(1)
	}
}

func (c *relayConn) Close() error {
	var err error
	c.once.Do(func() {
		c.mu.Lock()
		c.timer.Stop()
		c.mu.Unlock()
		c.s.mu.Lock()
		delete(c.s.live, c.port)
		c.s.mu.Unlock()
		err = c.PacketConn.Close()
	})
	return err
}

// pionLogs sends pion's logs to slog at debug level: what matters to an
// operator is counted in Stats.
type pionLogs struct{ l *slog.Logger }

func (p pionLogs) NewLogger(scope string) pturnLogger {
	return pionLogger{p.l.With("part", "turn", "scope", scope)}
}

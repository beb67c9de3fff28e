package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// ChunkProtocol is the libp2p protocol of the chunk exchange.
const ChunkProtocol protocol.ID = "/cairn/chunk/1.0.0"

// Host is a libp2p node that serves and fetches chunks and, optionally,
// takes part in cairn's Kademlia DHT. It is safe for concurrent use.
type Host struct {
	cfg    Config
	log    *slog.Logger
	host   host.Host
	dht    *dht.IpfsDHT // nil without Config.DHT
	guard  *guard
	limit  *rateLimiter
	upload *uploadLimiter  // nil: unlimited
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	counters [numTransports]counters
	nat      natState     // NAT traversal (nat.go)
	credit   *creditState // hellos and receipts (credit.go); nil when off
	inCredit atomic.Int32 // chunks being served to peers in credit (the gate's "busy")
	slots    *slots       // Limits.MaxServing; nil: unlimited
	gated    gateCounters

	mu       sync.Mutex
	closed   bool
	fetchers map[peer.ID]*fetcher
	wg       sync.WaitGroup // stream handlers and background work
}

// New starts a host listening on cfg.ListenAddrs. It dials the bootstrap
// peers in the background; ctx bounds only the start itself.
func New(ctx context.Context, cfg Config) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	priv, err := crypto.UnmarshalEd25519PrivateKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("p2p: using the node key: %w", err)
	}
	h := &Host{
		cfg:      cfg,
		log:      cfg.Logger,
		guard:    newGuard(cfg.Now, cfg.Limits.MaxStrikes, cfg.Limits.BanDuration),
		limit:    newRateLimiter(cfg.Now, cfg.Limits.RequestsPerSecond),
		upload:   newUploadLimiter(cfg.Limits.UploadBytesPerSecond),
		slots:    newSlots(cfg.Limits.MaxServing),
		fetchers: make(map[peer.ID]*fetcher),
	}
	opts := []libp2p.Option{
		libp2p.Identity(priv),
		libp2p.ListenAddrStrings(cfg.ListenAddrs...),
		// TLS first: AES-GCM in hardware beats Noise's ChaCha20 (deps.md:
		// 914 vs 600 MB/s on loopback). Peers that speak only Noise still
		// connect.
		libp2p.Security(tls.ID, tls.New),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.EnableRelay(),
		libp2p.EnableHolePunching(),
		libp2p.ConnectionGater(h.guard),
		libp2p.DisableMetrics(),
	}
	opts = append(opts, h.natOptions()...)
	if cfg.NATPortMap {
		opts = append(opts, libp2p.NATPortMap())
	}
	lh, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("p2p: starting libp2p: %w", err)
	}
	h.host = lh
	h.ctx, h.cancel = context.WithCancel(context.Background())
	if h.credit, err = newCreditState(cfg.Credit, lh.ID(), cfg.Now); err != nil {
		lh.Close()
		h.cancel()
		return nil, err
	}

	if cfg.DHT {
		mode := map[DHTMode]dht.ModeOpt{DHTAuto: dht.ModeAuto, DHTServer: dht.ModeServer, DHTClient: dht.ModeClient}[cfg.DHTMode]
		dopts := []dht.Option{dht.Mode(mode), dht.ProtocolPrefix(cfg.DHTPrefix)}
		if len(cfg.Bootstrap) > 0 {
			dopts = append(dopts, dht.BootstrapPeers(cfg.Bootstrap...))
		}
		d, err := dht.New(lh, dopts...)
		if err != nil {
			lh.Close()
			h.cancel()
			return nil, fmt.Errorf("p2p: starting the DHT: %w", err)
		}
		h.dht = d
	}

	lh.SetStreamHandler(ChunkProtocol, h.handleChunkStream)
	lh.Network().Notify(&network.NotifyBundle{DisconnectedF: h.disconnected})

	if err := ctx.Err(); err != nil {
		h.Close()
		return nil, err
	}
	h.wg.Add(1)
	go h.bootstrap()
	h.log.Info("p2p host started", "id", lh.ID(), "addrs", lh.Addrs(), "dht", cfg.DHT, "dht_mode", cfg.DHTMode)
	return h, nil
}

// bootstrap dials the bootstrap peers, then starts the DHT's refresh.
func (h *Host) bootstrap() {
	defer h.wg.Done()
	var wg sync.WaitGroup
	for _, ai := range h.cfg.Bootstrap {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(h.ctx, DefaultConnectTimeout)
			defer cancel()
			if err := h.host.Connect(ctx, ai); err != nil {
				h.log.Warn("bootstrap peer unreachable", "peer", ai.ID, "err", err)
			}
		})
	}
	wg.Wait()
	if h.dht != nil && h.ctx.Err() == nil {
		if err := h.dht.Bootstrap(h.ctx); err != nil {
			h.log.Warn("DHT bootstrap", "err", err)
		}
	}
}

// Close stops the host: it closes every connection and waits for the
// stream handlers and background work to end.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	fetchers := h.fetchers
	h.fetchers = nil
	h.mu.Unlock()

	h.cancel()
	for _, f := range fetchers {
		f.kill()
	}
	var errs []error
	if h.dht != nil {
		errs = append(errs, h.dht.Close())
	}
	errs = append(errs, h.host.Close())
	h.wg.Wait()
	return errors.Join(errs...)
}

// enter registers work that Close must wait for; false once closed.
func (h *Host) enter() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1)
	return true
}

// ID is the node's peer ID.
func (h *Host) ID() peer.ID { return h.host.ID() }

// AddrInfo is the node's ID and listen addresses, as a bootstrap entry.
func (h *Host) AddrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: h.host.ID(), Addrs: h.host.Addrs()}
}

// Addrs are the node's addresses with /p2p/<ID> appended, ready to hand to
// another node's Connect or Config.Bootstrap (through ParseAddrInfos).
func (h *Host) Addrs() []ma.Multiaddr {
	ai := h.AddrInfo()
	out, err := peer.AddrInfoToP2pAddrs(&ai)
	if err != nil { // only for an empty ID
		return nil
	}
	return out
}

// Libp2p returns the underlying libp2p host, for protocols mounted beside
// the chunk exchange (GossipSub).
func (h *Host) Libp2p() host.Host { return h.host }

// DHT returns the Kademlia DHT, or nil without Config.DHT.
func (h *Host) DHT() *dht.IpfsDHT { return h.dht }

// Connect dials a peer (no-op when connected) and remembers its addresses.
func (h *Host) Connect(ctx context.Context, ai peer.AddrInfo) error {
	if h.guard.banned(ai.ID) {
		return fmt.Errorf("connecting to %s: %w", ai.ID, ErrBanned)
	}
	if err := h.host.Connect(ctx, ai); err != nil {
		return fmt.Errorf("connecting to %s: %w", ai.ID, err)
	}
	return nil
}

// Ban refuses every connection with p until the given time and closes the
// current ones (swarm/sched's Ban action). The ban lifts by itself.
func (h *Host) Ban(p peer.ID, until time.Time) {
	h.guard.ban(p, until)
	h.dropPeer(p)
}

// Banned reports whether p is banned now.
func (h *Host) Banned(p peer.ID) bool { return h.guard.banned(p) }

// Bans lists the bans in force now, with when each lifts: a node keeps
// them across restarts (Ban them again at start).
func (h *Host) Bans() map[peer.ID]time.Time {
	g := h.guard
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	out := make(map[peer.ID]time.Time, len(g.bans))
	for p, until := range g.bans {
		if now.Before(until) {
			out[p] = until
		}
	}
	return out
}

// strike counts a protocol violation by p and bans it at MaxStrikes.
func (h *Host) strike(p peer.ID, why error) {
	if h.guard.strike(p) {
		h.log.Warn("peer banned for protocol violations", "peer", p, "last", why, "for", h.cfg.Limits.BanDuration)
		h.dropPeer(p)
		return
	}
	h.log.Info("peer broke the chunk protocol", "peer", p, "err", why)
}

func (h *Host) dropPeer(p peer.ID) {
	h.mu.Lock()
	f := h.fetchers[p]
	delete(h.fetchers, p)
	h.mu.Unlock()
	if f != nil {
		f.kill()
	}
	h.host.Network().ClosePeer(p)
}

func (h *Host) disconnected(_ network.Network, c network.Conn) {
	p := c.RemotePeer()
	if h.host.Network().Connectedness(p) == network.Connected {
		return
	}
	h.limit.forget(p)
	h.mu.Lock()
	delete(h.fetchers, p) // its stream died with the connection
	h.mu.Unlock()
}

// guard keeps strikes and bans, and is the libp2p connection gater that
// enforces them.
type guard struct {
	now        func() time.Time
	maxStrikes int
	banFor     time.Duration

	mu      sync.Mutex
	strikes map[peer.ID]int
	bans    map[peer.ID]time.Time
}

func newGuard(now func() time.Time, maxStrikes int, banFor time.Duration) *guard {
	return &guard{now: now, maxStrikes: maxStrikes, banFor: banFor,
		strikes: make(map[peer.ID]int), bans: make(map[peer.ID]time.Time)}
}

func (g *guard) ban(p peer.ID, until time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if until.After(g.bans[p]) {
		g.bans[p] = until
	}
}

// strike adds a strike and reports whether it banned p.
func (g *guard) strike(p peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.strikes[p]++
	if g.strikes[p] < g.maxStrikes {
		return false
	}
	delete(g.strikes, p)
	g.bans[p] = g.now().Add(g.banFor)
	return true
}

func (g *guard) banned(p peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	until, ok := g.bans[p]
	if !ok {
		return false
	}
	if !g.now().Before(until) {
		delete(g.bans, p)
		return false
	}
	return true
}

func (g *guard) InterceptPeerDial(p peer.ID) bool                 { return !g.banned(p) }
func (g *guard) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return !g.banned(p) }
func (g *guard) InterceptAccept(network.ConnMultiaddrs) bool      { return true }
func (g *guard) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}
func (g *guard) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !g.banned(p)
}

// rateLimiter is Entropy's per-peer request limit: at most n requests in a
// fixed one-second window that opens with the first request.
type rateLimiter struct {
	now func() time.Time
	n   int

	mu  sync.Mutex
	win map[peer.ID]*window
}

type window struct {
	start time.Time
	count int
}

func newRateLimiter(now func() time.Time, n int) *rateLimiter {
	return &rateLimiter{now: now, n: n, win: make(map[peer.ID]*window)}
}

func (l *rateLimiter) allow(p peer.ID) bool {
	if l.n < 0 {
		return true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.win[p]
	if w == nil {
		w = &window{}
		l.win[p] = w
	}
	if w.count == 0 || now.Sub(w.start) >= time.Second || now.Before(w.start) {
		w.start, w.count = now, 0
	}
	w.count++
	return w.count <= l.n
}

func (l *rateLimiter) forget(p peer.ID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.win, p)
}

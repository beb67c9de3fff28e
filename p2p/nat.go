package p2p

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// NAT traversal. A node behind a NAT learns the address its NAT gives it
// from its peers (identify's observed addresses) and whether that address
// is reachable from AutoNAT v2; while it has no reachable address, AutoRelay
// reserves a slot on a circuit relay v2 (Config.NAT.Relays, else the
// bootstrap peers that run one) and the node's addresses gain
// /p2p-circuit addresses through it, which its cairn-p2p record then
// publishes. A peer that dials such an address gets a relayed connection,
// over which DCUtR coordinates a hole punch; when it succeeds the two have a
// direct connection and the relayed one is no longer used. Public nodes run
// the relay service (NATConfig.RelayService) with the limits of
// RelayLimits.

// Reachability overrides what AutoNAT decides about this node.
type Reachability int

const (
	// ReachAuto leaves it to AutoNAT.
	ReachAuto Reachability = iota
	// ReachPublic declares the node reachable: a public node, which then
	// runs its relay service at once.
	ReachPublic
	// ReachPrivate declares it unreachable: it looks for a relay at once.
	ReachPrivate
)

func (r Reachability) String() string {
	switch r {
	case ReachAuto:
		return "auto"
	case ReachPublic:
		return "public"
	case ReachPrivate:
		return "private"
	}
	return fmt.Sprintf("Reachability(%d)", int(r))
}

// ParseReachability reads auto, public or private ("" is auto).
func ParseReachability(s string) (Reachability, error) {
	switch s {
	case "", "auto":
		return ReachAuto, nil
	case "public":
		return ReachPublic, nil
	case "private":
		return ReachPrivate, nil
	}
	return 0, fmt.Errorf("reachability %q: use auto, public or private", s)
}

// Defaults of the relay service and of the wait for a hole punch.
const (
	DefaultRelayCircuitDuration = 2 * time.Minute
	DefaultRelayCircuitBytes    = 32 << 20
	DefaultRelayMaxReservations = 128
	DefaultRelayMaxCircuits     = 16
	// DefaultDirectWait is how long a chunk stream to a peer reached only
	// through a relay waits for the hole punch to give a direct
	// connection before it uses the relayed one.
	DefaultDirectWait = 5 * time.Second
)

// RelayLimits bound what this node's relay service carries. Zero fields
// take the defaults above.
type RelayLimits struct {
	// CircuitDuration and CircuitBytes end one relayed connection after
	// that long or that many bytes (each way).
	CircuitDuration time.Duration
	CircuitBytes    int64
	// MaxReservations and MaxCircuits bound the peers holding a slot and
	// the relayed connections open at once.
	MaxReservations int
	MaxCircuits     int
}

// NATConfig is a Host's NAT traversal. The zero value: AutoNAT decides, no
// relay service, AutoRelay through the bootstrap peers, hole punching on.
type NATConfig struct {
	Reachability Reachability
	// RelayService runs a circuit relay v2 for other peers once the node
	// is reachable (ReachPublic makes it so at once).
	RelayService bool
	RelayLimits  RelayLimits
	// Relays are AutoRelay's candidates; none means the bootstrap peers.
	Relays []peer.AddrInfo
	// NoAutoRelay never reserves a relay slot.
	NoAutoRelay bool
	// DirectWait: see DefaultDirectWait; negative uses a relayed
	// connection at once.
	DirectWait time.Duration
}

func (c *NATConfig) setDefaults() {
	l := &c.RelayLimits
	if l.CircuitDuration == 0 {
		l.CircuitDuration = DefaultRelayCircuitDuration
	}
	if l.CircuitBytes == 0 {
		l.CircuitBytes = DefaultRelayCircuitBytes
	}
	if l.MaxReservations == 0 {
		l.MaxReservations = DefaultRelayMaxReservations
	}
	if l.MaxCircuits == 0 {
		l.MaxCircuits = DefaultRelayMaxCircuits
	}
	if c.DirectWait == 0 {
		c.DirectWait = DefaultDirectWait
	}
}

// Validate reports a NAT configuration that cannot work.
func (c NATConfig) Validate() error {
	l := c.RelayLimits
	switch {
	case c.Reachability < ReachAuto || c.Reachability > ReachPrivate:
		return fmt.Errorf("p2p: unknown %v", c.Reachability)
	case l.CircuitDuration < 0, l.CircuitBytes < 0, l.MaxReservations < 0, l.MaxCircuits < 0:
		return errors.New("p2p: relay limits must not be negative (0 means the default)")
	}
	for _, ai := range c.Relays {
		if ai.ID == "" {
			return errors.New("p2p: a relay has no peer ID (want /ip4/…/p2p/<id>)")
		}
	}
	return nil
}

// natState is what the NAT side counts and keeps.
type natState struct {
	cfg            NATConfig
	punchOK        atomic.Uint64
	punchFailed    atomic.Uint64
	punchAttempted atomic.Uint64

	mu    sync.Mutex
	waits map[peer.ID]time.Time // when the wait for a direct connection to a peer ends
}

// directDeadline is when the wait for a direct connection to p, begun by
// the first stream that needed it, ends: the streams to p share one wait,
// so a transfer through a relay waits once, not once per stream. A wait
// that ended over a minute ago is begun again (a hole punch may succeed
// on a later connection).
func (s *natState) directDeadline(p peer.ID, now time.Time, wait time.Duration) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.waits[p]; ok && now.Before(d.Add(time.Minute)) {
		return d
	}
	if s.waits == nil {
		s.waits = map[peer.ID]time.Time{}
	}
	for q, d := range s.waits { // bounded by the peers waited for in the last minute
		if !now.Before(d.Add(time.Minute)) {
			delete(s.waits, q)
		}
	}
	d := now.Add(wait)
	s.waits[p] = d
	return d
}

// endWait ends the wait for a direct connection to p now: a hole punch to
// p failed, so the streams waiting for it use the relayed connection at
// once instead of at the wait's end (behind a symmetric NAT every attempt
// fails). A later punch that succeeds still moves new streams to the
// direct connection.
func (s *natState) endWait(p peer.ID, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.waits[p]; ok && !now.Before(d) {
		return // over already
	}
	if s.waits == nil {
		s.waits = map[peer.ID]time.Time{}
	}
	s.waits[p] = now // also before any stream waited: the punch was tried and failed
}

// Trace is the hole punching service's event tracer.
func (s *natState) Trace(evt *holepunch.Event) {
	switch e := evt.Evt.(type) {
	case *holepunch.StartHolePunchEvt:
		s.punchAttempted.Add(1)
	case *holepunch.EndHolePunchEvt:
		if e.Success {
			s.punchOK.Add(1)
		} else {
			s.punchFailed.Add(1)
			s.endWait(evt.Remote, time.Now())
		}
	}
}

// natOptions are the libp2p options of NAT traversal, appended by New.
func (h *Host) natOptions() []libp2p.Option {
	c := h.cfg.NAT
	c.setDefaults()
	h.nat.cfg = c
	opts := []libp2p.Option{
		libp2p.EnableAutoNATv2(),
		libp2p.EnableHolePunching(holepunch.WithTracer(&h.nat)),
	}
	switch c.Reachability {
	case ReachPublic:
		opts = append(opts, libp2p.ForceReachabilityPublic())
	case ReachPrivate:
		opts = append(opts, libp2p.ForceReachabilityPrivate())
	}
	if c.RelayService {
		l := c.RelayLimits
		res := relayv2.DefaultResources()
		res.Limit = &relayv2.RelayLimit{Duration: l.CircuitDuration, Data: l.CircuitBytes}
		res.MaxReservations = l.MaxReservations
		res.MaxCircuits = l.MaxCircuits
		// Relayed chunk streams are long and fast: a larger buffer than
		// libp2p's 2 KiB keeps the relay from a syscall per small frame.
		res.BufferSize = 32 << 10
		opts = append(opts, libp2p.EnableRelayService(relayv2.WithResources(res)), libp2p.EnableNATService())
	}
	relays := c.Relays
	if len(relays) == 0 {
		relays = h.cfg.Bootstrap
	}
	if !c.NoAutoRelay && len(relays) > 0 {
		opts = append(opts, libp2p.EnableAutoRelayWithStaticRelays(slices.Clone(relays),
			autorelay.WithNumRelays(min(len(relays), 2)),
			autorelay.WithMinCandidates(1),
			autorelay.WithBootDelay(0),
			autorelay.WithBackoff(30*time.Second)))
	}
	return opts
}

// streamContext is the context of a new chunk stream to p. When p is
// reached only through a relay (a limited connection), it waits up to
// DirectWait for the hole punch to give a direct connection, then allows
// the relayed one: a transfer over a relay is slower, but it completes.
func (h *Host) streamContext(ctx context.Context, p peer.ID) context.Context {
	wait := h.nat.cfg.DirectWait
	if wait < 0 {
		return network.WithAllowLimitedConn(ctx, "cairn chunks")
	}
	var deadline time.Time
	for {
		conns := h.host.Network().ConnsToPeer(p)
		if len(conns) == 0 || slices.ContainsFunc(conns, func(c network.Conn) bool { return !c.Stat().Limited }) {
			return ctx // no connection yet (NewStream dials), or a direct one
		}
		first := deadline.IsZero()
		deadline = h.nat.directDeadline(p, time.Now(), wait) // a failed punch may end it early
		if first && h.dialDirect(ctx, p, deadline) {
			return ctx
		}
		if !time.Now().Before(deadline) {
			return network.WithAllowLimitedConn(ctx, "cairn chunks")
		}
		select {
		case <-ctx.Done():
			return ctx
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// dialDirect dials p's own public (non-relay) addresses, when the
// peerstore knows any, over a connection that now goes through a relay: a
// peer that is reachable directly (a public node, or one on a routed
// path) is not made to wait for a hole punch it does not need. Private
// addresses are left alone: behind another NAT they time out, and a peer
// on the same network was dialed directly in the first place. It reports
// whether a direct connection to p is open afterwards. The dial ends by
// the deadline; a failure leaves the wait for the hole punch.
func (h *Host) dialDirect(ctx context.Context, p peer.ID, deadline time.Time) bool {
	// p's addresses arrive with identify, which may still be running on a
	// connection just opened.
	if ids, ok := h.host.(interface{ IDService() identify.IDService }); ok {
		wctx, cancel := context.WithDeadline(ctx, deadline)
		for _, c := range h.host.Network().ConnsToPeer(p) {
			select {
			case <-ids.IDService().IdentifyWait(c):
			case <-wctx.Done():
			}
		}
		cancel()
	}
	direct := slices.ContainsFunc(h.host.Peerstore().Addrs(p), func(a ma.Multiaddr) bool { return !isCircuit(a) && manet.IsPublicAddr(a) })
	if !direct {
		return false
	}
	dctx, cancel := context.WithDeadline(network.WithForceDirectDial(ctx, "cairn chunks"), deadline)
	defer cancel()
	if _, err := h.host.Network().DialPeer(dctx, p); err != nil {
		return false
	}
	return slices.ContainsFunc(h.host.Network().ConnsToPeer(p), func(c network.Conn) bool { return !c.Stat().Limited })
}

// ConnInfo describes one open libp2p connection.
type ConnInfo struct {
	Peer      string `json:"peer"`
	Local     string `json:"local"`
	Remote    string `json:"remote"`
	Direction string `json:"direction"` // "inbound" or "outbound"
	// Relayed is a /p2p-circuit connection through a relay; Limited one
	// the relay bounds in time and bytes.
	Relayed bool `json:"relayed"`
	Limited bool `json:"limited,omitempty"`
}

// Conns lists the open connections, by peer then remote address.
func (h *Host) Conns() []ConnInfo {
	var out []ConnInfo
	for _, c := range h.host.Network().Conns() {
		st := c.Stat()
		dir := "inbound"
		if st.Direction == network.DirOutbound {
			dir = "outbound"
		}
		out = append(out, ConnInfo{
			Peer: c.RemotePeer().String(), Local: c.LocalMultiaddr().String(), Remote: c.RemoteMultiaddr().String(),
			Direction: dir, Relayed: isCircuit(c.RemoteMultiaddr()), Limited: st.Limited,
		})
	}
	slices.SortFunc(out, func(a, b ConnInfo) int {
		if a.Peer != b.Peer {
			if a.Peer < b.Peer {
				return -1
			}
			return 1
		}
		if a.Remote < b.Remote {
			return -1
		}
		if a.Remote > b.Remote {
			return 1
		}
		return 0
	})
	return out
}

func isCircuit(a ma.Multiaddr) bool {
	for _, c := range a {
		if c.Protocol().Code == ma.P_CIRCUIT {
			return true
		}
	}
	return false
}

// NATStatus is the node's NAT traversal as /api/status shows it.
type NATStatus struct {
	// Reachability is AutoNAT's verdict (or the configured one): public,
	// private or unknown.
	Reachability string `json:"reachability"`
	// Reachable are the addresses AutoNAT v2 confirmed others can dial.
	Reachable []string `json:"reachable,omitempty"`
	// RelayAddrs are the node's /p2p-circuit addresses (AutoRelay).
	RelayAddrs   []string `json:"relay_addrs,omitempty"`
	RelayService bool     `json:"relay_service"`
	// HolePunches counts DCUtR hole punches this node took part in.
	HolePunches struct {
		Attempted uint64 `json:"attempted"`
		Succeeded uint64 `json:"succeeded"`
		Failed    uint64 `json:"failed"`
	} `json:"hole_punches"`
}

// NATStatus reports the node's reachability, relay addresses and hole
// punches.
func (h *Host) NATStatus() NATStatus {
	st := NATStatus{Reachability: "unknown", RelayService: h.nat.cfg.RelayService}
	if r, ok := h.host.(interface{ Reachability() network.Reachability }); ok {
		st.Reachability = reachName(r.Reachability())
	}
	if c, ok := h.host.(interface {
		ConfirmedAddrs() (reachable, unreachable, unknown []ma.Multiaddr)
	}); ok {
		r, _, _ := c.ConfirmedAddrs()
		for _, a := range r {
			st.Reachable = append(st.Reachable, a.String())
		}
		if len(r) > 0 && st.Reachability == "unknown" {
			st.Reachability = "public"
		}
	}
	for _, a := range h.host.Addrs() {
		if isCircuit(a) {
			st.RelayAddrs = append(st.RelayAddrs, a.String())
		}
	}
	st.HolePunches.Attempted = h.nat.punchAttempted.Load()
	st.HolePunches.Succeeded = h.nat.punchOK.Load()
	st.HolePunches.Failed = h.nat.punchFailed.Load()
	return st
}

func reachName(r network.Reachability) string {
	switch r {
	case network.ReachabilityPublic:
		return "public"
	case network.ReachabilityPrivate:
		return "private"
	}
	return "unknown"
}

// TreatAsPublic makes libp2p count addresses in cidr, a private IPv4 range,
// as public, for the whole process. libp2p hole punches and advertises only
// public addresses; the NAT lab (test/natlab) builds its "internet" in a
// private range that no real network routes, so its nodes need this
// (cairn node's hidden --lab-public-net). Never for real deployments.
func TreatAsPublic(cidr string) error {
	out, err := carvePublic(manet.Private4, cidr)
	if err != nil {
		return err
	}
	manet.Private4 = out
	return nil
}

// carvePublic is private minus cidr, which must lie inside one of them.
func carvePublic(private []*net.IPNet, cidr string) ([]*net.IPNet, error) {
	_, lab, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("p2p: lab public net: %w", err)
	}
	if lab.IP.To4() == nil {
		return nil, fmt.Errorf("p2p: lab public net %s: IPv4 only", cidr)
	}
	ones, _ := lab.Mask.Size()
	var out []*net.IPNet
	found := false
	for _, n := range private {
		pl, _ := n.Mask.Size()
		if !n.Contains(lab.IP) || pl > ones {
			out = append(out, n)
			continue
		}
		found = true
		// n minus lab: at each length from pl+1 to ones, the half of
		// the enclosing prefix that does not hold lab.
		for l := pl + 1; l <= ones; l++ {
			m := net.CIDRMask(l, 32)
			ip := lab.IP.To4().Mask(m)
			sib := make(net.IP, 4)
			copy(sib, ip)
			bit := l - 1
			sib[bit/8] ^= 0x80 >> (bit % 8)
			out = append(out, &net.IPNet{IP: sib, Mask: m})
		}
	}
	if !found {
		return nil, fmt.Errorf("p2p: lab public net %s is not inside a private range", cidr)
	}
	return out, nil
}

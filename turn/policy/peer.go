package policy

import (
	"errors"
	"fmt"
	"net/netip"
)

// Rules decide which peer addresses a relay may send to (and, through TURN
// permissions, hear from).
type Rules struct {
	// AllowPrivate lets relays reach loopback, private, link-local and
	// shared (CGNAT) addresses: for a lab or tests, never on a public node,
	// where it would let anyone with credentials reach the node's own
	// network (SSRF).
	AllowPrivate bool
	// Own are the node's addresses (its relay address among them); every
	// loopback address counts as one. A relay may send to one of them only
	// at the port of a live allocation (two tabs relayed by the same
	// node), never to the node's other services there, even with
	// AllowPrivate.
	Own []netip.Addr
}

var (
	// ErrForbiddenPeer: the peer address is one relays must not reach.
	ErrForbiddenPeer = errors.New("turn: relaying to this address is not allowed")
	// ErrOwnService: the peer is the node itself, at a port that is not a
	// relay allocation.
	ErrOwnService = errors.New("turn: relaying to the node's own services is not allowed")
)

// PeerIP checks a permission's peer IP (TURN permissions name an IP, not
// a port): the node's own relay address is allowed here and its port
// checked by Peer on every datagram.
func (r Rules) PeerIP(ip netip.Addr) error {
	ip = canonical(ip)
	if r.own(ip) {
		return nil
	}
	if why := special(ip); why != "" {
		if r.AllowPrivate && private(why) {
			return nil
		}
		return fmt.Errorf("%w: %s is %s", ErrForbiddenPeer, ip, why)
	}
	return nil
}

// Peer checks one datagram's destination. isAllocation tells whether an
// address is the relay address of a live allocation.
func (r Rules) Peer(ap netip.AddrPort, isAllocation func(netip.AddrPort) bool) error {
	ip := canonical(ap.Addr())
	if r.own(ip) {
		if isAllocation != nil && isAllocation(netip.AddrPortFrom(ip, ap.Port())) {
			return nil
		}
		return fmt.Errorf("%w: %s", ErrOwnService, ap)
	}
	if ap.Port() == 0 {
		return fmt.Errorf("%w: port 0", ErrForbiddenPeer)
	}
	return r.PeerIP(ip)
}

func (r Rules) own(ip netip.Addr) bool {
	if ip.IsLoopback() { // every loopback address reaches this machine
		return true
	}
	for _, o := range r.Own {
		if canonical(o) == ip {
			return true
		}
	}
	return false
}

// canonical unmaps IPv4-mapped IPv6 (::ffff:a.b.c.d) and NAT64
// (64:ff9b::a.b.c.d) addresses to the IPv4 address they reach, and drops
// zones.
func canonical(ip netip.Addr) netip.Addr {
	ip = ip.Unmap().WithZone("")
	if ip.Is6() && nat64.Contains(ip) {
		b := ip.As16()
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	return ip
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	shared    = netip.MustParsePrefix("100.64.0.0/10") // RFC 6598, carrier-grade NAT
	thisNet   = netip.MustParsePrefix("0.0.0.0/8")
	ietf      = netip.MustParsePrefix("192.0.0.0/24")
	benchmark = netip.MustParsePrefix("198.18.0.0/15")
	reserved  = netip.MustParsePrefix("240.0.0.0/4") // and 255.255.255.255
	doc4      = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("203.0.113.0/24")}
	doc6      = netip.MustParsePrefix("2001:db8::/32")
)

// Reasons special returns; the private ones AllowPrivate opens.
const (
	whyLoopback  = "a loopback address"
	whyPrivate   = "a private address"
	whyLinkLocal = "a link-local address"
	whyShared    = "a carrier-grade NAT (shared) address"
)

func private(why string) bool {
	return why == whyLoopback || why == whyPrivate || why == whyLinkLocal || why == whyShared
}

// special names why ip is not a public unicast address, or returns "".
func special(ip netip.Addr) string {
	switch {
	case !ip.IsValid():
		return "not an address"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return whyLoopback
	case ip.IsPrivate():
		return whyPrivate
	case ip.IsLinkLocalUnicast():
		return whyLinkLocal
	case ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	case ip.Is4() && shared.Contains(ip):
		return whyShared
	case ip.Is4() && (thisNet.Contains(ip) || ietf.Contains(ip) || benchmark.Contains(ip) || reserved.Contains(ip)):
		return "a reserved address"
	case ip.Is6() && doc6.Contains(ip):
		return "a documentation address"
	}
	for _, p := range doc4 {
		if p.Contains(ip) {
			return "a documentation address"
		}
	}
	return ""
}

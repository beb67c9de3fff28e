package webrtc

import (
	"context"
	"time"

	"github.com/cairn-nostr/cairn/swarm"
)

// TransportName is the Transport's name in swarm.Progress.Transports.
const TransportName = "webrtc"

// Transport is a swarm.Transport over the node's DataChannels. A PeerID is
// a peer's Nostr pubkey (hex); the first Fetch from a peer dials it for
// that root, later ones reuse the open channel.
type Transport struct{ n *Node }

var _ swarm.Transport = (*Transport)(nil)

// Transport returns the node's swarm.Transport.
func (n *Node) Transport() *Transport { return &Transport{n} }

// Name is "webrtc".
func (t *Transport) Name() string { return TransportName }

// Fetch implements swarm.Transport.
func (t *Transport) Fetch(ctx context.Context, p swarm.PeerID, hash, root [32]byte, progress func(got, total int)) ([]byte, error) {
	c, err := t.n.conn(ctx, string(p), root)
	if err != nil {
		return nil, err
	}
	return c.Fetch(ctx, hash, root, progress)
}

// Ban implements swarm.Transport.
func (t *Transport) Ban(p swarm.PeerID, until time.Time) { t.n.Ban(string(p), until) }

// conn returns the open channel to peer, dialing it for root if none is.
func (n *Node) conn(ctx context.Context, peer string, root [32]byte) (*Conn, error) {
	n.mu.Lock()
	c := n.conns[peer]
	banned := n.bannedLocked(peer)
	n.mu.Unlock()
	if banned {
		return nil, ErrBanned
	}
	if c != nil {
		return c, nil
	}
	return n.Dial(ctx, peer, root)
}

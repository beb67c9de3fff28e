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

// dialCall is a dial in progress that concurrent fetches share.
type dialCall struct {
	done chan struct{}
	c    *Conn
	err  error
}

// Warm starts connecting to p for root in the background, as a Fetch
// would, and returns at once: signaling and ICE then overlap the caller's
// other work (a download's seeder lookups), and the first Fetch to p
// shares the dial (or finds the channel open). A failed warm-up costs
// nothing more than that dial: the next Fetch dials again.
func (t *Transport) Warm(p swarm.PeerID, root [32]byte) {
	t.n.startDial(string(p), root)
}

// conn returns the open channel to peer, dialing it for root if none is.
// Concurrent callers share one dial, which runs under the node's context
// (bounded by ConnectTimeout), so a caller whose ctx ends returns at once
// without failing the others.
func (n *Node) conn(ctx context.Context, peer string, root [32]byte) (*Conn, error) {
	c, d, err := n.startDial(peer, root)
	if c != nil || err != nil {
		return c, err
	}
	select {
	case <-d.done:
		return d.c, d.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// startDial returns the open channel to peer, or the dial to it in
// progress, started now if none is.
func (n *Node) startDial(peer string, root [32]byte) (*Conn, *dialCall, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.bannedLocked(peer) {
		return nil, nil, ErrBanned
	}
	if c := n.conns[peer]; c != nil {
		return c, nil, nil
	}
	d := n.dials[peer]
	if d == nil {
		if n.ctx.Err() != nil {
			return nil, nil, ErrClosed
		}
		d = &dialCall{done: make(chan struct{})}
		n.dials[peer] = d
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			d.c, d.err = n.Dial(n.ctx, peer, root)
			n.mu.Lock()
			delete(n.dials, peer)
			n.mu.Unlock()
			close(d.done)
		}()
	}
	return nil, d, nil
}

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

// conn returns the open channel to peer, dialing it for root if none is.
// Concurrent callers share one dial, which runs under the node's context
// (bounded by ConnectTimeout), so a caller whose ctx ends returns at once
// without failing the others.
func (n *Node) conn(ctx context.Context, peer string, root [32]byte) (*Conn, error) {
	n.mu.Lock()
	if n.bannedLocked(peer) {
		n.mu.Unlock()
		return nil, ErrBanned
	}
	if c := n.conns[peer]; c != nil {
		n.mu.Unlock()
		return c, nil
	}
	d := n.dials[peer]
	if d == nil {
		if n.ctx.Err() != nil {
			n.mu.Unlock()
			return nil, ErrClosed
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
	n.mu.Unlock()
	select {
	case <-d.done:
		return d.c, d.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

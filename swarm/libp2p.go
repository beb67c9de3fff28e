//go:build !js

package swarm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairn-nostr/cairn/p2p"
)

// Libp2p is the Transport over a libp2p host (package p2p): PeerIDs are
// libp2p peer IDs in their string form (peer.ID.String()). The host must be
// able to reach the peer: connected, or with its addresses in the
// peerstore (Host.Connect after FindProviders does both).
//
// It is not built for js/wasm, where libp2p is not: the browser's
// Transport runs over WebRTC DataChannels.
type Libp2p struct {
	h *p2p.Host
}

// NewLibp2p returns the Transport over h.
func NewLibp2p(h *p2p.Host) *Libp2p { return &Libp2p{h: h} }

// TransportLibp2p is the name of the libp2p transport in Progress.
const TransportLibp2p = "libp2p"

// Name is "libp2p".
func (t *Libp2p) Name() string { return TransportLibp2p }

// Fetch fetches one chunk through p2p.Host.FetchProgress, mapping its
// sentinels to this package's.
func (t *Libp2p) Fetch(ctx context.Context, p PeerID, hash, root [32]byte, progress func(got, total int)) ([]byte, error) {
	id, err := peer.Decode(string(p))
	if err != nil {
		return nil, fmt.Errorf("swarm: %q is not a libp2p peer ID: %w", p, err)
	}
	data, err := t.h.FetchProgress(ctx, id, hash, root, progress)
	if err == nil {
		return data, nil
	}
	for _, m := range [...]struct{ from, to error }{
		{p2p.ErrHashMismatch, ErrHashMismatch},
		{p2p.ErrNotFound, ErrNotFound},
		{p2p.ErrBusy, ErrBusy},
		{p2p.ErrInsufficientCredit, ErrInsufficientCredit},
	} {
		if errors.Is(err, m.from) {
			return nil, fmt.Errorf("%w: %w", m.to, err)
		}
	}
	return nil, err
}

// Ban bans p on the host: its connections are closed and refused until
// until.
func (t *Libp2p) Ban(p PeerID, until time.Time) {
	id, err := peer.Decode(string(p))
	if err != nil {
		return
	}
	t.h.Ban(id, until)
}

// Libp2pPeer returns the PeerID of a libp2p peer.
func Libp2pPeer(id peer.ID) PeerID { return PeerID(id.String()) }

package p2p

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairn-nostr/cairn/swarm"
)

// SwarmTransport is the swarm.Transport over a Host: a swarm.Download
// fetches chunks from libp2p peers through it. Its PeerIDs are libp2p peer
// IDs in their string form (SwarmPeer). The host must be able to reach the
// peer: connected, or with its addresses in the peerstore (Connect after
// FindProviders does both).
type SwarmTransport struct {
	h *Host
}

var _ swarm.Transport = (*SwarmTransport)(nil)

// SwarmTransport returns the swarm.Transport over h.
func (h *Host) SwarmTransport() *SwarmTransport { return &SwarmTransport{h: h} }

// SwarmPeer returns the swarm.PeerID of a libp2p peer.
func SwarmPeer(id peer.ID) swarm.PeerID { return swarm.PeerID(id.String()) }

// Name is "libp2p" (TransportAll): the chunks it fetched are counted under
// that name in swarm.Progress.Transports.
func (t *SwarmTransport) Name() string { return TransportAll }

// Fetch fetches one chunk through Host.FetchProgress; its refusals and
// hash mismatches come back matching swarm's sentinels too (swarmError).
func (t *SwarmTransport) Fetch(ctx context.Context, p swarm.PeerID, hash, root [32]byte, progress func(got, total int)) ([]byte, error) {
	id, err := peer.Decode(string(p))
	if err != nil {
		return nil, fmt.Errorf("p2p: %q is not a libp2p peer ID: %w", p, err)
	}
	data, err := t.h.FetchProgress(ctx, id, hash, root, progress)
	if err != nil {
		return nil, swarmError(err)
	}
	return data, nil
}

// RequestRate is how many requests a second a download sends one peer
// over libp2p (swarm.RequestRater): PeerRequestRate, half of what a cairn
// node accepts by default, so that windows that do not line up never see
// more than the limit.
func (t *SwarmTransport) RequestRate() float64 { return PeerRequestRate }

// Verifies is true: Fetch hashes a chunk fragment by fragment as it
// arrives and returns it only if it matches (swarm.Verifier).
func (t *SwarmTransport) Verifies() bool { return true }

// Ban bans p on the host: its connections are closed and refused until
// until. A PeerID that is not a libp2p peer ID is ignored.
func (t *SwarmTransport) Ban(p swarm.PeerID, until time.Time) {
	id, err := peer.Decode(string(p))
	if err != nil {
		return
	}
	t.h.Ban(id, until)
}

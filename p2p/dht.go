package p2p

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"
)

// RootCID is the DHT key of content with Merkle root root: a CIDv1 with the
// raw codec over the sha2-256 multihash of the root's 32 bytes (the root is
// itself a SHA-256 digest, so the multihash wraps it as is).
func RootCID(root [32]byte) cid.Cid {
	mh, err := multihash.Encode(root[:], multihash.SHA2_256)
	if err != nil { // only for a digest of the wrong length
		panic(err)
	}
	return cid.NewCidV1(cid.Raw, mh)
}

// Provide announces in the DHT that this node serves the content with
// Merkle root root. Records expire (48 h in this DHT version): call it again
// at least daily while seeding. It returns once the closest peers were
// asked, not once they stored the record.
func (h *Host) Provide(ctx context.Context, root [32]byte) error {
	if h.dht == nil {
		return ErrNoDHT
	}
	if err := h.dht.Provide(ctx, RootCID(root), true); err != nil {
		return fmt.Errorf("providing root %x: %w", root[:4], err)
	}
	return nil
}

// FindProviders looks up at most max peers that provide root (max <= 0:
// 20), this node excepted. It returns what it found when ctx ends; an empty
// result with a nil error means nobody provides it.
func (h *Host) FindProviders(ctx context.Context, root [32]byte, max int) ([]peer.AddrInfo, error) {
	if h.dht == nil {
		return nil, ErrNoDHT
	}
	if max <= 0 {
		max = 20
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out []peer.AddrInfo
	for ai := range h.dht.FindProvidersAsync(ctx, RootCID(root), max+1) {
		if ai.ID == h.ID() {
			continue
		}
		out = append(out, ai)
		if len(out) == max {
			break
		}
	}
	return out, nil
}

package p2p

import "github.com/libp2p/go-libp2p/core/peer"

// PubKeyOf is the Nostr pubkey p said hello as, when it did (the reverse
// of PeerOf).
func (h *Host) PubKeyOf(p peer.ID) (string, bool) {
	if h.credit == nil {
		return "", false
	}
	h.credit.mu.Lock()
	defer h.credit.mu.Unlock()
	k, ok := h.credit.known[p]
	return k.pubkey, ok
}

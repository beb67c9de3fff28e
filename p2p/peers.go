package p2p

import (
	"github.com/libp2p/go-libp2p/core/peer"
)

// ConnectedPeers are the peers connected now, each with the addresses the
// peerstore knows for it (what identify learned: its listen addresses, not
// the ephemeral ports of inbound connections), at most max.
func (h *Host) ConnectedPeers(max int) []peer.AddrInfo {
	var out []peer.AddrInfo
	for _, id := range h.host.Network().Peers() {
		if len(out) == max {
			break
		}
		addrs := h.host.Peerstore().Addrs(id)
		if len(addrs) == 0 {
			continue
		}
		out = append(out, peer.AddrInfo{ID: id, Addrs: addrs})
	}
	return out
}

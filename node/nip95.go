package node

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/cairn-nostr/cairn/peer"
	"github.com/cairn-nostr/cairn/webrtc"
)

// PeerChannels is the node's NIP-95 DataChannels for the application core
// (peer.SuperPeer, peer.Casual): pion, signaled through the relay, with
// the ICE servers and loopback setting of cfg (Validate it first).
func PeerChannels(cfg WebRTCConfig, log *slog.Logger) peer.NewPeerChannels {
	return func(send func(ctx context.Context, to string, data json.RawMessage) error) peer.PeerChannels {
		return peer.AdaptChannels(webrtc.NewChannels(webrtc.ChannelsConfig{
			Send: send, Loopback: cfg.Loopback, ICEServers: cfg.iceServers(), Logger: log,
		}))
	}
}

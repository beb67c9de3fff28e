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
		return peerChannels{webrtc.NewChannels(webrtc.ChannelsConfig{
			Send: send, Loopback: cfg.Loopback, ICEServers: cfg.iceServers(), Logger: log,
		})}
	}
}

// peerChannels adapts webrtc.Channels to peer.PeerChannels.
type peerChannels struct{ *webrtc.Channels }

func (p peerChannels) Dial(ctx context.Context, id string) (peer.PeerChannel, error) {
	c, err := p.Channels.Dial(ctx, id)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (p peerChannels) Accept(ctx context.Context) (peer.PeerChannel, error) {
	c, err := p.Channels.Accept(ctx)
	if err != nil {
		return nil, err
	}
	return c, nil
}

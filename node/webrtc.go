package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pion/ice/v4"
	pion "github.com/pion/webrtc/v4"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/peer"
	"github.com/cairn-nostr/cairn/webrtc"
)

// The node's WebRTC side is how browsers reach it: a webrtc.Node keyed with
// the node key, signaling (kind 20001) through the node's own relay, serving
// the blob store through a bridge (bridgeBlobs) that fetches from the swarm
// the chunks of known roots the node lacks. Its Transport joins the node's
// downloads for the peers that have no cairn-p2p record (browsers).

// WebRTCConfig is the node's WebRTC side.
type WebRTCConfig struct {
	// Enabled runs the WebRTC node (default true).
	Enabled bool
	// ICEServers are STUN or TURN server URLs: "stun:host:port",
	// "turn:host:port" (optionally "?transport=tcp"), "turns:host:port".
	// None by default: host candidates only, enough on a LAN or loopback.
	ICEServers []string
	// ICEUsername and ICECredential authenticate to every TURN server.
	ICEUsername, ICECredential string
	// Loopback gathers only 127.0.0.1 candidates: for tests on one
	// machine.
	Loopback bool
}

// Validate checks the ICE server URLs.
func (c *WebRTCConfig) Validate() error {
	var errs []error
	for _, s := range c.ICEServers {
		if _, err := ice.ParseURL(s); err != nil {
			errs = append(errs, fmt.Errorf("ice server %q: %v (want stun:host:port or turn:host:port)", s, err))
			continue
		}
		if isTURN(s) && (c.ICEUsername == "" || c.ICECredential == "") {
			errs = append(errs, fmt.Errorf("ice server %q is a TURN server: pass --ice-username and --ice-credential", s))
		}
	}
	return errors.Join(errs...)
}

func isTURN(url string) bool {
	return strings.HasPrefix(url, "turn:") || strings.HasPrefix(url, "turns:")
}

// iceServers converts the URLs to pion's form, the credentials on TURN
// servers only (a STUN server with credentials is refused by pion).
func (c *WebRTCConfig) iceServers() []pion.ICEServer {
	out := make([]pion.ICEServer, 0, len(c.ICEServers))
	for _, s := range c.ICEServers {
		srv := pion.ICEServer{URLs: []string{s}}
		if isTURN(s) {
			srv.Username, srv.Credential = c.ICEUsername, c.ICECredential
		}
		out = append(out, srv)
	}
	return out
}

// startWebRTC starts the WebRTC node, signaling through the node's own
// relay in process (no connection, so it works under --auth all and never
// goes quiet). A failure is logged: the node then serves browsers nothing
// over WebRTC but runs.
func (n *Node) startWebRTC() {
	if !n.cfg.WebRTC.Enabled {
		return
	}
	cfg := webrtc.DefaultConfig()
	cfg.SecretKey = n.key.Secret
	cfg.Signal = signaling{n.home}
	cfg.ICEServers = n.cfg.WebRTC.iceServers()
	cfg.Loopback = n.cfg.WebRTC.Loopback
	cfg.Blobs = bridgeBlobs{Blobs: n.blobs, n: n}
	cfg.OnReceipt = n.onReceipt
	cfg.OnReceiptSent = n.onReceiptSent
	if n.gate != nil { // the same balances as libp2p serving (p2pCredit)
		cfg.Gate, cfg.Scarce = n.gate, n.scarce
		if h := n.host; h != nil {
			cfg.Busy = h.ServingInCredit
		}
	}
	cfg.Logger = n.log.With("part", "webrtc")
	rtc, err := webrtc.New(cfg)
	if err != nil {
		n.log.Error("WebRTC is off: browsers cannot fetch from this node", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	if err := rtc.Start(ctx); err != nil {
		n.log.Error("WebRTC is off: its signaling subscription did not start", "err", err)
		rtc.Close()
		return
	}
	n.rtc = rtc
	n.rtcGate.Store(rtc)
}

// bridgeTimeout bounds the swarm fetch of one chunk a WebRTC peer asked for
// and the node lacks; it is below webrtc.DefaultConfig's RequestTimeout so
// the asker hears NOT_FOUND rather than timing out.
const bridgeTimeout = 10 * time.Second

// bridgeBlobs is the blob store as WebRTC peers see it: a chunk the node
// lacks but whose root it knows (a stored kind 7001 chunk map lists it) is
// fetched from the swarm, stored, then served.
type bridgeBlobs struct {
	blobstore.Blobs
	n *Node
}

// Get implements blobstore.Blobs.
func (b bridgeBlobs) Get(hash [32]byte) ([]byte, error) {
	data, err := b.Blobs.Get(hash)
	if !errors.Is(err, blobstore.ErrNotFound) {
		return data, err
	}
	ctx, cancel := context.WithTimeout(b.n.ctx, bridgeTimeout)
	defer cancel()
	if err := b.n.fetchChunk(ctx, hash); err != nil {
		b.n.log.Debug("bridging a chunk for a WebRTC peer", "chunk", hex.EncodeToString(hash[:8]), "err", err)
		return nil, blobstore.ErrNotFound
	}
	return b.Blobs.Get(hash)
}

// fetchChunk stores the chunk hash of a known root, fetched from the swarm
// through the root's on-demand source. An unknown chunk is peer.ErrUnknown.
func (n *Node) fetchChunk(ctx context.Context, hash [32]byte) error {
	f, idx := n.peer.FileByChunk(ctx, hash)
	if f == nil {
		return peer.ErrUnknown
	}
	src, release, err := n.peer.Source(f)
	if err != nil {
		return err
	}
	defer release()
	return src.Need(ctx, idx)
}

package node

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/pion/ice/v4"
	pion "github.com/pion/webrtc/v4"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/relay/client"
	"github.com/cairn-nostr/cairn/swarm"
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

// startWebRTC starts the WebRTC node once the relay listens. A failure is
// logged: the node then serves browsers nothing over WebRTC but runs.
func (n *Node) startWebRTC() {
	if !n.cfg.WebRTC.Enabled {
		return
	}
	sig := n.rtcSignal
	sig.mu.Lock()
	sig.url, sig.secret = n.localRelayURL(), n.key.Secret
	sig.mu.Unlock()
	cfg := webrtc.DefaultConfig()
	cfg.SecretKey = n.key.Secret
	cfg.Signal = sig
	cfg.ICEServers = n.cfg.WebRTC.iceServers()
	cfg.Loopback = n.cfg.WebRTC.Loopback
	cfg.Blobs = bridgeBlobs{Blobs: n.blobs, n: n}
	cfg.Logger = n.log.With("part", "webrtc")
	rtc, err := webrtc.New(cfg)
	if err != nil {
		n.log.Error("WebRTC is off: browsers cannot fetch from this node", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rtc.Start(ctx); err != nil {
		n.log.Error("WebRTC is off: its signaling subscription did not start", "err", err)
		rtc.Close()
		return
	}
	n.rtc = rtc
}

// stopWebRTC closes the WebRTC node and its signaling connections.
func (n *Node) stopWebRTC() {
	if n.rtc == nil {
		return
	}
	n.rtc.Close()
	n.rtcSignal.Close()
}

// relaySignal is the webrtc.SignalChannel of the node's WebRTC side, over
// its own relay. It publishes through a websocket as any client does,
// answering NIP-42 AUTH with the node key (a relay run with --auth writes
// or all requires it), and subscribes in process: the relay's OnEvent hook
// hands it every signal it accepts (deliverSignal), so no connection and no
// AUTH is needed to listen.
type relaySignal struct {
	url, secret string

	mu   sync.Mutex
	conn *client.Conn

	subMu sync.Mutex
	subs  map[*signalSub]struct{}
}

type signalSub struct {
	f  nostr.Filter
	fn func(*nostr.Event)
}

func newRelaySignal() *relaySignal {
	return &relaySignal{subs: make(map[*signalSub]struct{})}
}

// Publish implements webrtc.SignalChannel.
func (s *relaySignal) Publish(ctx context.Context, ev *nostr.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.url == "" {
		return errors.New("the node's relay is not listening yet")
	}
	if s.conn == nil {
		c, err := client.Dial(ctx, s.url)
		if err != nil {
			return err
		}
		s.conn = c
	}
	err := s.conn.PublishAs(ctx, ev, s.secret)
	if err != nil && !errors.Is(err, client.ErrRefused) {
		s.conn.Close()
		s.conn = nil
	}
	return err
}

// Subscribe implements webrtc.SignalChannel: fn gets every event matching
// f that the relay accepts from now until ctx ends.
func (s *relaySignal) Subscribe(ctx context.Context, f nostr.Filter, fn func(*nostr.Event), ready func()) error {
	sub := &signalSub{f: f, fn: fn}
	s.subMu.Lock()
	s.subs[sub] = struct{}{}
	s.subMu.Unlock()
	defer func() {
		s.subMu.Lock()
		delete(s.subs, sub)
		s.subMu.Unlock()
	}()
	if ready != nil {
		ready()
	}
	<-ctx.Done()
	return ctx.Err()
}

// deliver passes an event the relay accepted to the matching
// subscriptions.
func (s *relaySignal) deliver(ev *nostr.Event) {
	s.subMu.Lock()
	var fns []func(*nostr.Event)
	for sub := range s.subs {
		if sub.f.Matches(ev) {
			fns = append(fns, sub.fn)
		}
	}
	s.subMu.Unlock()
	for _, fn := range fns {
		fn(ev)
	}
}

// Close closes the publishing connection.
func (s *relaySignal) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
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
	ctx, cancel := b.n.stopContext(bridgeTimeout)
	defer cancel()
	if err := b.n.fetchChunk(ctx, hash); err != nil {
		b.n.log.Debug("bridging a chunk for a WebRTC peer", "chunk", hex.EncodeToString(hash[:8]), "err", err)
		return nil, blobstore.ErrNotFound
	}
	return b.Blobs.Get(hash)
}

// fetchChunk stores the chunk hash of a known root, fetched from the swarm
// through the root's on-demand source. An unknown chunk is ErrUnknown.
func (n *Node) fetchChunk(ctx context.Context, hash [32]byte) error {
	it, idx := n.itemByChunk(ctx, hash)
	if it == nil {
		return ErrUnknown
	}
	src, release, err := n.source(it)
	if err != nil {
		return err
	}
	defer release()
	return src.Need(ctx, idx)
}

// itemByChunk finds a stored chunk map listing hash, and its index there.
func (n *Node) itemByChunk(ctx context.Context, hash [32]byte) (*item, int) {
	var it *item
	idx := -1
	n.eachChunkMap(ctx, hex.EncodeToString(hash[:]), func(m *chunkmap.Map, ev *nostr.Event) error {
		for i, h := range m.Chunks {
			if h == hash {
				it, idx = &item{m: m, mapEv: ev}, i
				return errStop
			}
		}
		return nil
	})
	return it, idx
}

// webrtcRetry is how long a WebRTC peer added to a download is left alone
// before it is added again (which clears its failures).
const webrtcRetry = time.Minute

// addWebRTCPeers adds to d, over the WebRTC transport, the pubkeys among
// the map's author, its gatekeepers and the root's live announcers that
// have no cairn-p2p record (those with one are libp2p peers). added
// remembers when each was added, so a peer that does not answer is tried
// again only after webrtcRetry.
func (n *Node) addWebRTCPeers(ctx context.Context, d *swarm.Download, it *item, added map[string]time.Time) {
	if n.rtc == nil {
		return
	}
	cands := append([]string{}, it.m.Gatekeepers...)
	if it.mapEv != nil {
		cands = append(cands, it.mapEv.PubKey)
	}
	for _, a := range n.announced.get(it.m.Root, time.Now()) {
		cands = append(cands, a.pubkey)
	}
	now := time.Now()
	for _, pk := range n.withoutRecord(ctx, cands) {
		if t, ok := added[pk]; ok && now.Sub(t) < webrtcRetry {
			continue
		}
		added[pk] = now
		d.AddPeer(swarm.PeerID(pk), n.rtc.Transport(), swarm.HasAll)
	}
}

// withoutRecord returns the distinct valid pubkeys of pks, other than the
// node's, that have no stored cairn-p2p record.
func (n *Node) withoutRecord(ctx context.Context, pks []string) []string {
	seen := map[string]bool{n.key.Public: true}
	var uniq []string
	for _, pk := range pks {
		if !seen[pk] && isHex64(pk) {
			seen[pk] = true
			uniq = append(uniq, pk)
		}
	}
	if len(uniq) == 0 {
		return nil
	}
	has := map[string]bool{}
	f := nostr.Filter{Kinds: []int{KindAppData}, Authors: uniq, Tags: nostr.TagMap{"d": {AddressingTag}}}
	n.store.Query(ctx, f, 0, func(raw []byte) error {
		var ev struct {
			PubKey string `json:"pubkey"`
		}
		if json.Unmarshal(raw, &ev) == nil {
			has[ev.PubKey] = true
		}
		return nil
	})
	out := uniq[:0]
	for _, pk := range uniq {
		if !has[pk] {
			out = append(out, pk)
		}
	}
	return out
}

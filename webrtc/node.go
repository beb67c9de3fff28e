package webrtc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-nostr/cairn/nostr"
	"github.com/cairn-nostr/cairn/webrtc/rtc"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/credit"
	"github.com/cairn-nostr/cairn/credit/tally"
	"github.com/cairn-nostr/cairn/sha"
)

// Label is the DataChannel label (Entropy's).
const Label = "entropy"

// Config configures a Node. Start from DefaultConfig.
type Config struct {
	// SecretKey is the Nostr secret key (hex) that signs and decrypts
	// signaling; the node's pubkey is its identity to peers.
	SecretKey string
	// Signal carries kind 20001 events (a RelayClient).
	Signal SignalChannel
	// ICEServers are the STUN/TURN servers; none on loopback.
	ICEServers []rtc.ICEServer
	// ICETransportPolicy "relay" uses only relay (TURN) candidates: the
	// path a peer behind a symmetric NAT takes; the zero value is "all".
	ICETransportPolicy rtc.ICETransportPolicy
	// Loopback restricts ICE to loopback (tests on one machine): natively,
	// 127.0.0.1 host candidates only, without mDNS; in the browser, where
	// gathering depends on Chromium's flags, the descriptions this side
	// sends keep only their 127.0.0.1 candidates (KeepLoopbackCandidates).
	Loopback bool
	// Blobs is what the node serves to peers that REQUEST chunks; nil
	// serves nothing (every request is NOT_FOUND).
	Blobs blobstore.Blobs
	// Hasher verifies the chunks Fetch receives; nil means sha.Default()
	// (WebCrypto in the browser, off the page's thread; crypto/sha256
	// natively).
	Hasher sha.Hasher
	// Receipts signs and sends a receipt (kind 7772, message 0x07) for
	// every chunk Fetch receives and verifies (default on).
	Receipts bool
	// OnReceipt gets every receipt a peer sent for a chunk this node
	// served, once credit.Book accepted it; OnReceiptSent every receipt
	// this node sent. Both may be nil; they must not block.
	OnReceipt     func(credit.Receipt, *nostr.Event)
	OnReceiptSent func(credit.Receipt)
	// Gate, when set, decides every chunk REQUEST on its requester's
	// balance with this node, as libp2p serving does (credit.Gate). The
	// requester is the pubkey that signed its kind 20001 signaling. A
	// debtor's chunk goes out later, from a timer, never holding up the
	// channel's loop; one whose turn is past the gate's MaxWait is refused
	// with ERROR INSUFFICIENT_CREDIT. The chunks Fetch verifies are booked
	// on it as received from their peer. nil serves everyone.
	Gate *tally.Gate
	// Scarce reports whether few seeders hold the content of root: a
	// debtor is then throttled rather than refused. nil: never scarce.
	Scarce func(root [32]byte) bool
	// Busy reports whether this node's other uploads (libp2p) are serving
	// peers in credit; this node's own WebRTC uploads to peers in credit
	// count besides. nil: WebRTC's only.
	Busy func() bool

	RequestsPerSecond int           // REQUESTs per peer per 1 s window; more are BUSY
	MaxStrikes        int           // malformed messages or bad chunks before a ban
	BanFor            time.Duration // how long a ban lasts
	IdleTimeout       time.Duration // a channel with no message either way is closed
	ConnectTimeout    time.Duration // offer to open DataChannel
	RequestTimeout    time.Duration // one chunk, REQUEST to last byte
	MaxQueued         int           // bytes received and not yet handled before the channel is closed

	Logger *slog.Logger
	Now    func() time.Time
}

// DefaultConfig returns Entropy's limits.
func DefaultConfig() Config {
	return Config{
		Receipts:          true,
		RequestsPerSecond: 10,
		MaxStrikes:        3,
		BanFor:            30 * time.Minute,
		IdleTimeout:       60 * time.Second,
		ConnectTimeout:    10 * time.Second,
		RequestTimeout:    15 * time.Second,
		MaxQueued:         16 << 20,
	}
}

// Validate checks cfg.
func (c *Config) Validate() error {
	switch {
	case c.SecretKey == "":
		return errors.New("webrtc: no secret key")
	case c.Signal == nil:
		return errors.New("webrtc: no signal channel")
	case c.RequestsPerSecond <= 0, c.MaxStrikes <= 0, c.BanFor <= 0, c.IdleTimeout <= 0,
		c.ConnectTimeout <= 0, c.RequestTimeout <= 0, c.MaxQueued < 2*MaxBuffered:
		return errors.New("webrtc: a limit is zero or negative (start from DefaultConfig)")
	}
	return nil
}

// Stats counts a node's DataChannel bytes (every message, protocol
// overhead included).
type Stats struct {
	BytesUp, BytesDown int64
	Conns              int
}

var (
	// ErrClosed: the node or connection is closed.
	ErrClosed = errors.New("webrtc: closed")
	// ErrBanned: the peer is banned.
	ErrBanned = errors.New("webrtc: peer banned")
)

// Node holds a key, its signaling subscription and its peer connections.
type Node struct {
	cfg Config
	pub string
	api *rtc.API
	log *slog.Logger

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closing sync.WaitGroup // pion closes, run outside its callbacks

	mu      sync.Mutex
	sig     Signaler
	peers   map[sigKey]*peerState // negotiations in progress, by (peer, root)
	conns   map[string]*Conn      // open channels, one per peer pubkey (Conn.register)
	dials   map[string]*dialCall  // Transport dials in progress, by peer pubkey
	bans    map[string]time.Time
	strikes map[string]int
	limits  map[string]*window

	accepted   chan *Conn
	up, down   atomic.Int64
	rcptOnce   sync.Once
	rcpt       *tally.Counter
	rcptQOnce  sync.Once
	rcptQ      chan pendingReceipt // receipts waiting for their check (receipts.go)
	inCredit   atomic.Int32        // chunks being sent to peers in credit (gate.go)
	gated      struct{ throttled, refused atomic.Int64 }
	onDupOffer func()                    // tests
	onOffer    func(*rtc.PeerConnection) // tests: Dial's channel is made, the offer not yet
}

type peerState struct {
	pc        *rtc.PeerConnection // nil while Dial creates it
	answer    chan rtc.SessionDescription
	remoteSet bool
	cands     []rtc.ICECandidateInit
}

type window struct {
	start time.Time
	n     int
}

// New returns a node; Start subscribes to its signals.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pub, err := PublicKey(cfg.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("webrtc: secret key: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Hasher == nil {
		cfg.Hasher = sha.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Node{
		cfg: cfg, pub: pub, api: newAPI(&cfg), log: cfg.Logger,
		ctx: ctx, cancel: cancel,
		peers: map[sigKey]*peerState{}, conns: map[string]*Conn{}, dials: map[string]*dialCall{},
		bans: map[string]time.Time{}, strikes: map[string]int{}, limits: map[string]*window{},
		accepted: make(chan *Conn, 16),
	}, nil
}

// PubKey returns the node's pubkey (hex).
func (n *Node) PubKey() string { return n.pub }

// Stats returns the byte counters.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	c := len(n.conns)
	n.mu.Unlock()
	return Stats{BytesUp: n.up.Load(), BytesDown: n.down.Load(), Conns: c}
}

// PeerStats counts one open channel's bytes.
type PeerStats struct {
	PubKey             string
	BytesUp, BytesDown int64
}

// Peers returns the open channels' byte counters, by pubkey.
func (n *Node) Peers() []PeerStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]PeerStats, 0, len(n.conns))
	for pk, c := range n.conns {
		out = append(out, PeerStats{PubKey: pk, BytesUp: c.up.Load(), BytesDown: c.down.Load()})
	}
	return out
}

// Start subscribes to signals addressed to the node ({"kinds":[20001],
// "#p":[me],"since":now-5}) and returns once the subscription is live.
// The subscription is retried until Close.
func (n *Node) Start(ctx context.Context) error {
	ready := make(chan struct{})
	var once sync.Once
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for n.ctx.Err() == nil {
			since := nostr.Timestamp(n.cfg.Now().Add(-5 * time.Second).Unix())
			f := nostr.Filter{Kinds: []int{KindSignal}, Tags: nostr.TagMap{"p": {n.pub}}, Since: &since}
			err := n.cfg.Signal.Subscribe(n.ctx, f, n.handle, func() { once.Do(func() { close(ready) }) })
			if n.ctx.Err() != nil {
				return
			}
			n.log.Debug("signal subscription ended", "err", err)
			select {
			case <-n.ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close closes every connection and the subscription, and waits for the
// node's goroutines.
func (n *Node) Close() {
	n.cancel()
	n.mu.Lock()
	conns := make([]*Conn, 0, len(n.conns))
	pcs := make([]*rtc.PeerConnection, 0, len(n.conns)+len(n.peers))
	for _, c := range n.conns {
		conns = append(conns, c)
		pcs = append(pcs, c.pc) // Conn.Close no longer waits once n is closing
	}
	for _, p := range n.peers {
		if p.pc != nil {
			pcs = append(pcs, p.pc)
		}
	}
	n.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	for _, pc := range pcs {
		pc.Close()
	}
	n.wg.Wait()
	n.closing.Wait()
}

// Accept returns the next DataChannel a peer opened to this node. Inbound
// channels are served (REQUESTs answered from Config.Blobs) whether or not
// they are accepted.
func (n *Node) Accept(ctx context.Context) (*Conn, error) {
	select {
	case c := <-n.accepted:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-n.ctx.Done():
		return nil, ErrClosed
	}
}

// Ban refuses peer until until and closes its connection.
func (n *Node) Ban(peer string, until time.Time) {
	n.mu.Lock()
	n.bans[peer] = until
	delete(n.strikes, peer)
	c := n.conns[peer]
	n.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

func (n *Node) bannedLocked(peer string) bool {
	until, ok := n.bans[peer]
	if !ok {
		return false
	}
	if !n.cfg.Now().Before(until) {
		delete(n.bans, peer)
		return false
	}
	return true
}

// strike counts a violation by peer; MaxStrikes of them ban it.
func (n *Node) strike(peer string, err error) {
	n.mu.Lock()
	n.strikes[peer]++
	ban := n.strikes[peer] >= n.cfg.MaxStrikes
	n.mu.Unlock()
	n.log.Debug("strike", "peer", peer, "err", err, "ban", ban)
	if ban {
		n.Ban(peer, n.cfg.Now().Add(n.cfg.BanFor))
	}
}

// allow applies the per-peer request limit (fixed 1 s window).
func (n *Node) allow(peer string) bool {
	now := n.cfg.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	w := n.limits[peer]
	if w == nil {
		w = &window{}
		n.limits[peer] = w
	}
	if now.Sub(w.start) >= time.Second {
		w.start, w.n = now, 0
	}
	w.n++
	return w.n <= n.cfg.RequestsPerSecond
}

// handle takes one event from the subscription; it must not block.
func (n *Node) handle(ev *nostr.Event) {
	s, err := ParseSignal(n.cfg.SecretKey, n.pub, ev)
	if err != nil {
		n.log.Debug("dropping signal", "id", ev.ID, "err", err)
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	// A signal delivered once Close has begun is dropped: what it would
	// start joins WaitGroups Close may already be waiting on.
	if n.ctx.Err() != nil || n.bannedLocked(s.From) {
		return
	}
	if v := n.sig.Step(s, n.cfg.Now()); v != Accept {
		n.log.Debug("dropping signal", "from", s.From, "type", s.Type, "verdict", v)
		if v == Duplicate && n.onDupOffer != nil {
			n.onDupOffer()
		}
		return
	}
	k := sigKey{s.From, s.Root}
	switch s.Type {
	case TypeOffer:
		sd, ok := parseSDP(s.Payload, rtc.SDPTypeOffer)
		if !ok {
			return
		}
		if _, busy := n.peers[k]; busy || len(n.peers) >= maxNegotiations {
			return
		}
		if c := n.conns[s.From]; c != nil && !c.isClosed() && sameSession(c.pc, sd) {
			// A new offer within the live connection (an ICE restart):
			// answered on it, so the connection and its DTLS session
			// stay.
			p := &peerState{pc: c.pc}
			n.peers[k] = p
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				if err := n.renegotiate(k, p, sd); err != nil {
					n.log.Debug("answering an ICE restart", "from", s.From, "err", err)
				}
			}()
			return
		}
		// Reserved now, so the candidates the peer trickles right after
		// its offer are held until the answer's PeerConnection exists.
		p := &peerState{}
		n.peers[k] = p
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if err := n.answer(k, p, sd); err != nil {
				n.log.Debug("answering offer", "from", s.From, "err", err)
			}
		}()
	case TypeAnswer:
		sd, ok := parseSDP(s.Payload, rtc.SDPTypeAnswer)
		if !ok {
			return
		}
		if p := n.peers[k]; p != nil && p.answer != nil {
			select {
			case p.answer <- sd:
			default:
			}
		}
	case TypeCandidate:
		var c rtc.ICECandidateInit
		if json.Unmarshal([]byte(s.Payload), &c) != nil {
			return
		}
		p := n.peers[k]
		if p == nil {
			return
		}
		if !p.remoteSet {
			if len(p.cands) < 64 {
				p.cands = append(p.cands, c)
			}
			return
		}
		n.closing.Add(1)
		go func() { // not under n.mu
			defer n.closing.Done()
			p.pc.AddICECandidate(c)
		}()
	}
}

// maxNegotiations bounds the offers being answered and dials in progress
// at once: each holds a PeerConnection for up to ConnectTimeout.
const maxNegotiations = 32

// parseSDP reads a signal's session description: the JSON of an
// RTCSessionDescription ({"type":...,"sdp":...}), or, tolerated, the bare
// SDP text, whose type is then the signal's.
func parseSDP(payload string, typ rtc.SDPType) (rtc.SessionDescription, bool) {
	var sd rtc.SessionDescription
	if err := json.Unmarshal([]byte(payload), &sd); err != nil {
		if !strings.HasPrefix(payload, "v=0") {
			return sd, false
		}
		sd = rtc.SessionDescription{Type: typ, SDP: payload}
	}
	return sd, sd.Type == typ && sd.SDP != ""
}

// setRemote sets the remote description of p's negotiation and adds the
// candidates that came before it; mu guards p's fields.
func setRemote(mu *sync.Mutex, p *peerState, sd rtc.SessionDescription) error {
	if err := p.pc.SetRemoteDescription(sd); err != nil {
		return fmt.Errorf("setting remote description: %w", err)
	}
	mu.Lock()
	p.remoteSet = true
	cands := p.cands
	p.cands = nil
	mu.Unlock()
	for _, c := range cands {
		p.pc.AddICECandidate(c)
	}
	return nil
}

func (n *Node) newPC() (*rtc.PeerConnection, error) {
	return n.api.NewPeerConnection(rtc.Configuration{ICEServers: n.cfg.ICEServers, ICETransportPolicy: n.cfg.ICETransportPolicy})
}

// candidates is what a PeerConnection gathers after its local
// description is set, for trickling: gather installs it before the
// description is set, describe sends what was gathered by then inside the
// description, trickle sends the rest as "ice-candidate" signals.
type candidates struct {
	mu    sync.Mutex
	queue []rtc.ICECandidateInit
	wake  chan struct{} // a candidate was queued, or gathering completed
	ended bool          // gathering completed
	done  chan struct{} // trickle has sent everything (or gave up)
	sent  atomic.Int32  // candidates sent, in the description or trickled
	loop  bool          // Config.Loopback: only 127.0.0.1 candidates go out
	mid   string        // the description's first media id, for candidates without one
}

// gather makes pc report its candidates to the returned queue; call it
// before setting the local description. loop: only 127.0.0.1 candidates go
// out (Config.Loopback). pion calls the handler from its own goroutines; it
// never blocks.
func gather(pc *rtc.PeerConnection, loop bool) *candidates {
	tr := &candidates{wake: make(chan struct{}, 1), done: make(chan struct{}), loop: loop}
	pc.OnICECandidate(func(c *rtc.ICECandidate) {
		tr.mu.Lock()
		if c == nil {
			tr.ended = true
		} else if len(tr.queue) < 64 {
			tr.queue = append(tr.queue, c.ToJSON())
		}
		tr.mu.Unlock()
		signal(tr.wake)
	})
	return tr
}

// noLoopback tells whether Config.Loopback is set and no 127.0.0.1
// candidate has gone out.
func (tr *candidates) noLoopback() bool { return tr.loop && tr.sent.Load() == 0 }

// describe sets the local description and returns it at once, with the
// candidates gathered so far (trickle ICE: the rest follow as signals, so
// the offer or answer does not wait for gathering to complete, which with
// STUN or TURN servers can take seconds). With tr.loop only its 127.0.0.1
// candidates are kept.
func describe(pc *rtc.PeerConnection, sd rtc.SessionDescription, tr *candidates) (string, error) {
	if err := pc.SetLocalDescription(sd); err != nil {
		return "", fmt.Errorf("setting local description: %w", err)
	}
	local := pc.LocalDescription()
	if local == nil {
		return "", errors.New("webrtc: no local description")
	}
	out := *local
	kept := strings.Count(out.SDP, "a=candidate:")
	if tr.loop {
		out.SDP, kept = KeepLoopbackCandidates(out.SDP)
	}
	tr.sent.Add(int32(kept))
	tr.mid = "0"
	if m := sdpAttrValue(out.SDP, "mid"); m != "" {
		tr.mid = m
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// trickle sends, in the background, the candidates pc gathers after its
// description was sent, each with send (the JSON of an ICE candidate),
// until gathering completes or ctx (the negotiation) ends. A candidate
// already inside the description may go again; the peer ignores the
// repeat. wg counts the goroutine.
func trickle(ctx context.Context, wg *sync.WaitGroup, tr *candidates, log *slog.Logger, send func(context.Context, string) error) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(tr.done)
		for {
			tr.mu.Lock()
			q, ended := tr.queue, tr.ended
			tr.queue = nil
			tr.mu.Unlock()
			for _, c := range q {
				if tr.loop && !loopbackCandidate(c.Candidate) {
					continue
				}
				if c.SDPMid == nil || *c.SDPMid == "" {
					zero, mid := uint16(0), tr.mid // the one m-section: the DataChannel's
					c.SDPMid, c.SDPMLineIndex = &mid, &zero
				}
				b, err := json.Marshal(c)
				if err != nil {
					continue
				}
				if err := send(ctx, string(b)); err != nil {
					log.Debug("sending a candidate", "err", err)
					return
				}
				tr.sent.Add(1)
			}
			if ended {
				return
			}
			select {
			case <-tr.wake:
			case <-ctx.Done():
				return
			}
		}
	}()
}

// trickle trickles to peer as kind 20001 "ice-candidate" signals.
func (n *Node) trickle(ctx context.Context, peer string, root [32]byte, tr *candidates) {
	trickle(ctx, &n.wg, tr, n.log.With("peer", peer), func(ctx context.Context, c string) error {
		return n.publish(ctx, peer, root, TypeCandidate, c)
	})
}

// loopbackCandidate tells whether an ICE candidate line ("candidate:
// foundation component transport priority address port typ ...") has the
// address 127.0.0.1.
func loopbackCandidate(line string) bool {
	f := strings.Fields(strings.TrimPrefix(line, "candidate:"))
	return len(f) >= 8 && f[4] == "127.0.0.1"
}

func (n *Node) publish(ctx context.Context, to string, root [32]byte, typ, payload string) error {
	ev, err := BuildSignal(n.cfg.SecretKey, to, root, typ, payload, n.cfg.Now())
	if err != nil {
		return err
	}
	return n.cfg.Signal.Publish(ctx, ev)
}

// Dial opens a DataChannel to remote (a pubkey, hex) for the content with
// Merkle root root, signaling through the node's SignalChannel.
func (n *Node) Dial(ctx context.Context, remote string, root [32]byte) (*Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ConnectTimeout)
	defer cancel()
	k := sigKey{remote, root}
	n.mu.Lock()
	if n.bannedLocked(remote) {
		n.mu.Unlock()
		return nil, ErrBanned
	}
	if _, busy := n.peers[k]; busy {
		n.mu.Unlock()
		return nil, fmt.Errorf("webrtc: already negotiating with %s", remote)
	}
	// Reserve the negotiation; its PeerConnection is made outside n.mu.
	p := &peerState{answer: make(chan rtc.SessionDescription, 1)}
	n.peers[k] = p
	n.mu.Unlock()
	var pc *rtc.PeerConnection
	done := false
	defer func() {
		n.mu.Lock()
		if n.peers[k] == p {
			delete(n.peers, k)
		}
		n.mu.Unlock()
		if pc != nil && !done {
			pc.Close()
		}
	}()
	pc, err := n.newPC()
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	p.pc = pc
	n.mu.Unlock()
	// This side opens the only channel; one the peer opens is closed.
	pc.OnDataChannel(func(dc *rtc.DataChannel) {
		n.log.Debug("closing a DataChannel opened by the answering peer", "peer", remote, "label", dc.Label())
		dc.Close()
	})

	ordered := true
	dc, err := pc.CreateDataChannel(Label, &rtc.DataChannelInit{Ordered: &ordered})
	if err != nil {
		return nil, err
	}
	c := n.newConn(remote, pc, dc, true)
	if n.onOffer != nil {
		n.onOffer(pc)
	}
	tr := gather(pc, n.cfg.Loopback)
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, err
	}
	payload, err := describe(pc, offer, tr)
	if err != nil {
		return nil, err
	}
	if err := n.publish(ctx, remote, root, TypeOffer, payload); err != nil {
		return nil, fmt.Errorf("sending offer: %w", err)
	}
	n.trickle(ctx, remote, root, tr)
	select {
	case sd := <-p.answer:
		if err := setRemote(&n.mu, p, sd); err != nil {
			return nil, err
		}
	case <-ctx.Done():
		if tr.noLoopback() {
			return nil, ErrNoLoopbackCandidate
		}
		return nil, fmt.Errorf("waiting for answer from %s: %w", remote, ctx.Err())
	}
	select {
	case <-c.opened:
	case <-c.closed:
		// Refused because the peer dialled this node at the same time and
		// its channel is the one both sides keep (Conn.register)?
		if kept := n.openConn(remote); kept != nil {
			return kept, nil
		}
		return nil, fmt.Errorf("connecting to %s: %w", remote, ErrClosed)
	case <-ctx.Done():
		return nil, fmt.Errorf("connecting to %s: %w", remote, ctx.Err())
	}
	done = true
	return c, nil
}

// openConn returns the open channel to peer, or nil.
func (n *Node) openConn(peer string) *Conn {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.conns[peer]
}

// sameSession tells whether offer belongs to pc's connection: it carries
// the DTLS certificate fingerprint pc's peer already uses. Entropy sends
// such an offer, with new ICE credentials, to restart ICE on a connection
// that failed; a peer that starts over (a reloaded tab) has a new
// certificate.
func sameSession(pc *rtc.PeerConnection, offer rtc.SessionDescription) bool {
	cur := pc.RemoteDescription()
	if cur == nil {
		return false
	}
	fp := sdpFingerprint(cur.SDP)
	return fp != "" && fp == sdpFingerprint(offer.SDP)
}

// sdpFingerprint is the first a=fingerprint value of an SDP, lowercased.
func sdpFingerprint(sdp string) string { return strings.ToLower(sdpAttrValue(sdp, "fingerprint")) }

// sdpAttrValue is the value of the first a=<name>: line of an SDP.
func sdpAttrValue(sdp, name string) string {
	for l := range strings.SplitSeq(sdp, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "a="+name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// restartGrace is how long an ICE restart keeps taking the peer's
// trickled candidates after this side's are sent.
const restartGrace = 3 * time.Second

// renegotiate answers an offer made within a live connection (an ICE
// restart) on that connection's PeerConnection: its channel and DTLS
// session stay; ICE gathers and checks again.
func (n *Node) renegotiate(k sigKey, p *peerState, offer rtc.SessionDescription) error {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.ConnectTimeout)
	defer cancel()
	defer func() {
		n.mu.Lock()
		if n.peers[k] == p {
			delete(n.peers, k)
		}
		n.mu.Unlock()
	}()
	if err := setRemote(&n.mu, p, offer); err != nil {
		return err
	}
	tr := gather(p.pc, n.cfg.Loopback)
	ans, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	payload, err := describe(p.pc, ans, tr)
	if err != nil {
		return err
	}
	if err := n.publish(ctx, k.peer, k.root, TypeAnswer, payload); err != nil {
		return fmt.Errorf("sending answer: %w", err)
	}
	n.trickle(ctx, k.peer, k.root, tr)
	// The negotiation stays reserved a while, so the candidates the peer
	// trickles after its offer are still added.
	<-tr.done
	select {
	case <-time.After(restartGrace):
	case <-ctx.Done():
	}
	return nil
}

// answer answers an offer; the channel becomes a Conn when it opens.
func (n *Node) answer(k sigKey, p *peerState, offer rtc.SessionDescription) error {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.ConnectTimeout)
	defer cancel()
	remote, root := k.peer, k.root
	pc, err := n.newPC()
	if err != nil {
		n.mu.Lock()
		if n.peers[k] == p {
			delete(n.peers, k)
		}
		n.mu.Unlock()
		return err
	}
	n.mu.Lock()
	if n.ctx.Err() != nil {
		if n.peers[k] == p {
			delete(n.peers, k)
		}
		n.mu.Unlock()
		pc.Close()
		return nil
	}
	p.pc = pc
	n.mu.Unlock()
	// The first "entropy" channel the peer opens is the connection; any
	// other channel on this PeerConnection is closed, so chans (capacity
	// 1) is sent to once and never blocks pion's callback.
	chans := make(chan *Conn, 1)
	var taken atomic.Bool
	pc.OnDataChannel(func(dc *rtc.DataChannel) {
		if dc.Label() != Label || !taken.CompareAndSwap(false, true) {
			n.log.Debug("closing an extra DataChannel", "peer", remote, "label", dc.Label())
			dc.Close()
			return
		}
		chans <- n.newConn(remote, pc, dc, false)
	})
	done := false
	defer func() {
		n.mu.Lock()
		if n.peers[k] == p {
			delete(n.peers, k)
		}
		n.mu.Unlock()
		if !done {
			pc.Close()
		}
	}()
	if err := setRemote(&n.mu, p, offer); err != nil {
		return err
	}
	tr := gather(pc, n.cfg.Loopback)
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	payload, err := describe(pc, ans, tr)
	if err != nil {
		return err
	}
	if err := n.publish(ctx, remote, root, TypeAnswer, payload); err != nil {
		return fmt.Errorf("sending answer: %w", err)
	}
	n.trickle(ctx, remote, root, tr)
	var c *Conn
	select {
	case c = <-chans:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-c.opened:
		done = true
		select {
		case n.accepted <- c:
		default:
		}
		return nil
	case <-c.closed:
		return fmt.Errorf("channel from %s: %w", remote, ErrClosed)
	case <-ctx.Done():
		return ctx.Err()
	}
}

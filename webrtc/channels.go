package webrtc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cairn-nostr/cairn/webrtc/rtc"
)

// Channels are DataChannels of text messages to peers named by any id (a
// NIP-95 peer id), negotiated over a signal path the caller provides
// (NIP-95's PEER_SIGNAL through the relay) with simple-peer's signal
// objects, the ones the Nexus relay's browser client sends:
//
//	{"type":"offer","sdp":...}  {"type":"answer","sdp":...}
//	{"type":"candidate","candidate":{"candidate":...,"sdpMLineIndex":0,"sdpMid":"0"}}
//
// Candidates are trickled both ways, as for kind 20001 signaling (the
// same gathering and loopback trimming). One PeerConnection per peer id at
// a time; a new offer from a peer replaces its previous connection. The
// dialling side opens one ordered channel; the answering side takes the
// first channel the peer opens, whatever its label (simple-peer's is
// random).
//
//	chs := rtc.NewChannels(rtc.ChannelsConfig{Send: sendPeerSignal})
//	chs.Signal(from, data)            // for every PEER_SIGNAL_RELAY
//	c, err := chs.Dial(ctx, peerID)   // or chs.Accept(ctx)
//	c.Send(msg); msg, err := c.Recv(ctx)
type Channels struct {
	cfg ChannelsConfig
	api *rtc.API
	log *slog.Logger

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closing sync.WaitGroup // pion closes, run outside its callbacks

	mu       sync.Mutex
	nego     map[string]*peerState // one negotiation or connection per peer id
	accepted chan *MsgConn
}

// ChannelsConfig configures Channels.
type ChannelsConfig struct {
	// Send carries a signal object to peer id to (PEER_SIGNAL).
	Send func(ctx context.Context, to string, data json.RawMessage) error
	// Loopback and ICEServers as in Config.
	Loopback   bool
	ICEServers []rtc.ICEServer
	// ConnectTimeout bounds a negotiation (10 s); MaxQueued bounds the
	// messages received and not yet read before the channel is closed
	// (1,024).
	ConnectTimeout time.Duration
	MaxQueued      int
	Logger         *slog.Logger
}

// spSignal is simple-peer's signal object.
type spSignal struct {
	Type      string                `json:"type"`
	SDP       string                `json:"sdp,omitempty"`
	Candidate *rtc.ICECandidateInit `json:"candidate,omitempty"`
}

// NewChannels returns Channels that send signals with cfg.Send.
func NewChannels(cfg ChannelsConfig) *Channels {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = 1024
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Channels{
		cfg: cfg, api: newAPI(&Config{Loopback: cfg.Loopback}), log: cfg.Logger,
		ctx: ctx, cancel: cancel, nego: map[string]*peerState{}, accepted: make(chan *MsgConn, 16),
	}
}

// enter counts a goroutine in wg unless Close has begun.
func (cs *Channels) enter() bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.ctx.Err() != nil {
		return false
	}
	cs.wg.Add(1)
	return true
}

// Close closes every connection and waits for the goroutines.
func (cs *Channels) Close() {
	cs.cancel()
	cs.mu.Lock()
	var pcs []*rtc.PeerConnection
	for id, n := range cs.nego {
		if n.pc != nil {
			pcs = append(pcs, n.pc)
		}
		delete(cs.nego, id)
	}
	cs.mu.Unlock()
	for _, pc := range pcs {
		pc.Close()
	}
	cs.wg.Wait()
	cs.closing.Wait()
}

// Accept returns the next channel a peer opened to this side.
func (cs *Channels) Accept(ctx context.Context) (*MsgConn, error) {
	select {
	case c := <-cs.accepted:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-cs.ctx.Done():
		return nil, ErrClosed
	}
}

func (cs *Channels) send(ctx context.Context, to string, s spSignal) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return cs.cfg.Send(ctx, to, b)
}

// sendDescription sends pc's local description (with the candidates
// gathered so far) and trickles the rest.
func (cs *Channels) sendDescription(ctx context.Context, to string, pc *rtc.PeerConnection, sd rtc.SessionDescription) error {
	tr := gather(pc, cs.cfg.Loopback)
	payload, err := describe(pc, sd, tr)
	if err != nil {
		return err
	}
	var local rtc.SessionDescription
	if err := json.Unmarshal([]byte(payload), &local); err != nil {
		return err
	}
	if err := cs.send(ctx, to, spSignal{Type: local.Type.String(), SDP: local.SDP}); err != nil {
		return fmt.Errorf("sending %s to %s: %w", local.Type, to, err)
	}
	trickle(ctx, &cs.wg, tr, cs.log.With("peer", to), func(ctx context.Context, c string) error {
		var init rtc.ICECandidateInit
		if err := json.Unmarshal([]byte(c), &init); err != nil {
			return err
		}
		return cs.send(ctx, to, spSignal{Type: "candidate", Candidate: &init})
	})
	return nil
}

// Signal takes a signal object from peer from (PEER_SIGNAL_RELAY). It
// never blocks; a malformed one is dropped.
func (cs *Channels) Signal(from string, data json.RawMessage) {
	var s spSignal
	if err := json.Unmarshal(data, &s); err != nil || from == "" {
		cs.log.Debug("dropping a malformed signal", "from", from, "err", err)
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.ctx.Err() != nil {
		return
	}
	n := cs.nego[from]
	switch s.Type {
	case "offer":
		if s.SDP == "" {
			return
		}
		if n != nil && n.pc != nil { // the peer starts over
			go n.pc.Close()
		}
		n = &peerState{}
		cs.nego[from] = n
		cs.wg.Add(1)
		go func() {
			defer cs.wg.Done()
			if err := cs.answer(from, n, rtc.SessionDescription{Type: rtc.SDPTypeOffer, SDP: s.SDP}); err != nil {
				cs.log.Debug("answering", "from", from, "err", err)
			}
		}()
	case "answer":
		if n != nil && n.answer != nil && s.SDP != "" {
			select {
			case n.answer <- rtc.SessionDescription{Type: rtc.SDPTypeAnswer, SDP: s.SDP}:
			default:
			}
		}
	case "candidate":
		if n == nil || s.Candidate == nil {
			return
		}
		if !n.remoteSet || n.pc == nil {
			if len(n.cands) < 64 {
				n.cands = append(n.cands, *s.Candidate)
			}
			return
		}
		pc, c := n.pc, *s.Candidate
		cs.wg.Add(1)
		go func() { // not under cs.mu
			defer cs.wg.Done()
			pc.AddICECandidate(c)
		}()
	}
	// Anything else (simple-peer's renegotiate, transceiverRequest) has no
	// use on a data-only connection.
}

// drop forgets n if it is still peer's negotiation.
func (cs *Channels) drop(peer string, n *peerState) {
	cs.mu.Lock()
	if cs.nego[peer] == n {
		delete(cs.nego, peer)
	}
	cs.mu.Unlock()
}

// Dial opens a channel to peer id to.
func (cs *Channels) Dial(ctx context.Context, to string) (*MsgConn, error) {
	if !cs.enter() {
		return nil, ErrClosed
	}
	defer cs.wg.Done()
	ctx, cancel := context.WithTimeout(ctx, cs.cfg.ConnectTimeout)
	defer cancel()
	stop := context.AfterFunc(cs.ctx, cancel)
	defer stop()
	pc, err := cs.api.NewPeerConnection(rtc.Configuration{ICEServers: cs.cfg.ICEServers})
	if err != nil {
		return nil, err
	}
	n := &peerState{pc: pc, answer: make(chan rtc.SessionDescription, 1)}
	cs.mu.Lock()
	if old := cs.nego[to]; old != nil && old.pc != nil {
		go old.pc.Close()
	}
	cs.nego[to] = n
	cs.mu.Unlock()
	ok := false
	defer func() {
		if !ok {
			cs.drop(to, n)
			pc.Close()
		}
	}()
	pc.OnDataChannel(func(dc *rtc.DataChannel) { dc.Close() }) // this side opens the only one
	ordered := true
	dc, err := pc.CreateDataChannel("nip95", &rtc.DataChannelInit{Ordered: &ordered})
	if err != nil {
		return nil, err
	}
	c := cs.newMsgConn(to, n, dc)
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, err
	}
	if err := cs.sendDescription(ctx, to, pc, offer); err != nil {
		return nil, err
	}
	select {
	case sd := <-n.answer:
		if err := setRemote(&cs.mu, n, sd); err != nil {
			return nil, err
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the answer of %s: %w", to, ctx.Err())
	}
	select {
	case <-c.opened:
	case <-c.closed:
		return nil, fmt.Errorf("connecting to %s: %w", to, ErrClosed)
	case <-ctx.Done():
		return nil, fmt.Errorf("connecting to %s: %w", to, ctx.Err())
	}
	ok = true
	return c, nil
}

// answer answers peer's offer; the first channel it opens is accepted.
func (cs *Channels) answer(peer string, n *peerState, offer rtc.SessionDescription) error {
	ctx, cancel := context.WithTimeout(cs.ctx, cs.cfg.ConnectTimeout)
	defer cancel()
	pc, err := cs.api.NewPeerConnection(rtc.Configuration{ICEServers: cs.cfg.ICEServers})
	if err != nil {
		cs.drop(peer, n)
		return err
	}
	cs.mu.Lock()
	if cs.nego[peer] != n || cs.ctx.Err() != nil {
		cs.mu.Unlock()
		pc.Close()
		return nil
	}
	n.pc = pc
	cs.mu.Unlock()
	chans := make(chan *MsgConn, 1)
	var once sync.Once
	pc.OnDataChannel(func(dc *rtc.DataChannel) {
		taken := false
		once.Do(func() {
			taken = true
			chans <- cs.newMsgConn(peer, n, dc)
		})
		if !taken {
			dc.Close()
		}
	})
	ok := false
	defer func() {
		if !ok {
			cs.drop(peer, n)
			pc.Close()
		}
	}()
	if err := setRemote(&cs.mu, n, offer); err != nil {
		return err
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := cs.sendDescription(ctx, peer, pc, ans); err != nil {
		return err
	}
	var c *MsgConn
	select {
	case c = <-chans:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-c.opened:
	case <-c.closed:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	ok = true
	select {
	case cs.accepted <- c:
	case <-cs.ctx.Done():
		c.Close()
	}
	return nil
}

// ErrOverrun: a peer sent more messages than were read.
var ErrOverrun = errors.New("webrtc: peer overran the receive queue")

// MsgConn is one DataChannel of text messages.
type MsgConn struct {
	cs     *Channels
	peer   string
	n      *peerState
	dc     *rtc.DataChannel
	in     chan []byte
	opened chan struct{}
	closed chan struct{}
	once   sync.Once
	err    error // why it closed, set before closed is closed
}

func (cs *Channels) newMsgConn(peer string, n *peerState, dc *rtc.DataChannel) *MsgConn {
	c := &MsgConn{cs: cs, peer: peer, n: n, dc: dc, in: make(chan []byte, cs.cfg.MaxQueued),
		opened: make(chan struct{}), closed: make(chan struct{})}
	prepareChannel(dc)
	dc.OnOpen(func() { close(c.opened) })
	dc.OnClose(func() { c.close(ErrClosed) })
	dc.OnMessage(func(m rtc.DataChannelMessage) {
		select {
		case c.in <- m.Data:
		default:
			c.close(ErrOverrun)
		}
	})
	n.pc.OnConnectionStateChange(func(s rtc.PeerConnectionState) {
		if s == rtc.PeerConnectionStateFailed || s == rtc.PeerConnectionStateClosed {
			c.close(ErrClosed)
		}
	})
	return c
}

// Peer is the remote peer id.
func (c *MsgConn) Peer() string { return c.peer }

// Send sends one text message.
func (c *MsgConn) Send(b []byte) error {
	select {
	case <-c.closed:
		return c.err
	default:
	}
	return c.dc.SendText(string(b))
}

// Recv returns the next message; messages received before the channel
// closed are returned first.
func (c *MsgConn) Recv(ctx context.Context) ([]byte, error) {
	select {
	case b := <-c.in:
		return b, nil
	default:
	}
	select {
	case b := <-c.in:
		return b, nil
	case <-c.closed:
		select {
		case b := <-c.in:
			return b, nil
		default:
		}
		return nil, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close closes the channel and its PeerConnection.
func (c *MsgConn) Close() { c.close(ErrClosed) }

func (c *MsgConn) close(err error) {
	c.once.Do(func() {
		c.err = err
		close(c.closed)
		cs := c.cs
		cs.mu.Lock()
		if cs.nego[c.peer] == c.n {
			delete(cs.nego, c.peer)
		}
		tracked := cs.ctx.Err() == nil // else Close closes every PeerConnection itself
		if tracked {
			cs.closing.Add(1)
		}
		cs.mu.Unlock()
		go func() { // never inside pion's callbacks
			if tracked {
				defer cs.closing.Done()
			}
			c.dc.Close()
			c.n.pc.Close()
		}()
	})
}

package peer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/relay/client"
	"github.com/cairn-nostr/cairn/superpeer"
)

// NIP-95 (the hybrid peer-to-peer relay) as a peer does it: a super peer
// (SuperPeer: registers with a NIP-95 relay, caches the recent events the
// relay pushes, serves them over DataChannels) and a casual client
// (Casual: asks the relay which super peers hold the recent events of a
// filter, fetches them from those peers, checks every one and falls back
// to the relay). The DataChannels are a seam (PeerChannels: pion natively,
// the browser's RTCPeerConnection in the tab), negotiated through the
// relay with PEER_SIGNAL / PEER_SIGNAL_RELAY.

// The DataChannel messages (the Nexus relay's, one JSON object per text
// message): a request for one event by id, and one event in answer. A
// super peer that does not hold the event sends nothing.
//
// cairn adds a filter request (what a casual client sends after a
// WholeOffer): P2P_REQ with a subscription id and a filter, answered with
// a P2P_EVENTS per cached event that matches (newest first, with the
// subscription id) and then P2P_EOSE. A peer that speaks only the Nexus
// messages closes the channel on P2P_REQ; the client then takes the relay.
const (
	P2PRequest = "P2P_REQUEST" // {"type":"P2P_REQUEST","event_id":<hex>}
	P2PEvents  = "P2P_EVENTS"  // {"type":"P2P_EVENTS","event":<event>} (+ "sub" after a P2P_REQ)
	P2PReq     = "P2P_REQ"     // {"type":"P2P_REQ","sub":<id>,"filter":<filter>}
	P2PEOSE    = "P2P_EOSE"    // {"type":"P2P_EOSE","sub":<id>}
)

// p2pMsg is a DataChannel message.
type p2pMsg struct {
	Type    string          `json:"type"`
	Sub     string          `json:"sub,omitempty"`
	EventID string          `json:"event_id,omitempty"`
	Event   json.RawMessage `json:"event,omitempty"`
	Filter  json.RawMessage `json:"filter,omitempty"`
}

// maxP2PMessage bounds one DataChannel message read.
const maxP2PMessage = 512 << 10

// PeerChannel is one DataChannel of text messages to a NIP-95 peer.
type PeerChannel interface {
	Peer() string // the remote peer id
	Send(msg []byte) error
	Recv(ctx context.Context) ([]byte, error)
	Close()
}

// PeerChannels opens and accepts PeerChannels; Signal takes each
// PEER_SIGNAL_RELAY's signal_data.
type PeerChannels interface {
	Dial(ctx context.Context, peerID string) (PeerChannel, error)
	Accept(ctx context.Context) (PeerChannel, error)
	Signal(from string, data json.RawMessage)
	Close()
}

// NewPeerChannels makes the platform's PeerChannels, sending signal_data to
// a peer id with send (a PEER_SIGNAL through the relay).
type NewPeerChannels func(send func(ctx context.Context, to string, data json.RawMessage) error) PeerChannels

// relayLink is one websocket to a NIP-95 relay: one goroutine reads and
// routes, any goroutine sends. It counts the bytes it read (as JSON
// arrays of the elements received).
type relayLink struct {
	conn   *client.Conn
	log    *slog.Logger
	peerID atomic.Pointer[string]
	read   atomic.Int64

	mu     sync.Mutex
	routes map[string]*route // by subscription id
}

// route is where a subscription's messages go until unroute closes done.
type route struct {
	ch   chan []json.RawMessage
	done chan struct{}
}

func dialRelayLink(ctx context.Context, url string, log *slog.Logger) (*relayLink, error) {
	c, err := client.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	return &relayLink{conn: c, log: log, routes: map[string]*route{}}, nil
}

// sendTimeout bounds one write to the relay.
const sendTimeout = 10 * time.Second

// send writes msg unless ctx is already done. The write itself does not
// follow ctx: the websocket closes the whole connection when a write's
// context ends mid-write, and callers' contexts end routinely (a dial's
// trickled ICE candidates outlive the dial); a write stuck for
// sendTimeout does close it.
func (l *relayLink) send(ctx context.Context, msg ...any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sendTimeout)
	defer cancel()
	return l.conn.Send(wctx, msg...)
}

// route sends the messages about sub (EVENT, EOSE, CLOSED, PEER_OFFER) to
// the returned channel until unroute. Whoever routes a subscription reads
// its channel until it unroutes it: the read loop waits for it (a warm-up
// of thousands of events is not cut short).
func (l *relayLink) route(sub string) chan []json.RawMessage {
	r := &route{ch: make(chan []json.RawMessage, 256), done: make(chan struct{})}
	l.mu.Lock()
	if old := l.routes[sub]; old != nil {
		close(old.done)
	}
	l.routes[sub] = r
	l.mu.Unlock()
	return r.ch
}

func (l *relayLink) unroute(sub string) {
	l.mu.Lock()
	if r := l.routes[sub]; r != nil {
		close(r.done)
		delete(l.routes, sub)
	}
	l.mu.Unlock()
}

// deliver hands msg to sub's route, waiting while its reader is behind;
// false when sub has no route.
func (l *relayLink) deliver(sub string, msg []json.RawMessage) bool {
	l.mu.Lock()
	r := l.routes[sub]
	l.mu.Unlock()
	if r == nil {
		return false
	}
	select {
	case r.ch <- msg:
	case <-r.done:
	}
	return true
}

// size is the length of msg as a compact JSON array.
func size(msg []json.RawMessage) int64 {
	n := int64(1)
	for _, e := range msg {
		n += int64(len(e)) + 1
	}
	return n
}

// readLoop reads until the connection ends, routing subscriptions and
// handing every other message to other.
func (l *relayLink) readLoop(ctx context.Context, other func(verb string, msg []json.RawMessage)) error {
	for {
		verb, msg, err := l.conn.Read(ctx)
		if err != nil {
			return err
		}
		l.read.Add(size(msg))
		switch verb {
		case "EVENT", "EOSE", "CLOSED":
			if len(msg) > 1 && l.deliver(client.Str(msg[1]), msg) {
				continue
			}
		case superpeer.VerbOffer:
			var o struct {
				Subscription string `json:"subscription"`
			}
			if len(msg) > 1 && json.Unmarshal(msg[1], &o) == nil && o.Subscription != "" && l.deliver(o.Subscription, msg) {
				continue
			}
		}
		other(verb, msg)
	}
}

// signalSender sends signal_data to a peer id as PEER_SIGNAL.
func (l *relayLink) signalSender() func(ctx context.Context, to string, data json.RawMessage) error {
	return func(ctx context.Context, to string, data json.RawMessage) error {
		return l.send(ctx, superpeer.VerbSignal, map[string]any{"target_peer": to, "signal_data": data})
	}
}

// signalRelay reads a PEER_SIGNAL_RELAY's sender and signal_data.
func signalRelay(msg []json.RawMessage) (string, json.RawMessage, bool) {
	var o struct {
		From string          `json:"from_peer"`
		Data json.RawMessage `json:"signal_data"`
	}
	if len(msg) < 2 || json.Unmarshal(msg[1], &o) != nil || o.From == "" || len(o.Data) == 0 {
		return "", nil, false
	}
	return o.From, o.Data, true
}

// register sends PEER_REGISTER; the relay's PEER_REGISTERED comes through
// the read loop (registered).
func (l *relayLink) register(ctx context.Context, pubkey string, bandwidth, storage float64) error {
	body := map[string]any{"bandwidth": bandwidth, "storage": storage}
	if pubkey != "" {
		body["publicKey"] = pubkey
	}
	return l.send(ctx, superpeer.VerbRegister, body)
}

// registered reads a PEER_REGISTERED: the peer id and the heartbeat
// interval (ms) the relay asks for.
func registered(msg []json.RawMessage) (string, int64, error) {
	var o struct {
		PeerID   string `json:"peer_id"`
		Interval int64  `json:"heartbeat_interval"`
	}
	if len(msg) < 2 || json.Unmarshal(msg[1], &o) != nil || o.PeerID == "" {
		return "", 0, errors.New("PEER_REGISTERED without a peer_id")
	}
	return o.PeerID, o.Interval, nil
}

// decodeChecked decodes raw as an event and checks it is event wantID
// (shape, id, signature); wantID "" takes the event's own id.
func decodeChecked(raw []byte, wantID string) (*nostr.Event, error) {
	ev, err := event.Decode(raw)
	if err != nil {
		return nil, err
	}
	if wantID == "" {
		wantID = ev.ID
	}
	if err := event.Check(ev, wantID); err != nil {
		return nil, err
	}
	return ev, nil
}

func p2pRequest(id string) []byte {
	b, _ := json.Marshal(p2pMsg{Type: P2PRequest, EventID: id})
	return b
}

// parseP2P reads a DataChannel message.
func parseP2P(b []byte) (p2pMsg, error) {
	var m p2pMsg
	if len(b) > maxP2PMessage {
		return m, fmt.Errorf("a DataChannel message of %d bytes (at most %d)", len(b), maxP2PMessage)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("a DataChannel message that is not a JSON object: %w", err)
	}
	switch m.Type {
	case P2PRequest:
		if !event.IsHex(m.EventID, 64) {
			return m, errors.New("P2P_REQUEST: event_id is not 64 lowercase hex digits")
		}
	case P2PEvents:
		if len(m.Event) == 0 {
			return m, errors.New("P2P_EVENTS without an event")
		}
	case P2PReq:
		if m.Sub == "" || len(m.Sub) > 64 {
			return m, errors.New("P2P_REQ: sub must be a string of 1 to 64 characters")
		}
		if len(m.Filter) == 0 || m.Filter[0] != '{' {
			return m, errors.New("P2P_REQ without a filter object")
		}
	case P2PEOSE:
		if m.Sub == "" {
			return m, errors.New("P2P_EOSE without a sub")
		}
	default:
		return m, fmt.Errorf("unknown DataChannel message type %q", m.Type)
	}
	return m, nil
}

// channelsOf is what AdaptChannels adapts: a PeerChannels whose Dial and
// Accept return a concrete channel type.
type channelsOf[C PeerChannel] interface {
	Dial(ctx context.Context, peerID string) (C, error)
	Accept(ctx context.Context) (C, error)
	Signal(from string, data json.RawMessage)
	Close()
}

// AdaptChannels makes a PeerChannels of an implementation returning its
// own channel type (webrtc.Channels natively and in the tab).
func AdaptChannels[C PeerChannel](cs channelsOf[C]) PeerChannels { return adapted[C]{cs} }

type adapted[C PeerChannel] struct{ cs channelsOf[C] }

func (a adapted[C]) Dial(ctx context.Context, peerID string) (PeerChannel, error) {
	c, err := a.cs.Dial(ctx, peerID)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (a adapted[C]) Accept(ctx context.Context) (PeerChannel, error) {
	c, err := a.cs.Accept(ctx)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (a adapted[C]) Signal(from string, data json.RawMessage) { a.cs.Signal(from, data) }
func (a adapted[C]) Close()                                   { a.cs.Close() }

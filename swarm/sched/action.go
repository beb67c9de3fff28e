package sched

import (
	"fmt"
	"time"

	"github.com/cairn-nostr/cairn/swarm/wire"
)

// PeerID names a peer. The scheduler only compares IDs; the edge chooses
// them (a pubkey, a libp2p peer ID). Bans and strikes are kept by ID, so a
// banned peer that reconnects under the same ID stays banned.
type PeerID string

// Chunk describes one chunk of the content, as the chunk map (kind 7001)
// lists it.
type Chunk struct {
	Hash [32]byte
	Size int64
}

// Action is something the caller must do, returned by [Scheduler.Tick]: a
// [Request], [Cancel], [Ban] or [Done].
type Action interface {
	action()
	String() string
}

// Request asks the caller to send a REQUEST for chunk Chunk to peer Peer.
type Request struct {
	Peer  PeerID
	Chunk int
}

// Cancel tells the caller the scheduler no longer waits for chunk Chunk
// from peer Peer: another peer delivered it first (endgame), the request
// timed out, or the peer was banned. The Entropy wire protocol has no cancel
// message, so the edge forgets the request (and, on a transport with one
// stream per request, resets that stream). Data that still arrives may be
// passed to [Scheduler.Received]: it is used if the chunk is still missing.
type Cancel struct {
	Peer  PeerID
	Chunk int
}

// Ban tells the caller that Peer sent data that failed verification too
// often. The scheduler sends it nothing before Until; the caller may drop
// the connection. The ban lifts by itself at Until.
type Ban struct {
	Peer  PeerID
	Until time.Time
}

// Done says every chunk is verified. It is returned once.
type Done struct{}

func (Request) action() {}
func (Cancel) action()  {}
func (Ban) action()     {}
func (Done) action()    {}

func (a Request) String() string { return fmt.Sprintf("request %s %d", a.Peer, a.Chunk) }
func (a Cancel) String() string  { return fmt.Sprintf("cancel %s %d", a.Peer, a.Chunk) }
func (a Ban) String() string {
	return fmt.Sprintf("ban %s until %s", a.Peer, a.Until.UTC().Format(time.RFC3339Nano))
}
func (Done) String() string { return "done" }

// Reason says why a request failed; see [Scheduler.Failed].
type Reason uint8

// Failure reasons. The first three are the Entropy ERROR reasons; the last
// two are noticed by the edge.
const (
	// ReasonNotFound: the peer does not have the chunk after all.
	ReasonNotFound Reason = iota + 1
	// ReasonBusy: the peer is overloaded (or we broke its rate limit).
	ReasonBusy
	// ReasonInsufficientCredit: the peer refuses to serve us.
	ReasonInsufficientCredit
	// ReasonTimeout: the edge gave up waiting (the scheduler also times
	// requests out by itself in Tick).
	ReasonTimeout
	// ReasonDisconnected: the connection carrying the request broke.
	ReasonDisconnected
)

func (r Reason) String() string {
	switch r {
	case ReasonNotFound:
		return "not-found"
	case ReasonBusy:
		return "busy"
	case ReasonInsufficientCredit:
		return "insufficient-credit"
	case ReasonTimeout:
		return "timeout"
	case ReasonDisconnected:
		return "disconnected"
	}
	return fmt.Sprintf("reason %d", uint8(r))
}

// ReasonFromWire maps the reason byte of a wire ERROR message to a Reason.
// An unknown byte (which wire.Decode already refuses) counts as busy, the
// mildest reading.
func ReasonFromWire(r wire.Reason) Reason {
	switch r {
	case wire.ReasonNotFound:
		return ReasonNotFound
	case wire.ReasonInsufficientCredit:
		return ReasonInsufficientCredit
	}
	return ReasonBusy
}

package p2p

import (
	"errors"
	"fmt"

	"github.com/cairn-nostr/cairn/swarm"
	"github.com/cairn-nostr/cairn/swarm/wire"
)

// Conditions callers branch on. Fetch wraps them with the chunk and peer.
var (
	// ErrNotFound: the peer does not have the chunk (ERROR NOT_FOUND).
	ErrNotFound = errors.New("p2p: peer does not have the chunk")
	// ErrInsufficientCredit: the peer refuses us (ERROR INSUFFICIENT_CREDIT):
	// we are past our balance with it while it serves others (its credit
	// gate), or banned.
	ErrInsufficientCredit = errors.New("p2p: peer refused: insufficient credit")
	// ErrBusy: the peer is over its request rate (ERROR BUSY); ask again
	// in a second or ask another peer.
	ErrBusy = errors.New("p2p: peer is busy; retry in a second or ask another peer")
	// ErrHashMismatch: the peer sent bytes that do not hash to the chunk's
	// hash. They were dropped; the caller counts this against the peer
	// (swarm/sched bans after three).
	ErrHashMismatch = errors.New("p2p: chunk data does not match its hash")
	// ErrProtocol: the peer broke the chunk protocol (malformed or
	// oversized frame, an answer to another request). The stream was reset
	// and the peer got a strike.
	ErrProtocol = errors.New("p2p: peer broke the chunk protocol")
	// ErrBanned: the peer is banned (Host.Ban or too many strikes).
	ErrBanned = errors.New("p2p: peer is banned")
	// ErrNoDHT: the host was configured without a DHT.
	ErrNoDHT = errors.New("p2p: the DHT is off (set Config.DHT)")
	// ErrClosed: the host is closed.
	ErrClosed = errors.New("p2p: host is closed")
)

// reasonError maps an ERROR message's reason to its sentinel; errorReason is
// the other direction. Together they are the one place where errors meet
// wire codes, as swarmError, below, is where they meet package swarm's.
func reasonError(r wire.Reason) error {
	switch r {
	case wire.ReasonNotFound:
		return ErrNotFound
	case wire.ReasonInsufficientCredit:
		return ErrInsufficientCredit
	case wire.ReasonBusy:
		return ErrBusy
	}
	return ErrProtocol
}

// errorReason returns the reason to answer with for err, and false when err
// is not one a peer is told about (the stream is reset instead).
func errorReason(err error) (wire.Reason, bool) {
	switch {
	case errors.Is(err, ErrNotFound):
		return wire.ReasonNotFound, true
	case errors.Is(err, ErrInsufficientCredit), errors.Is(err, ErrBanned):
		return wire.ReasonInsufficientCredit, true
	case errors.Is(err, ErrBusy):
		return wire.ReasonBusy, true
	}
	return 0, false
}

// swarmError wraps a Fetch error with the swarm sentinel of its condition,
// so that it matches both (p2p.ErrBusy and swarm.ErrBusy), for
// SwarmTransport. Any other error is returned as it is: to a
// swarm.Download that is the peer failing, as ErrBanned, ErrProtocol and
// broken streams are.
func swarmError(err error) error {
	var to error
	switch {
	case errors.Is(err, ErrHashMismatch):
		to = swarm.ErrHashMismatch
	case errors.Is(err, ErrNotFound):
		to = swarm.ErrNotFound
	case errors.Is(err, ErrBusy):
		to = swarm.ErrBusy
	case errors.Is(err, ErrInsufficientCredit):
		to = swarm.ErrInsufficientCredit
	default:
		return err
	}
	return fmt.Errorf("%w: %w", to, err)
}

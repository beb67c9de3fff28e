package swarm

import (
	"context"
	"errors"
	"time"

	"github.com/cairn-nostr/cairn/swarm/sched"
)

// PeerID names a peer within one Transport: a libp2p peer ID in its string
// form, a Nostr pubkey for a browser reached over WebRTC. It is the
// scheduler's ID, so bans and strikes follow it.
type PeerID = sched.PeerID

// Transport fetches single chunks from peers. It is what a Download needs
// of the network, and nothing more, so the same download runs over libp2p
// streams (p2p.Host.SwarmTransport), WebRTC DataChannels (the browser) or
// HTTP.
//
// Implementations must be safe for concurrent use and must return promptly
// once ctx ends: a Download cancels a request by cancelling its context.
type Transport interface {
	// Name names the transport in Progress.Transports: "libp2p",
	// "webrtc", "http".
	Name() string
	// Fetch asks peer for the chunk hash of the content with Merkle root
	// root and returns its bytes once their SHA-256 is hash. progress,
	// when not nil, is told the bytes received so far and the chunk's
	// total as they arrive, in calls that do not overlap and end before
	// Fetch returns. Refusals and bad data come back as errors
	// wrapping ErrHashMismatch, ErrNotFound, ErrBusy or
	// ErrInsufficientCredit; anything else (a broken connection, a
	// timeout, a protocol violation) counts as the peer failing.
	Fetch(ctx context.Context, peer PeerID, hash, root [32]byte, progress func(got, total int)) ([]byte, error)
	// Ban tells the transport to refuse peer until the given time and to
	// drop its connections: it sent data that failed verification too
	// often. It is called from the download's loop and must not block
	// for long.
	Ban(peer PeerID, until time.Time)
}

// RequestRater is an optional interface of a Transport whose peers accept a
// request rate other than Entropy's: at most sched.DefaultRequestRate
// requests in a fixed one-second window, the rest answered BUSY. A Download
// spaces the requests it sends to one peer at least 1/RequestRate apart;
// a rate <= 0 spaces nothing. A Transport without it gets the Download's
// Config.Sched.RequestRate (default sched.DefaultRequestRate).
//
// Rates are the transport's and not the scheduler's because one download
// mixes peers: cairn nodes over libp2p accept far more requests a second
// than browsers speaking Entropy's protocol over WebRTC, and with 5 MiB
// chunks 10 requests a second cap a peer at 50 MiB/s.
type RequestRater interface {
	RequestRate() float64
}

// Verifier is an optional interface of a Transport whose Fetch hashes the
// bytes itself as they arrive (p2p's does, fragment by fragment) and
// reports true. A Download then stores what it fetched with the blob
// store's PutHashed, when the store has it, instead of Put, which would
// hash the chunk a second time.
type Verifier interface {
	Verifies() bool
}

// hashedPutter is a blob store that can take bytes already hashed
// (blobstore.Store).
type hashedPutter interface {
	PutHashed(hash [32]byte, data []byte) error
}

// Conditions a Transport reports, which the download maps to scheduler
// events. An adapter wraps its own errors with them (p2p.ErrBusy becomes
// an error matching both ErrBusy and p2p.ErrBusy).
var (
	// ErrHashMismatch: the peer sent bytes that do not hash to the chunk's
	// hash. A strike against it; three ban it.
	ErrHashMismatch = errors.New("swarm: chunk data does not match its hash")
	// ErrNotFound: the peer does not have the chunk.
	ErrNotFound = errors.New("swarm: peer does not have the chunk")
	// ErrBusy: the peer is overloaded; it is backed off.
	ErrBusy = errors.New("swarm: peer is busy")
	// ErrInsufficientCredit: the peer refuses to serve us for now.
	ErrInsufficientCredit = errors.New("swarm: peer refused: insufficient credit")
)

// Conditions the download reports.
var (
	// ErrClosed: the download was closed before it completed.
	ErrClosed = errors.New("swarm: download closed")
	// ErrLayout: the chunk map does not say where a chunk lies in the file
	// (no chunk-info, and its chunks are not all of the chunk size), or a
	// stored chunk's length contradicts the map.
	ErrLayout = errors.New("swarm: chunk map does not locate the chunk in the file")
	// ErrMissing: a chunk is not in the blob store (Assemble, or a Reader
	// without a Source).
	ErrMissing = errors.New("swarm: chunk not stored")
)

// reasonOf maps a Transport error to the scheduler's failure reason; ok is
// false for errors that are not refusals (and for a hash mismatch, which is
// not a failure but a corrupt delivery).
func reasonOf(err error) (r sched.Reason, ok bool) {
	switch {
	case errors.Is(err, ErrNotFound):
		return sched.ReasonNotFound, true
	case errors.Is(err, ErrBusy):
		return sched.ReasonBusy, true
	case errors.Is(err, ErrInsufficientCredit):
		return sched.ReasonInsufficientCredit, true
	}
	return 0, false
}

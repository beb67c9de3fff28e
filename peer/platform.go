package peer

import (
	"context"
	"errors"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/swarm"
)

// Clock is where a peer reads the time for its decisions (freshness of
// announcements, retry intervals).
type Clock interface{ Now() time.Time }

// SystemClock reads the wall clock.
type SystemClock struct{}

// Now is time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// Signer signs the events a peer publishes on its own behalf
// (announcements, addressing records).
type Signer interface {
	PubKey() string
	Sign(ev *nostr.Event) error
}

// KeySigner signs with a secret key (hex).
type KeySigner struct{ Secret, Public string }

// NewKeySigner returns the signer of a hex secret key.
func NewKeySigner(secret string) (KeySigner, error) {
	pub, err := nostr.GetPublicKey(secret)
	if err != nil {
		return KeySigner{}, err
	}
	return KeySigner{Secret: secret, Public: pub}, nil
}

// PubKey is the signer's public key (hex).
func (k KeySigner) PubKey() string { return k.Public }

// Sign sets ev's pubkey, id and signature.
func (k KeySigner) Sign(ev *nostr.Event) error { return ev.Sign(k.Secret) }

// Events is a relay as a peer uses it: its home relay (Config.Home) or a
// relay an nevent names (Config.Dial).
type Events interface {
	// Query returns the stored events matching f. They need not be
	// verified: the peer verifies what it uses.
	Query(ctx context.Context, f nostr.Filter) ([]*nostr.Event, error)
	// Publish sends a signed event and returns once the relay accepted
	// it; a refusal carries the relay's reason.
	Publish(ctx context.Context, ev *nostr.Event) error
	// Subscribe calls fn with every event matching f the relay accepts
	// from now until ctx ends, and returns then (or when the relay cannot
	// be reached). fn must not block for long.
	Subscribe(ctx context.Context, f nostr.Filter, fn func(*nostr.Event)) error
}

// Library is the events a peer keeps for itself: chunk maps, file events,
// addressing records. Everything saved is verified first.
type Library interface {
	// Save stores a verified event. Saving a duplicate, or an older
	// version of a replaceable event, is not an error.
	Save(ctx context.Context, ev *nostr.Event) error
	// Query calls fn with each stored event matching f, newest first;
	// fn returning ErrStop ends the walk without an error. When contains
	// is not empty, events whose JSON lacks it may be skipped unread (a
	// hint for scans of tags relays do not index; fn checks anyway).
	Query(ctx context.Context, f nostr.Filter, contains string, fn func(*nostr.Event) error) error
	// Delete removes the event with this id, if stored.
	Delete(ctx context.Context, id string) error
}

// ErrStop ends a Library.Query walk early, without an error.
var ErrStop = errors.New("stop")

// Contact is a peer of a download: who, and over which transport.
type Contact struct {
	Transport swarm.Transport
	ID        swarm.PeerID
}

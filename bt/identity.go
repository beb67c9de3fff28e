package bt

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/identity"
)

// nostr-over-bt's identifiers (kind 30078 d tags).
const (
	KindAppData     = 30078
	IdentityTag     = "nostr-over-bt-identity"
	FeedFallbackTag = "nostr-over-bt-feed"
)

// Key is the BEP-44 signing key of a Nostr identity: derived, never the
// Nostr secret itself.
func Key(k identity.Key) ed25519.PrivateKey { return k.DeriveEd25519(identity.LabelBitTorrent) }

// Attestation is the unsigned kind 30078 binding the Nostr key to its
// BEP-44 key, in nostr-over-bt's format; the Nostr key signs it.
func Attestation(pub ed25519.PublicKey, now nostr.Timestamp) *nostr.Event {
	return &nostr.Event{Kind: KindAppData, CreatedAt: now, Tags: nostr.Tags{{"d", IdentityTag}}, Content: hex.EncodeToString(pub)}
}

// ErrAttestation: an event is not a usable identity attestation.
var ErrAttestation = errors.New("not a nostr-over-bt identity attestation")

// ParseAttestation verifies an attestation (ours or nostr-over-bt's) and
// returns the BEP-44 public key it names for its author.
func ParseAttestation(ev *nostr.Event) (ed25519.PublicKey, error) {
	if ev.Kind != KindAppData || ev.Tags.GetD() != IdentityTag {
		return nil, fmt.Errorf("%w: kind %d, d %q", ErrAttestation, ev.Kind, ev.Tags.GetD())
	}
	if err := event.Verify(ev); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAttestation, err)
	}
	pk, err := event.ParseHex32(ev.Content)
	if err != nil {
		return nil, fmt.Errorf("%w: content: %v", ErrAttestation, err)
	}
	return ed25519.PublicKey(pk[:]), nil
}

// ErrFallback: an event is not a usable nostr-over-bt feed fallback.
var ErrFallback = errors.New("not a nostr-over-bt feed fallback")

// ParseFeedFallback verifies nostr-over-bt's relay fallback of a feed
// (kind 30078, d nostr-over-bt-feed, content = the index's magnet), by npk,
// and returns the magnet.
func ParseFeedFallback(ev *nostr.Event, npk string) (string, error) {
	if ev.Kind != KindAppData || ev.Tags.GetD() != FeedFallbackTag {
		return "", fmt.Errorf("%w: kind %d, d %q", ErrFallback, ev.Kind, ev.Tags.GetD())
	}
	if ev.PubKey != npk {
		return "", fmt.Errorf("%w: by %.16s, not %.16s", ErrFallback, ev.PubKey, npk)
	}
	if err := event.Verify(ev); err != nil {
		return "", fmt.Errorf("%w: %v", ErrFallback, err)
	}
	if _, err := metainfo.ParseMagnetUri(ev.Content); err != nil {
		return "", fmt.Errorf("%w: content is not a magnet: %v", ErrFallback, err)
	}
	return ev.Content, nil
}

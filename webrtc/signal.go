package webrtc

import (
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/cairn-nostr/cairn/nostr"
	"github.com/nbd-wtf/go-nostr/nip44"
)

// KindSignal is the Nostr kind of WebRTC signaling events (Entropy's).
const KindSignal = 20001

// Signal types, the value of an event's "type" tag.
const (
	TypeOffer     = "offer"
	TypeAnswer    = "answer"
	TypeCandidate = "ice-candidate"
)

// Signaling limits (Entropy's).
const (
	// DuplicateWindow: a second offer from the same peer for the same root
	// within this long of an accepted one is dropped.
	DuplicateWindow = 5 * time.Second
	// StaleAfter: a signal created longer ago than this is dropped.
	StaleAfter = 30 * time.Second
	// MaxFutureSkew: a signal created further ahead than this is dropped.
	MaxFutureSkew = 30 * time.Second
	// maxSignalPayload bounds the decrypted payload (an SDP).
	maxSignalPayload = 64 << 10
)

var (
	// ErrNotSignal: the event is not a well-formed kind 20001 signal.
	ErrNotSignal = errors.New("webrtc: not a signaling event")
	// ErrNotForUs: the signal is addressed to another pubkey.
	ErrNotForUs = errors.New("webrtc: signal addressed to another pubkey")
)

// Signal is one decoded signaling message.
type Signal struct {
	From    string   // sender's pubkey (hex)
	To      string   // the "p" tag
	Root    [32]byte // the "x" tag
	Type    string   // TypeOffer, TypeAnswer or TypeCandidate
	Payload string   // JSON: a session description or an ICE candidate
	Created time.Time
}

// BuildSignal returns the kind 20001 event carrying payload from the holder
// of secret (hex) to the pubkey to, signed, its content NIP-44 encrypted to
// to. Tags are Entropy's: p, x, type, enc.
func BuildSignal(secret, to string, root [32]byte, typ, payload string, now time.Time) (*nostr.Event, error) {
	switch typ {
	case TypeOffer, TypeAnswer, TypeCandidate:
	default:
		return nil, fmt.Errorf("signal type %q: %w", typ, ErrNotSignal)
	}
	ck, err := nip44.GenerateConversationKey(to, secret)
	if err != nil {
		return nil, fmt.Errorf("conversation key with %s: %w", to, err)
	}
	ct, err := nip44.Encrypt(payload, ck)
	if err != nil {
		return nil, fmt.Errorf("encrypting signal: %w", err)
	}
	ev := &nostr.Event{
		Kind:      KindSignal,
		CreatedAt: nostr.Timestamp(now.Unix()),
		Tags: nostr.Tags{
			{"p", to},
			{"x", hex.EncodeToString(root[:])},
			{"type", typ},
			{"enc", "nip44"},
		},
		Content: ct,
	}
	if err := ev.Sign(secret); err != nil {
		return nil, fmt.Errorf("signing signal: %w", err)
	}
	return ev, nil
}

// ParseSignal checks ev's signature and tags, and decrypts its content with
// secret, the key of the pubkey it must be addressed to.
func ParseSignal(secret, me string, ev *nostr.Event) (*Signal, error) {
	if ev.Kind != KindSignal {
		return nil, fmt.Errorf("kind %d: %w", ev.Kind, ErrNotSignal)
	}
	s := &Signal{From: ev.PubKey, Created: ev.CreatedAt.Time()}
	var x, enc string
	for _, t := range ev.Tags {
		if len(t) < 2 {
			continue
		}
		switch t[0] {
		case "p":
			s.To = t[1]
		case "x":
			x = t[1]
		case "type":
			s.Type = t[1]
		case "enc":
			enc = t[1]
		}
	}
	if s.To != me {
		return nil, ErrNotForUs
	}
	switch s.Type {
	case TypeOffer, TypeAnswer, TypeCandidate:
	default:
		return nil, fmt.Errorf("type %q: %w", s.Type, ErrNotSignal)
	}
	if enc != "nip44" {
		return nil, fmt.Errorf("enc %q (only nip44 is accepted): %w", enc, ErrNotSignal)
	}
	if b, err := hex.DecodeString(x); err != nil || len(b) != 32 {
		return nil, fmt.Errorf("x tag %q: %w", x, ErrNotSignal)
	} else {
		copy(s.Root[:], b)
	}
	if len(ev.Content) > 2*maxSignalPayload {
		return nil, fmt.Errorf("content of %d bytes: %w", len(ev.Content), ErrNotSignal)
	}
	if ok, err := ev.CheckSignature(); !ok {
		return nil, fmt.Errorf("bad signature (%v): %w", err, ErrNotSignal)
	}
	ck, err := nip44.GenerateConversationKey(ev.PubKey, secret)
	if err != nil {
		return nil, fmt.Errorf("conversation key with %s: %w: %w", ev.PubKey, ErrNotSignal, err)
	}
	s.Payload, err = nip44.Decrypt(ev.Content, ck)
	if err != nil {
		return nil, fmt.Errorf("decrypting signal: %w: %w", ErrNotSignal, err)
	}
	return s, nil
}

// Signaler decides which signals to act on. It is pure: signals and now in,
// a verdict out. It drops stale signals (created more than StaleAfter ago
// or more than MaxFutureSkew ahead) and a duplicate offer: one from the
// same peer for the same root within DuplicateWindow of an accepted one.
// It is not safe for concurrent use.
type Signaler struct {
	offers map[sigKey]time.Time // last accepted offer, by receive time
}

type sigKey struct {
	peer string
	root [32]byte
}

// Verdicts of Signaler.Step.
const (
	Accept    = "accept"
	Stale     = "stale"
	Duplicate = "duplicate"
)

// Step returns Accept, Stale or Duplicate for s received at now.
func (g *Signaler) Step(s *Signal, now time.Time) string {
	if now.Sub(s.Created) > StaleAfter || s.Created.Sub(now) > MaxFutureSkew {
		return Stale
	}
	if s.Type != TypeOffer {
		return Accept
	}
	if g.offers == nil {
		g.offers = make(map[sigKey]time.Time)
	}
	k := sigKey{s.From, s.Root}
	if last, ok := g.offers[k]; ok && now.Sub(last) < DuplicateWindow {
		return Duplicate
	}
	g.offers[k] = now
	if len(g.offers) > 1024 {
		for k, t := range g.offers {
			if now.Sub(t) >= DuplicateWindow {
				delete(g.offers, k)
			}
		}
	}
	return Accept
}

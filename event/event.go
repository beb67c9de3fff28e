// Package event decodes and verifies Nostr events (NIP-01) the one way every
// part of cairn does: the relay for what clients send, and the application
// core (node and browser alike) for what relays return.
//
// Decoding is strict about shape: every field present, of its type, hex of
// the right length, kind in range, tags non-empty arrays of strings, nothing
// after the object. Unknown fields are ignored (NIP-01 allows relays and
// clients to add them). Verification recomputes the id from the canonical
// serialization and checks the BIP-340 signature; Check also insists the id
// is the one that was asked for, so a relay cannot substitute another validly
// signed event.
//
//	ev, err := event.Decode(raw)       // shape
//	err = event.Check(ev, wantID)       // id, signature, and that it is wantID
package event

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/cairn-nostr/cairn/nostr"
)

// Errors of Decode and Verify. Their text reaches Nostr clients after an
// "invalid: " prefix, so it says what was wrong.
var (
	ErrEmpty  = errors.New("an event object is required")
	ErrNotHex = errors.New("must be lowercase hex")
	ErrKind   = errors.New("kind must be between 0 and 65535")
	ErrTag    = errors.New("every tag must be a non-empty array of strings")
	// ErrID: the id is not the sha256 of the event's serialization.
	ErrID = errors.New("the id does not match the event (it must be the sha256 of the NIP-01 serialization)")
	// ErrSignature: the signature does not verify.
	ErrSignature = errors.New("signature verification failed: sign the id with the pubkey's secret key (BIP-340)")
	// ErrNotAsked: a relay answered a request for one id with another event.
	ErrNotAsked = errors.New("the event is not the one asked for")
)

// Decode decodes an event object and checks its shape, not its id or
// signature. Natively the common case takes go-nostr's generated decoder
// (one pass; decode_native.go); anything it cannot vouch for, and
// everything in the browser build, goes through the strict decoder, which
// is slower and names exactly what is wrong.
func Decode(raw []byte) (*nostr.Event, error) {
	if ev := decodeFast(raw); ev != nil && WellFormed(ev) {
		return ev, nil
	}
	return DecodeStrict(raw)
}

// WellFormed reports whether a decoded event has the shape Decode demands.
func WellFormed(ev *nostr.Event) bool {
	if !IsHex(ev.ID, 64) || !IsHex(ev.PubKey, 64) || !IsHex(ev.Sig, 128) ||
		ev.Kind < 0 || ev.Kind > 65535 || ev.CreatedAt < 0 || ev.Tags == nil {
		return false
	}
	for _, t := range ev.Tags {
		if len(t) == 0 {
			return false
		}
	}
	return true
}

// DecodeStrict is the strict decoder: encoding/json into pointer fields, so
// a missing field, a null or a wrong type is refused and named.
func DecodeStrict(raw []byte) (*nostr.Event, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, ErrEmpty
	}
	var shape struct {
		ID        *string         `json:"id"`
		PubKey    *string         `json:"pubkey"`
		CreatedAt json.RawMessage `json:"created_at"`
		Kind      json.RawMessage `json:"kind"`
		Tags      *[][]string     `json:"tags"`
		Content   *string         `json:"content"`
		Sig       *string         `json:"sig"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&shape); err != nil {
		return nil, fmt.Errorf("malformed event: %w", err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("malformed event: data after the event object")
	}
	switch {
	case shape.ID == nil:
		return nil, errors.New("event has no id")
	case shape.PubKey == nil:
		return nil, errors.New("event has no pubkey")
	case shape.CreatedAt == nil || string(shape.CreatedAt) == "null":
		return nil, errors.New("event has no created_at")
	case shape.Kind == nil || string(shape.Kind) == "null":
		return nil, errors.New("event has no kind")
	case shape.Tags == nil:
		return nil, errors.New("event has no tags (use [] for none)")
	case shape.Content == nil:
		return nil, errors.New("event has no content (use \"\" for none)")
	case shape.Sig == nil:
		return nil, errors.New("event has no sig")
	}
	if !IsHex(*shape.ID, 64) {
		return nil, fmt.Errorf("id %w of 64 characters", ErrNotHex)
	}
	if !IsHex(*shape.PubKey, 64) {
		return nil, fmt.Errorf("pubkey %w of 64 characters", ErrNotHex)
	}
	if !IsHex(*shape.Sig, 128) {
		return nil, fmt.Errorf("sig %w of 128 characters", ErrNotHex)
	}
	kind, err := strconv.ParseInt(string(shape.Kind), 10, 64)
	if err != nil || kind < 0 || kind > 65535 {
		return nil, ErrKind
	}
	ts, err := strconv.ParseInt(string(shape.CreatedAt), 10, 64)
	if err != nil || ts < 0 {
		return nil, errors.New("created_at must be a non-negative integer of unix seconds")
	}
	tags := make(nostr.Tags, len(*shape.Tags))
	for i, t := range *shape.Tags {
		if len(t) == 0 {
			return nil, ErrTag
		}
		tags[i] = nostr.Tag(t)
	}
	return &nostr.Event{
		ID:        *shape.ID,
		PubKey:    *shape.PubKey,
		CreatedAt: nostr.Timestamp(ts),
		Kind:      int(kind),
		Tags:      tags,
		Content:   *shape.Content,
		Sig:       *shape.Sig,
	}, nil
}

// Verify checks an event's shape, that its id is the hash of its content,
// and its signature.
func Verify(ev *nostr.Event) error {
	if !WellFormed(ev) {
		return fmt.Errorf("event %.16s: malformed (ids, pubkey and sig must be lowercase hex, kind 0..65535, tags non-empty)", ev.ID)
	}
	if !ev.CheckID() {
		return fmt.Errorf("event %.16s: %w", ev.ID, ErrID)
	}
	if ok, err := ev.CheckSignature(); !ok || err != nil {
		return fmt.Errorf("event %.16s: %w", ev.ID, ErrSignature)
	}
	return nil
}

// Check is Verify plus: the event is the one whose id was asked for. A relay
// asked for id X that returns a validly signed event Y is refused.
func Check(ev *nostr.Event, wantID string) error {
	if ev.ID != wantID {
		return fmt.Errorf("asked for %.16s, got %.16s: %w", wantID, ev.ID, ErrNotAsked)
	}
	return Verify(ev)
}

// IsHex reports whether s is n lowercase hex digits.
func IsHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// ParseHex32 reads exactly 64 lowercase hex digits (an id, a pubkey, a
// hash), naming what is wrong.
func ParseHex32(s string) ([32]byte, error) {
	var h [32]byte
	if len(s) != 64 {
		return h, fmt.Errorf("%d characters, want 64 hex digits", len(s))
	}
	if !IsHex(s, 64) {
		return h, fmt.Errorf("not lowercase hex: %q", s)
	}
	hex.Decode(h[:], []byte(s))
	return h, nil
}

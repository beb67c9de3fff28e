package bt

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/anacrolix/dht/v2/bep44"
	"github.com/anacrolix/dht/v2/exts/getput"
	"github.com/anacrolix/torrent/bencode"
	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/event"
)

// LocatorLabel prefixes the seed of a pubkey's locator key.
const LocatorLabel = "cairn/bt-locator/v1"

// The BEP-44 key is derived from the Nostr secret, so a reader holding only
// the npub cannot compute it. The locator closes that gap with no relay: a
// mutable item whose ed25519 key anyone derives from the npub alone
// (seed = SHA-256(LocatorLabel || 32-byte pubkey)) and whose value is the
// owner's attestation, compact: v = {k: BEP-44 public key, t: created_at,
// s: the Nostr signature of the kind 30078 attestation}, seq = t. Anyone can
// sign at that target, so the item proves nothing by its BEP-44 signature:
// the reader rebuilds the attestation event and checks its Nostr signature
// by the npub. A forger cannot make a valid one; a vandal can only bury the
// owner's item under a higher seq (the reader then reports it and needs the
// attestation from a relay).

// LocatorKey is the publicly derivable key of npk's locator.
func LocatorKey(npk string) (ed25519.PrivateKey, error) {
	b, err := event.ParseHex32(npk)
	if err != nil {
		return nil, fmt.Errorf("pubkey %q: %w", npk, err)
	}
	seed := sha256.Sum256(append([]byte(LocatorLabel), b[:]...))
	return ed25519.NewKeyFromSeed(seed[:]), nil
}

type wireLocator struct {
	K string `bencode:"k"`
	T int64  `bencode:"t"`
	S string `bencode:"s"`
}

// LocatorValue is the compact form of a signed attestation.
func LocatorValue(att *nostr.Event) ([]byte, error) {
	pub, err := ParseAttestation(att)
	if err != nil {
		return nil, err
	}
	sig, err := hex.DecodeString(att.Sig)
	if err != nil || len(sig) != 64 {
		return nil, fmt.Errorf("%w: signature", ErrAttestation)
	}
	return bencode.Marshal(wireLocator{K: string(pub), T: int64(att.CreatedAt), S: string(sig)})
}

// ParseLocator rebuilds the attestation a locator value carries for npk
// and verifies it: the BEP-44 public key of npk.
func ParseLocator(npk string, v []byte) (ed25519.PublicKey, *nostr.Event, error) {
	var w wireLocator
	if err := bencode.Unmarshal(v, &w); err != nil {
		return nil, nil, fmt.Errorf("%w: locator: %v", ErrPointer, err)
	}
	if len(w.K) != 32 || len(w.S) != 64 || w.T <= 0 {
		return nil, nil, fmt.Errorf("%w: locator: want k of 32 bytes, s of 64 and a positive t", ErrPointer)
	}
	att := Attestation(ed25519.PublicKey(w.K), nostr.Timestamp(w.T))
	att.PubKey = npk
	att.ID = att.GetID()
	att.Sig = hex.EncodeToString([]byte(w.S))
	pub, err := ParseAttestation(att)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the locator's attestation is not signed by %.16s (forged or vandalized; get the attestation from a relay): %v", ErrPointer, npk, err)
	}
	return pub, att, nil
}

// PutLocator publishes the signed attestation att at its author's locator.
func (d *DHT) PutLocator(ctx context.Context, att *nostr.Event) error {
	v, err := LocatorValue(att)
	if err != nil {
		return err
	}
	lk, err := LocatorKey(att.PubKey)
	if err != nil {
		return err
	}
	var k [32]byte
	copy(k[:], lk.Public().(ed25519.PublicKey))
	return d.putMutable(ctx, bep44.MakeMutableTarget(k, nil), nil, func(found int64) bep44.Put {
		seq := max(int64(att.CreatedAt), found+1)
		p := bep44.Put{V: bencode.Bytes(v), K: &k, Seq: seq}
		p.Sign(lk)
		return p
	})
}

// GetLocator finds npk's BEP-44 public key from the npub alone.
func (d *DHT) GetLocator(ctx context.Context, npk string) (ed25519.PublicKey, error) {
	lk, err := LocatorKey(npk)
	if err != nil {
		return nil, err
	}
	var k [32]byte
	copy(k[:], lk.Public().(ed25519.PublicKey))
	res, _, err := getput.Get(ctx, bep44.MakeMutableTarget(k, nil), d.s, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: no locator for %.16s in the DHT (%v): the user has not published a feed, or the DHT is not joined yet", ErrNoFeed, npk, err)
	}
	pub, _, err := ParseLocator(npk, res.V)
	return pub, err
}

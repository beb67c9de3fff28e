package identity

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// LabelLibp2p is the derivation label of the node's libp2p identity key.
// Changing it changes every node's peer ID: a new label gets a new version
// suffix instead.
const LabelLibp2p = "cairn/libp2p/v1"

// LabelBitTorrent is the derivation label of the BEP-44 (Mainline DHT)
// key that signs a user's feed pointer.
const LabelBitTorrent = "cairn/bep44/v1"

// deriveSalt is the fixed HKDF salt of every key derived from a Nostr secret.
const deriveSalt = "cairn"

// DeriveEd25519 derives an ed25519 key for another scheme (libp2p, BEP-44)
// from the Nostr secret, so that one secret is the root of every key a node
// uses without being reused raw in a second signature scheme:
//
//	seed = HKDF-SHA256(secret = the 32-byte Nostr secret, salt = "cairn", info = label, 32 bytes)
//	key  = ed25519.NewKeyFromSeed(seed)
//
// The result is deterministic: the same secret and label always give the
// same key, and different labels give unrelated keys. Labels name the scheme
// and a version, e.g. LabelLibp2p ("cairn/libp2p/v1").
//
// k must hold a valid secret (as Generate, FromSecret and Load return);
// DeriveEd25519 panics otherwise, since a Key with a malformed secret is a
// programming error.
func (k Key) DeriveEd25519(label string) ed25519.PrivateKey {
	secret, err := hex.DecodeString(k.Secret)
	if err != nil || len(secret) != 32 {
		panic(fmt.Sprintf("identity: DeriveEd25519 on a key whose secret is not 64 hex characters (%d characters)", len(k.Secret)))
	}
	seed, err := hkdf.Key(sha256.New, secret, []byte(deriveSalt), label, ed25519.SeedSize)
	clear(secret)
	if err != nil { // only for lengths beyond 255*32 bytes
		panic("identity: hkdf: " + err.Error())
	}
	priv := ed25519.NewKeyFromSeed(seed)
	clear(seed)
	return priv
}

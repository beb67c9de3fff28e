//go:build libsecp256k1 && cgo

package relay

// The libsecp256k1 that go-nostr compiles into its own package (with the
// same build tag) is called here directly, declared rather than compiled a
// second time (two copies would clash at link time). go-nostr's
// CheckSignature serializes and hashes the event again after CheckID did,
// and parses the public key on every call; verify does each once.

/*
#include <stddef.h>

typedef struct secp256k1_context_struct secp256k1_context;
typedef struct { unsigned char data[64]; } secp256k1_xonly_pubkey;

extern secp256k1_context *secp256k1_context_create(unsigned int flags);
extern int secp256k1_xonly_pubkey_parse(const secp256k1_context *ctx, secp256k1_xonly_pubkey *pubkey, const unsigned char *input32);
extern int secp256k1_schnorrsig_verify(const secp256k1_context *ctx, const unsigned char *sig64, const unsigned char *msg, size_t msglen, const secp256k1_xonly_pubkey *pubkey);
*/
import "C"

import (
	"crypto/sha256"
	"sync"
	"unsafe"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/event"
)

// secpContext is a verification context (SECP256K1_CONTEXT_NONE: verifying
// needs no precomputation of its own).
var secpContext = C.secp256k1_context_create(1)

// verify checks that ev's id is the SHA-256 of its NIP-01 serialization
// and that sig is pubkey's BIP-340 signature of that hash, serializing and
// hashing once. It returns event.ErrID or event.ErrSignature.
func verify(ev *nostr.Event) error {
	var id, pk [32]byte
	var sig [64]byte
	// The id must be lowercase, as CheckID compares it with the hash's
	// lowercase hex; the pubkey and sig may be either case, as in
	// CheckSignature.
	if !event.IsHex(ev.ID, 64) {
		return event.ErrID
	}
	unhex(id[:], ev.ID)
	if !unhex(pk[:], ev.PubKey) || !unhex(sig[:], ev.Sig) {
		return event.ErrSignature
	}
	hash := sha256.Sum256(ev.Serialize())
	if hash != id {
		return event.ErrID
	}
	key, ok := pubkeys.get(&pk)
	if !ok {
		return event.ErrSignature
	}
	if C.secp256k1_schnorrsig_verify(secpContext, (*C.uchar)(unsafe.Pointer(&sig[0])),
		(*C.uchar)(unsafe.Pointer(&hash[0])), 32, &key) != 1 {
		return event.ErrSignature
	}
	return nil
}

// keyCache holds parsed public keys (parsing one costs a square root, about
// a tenth of a signature check). It is direct-mapped: a key's slot is
// chosen by its first bytes, and a newer key takes the slot over. A slot is
// matched on the whole key, so a collision costs only a parse.
type keyCache struct {
	mu    sync.Mutex
	slots [keyCacheSlots]keySlot
}

const keyCacheSlots = 4096 // 384 KiB

type keySlot struct {
	pk  [32]byte
	key C.secp256k1_xonly_pubkey
	set bool
}

var pubkeys keyCache

// get returns pk parsed, false if pk is not the x coordinate of a point on
// the curve.
func (kc *keyCache) get(pk *[32]byte) (C.secp256k1_xonly_pubkey, bool) {
	slot := &kc.slots[(uint(pk[0])<<8|uint(pk[1]))%keyCacheSlots]
	kc.mu.Lock()
	if slot.set && slot.pk == *pk {
		key := slot.key
		kc.mu.Unlock()
		return key, true
	}
	kc.mu.Unlock()
	var key C.secp256k1_xonly_pubkey
	if C.secp256k1_xonly_pubkey_parse(secpContext, &key, (*C.uchar)(unsafe.Pointer(&pk[0]))) != 1 {
		return key, false
	}
	kc.mu.Lock()
	*slot = keySlot{pk: *pk, key: key, set: true}
	kc.mu.Unlock()
	return key, true
}

// unhex decodes s, hex digits of either case, into dst, which must be
// exactly half as long.
func unhex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, lo := hexValue(s[2*i]), hexValue(s[2*i+1])
		if hi > 15 || lo > 15 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func hexValue(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	}
	return 255
}

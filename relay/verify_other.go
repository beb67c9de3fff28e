//go:build !libsecp256k1 || !cgo

package relay

import (
	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/event"
)

// verify checks that ev's id is the SHA-256 of its NIP-01 serialization
// and that sig is pubkey's BIP-340 signature of it (go-nostr's pure-Go
// checks; the libsecp256k1 build hashes once). It returns event.ErrID or
// event.ErrSignature.
func verify(ev *nostr.Event) error {
	if !ev.CheckID() {
		return event.ErrID
	}
	if ok, err := ev.CheckSignature(); !ok || err != nil {
		return event.ErrSignature
	}
	return nil
}

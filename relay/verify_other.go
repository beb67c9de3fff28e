//go:build !libsecp256k1 || !cgo

package relay

import "github.com/nbd-wtf/go-nostr"

// verify checks that ev's id is the SHA-256 of its NIP-01 serialization
// and that sig is pubkey's BIP-340 signature of it, with go-nostr's pure-Go
// checks (the libsecp256k1 build hashes once). It returns event.ErrID or
// event.ErrSignature.
func verify(ev *nostr.Event) error { return checkGoNostr(ev) }

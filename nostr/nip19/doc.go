// Package nip19 encodes and decodes NIP-19's bech32 entities (npub, nsec,
// note, nprofile, nevent, naddr) into package nostr's pointer types:
// go-nostr's nip19 natively, a small implementation of the same functions
// in the browser build (see package nostr for why).
//
//	prefix, v, err := nip19.Decode("nevent1…")   // v is a nostr.EventPointer
package nip19

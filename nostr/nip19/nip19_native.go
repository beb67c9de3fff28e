//go:build !js

package nip19

import gonip19 "github.com/nbd-wtf/go-nostr/nip19"

// Decode decodes a NIP-19 string: npub, nsec and note give 64 hex digits,
// nprofile a nostr.ProfilePointer, nevent a nostr.EventPointer and naddr a
// nostr.EntityPointer.
func Decode(s string) (prefix string, value any, err error) { return gonip19.Decode(s) }

// EncodePrivateKey encodes a secret key (hex) as nsec.
func EncodePrivateKey(hexKey string) (string, error) { return gonip19.EncodePrivateKey(hexKey) }

// EncodePublicKey encodes a public key (hex) as npub.
func EncodePublicKey(hexKey string) (string, error) { return gonip19.EncodePublicKey(hexKey) }

// EncodeNote encodes an event id (hex) as note.
func EncodeNote(id string) (string, error) { return gonip19.EncodeNote(id) }

// EncodeProfile encodes a public key and relays as nprofile.
func EncodeProfile(pubkey string, relays []string) (string, error) {
	return gonip19.EncodeProfile(pubkey, relays)
}

// EncodeEvent encodes an event id, relays and (when 64 hex digits) its
// author as nevent.
func EncodeEvent(id string, relays []string, author string) (string, error) {
	return gonip19.EncodeEvent(id, relays, author)
}

// EncodeEntity encodes an addressable event's author, kind, d tag and
// relays as naddr.
func EncodeEntity(pubkey string, kind int, identifier string, relays []string) (string, error) {
	return gonip19.EncodeEntity(pubkey, kind, identifier, relays)
}

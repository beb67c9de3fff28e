//go:build js

package nip19

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil/bech32"
	"github.com/cairn-nostr/cairn/nostr"
)

// TLV types (NIP-19).
const (
	tlvDefault = 0
	tlvRelay   = 1
	tlvAuthor  = 2
	tlvKind    = 3
)

// Decode decodes a NIP-19 string: npub, nsec and note give 64 hex digits,
// nprofile a nostr.ProfilePointer, nevent a nostr.EventPointer and naddr a
// nostr.EntityPointer.
func Decode(s string) (prefix string, value any, err error) {
	prefix, bits5, err := bech32.DecodeNoLimit(s)
	if err != nil {
		return "", nil, err
	}
	data, err := bech32.ConvertBits(bits5, 5, 8, false)
	if err != nil {
		return prefix, nil, fmt.Errorf("failed to translate data into 8 bits: %w", err)
	}
	switch prefix {
	case "npub", "nsec", "note":
		if len(data) != 32 {
			return prefix, nil, fmt.Errorf("data should be 32 bytes (%d)", len(data))
		}
		return prefix, hex.EncodeToString(data), nil
	case "nprofile":
		var p nostr.ProfilePointer
		err := eachTLV(data, func(t byte, v []byte) error {
			switch t {
			case tlvDefault:
				if len(v) != 32 {
					return fmt.Errorf("pubkey should be 32 bytes (%d)", len(v))
				}
				p.PublicKey = hex.EncodeToString(v)
			case tlvRelay:
				p.Relays = append(p.Relays, string(v))
			}
			return nil
		})
		if err == nil && p.PublicKey == "" {
			err = errors.New("no pubkey found for nprofile")
		}
		if err != nil {
			return prefix, nil, err
		}
		return prefix, p, nil
	case "nevent":
		var p nostr.EventPointer
		err := eachTLV(data, func(t byte, v []byte) error {
			switch t {
			case tlvDefault:
				if len(v) != 32 {
					return fmt.Errorf("id should be 32 bytes (%d)", len(v))
				}
				p.ID = hex.EncodeToString(v)
			case tlvRelay:
				p.Relays = append(p.Relays, string(v))
			case tlvAuthor:
				if len(v) != 32 {
					return fmt.Errorf("author should be 32 bytes (%d)", len(v))
				}
				p.Author = hex.EncodeToString(v)
			case tlvKind:
				if len(v) != 4 {
					return fmt.Errorf("invalid uint32 value for integer (%v)", v)
				}
				p.Kind = int(binary.BigEndian.Uint32(v))
			}
			return nil
		})
		if err == nil && p.ID == "" {
			err = errors.New("no id found for nevent")
		}
		if err != nil {
			return prefix, nil, err
		}
		return prefix, p, nil
	case "naddr":
		var p nostr.EntityPointer
		err := eachTLV(data, func(t byte, v []byte) error {
			switch t {
			case tlvDefault:
				p.Identifier = string(v)
			case tlvRelay:
				p.Relays = append(p.Relays, string(v))
			case tlvAuthor:
				if len(v) != 32 {
					return fmt.Errorf("author should be 32 bytes (%d)", len(v))
				}
				p.PublicKey = hex.EncodeToString(v)
			case tlvKind:
				if len(v) != 4 {
					return fmt.Errorf("invalid uint32 value for integer (%v)", v)
				}
				p.Kind = int(binary.BigEndian.Uint32(v))
			}
			return nil
		})
		if err == nil && (p.PublicKey == "" || p.Kind == 0 || p.Identifier == "") {
			err = errors.New("incomplete naddr: it needs an author, a kind and a d tag")
		}
		if err != nil {
			return prefix, nil, err
		}
		return prefix, p, nil
	}
	return prefix, data, fmt.Errorf("unknown tag %s", prefix)
}

// eachTLV calls f on each type-length-value entry of data; a final entry
// shorter than its length ends the list, as go-nostr reads it.
func eachTLV(data []byte, f func(t byte, v []byte) error) error {
	for len(data) >= 2 {
		n := int(data[1])
		if len(data) < 2+n {
			return nil
		}
		if err := f(data[0], data[2:2+n]); err != nil {
			return err
		}
		data = data[2+n:]
	}
	return nil
}

func appendTLV(dst []byte, t byte, v []byte) []byte {
	return append(append(dst, t, byte(len(v))), v...)
}

func encode(prefix string, data []byte) (string, error) {
	bits5, err := bech32.ConvertBits(data, 8, 5, true)
	if err != nil {
		return "", err
	}
	return bech32.Encode(prefix, bits5)
}

func encodeHex(prefix, what, h string) (string, error) {
	b, err := hex.DecodeString(h)
	if err != nil {
		return "", fmt.Errorf("failed to decode %s hex: %w", what, err)
	}
	return encode(prefix, b)
}

// EncodePrivateKey encodes a secret key (hex) as nsec.
func EncodePrivateKey(hexKey string) (string, error) {
	return encodeHex("nsec", "private key", hexKey)
}

// EncodePublicKey encodes a public key (hex) as npub.
func EncodePublicKey(hexKey string) (string, error) {
	return encodeHex("npub", "public key", hexKey)
}

// EncodeNote encodes an event id (hex) as note.
func EncodeNote(id string) (string, error) { return encodeHex("note", "event id", id) }

// EncodeProfile encodes a public key and relays as nprofile.
func EncodeProfile(pubkey string, relays []string) (string, error) {
	pk, err := hex.DecodeString(pubkey)
	if err != nil {
		return "", fmt.Errorf("invalid pubkey %q: %w", pubkey, err)
	}
	data := appendTLV(nil, tlvDefault, pk)
	for _, r := range relays {
		data = appendTLV(data, tlvRelay, []byte(r))
	}
	return encode("nprofile", data)
}

// EncodeEvent encodes an event id, relays and (when 64 hex digits) its
// author as nevent.
func EncodeEvent(id string, relays []string, author string) (string, error) {
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != 32 {
		return "", fmt.Errorf("invalid id %q: it must be 64 hex digits", id)
	}
	data := appendTLV(nil, tlvDefault, b)
	for _, r := range relays {
		data = appendTLV(data, tlvRelay, []byte(r))
	}
	if pk, _ := hex.DecodeString(author); len(pk) == 32 {
		data = appendTLV(data, tlvAuthor, pk)
	}
	return encode("nevent", data)
}

// EncodeEntity encodes an addressable event's author, kind, d tag and
// relays as naddr.
func EncodeEntity(pubkey string, kind int, identifier string, relays []string) (string, error) {
	pk, err := hex.DecodeString(pubkey)
	if err != nil {
		return "", fmt.Errorf("invalid pubkey %q: %w", pubkey, err)
	}
	data := appendTLV(nil, tlvDefault, []byte(identifier))
	for _, r := range relays {
		data = appendTLV(data, tlvRelay, []byte(r))
	}
	data = appendTLV(data, tlvAuthor, pk)
	var k [4]byte
	binary.BigEndian.PutUint32(k[:], uint32(kind))
	data = appendTLV(data, tlvKind, k[:])
	return encode("naddr", data)
}

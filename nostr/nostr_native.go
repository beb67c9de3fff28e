//go:build !js

package nostr

import gonostr "github.com/nbd-wtf/go-nostr"

// The types are go-nostr's.
type (
	Event          = gonostr.Event
	Tag            = gonostr.Tag
	Tags           = gonostr.Tags
	Timestamp      = gonostr.Timestamp
	Filter         = gonostr.Filter
	Filters        = gonostr.Filters
	TagMap         = gonostr.TagMap
	ProfilePointer = gonostr.ProfilePointer
	EventPointer   = gonostr.EventPointer
	EntityPointer  = gonostr.EntityPointer
)

// KindClientAuthentication is NIP-42's AUTH event kind.
const KindClientAuthentication = gonostr.KindClientAuthentication

// Now is the current time in seconds.
func Now() Timestamp { return gonostr.Now() }

// GeneratePrivateKey returns a new secret key, 64 lowercase hex digits.
func GeneratePrivateKey() string { return gonostr.GeneratePrivateKey() }

// GetPublicKey returns the x-only public key of the secret key sk (hex).
func GetPublicKey(sk string) (string, error) { return gonostr.GetPublicKey(sk) }

// IsValidPublicKey reports whether pk is 64 lowercase hex digits naming a
// point on the curve.
func IsValidPublicKey(pk string) bool { return gonostr.IsValidPublicKey(pk) }

// IsValid32ByteHex reports whether s is 64 lowercase hex digits.
func IsValid32ByteHex(s string) bool { return gonostr.IsValid32ByteHex(s) }

// IsReplaceableKind reports whether kind is replaceable (0, 3, 10000-19999).
func IsReplaceableKind(kind int) bool { return gonostr.IsReplaceableKind(kind) }

// IsEphemeralKind reports whether kind is ephemeral (20000-29999).
func IsEphemeralKind(kind int) bool { return gonostr.IsEphemeralKind(kind) }

// IsAddressableKind reports whether kind is addressable (30000-39999).
func IsAddressableKind(kind int) bool { return gonostr.IsAddressableKind(kind) }

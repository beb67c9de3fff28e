package webrtc

import (
	"strings"
	"testing"

	"github.com/cairn-nostr/cairn/nostr"
)

// PublicKey agrees with nostr.GetPublicKey on random keys, keys at the
// ends of the range (1, N-1, and values of N and above, reduced), and
// malformed ones.
func TestPublicKey(t *testing.T) {
	keys := []string{
		strings.Repeat("0", 63) + "1",
		"fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140", // N-1
		"fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364142", // N+1
		strings.Repeat("f", 64),
	}
	for range 200 {
		keys = append(keys, nostr.GeneratePrivateKey())
	}
	for _, k := range keys {
		want, werr := nostr.GetPublicKey(k)
		got, err := PublicKey(k)
		if got != want || (err == nil) != (werr == nil) {
			t.Fatalf("PublicKey(%s) = %q, %v; nostr.GetPublicKey: %q, %v", k, got, err, want, werr)
		}
	}
	for _, k := range []string{"", "zz", "abcd", strings.Repeat("a", 66)} {
		want, werr := nostr.GetPublicKey(k)
		got, err := PublicKey(k)
		if got != want || (err == nil) != (werr == nil) {
			t.Errorf("PublicKey(%q) = %q, %v; nostr.GetPublicKey: %q, %v", k, got, err, want, werr)
		}
	}
}

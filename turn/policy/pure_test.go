package policy

import (
	"testing"

	"github.com/cairn-nostr/cairn/internal/archtest"
)

// TestPure keeps policy a pure core: requests and now in, decisions out.
func TestPure(t *testing.T) {
	archtest.CheckPure(t, ".", []string{
		"crypto/hmac", "crypto/sha1", "encoding/base64", "errors", "fmt", "net/netip", "strconv", "strings", "time",
	})
}

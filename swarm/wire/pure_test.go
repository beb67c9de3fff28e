package wire

import (
	"testing"

	"github.com/cairn-nostr/cairn/internal/archtest"
)

// TestPure keeps the codec a pure core. io is allowed for the framing
// helpers, which read and write only the io.Reader and io.Writer their
// caller hands them; encoding/json only checks that a RECEIPT carries
// valid JSON.
func TestPure(t *testing.T) {
	archtest.CheckPure(t, ".", []string{
		"crypto/sha256", "encoding/binary", "encoding/json", "errors", "fmt", "io",
	})
}

package credit

import (
	"testing"

	"github.com/cairn-nostr/cairn/internal/archtest"
)

// TestPure keeps credit a pure core: events and now in, decisions out.
func TestPure(t *testing.T) {
	archtest.CheckPure(t, ".", []string{
		"crypto/sha256", "encoding/hex", "errors", "fmt", "strconv", "strings", "time",
		"github.com/cairn-nostr/cairn/nostr", "github.com/cairn-nostr/cairn/event",
	})
}

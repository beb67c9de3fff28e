package superpeer

import (
	"testing"

	"github.com/cairn-nostr/cairn/internal/archtest"
)

// TestPure keeps superpeer a pure core.
func TestPure(t *testing.T) {
	archtest.CheckPure(t, ".", []string{
		"bytes", "cmp", "crypto/sha256", "encoding/hex", "encoding/json", "errors", "fmt", "math/rand/v2", "slices", "strconv", "time",
		"github.com/cairn-nostr/cairn/event",
	})
}

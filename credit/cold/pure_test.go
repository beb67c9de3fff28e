package cold

import (
	"testing"

	"github.com/cairn-nostr/cairn/internal/archtest"
)

// TestPure keeps cold a pure core: events and now in, decisions out.
func TestPure(t *testing.T) {
	archtest.CheckPure(t, ".", []string{
		"bytes", "crypto/sha256", "encoding/binary", "encoding/hex", "encoding/json", "errors", "fmt",
		"math", "math/rand/v2", "sort", "strconv", "time",
		"github.com/cairn-nostr/cairn/nostr", "github.com/cairn-nostr/cairn/event",
	})
}

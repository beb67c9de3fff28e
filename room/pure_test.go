package room

import (
	"testing"

	"github.com/cairn-nostr/cairn/internal/archtest"
)

// TestPure keeps room a pure core: events and now in, decisions out.
func TestPure(t *testing.T) {
	archtest.CheckPure(t, ".", []string{
		"container/heap", "crypto/sha256", "encoding/binary", "encoding/hex", "errors", "fmt",
		"sort", "strconv", "strings", "time",
		"github.com/cairn-nostr/cairn/nostr", "github.com/cairn-nostr/cairn/event",
	})
}

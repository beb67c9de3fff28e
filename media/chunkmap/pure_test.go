package chunkmap

import (
	"testing"

	"github.com/cairn-nostr/cairn/internal/archtest"
)

// TestPure keeps chunkmap a pure core: it builds and parses events and
// never reads the clock (nostr.Now included) or the network. go-nostr is
// the data model (nostr.Event, its tags and key checks); mime and net/url
// only parse strings.
func TestPure(t *testing.T) {
	archtest.CheckPure(t, ".", []string{
		"encoding/hex", "errors", "fmt", "mime", "net/url", "strconv", "strings",
		"github.com/cairn-nostr/cairn/merkle",
		"github.com/cairn-nostr/cairn/nostr",
	})
}

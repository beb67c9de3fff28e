package event

import (
	"testing"

	"github.com/cairn-nostr/cairn/internal/archtest"
)

// TestPure keeps event a pure core: decoding and checking, no I/O, no
// clock.
func TestPure(t *testing.T) {
	archtest.CheckPure(t, ".", []string{
		"bytes", "encoding/hex", "encoding/json", "errors", "fmt", "strconv",
		"github.com/mailru/easyjson", "github.com/cairn-nostr/cairn/nostr",
	})
}

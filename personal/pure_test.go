package personal

import (
	"testing"

	"github.com/cairn-nostr/cairn/internal/archtest"
)

// TestPure keeps personal a pure core.
func TestPure(t *testing.T) {
	archtest.CheckPure(t, ".", []string{
		"cmp", "container/heap", "fmt", "slices", "time",
		"github.com/cairn-nostr/cairn/nostr", "github.com/cairn-nostr/cairn/event",
	})
}

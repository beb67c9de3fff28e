package rep

import (
	"testing"

	"github.com/cairn-nostr/cairn/internal/archtest"
)

// TestPure keeps rep a pure core: events and now in, a score out.
func TestPure(t *testing.T) {
	archtest.CheckPure(t, ".", []string{
		"encoding/json", "errors", "fmt", "math", "sort", "strings", "time",
	})
}

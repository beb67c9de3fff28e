package wot

import (
	"testing"

	"github.com/cairn-nostr/cairn/internal/archtest"
)

// TestPure keeps wot a pure core: follows and now in, decisions out.
func TestPure(t *testing.T) {
	archtest.CheckPure(t, ".", []string{"fmt", "slices", "time"})
}

package merkle

import (
	"testing"

	"github.com/cairn-nostr/cairn/internal/archtest"
)

// TestPure keeps merkle a pure core: hashing and nothing else.
func TestPure(t *testing.T) {
	archtest.CheckPure(t, ".", []string{"crypto/sha256", "errors", "fmt"})
}

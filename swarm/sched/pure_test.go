package sched

import (
	"testing"

	"github.com/cairn-nostr/cairn/internal/archtest"
)

// TestPure keeps the scheduler a pure core: no I/O, no concurrency, no
// clock (now comes in with each event), no goroutines; time is imported
// for time.Time and time.Duration only.
func TestPure(t *testing.T) {
	archtest.CheckPure(t, ".", []string{
		"cmp", "container/heap", "errors", "fmt", "math", "math/bits", "math/rand/v2",
		"slices", "strings", "time",
		"github.com/cairn-nostr/cairn/swarm/wire",
	})
}

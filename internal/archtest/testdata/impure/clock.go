// Package impure breaks every rule CheckPure knows, for its own test.
package impure

import (
	"os"
	tm "time"

	. "strings"

	"github.com/nbd-wtf/go-nostr"
)

func clock() (tm.Time, tm.Duration) {
	go os.Exit(0)
	_ = nostr.Now()
	_ = ToUpper("")
	return tm.Now(), tm.Since(tm.Time{})
}

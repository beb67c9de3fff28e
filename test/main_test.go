// Package e2e holds cairn's end-to-end tests: they build the real binary,
// run nodes on loopback and talk to them as clients would.
//
//	go test ./test/...            # everything, about a minute or two
//	go test -short ./test/...     # smaller sizes
//	CAIRN_E2E=1 go test ./test/   # fail, not skip, when node/npm are missing
package e2e

import (
	"testing"

	"github.com/cairn-nostr/cairn/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

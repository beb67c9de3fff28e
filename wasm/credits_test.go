//go:build js && wasm

package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cairn-nostr/cairn/credit"
)

// TestTabLedgerLoad: the tab's ledger records read back in order rebuild
// the chain; a changed record, or one missing from the middle, drops the
// ledger (its records to delete) and says why.
func TestTabLedgerLoad(t *testing.T) {
	c, broken := loadCredits(map[string]string{"ev:x": "{}"})
	if broken != nil || c.seq != 0 || c.reset != "" {
		t.Fatalf("empty: %+v %v", c, broken)
	}
	for i := range 3 {
		c.add(credit.Entry{ID: string(rune('a' + i)), Peer: strings.Repeat("ab", 32), Direction: credit.Up, Bytes: int64(100 * (i + 1)), Chunk: strings.Repeat("cd", 32), Timestamp: 1})
	}
	recs := map[string]string{}
	for i := 0; i < len(c.queue); i += 2 {
		recs[c.queue[i]] = c.queue[i+1]
	}
	c2, broken := loadCredits(recs)
	if broken != nil || c2.seq != 3 || c2.summary()["up"] != int64(600) || c2.summary()["head"] != c.summary()["head"] {
		t.Fatalf("reloaded: %v %v", c2.summary(), broken)
	}
	changed := map[string]string{}
	for k, v := range recs {
		changed[k] = v
	}
	var e credit.Entry
	json.Unmarshal([]byte(changed[ledgerKey(1)]), &e)
	e.Bytes++
	b, _ := json.Marshal(e)
	changed[ledgerKey(1)] = string(b)
	if c3, broken := loadCredits(changed); len(broken) != 3 || c3.seq != 0 || !strings.Contains(c3.reset, "broken") {
		t.Fatalf("changed: %+v %v", c3, broken)
	}
	delete(recs, ledgerKey(1))
	if c4, broken := loadCredits(recs); len(broken) != 2 || !strings.Contains(c4.reset, "missing") {
		t.Fatalf("gap: %+v %v", c4, broken)
	}
}

package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/test/harness"
)

// TestAppCreditsTabSeeds: a tab running the app, its Credits screen open,
// fetches a file; another tab fetches the same file from it (and from the
// node, which announces the file too; no HTTP); that tab signs a receipt per chunk, and the first
// tab's Credits panel shows the credit: its "earned (uploaded)" figure and
// its balance, the welcome grant plus what it uploaded minus what it
// downloaded (the panel reads the same ledger the core keeps).
func TestAppCreditsTabSeeds(t *testing.T) {
	n := harness.Start(t, "--webrtc-loopback")
	path, data := mediaFile(t, "tab-seeds.bin", 12<<20)
	want := sha256Hex(data)
	s := shareChunked(t, n, path, "1MiB")

	b := harness.NewBrowser(t)
	b.Open(n.URL + "/credits?loopback=1")
	b.WaitFor(60*time.Second, coreReadyJS)
	b.Eval(helpersJS, nil)
	b.Eval(`import('/util.js').then((u) => { window.__util = u; return true; })`, nil)
	var pub string
	b.Eval(`cairn.status().pubkey`, &pub)
	c := &coreTab{Browser: b, pubkey: pub}
	if got := c.fetch(t, s.nevent); got.SHA != want {
		t.Fatalf("the app's tab: sha256 %s, want %s", got.SHA, want)
	}

	d := startCore(t, n, false)
	if got := d.fetch(t, s.nevent); got.SHA != want {
		t.Fatalf("the second tab: sha256 %s, want %s", got.SHA, want)
	}
	fromC := d.verifiedFrom(t, s.root, pub)
	t.Logf("the second tab verified %d of %d bytes from the app's tab", fromC, len(data))
	if fromC == 0 {
		t.Fatal("the second tab took nothing from the app's tab: the test shows nothing")
	}

	// The receipts follow the chunks and the panel refreshes on its own:
	// bounded wait for the panel to show what the ledger holds.
	b.WaitFor(30*time.Second, fmt.Sprintf(`(() => {
	  const c = cairn.status().credits, box = document.getElementById('tabcredits');
	  if (!c || !box || c.up < %d || c.receipts_accepted === 0) return false;
	  const text = box.textContent;
	  return text.includes(__util.bytes(c.up) + 'earned (uploaded)') && text.includes(__util.bytes(c.balance) + 'balance');
	})()`, fromC))
	var panel string
	b.Eval(`document.getElementById('tabcredits').textContent`, &panel)
	var sc coreStatus
	b.Eval(`cairn.status()`, &sc)
	t.Logf("the app tab's ledger %+v; its panel: %s", sc.Credits, panel)
	if sc.Credits.Balance != 100<<20+sc.Credits.Up-sc.Credits.Down || sc.Credits.Refused != 0 {
		t.Errorf("the app tab's balance %d is not grant + up - down, or receipts were refused: %+v", sc.Credits.Balance, sc.Credits)
	}
	screenshot(t, b, "credits-tab")
	assertNoConsoleErrors(t, b, d.Browser)
}

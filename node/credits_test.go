package node

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/credit"
)

// waitFor polls cond (bounded): the ledger is written after the receipt
// arrives, with no event a test can wait on.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("no %s within 15 s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestWebRTCReceiptsCredit: a browser-like peer fetching chunks from a
// node over WebRTC signs a receipt for each; the node verifies them and
// credits its ledger, which survives a restart; a torn last line is cut
// off and a broken chain is set aside.
func TestWebRTCReceiptsCredit(t *testing.T) {
	cfg := TestingConfig(t)
	n, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	it, data := shareSmall(t, n, 31, 200_000)
	tab, _ := rtcPeer(t, n.RelayURL(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := tab.Dial(ctx, n.Key().Public, it.Map.Root)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		got, err := c.Fetch(ctx, it.Map.Chunks[i], it.Map.Root, nil)
		if err != nil || !bytes.Equal(got, data[i<<16:(i+1)<<16]) {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
	waitFor(t, "two credited receipts", func() bool { return n.Credits().Received == 2 })
	st := n.Credits()
	if st.Up != 2<<16 || st.Entries != 2 || st.Refused != 0 || st.Balance <= 0 || tab.ReceiptStats().Sent != 2 {
		t.Fatalf("credits %+v, tab sent %d", st, tab.ReceiptStats().Sent)
	}
	head := st.Head
	if err := n.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Durable, and a torn last line (a crash mid-write) is cut off.
	ledger := ledgerFile(cfg.DataDir)
	f, _ := os.OpenFile(ledger, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"id":"torn`)
	f.Close()
	n2 := startNode(t, cfg)
	if st := n2.Credits(); st.Up != 2<<16 || st.Head != head || st.Reset != "" {
		t.Fatalf("after a restart: %+v", st)
	}
	if b, _ := os.ReadFile(ledger); strings.Contains(string(b), "torn") {
		t.Fatal("the torn line stayed")
	}
	if err := n2.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A changed entry breaks the chain: the ledger is set aside.
	b, _ := os.ReadFile(ledger)
	os.WriteFile(ledger, bytes.Replace(b, []byte(`"bytes":65536`), []byte(`"bytes":65537`), 1), 0o600)
	n3 := startNode(t, cfg)
	if st := n3.Credits(); st.Entries != 0 || !strings.Contains(st.Reset, "broken") {
		t.Fatalf("a tampered ledger: %+v", st)
	}
	if m, _ := filepath.Glob(ledger + ".broken-*"); len(m) != 1 {
		t.Fatalf("set aside: %v", m)
	}
}

// TestLibp2pReceiptsCredit: B downloads A's file over libp2p; B signs a
// receipt for every chunk, A credits each once and B debits each, and
// both ledgers verify.
func TestLibp2pReceiptsCredit(t *testing.T) {
	a, b := startPair(t)
	path, _ := randFile(t, 41, 300_000)
	sh, err := a.Share(context.Background(), ShareRequest{Path: path, ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	waitDownload(t, b, sh.Nevent, "")
	chunks := int64(sh.Chunks)
	waitFor(t, "a credit per chunk", func() bool { return a.Credits().Received == chunks })
	sa, sb := a.Credits(), b.Credits()
	if sa.Up != 300_000 || sa.Down != 0 || sa.Refused != 0 || sb.Down != 300_000 || sb.Sent != chunks || sb.Up != 0 {
		t.Fatalf("A %+v\nB %+v", sa, sb)
	}
	if sb.Balance != credit.WelcomeGrant-300_000 {
		t.Fatalf("B's balance %d", sb.Balance)
	}
	for _, n := range []*Node{a, b} {
		n.credits.mu.Lock()
		es := n.credits.ledger.Entries()
		n.credits.mu.Unlock()
		if i, err := credit.Verify(es); err != nil {
			t.Fatalf("ledger entry %d: %v", i, err)
		}
	}

	// A's proof: the receipts behind its credits, checked on their own.
	var proof CreditProof
	get(t, a.URL()+"/api/credits/proof", &proof)
	if p := credit.VerifyProof(a.Key().Public, proof.Receipts); p.Credit != 300_000 || p.Counted != int(chunks) || len(p.Refused) != 0 || proof.Prover != a.Key().Public {
		t.Fatalf("proof of %d receipts: %+v", len(proof.Receipts), p)
	}
	var recent CreditEntries
	get(t, b.URL()+"/api/credits/entries?limit=2", &recent)
	if recent.Total != int(chunks) || len(recent.Entries) != 2 || recent.Entries[0].Direction != credit.Down || recent.Entries[0].Peer != a.Key().Public {
		t.Fatalf("entries %+v", recent)
	}

	// The file on disk, checked again: intact; a changed byte count; a
	// credit whose receipt is gone; a truncated tail.
	var ck CreditCheck
	get(t, a.URL()+"/api/credits/verify", &ck)
	if !ck.OK || ck.Entries != int(chunks) || ck.BadEntry != -1 {
		t.Fatalf("verify: %+v", ck)
	}
	path = ledgerFile(a.cfg.DataDir)
	orig, _ := os.ReadFile(path)
	lines := bytes.SplitAfter(orig, []byte("\n"))
	noReceipt := bytes.Replace(lines[1], []byte(`,"receipt":`), []byte(`,"x":`), 1)
	for name, c := range map[string]struct {
		file []byte
		bad  int
		msg  string
	}{
		"changed":   {bytes.Replace(orig, []byte(`"bytes":65536`), []byte(`"bytes":65537`), 1), 0, "broken hash chain"},
		"unbacked":  {bytes.Join(append(append([][]byte{lines[0]}, noReceipt), lines[2:]...), nil), 1, "without its receipt"},
		"truncated": {bytes.Join(lines[:2], nil), -1, "truncated"},
	} {
		os.WriteFile(path, c.file, 0o600)
		ck := a.VerifyCredits()
		if ck.OK || ck.BadEntry != c.bad || !strings.Contains(ck.Error, c.msg) {
			t.Errorf("%s: %+v", name, ck)
		}
	}
	os.WriteFile(path, orig, 0o600)
}

// TestLedgerGroupCommit: entries added from several goroutines are all on
// disk, in chain order, after flush and after close; none after close.
func TestLedgerGroupCommit(t *testing.T) {
	dir := t.TempDir()
	c, err := openCredits(dir)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				e := credit.Entry{ID: fmt.Sprint(g, "-", i), Peer: strings.Repeat("ab", 32), Direction: credit.Down, Bytes: 1, Chunk: strings.Repeat("cd", 32), Timestamp: 1}
				if err := c.add(e, nil); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := c.flush(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(ledgerFile(dir))
	es, _, good := readLedger(data)
	if len(es) != 200 || good != len(data) {
		t.Fatalf("%d entries on disk after flush", len(es))
	}
	if i, err := credit.Verify(es); err != nil {
		t.Fatalf("entry %d: %v", i, err)
	}
	c.add(credit.Entry{ID: "last", Peer: "p", Direction: credit.Up, Bytes: 1}, nil)
	if err := c.close(); err != nil {
		t.Fatal(err)
	}
	if err := c.add(credit.Entry{ID: "late", Peer: "p", Direction: credit.Up, Bytes: 1}, nil); err == nil {
		t.Fatal("an entry was added after close")
	}
	c2, err := openCredits(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.close()
	if n := len(c2.ledger.Entries()); n != 201 || c2.reset != "" {
		t.Fatalf("reopened: %d entries, reset %q", n, c2.reset)
	}
}

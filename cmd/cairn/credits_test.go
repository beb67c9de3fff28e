package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/credit/cold"
	"github.com/cairn-nostr/cairn/credit/rep"
	"github.com/cairn-nostr/cairn/node"
)

func startNode(t *testing.T, cfg node.Config) *node.Node {
	t.Helper()
	n, err := node.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		n.Stop(context.Background())
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop(context.Background()) })
	return n
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := rootCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// TestCreditsCommand: after B fetched A's file, `cairn credits` on each
// shows the bytes, log lists the entries, verify passes, and A's exported
// proof checks offline to the bytes it uploaded; a proof checked as
// another prover's shows no credit.
func TestCreditsCommand(t *testing.T) {
	a := startNode(t, node.TestingConfig(t))
	cfg := node.TestingConfig(t)
	for _, m := range a.Host().Addrs() {
		cfg.P2P.Bootstrap = append(cfg.P2P.Bootstrap, m.String())
	}
	b := startNode(t, cfg)
	data := bytes.Repeat([]byte("cairn credits "), 20_000) // 280,000 bytes
	path := filepath.Join(t.TempDir(), "f.bin")
	os.WriteFile(path, data, 0o600)
	sh, err := a.Share(context.Background(), node.ShareRequest{Path: path, ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(node.GetRequest{Ref: sh.Nevent})
	res, err := http.Post(b.URL()+"/api/get", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for deadline := time.Now().Add(30 * time.Second); a.Credits().Received < int64(sh.Chunks); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("A's credits: %+v", a.Credits())
		}
	}
	out, err := run(t, "credits", "--node", a.URL())
	if err != nil || !strings.Contains(out, "uploaded  273.4 KiB") || !strings.Contains(out, "5 accepted, 0 refused") ||
		!strings.Contains(out, "gate      grant 100.0 MiB") || !strings.Contains(out, b.Key().Public[:20]+"  99.7 MiB") ||
		!strings.Contains(out, "cold      holding 0 chunks for others (at most 16)") || !strings.Contains(out, "assigning off") {
		t.Fatalf("credits: %v\n%s", err, out)
	}
	// B's reputation of A: the verified bytes A served it.
	out, err = run(t, "credits", "--node", b.URL())
	if err != nil || !strings.Contains(out, "reputation (what each peer did") || !strings.Contains(out, a.Key().Public[:20]+"  ") ||
		!strings.Contains(out, "273.4 KiB") {
		t.Fatalf("B's credits: %v\n%s", err, out)
	}
	out, err = run(t, "credits", "log", "--node", b.URL(), "--limit", "2")
	if err != nil || strings.Count(out, " down ") != 2 || !strings.Contains(out, "2 of 5 entries") {
		t.Fatalf("log: %v\n%s", err, out)
	}
	if out, err = run(t, "credits", "verify", "--node", a.URL()); err != nil || !strings.Contains(out, "ledger ok: 5 entries") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	proof := filepath.Join(t.TempDir(), "proof.json")
	if out, err = run(t, "credits", "proof", "--node", a.URL(), "-o", proof); err != nil {
		t.Fatalf("proof: %v\n%s", err, out)
	}
	if out, err = run(t, "credits", "check", proof); err != nil || !strings.Contains(out, "(280000 bytes) from 5 receipts by 1 signers") {
		t.Fatalf("check: %v\n%s", err, out)
	}
	// The same receipts claimed by B count for nothing.
	raw, _ := os.ReadFile(proof)
	os.WriteFile(proof, bytes.Replace(raw, []byte(a.Key().Public), []byte(b.Key().Public), 1), 0o600)
	if out, err = run(t, "credits", "check", proof); err != nil || !strings.Contains(out, "(0 bytes) from 0 receipts") || strings.Count(out, "names another seeder") != 5 {
		t.Fatalf("check as B: %v\n%s", err, out)
	}
	os.WriteFile(proof, []byte("{"), 0o600)
	if _, err = run(t, "credits", "check", proof); err == nil || !strings.Contains(err.Error(), "not a balance proof") {
		t.Fatalf("a broken file: %v", err)
	}
}

// TestPrintCold: the cold storage lines of `cairn credits` for an
// assigner that gave chunks and a holder that keeps one.
func TestPrintCold(t *testing.T) {
	until := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	st := &node.ColdStatus{Assign: true, Hold: true, Challenged: 9, Proved: 7, Failed: 1,
		Given:   []node.ColdAssignment{{Assignment: cold.Assignment{Holder: "h1", State: cold.Held}}, {Assignment: cold.Assignment{Holder: "h2", State: cold.Offered}}},
		Holders: []cold.HolderStatus{{Holder: "h1", Eligible: true, Held: 1, Passed: 7}, {Holder: "h2", Failed: 1, Benched: until}},
		Held:    []node.ColdHolding{{Holding: cold.Holding{Assigner: "a1", Expires: until}, Chunk: "c1c1", Root: "r1r1"}},
	}
	var b strings.Builder
	if err := printCold(&b, st); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"cold      holding 1 chunks for others (at most 16)",
		"gave 2 chunks (1 held, 1 offered); challenges 9 sent, 7 proved, 1 failed",
		"h2        false     0     0       1       0        2026-12-07 10:00:00",
		"a1        c1c1      r1r1  2026-12-07 10:00:00",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q in\n%s", want, out)
		}
	}
}

// TestPrintReputation: the reputation lines of `cairn credits`, the reset
// notice, and the line for a node no peer served.
func TestPrintReputation(t *testing.T) {
	var b strings.Builder
	ps := []node.PeerReputation{
		{Peer: "aaaa", Score: 3.17, Record: rep.Record{Bytes: 8 << 20, CustodyPassed: 1}},
		{Peer: "libp2p:12D3KooWxyz", Score: -16, Record: rep.Record{Strikes: 1}},
	}
	if err := printReputation(&b, ps, "rep: bad reputation file: version 2; set aside as x"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"reputation reset at start: rep: bad reputation file: version 2",
		"PEER                SCORE   SERVED   STRIKES  CUSTODY PASSED  CUSTODY FAILED",
		"aaaa                3.17    8.0 MiB  0.0      1.0             0.0",
		"libp2p:12D3KooWxyz  -16.00  0 B      1.0      0.0             0.0",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q in\n%s", want, out)
		}
	}
	b.Reset()
	printReputation(&b, nil, "")
	if b.String() != "reputation no peer served this node yet\n" {
		t.Fatalf("no peers: %q", b.String())
	}
}

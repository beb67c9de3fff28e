package node

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/peer"
)

// fetch is a download to start: a node and the file's nevent and root.
type fetch struct {
	n         *Node
	ref, root string
}

// fetchAll starts every download at once and waits (60 s at most) for each
// to complete, returning how long each took; 0 for one that did not
// finish.
func fetchAll(t *testing.T, jobs []fetch) []time.Duration {
	t.Helper()
	start := time.Now()
	for _, j := range jobs {
		var st DownloadStatus
		post(t, j.n.URL()+"/api/get", GetRequest{Ref: j.ref}, &st)
	}
	took := make([]time.Duration, len(jobs))
	for deadline := start.Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		pending := 0
		for i, j := range jobs {
			if took[i] != 0 {
				continue
			}
			var st DownloadStatus
			get(t, j.n.URL()+"/api/downloads/"+j.root, &st)
			switch st.State {
			case "complete":
				took[i] = time.Since(start)
			case "failed":
				t.Fatalf("node %d: %+v", i, st)
			default:
				pending++
			}
		}
		if pending == 0 {
			break
		}
	}
	return took
}

// TestFreeRiderThrottled: six real nodes on loopback over libp2p, each
// granting every peer 64 KiB and serving a peer past its balance at
// 256 KiB/s. Four contributors each share a 2 MiB file the seeder fetches
// (each uploads 2 MiB to it); a free rider shares nothing. Then the seeder
// shares a 2 MiB file and the five fetch it at once, from the seeder and
// from each other as they find each other. The seeder serves the
// contributors at once (each is 2 MiB + 64 KiB in credit with it) and
// gates the free rider once its grant is spent: throttled, or refused
// while the seeder serves others and the file is not scarce; the
// contributors, once they hold chunks, gate it the same way. Asserted: the
// seeder never held a contributor back and did hold the free rider back.
// Reported, not asserted: the completion times and their ratio.
func TestFreeRiderThrottled(t *testing.T) {
	const chunk = 64 << 10
	gated := func() Config {
		c := TestingConfig(t)
		c.Credit.Grant = chunk
		c.Credit.DebtorRate = 4 * chunk
		return c
	}
	s := startNode(t, gated())
	boot := func() Config {
		c := gated()
		for _, m := range s.Host().Addrs() {
			c.P2P.Bootstrap = append(c.P2P.Bootstrap, m.String())
		}
		return c
	}
	var contributors []*Node
	for range 4 {
		contributors = append(contributors, startNode(t, boot()))
	}
	free := startNode(t, boot())
	// Phase 1: the seeder fetches every contributor's file at once
	// (throttled by each contributor once past its grant there).
	var jobs []fetch
	for i, c := range contributors {
		path, _ := randFile(t, uint64(50+i), 32*chunk)
		sh, err := c.Share(context.Background(), ShareRequest{Path: path, ChunkSize: chunk})
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, fetch{s, sh.Nevent, sh.Root})
	}
	start := time.Now()
	for i, took := range fetchAll(t, jobs) {
		if took == 0 {
			t.Fatalf("the seeder did not get contributor %d's file", i)
		}
	}
	phase1 := time.Since(start)
	for i, c := range contributors {
		if b := s.gate.Balance(c.Key().Public); b != 33*chunk {
			t.Fatalf("contributor %d's balance with the seeder: %d", i, b)
		}
	}

	path, _ := randFile(t, 60, 32*chunk)
	sh, err := s.Share(context.Background(), ShareRequest{Path: path, ChunkSize: chunk})
	if err != nil {
		t.Fatal(err)
	}
	jobs = nil
	for _, n := range append(append([]*Node(nil), contributors...), free) {
		jobs = append(jobs, fetch{n, sh.Nevent, sh.Root})
	}
	took := fetchAll(t, jobs)

	accounts := s.gate.Accounts()
	for i, c := range contributors {
		if a := accounts[c.Key().Public]; a.Throttled != 0 || a.Refused != 0 {
			t.Errorf("contributor %d was held back: %+v", i, a)
		}
	}
	fa := accounts[free.Key().Public]
	if fa.Throttled+fa.Refused == 0 {
		t.Errorf("the free rider was never held back: %+v", fa)
	}
	var sum time.Duration
	for i := range contributors {
		if took[i] == 0 {
			t.Fatalf("contributor %d did not finish within 60 s", i)
		}
		sum += took[i]
	}
	mean := sum / time.Duration(len(contributors))
	freeTook := "did not finish within 60 s"
	if took[4] != 0 {
		freeTook = fmt.Sprintf("%v, %.1fx the contributors' mean", took[4].Round(time.Millisecond), float64(took[4])/float64(mean))
	}
	var heldBack int64
	for _, c := range contributors {
		if c.gate != nil {
			a := c.gate.Accounts()[free.Key().Public]
			heldBack += a.Throttled + a.Refused
		}
	}
	t.Logf("phase 1 (the seeder fetching 4 x 2 MiB at once) %v; 2 MiB from the seeder, grant 64 KiB, debtor rate 256 KiB/s: contributors %v %v %v %v (mean %v); free rider %s; the seeder served the free rider %d KiB, throttled %d and refused %d of its requests; the contributors held it back %d times",
		phase1.Round(time.Millisecond), took[0].Round(time.Millisecond), took[1].Round(time.Millisecond), took[2].Round(time.Millisecond), took[3].Round(time.Millisecond),
		mean.Round(time.Millisecond), freeTook, fa.Served>>10, fa.Throttled, fa.Refused, heldBack)
}

// TestSeedInDemand: a node with --seed-demand hears a kind 20003 for a root
// whose chunk map it has (resolved, no chunk fetched) and fetches it, so
// that it seeds it; /api/credits lists the demand.
func TestSeedInDemand(t *testing.T) {
	a := startNode(t, TestingConfig(t))
	cfg := TestingConfig(t)
	for _, m := range a.Host().Addrs() {
		cfg.P2P.Bootstrap = append(cfg.P2P.Bootstrap, m.String())
	}
	cfg.Credit.SeedDemand = 1
	cfg.Credit.DemandEvery = Duration(50 * time.Millisecond)
	h := startNode(t, cfg)
	path, _ := randFile(t, 70, 200_000)
	sh, err := a.Share(context.Background(), ShareRequest{Path: path, ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	post(t, h.URL()+"/api/resolve", GetRequest{Ref: sh.Nevent}, &res)
	root := rootOf(t, sh.Root)
	if h.peer.DownloadOf(root) != nil {
		t.Fatal("a download before any demand")
	}
	ev := peer.DemandEvent(root, "", time.Now())
	ev.Sign(nostr.GeneratePrivateKey())
	if err := h.Relay().Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	st := h.Credits()
	if len(st.Demand) != 1 || st.Demand[0].Root != sh.Root || st.Demand[0].Requesters != 1 {
		t.Fatalf("demand %+v", st.Demand)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if dl := h.peer.DownloadOf(root); dl != nil && h.peer.Held(dl.File.Map) == sh.Chunks {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the root in demand was not fetched")
		}
	}
}

// TestBansOutliveRestart: a peer banned on the host is still banned after
// the node restarts on the same data dir; a lifted ban is not brought back,
// and a broken bans file is ignored.
func TestBansOutliveRestart(t *testing.T) {
	cfg := TestingConfig(t)
	n := startNode(t, cfg)
	other := startNode(t, TestingConfig(t))
	n.Host().Ban(other.Host().ID(), time.Now().Add(time.Hour))
	if err := n.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	n2 := startNode(t, cfg)
	if !n2.Host().Banned(other.Host().ID()) {
		t.Fatal("the ban did not outlive the restart")
	}
	n2.Host().Ban(other.Host().ID(), time.Now()) // Ban only extends; write a lifted one by hand
	if err := n2.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(bansFile(cfg.DataDir), []byte(fmt.Sprintf(`{%q: %d}`, other.Host().ID(), time.Now().Add(-time.Minute).Unix())), 0o600)
	n3 := startNode(t, cfg)
	if n3.Host().Banned(other.Host().ID()) {
		t.Fatal("a lifted ban came back")
	}
	if err := n3.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(bansFile(cfg.DataDir), []byte("{"), 0o600)
	n4 := startNode(t, cfg)
	if n4.Host().Banned(other.Host().ID()) {
		t.Fatal("banned from a broken file")
	}
}

package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/nostr/nip19"
)

// waitCold polls until ok (60 s at most), failing with what.
func waitCold(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("within 60 s: %s", what)
		}
	}
}

// holdersOf lists the holders of each chunk of root in the assigner's
// given assignments (held, not offered).
func holdersOf(st *ColdStatus, root string) map[string][]string {
	out := map[string][]string{}
	for _, a := range st.Given {
		if a.Root == root && a.State == "held" {
			out[a.Chunk] = append(out[a.Chunk], a.Holder)
		}
	}
	return out
}

// TestColdStorageChurn: real nodes on loopback over libp2p. Four holders
// each share a file the seeder fetches (each uploaded to it, so its
// ledger shows them a ratio above 2); a taker fetches from the seeder
// and uploads nothing. The seeder shares an 8-chunk file no one else
// seeds: its chunks go to the holders, three each, and none to the
// taker. A holder deletes a chunk it holds: it fails the custody
// challenge, loses the assignment and is benched, and the chunk goes to
// the one holder that lacked it. Then the seeder and half the holders
// leave, and a new node fetches the file, byte-identical, from the two
// holders left (found through the DHT).
func TestColdStorageChurn(t *testing.T) {
	const chunk = 64 << 10
	cfg := func() Config {
		c := TestingConfig(t)
		c.BT.Enabled = false
		c.Cold.Every = Duration(50 * time.Millisecond)
		return c
	}
	sc := cfg()
	sc.Cold.Assign = true
	sc.Cold.ChallengeEvery = Duration(3 * time.Second)
	s := startNode(t, sc)
	boot := func() Config {
		c := cfg()
		for _, m := range s.Host().Addrs() {
			c.P2P.Bootstrap = append(c.P2P.Bootstrap, m.String())
		}
		return c
	}
	// The taker first, while no peer is eligible: it fetches from the
	// seeder alone.
	taker := startNode(t, boot())
	path, _ := randFile(t, 89, chunk)
	sh, err := s.Share(context.Background(), ShareRequest{Path: path, ChunkSize: chunk})
	if err != nil {
		t.Fatal(err)
	}
	if fetchAll(t, []fetch{{taker, sh.Nevent, sh.Root}})[0] == 0 {
		t.Fatal("the taker's fetch did not finish")
	}
	var holders []*Node
	var jobs []fetch
	for i := range 4 {
		h := startNode(t, boot())
		holders = append(holders, h)
		path, _ := randFile(t, uint64(80+i), chunk)
		sh, err := h.Share(context.Background(), ShareRequest{Path: path, ChunkSize: chunk})
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, fetch{s, sh.Nevent, sh.Root})
	}
	for i, took := range fetchAll(t, jobs) {
		if took == 0 {
			t.Fatalf("fetch %d did not finish", i)
		}
	}

	path, want := randFile(t, 90, 8*chunk)
	cold, err := s.Share(context.Background(), ShareRequest{Path: path, ChunkSize: chunk})
	if err != nil {
		t.Fatal(err)
	}
	name := map[string]string{s.Key().Public: "the seeder", taker.Key().Public: "the taker"}
	for i, h := range holders {
		name[h.Key().Public] = "holder " + string(rune('1'+i))
	}
	waitCold(t, "the cold file's 8 chunks held by 3 holders each", func() bool {
		hs := holdersOf(s.ColdStatus(), cold.Root)
		if len(hs) != 8 {
			return false
		}
		for _, l := range hs {
			if len(l) != 3 {
				return false
			}
		}
		return true
	})
	st := s.ColdStatus()
	for _, a := range st.Given {
		if a.Holder == taker.Key().Public {
			t.Fatalf("the taker was given a chunk: %+v", a)
		}
	}
	known := false
	for _, hs := range st.Holders {
		if hs.Holder == taker.Key().Public {
			known = true
			if hs.Eligible {
				t.Fatalf("the taker is eligible: %+v", hs)
			}
		}
	}
	if !known {
		t.Fatal("the assigner does not know the taker (no receipt of its fetch in the ledger)")
	}
	// Each holder pinned what it holds, and reports it.
	for i, h := range holders {
		for _, hd := range h.ColdStatus().Held {
			c, _ := hex.DecodeString(hd.Chunk)
			var ch [32]byte
			copy(ch[:], c)
			if !h.Blobs().Has(ch) || !strings.Contains(strings.Join(h.Blobs().Pins(ch), ","), PinCold) {
				t.Fatalf("holder %d does not keep chunk %.16s pinned", i+1, hd.Chunk)
			}
		}
	}

	// Holder 4 deletes a chunk of the cold file it holds.
	cheat := holders[3]
	var lost string
	for c, l := range holdersOf(st, cold.Root) {
		for _, h := range l {
			if h == cheat.Key().Public && lost == "" {
				lost = c
			}
		}
	}
	lb, _ := hex.DecodeString(lost)
	var lh [32]byte
	copy(lh[:], lb)
	if err := cheat.Blobs().Delete(lh); err != nil || cheat.Blobs().Has(lh) {
		t.Fatalf("deleting: %v", err)
	}
	waitCold(t, "holder 4 failing the challenge of the chunk it deleted, and the chunk held by the three others", func() bool {
		st := s.ColdStatus()
		failed := false
		for _, e := range st.Ended {
			if e.Holder == cheat.Key().Public && e.Chunk == lost && strings.Contains(e.Reason, "custody challenge failed") {
				failed = true
			}
		}
		l := holdersOf(st, cold.Root)[lost]
		if !failed || len(l) != 3 {
			return false
		}
		for _, h := range l {
			if h == cheat.Key().Public {
				return false
			}
		}
		return true
	})
	st = s.ColdStatus()
	for _, hs := range st.Holders {
		if hs.Holder == cheat.Key().Public && (hs.Eligible || hs.Failed == 0 || hs.Benched.IsZero()) {
			t.Fatalf("holder 4 not benched: %+v", hs)
		}
	}
	if st.Proved == 0 || st.Failed == 0 {
		t.Fatalf("challenges: %d sent, %d proved, %d failed", st.Challenged, st.Proved, st.Failed)
	}
	var who []string
	for _, hs := range st.Holders {
		who = append(who, fmt.Sprintf("%s: %d held, %d passed, %d failed, eligible %v", name[hs.Holder], hs.Held, hs.Passed, hs.Failed, hs.Eligible))
	}
	t.Logf("before the churn: %d challenges, %d proofs good, %d failed; %s", st.Challenged, st.Proved, st.Failed, strings.Join(who, "; "))

	// The seeder and holders 1 and 2 leave.
	for _, n := range []*Node{s, holders[0], holders[1]} {
		if err := n.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	nc := TestingConfig(t)
	nc.BT.Enabled = false
	for _, m := range holders[2].Host().Addrs() {
		nc.P2P.Bootstrap = append(nc.P2P.Bootstrap, m.String())
	}
	late := startNode(t, nc)
	ref, err := nip19.EncodeEvent(cold.MapID, []string{holders[2].RelayURL()}, "")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	start := time.Now()
	var dl DownloadStatus
	post(t, late.URL()+"/api/get", GetRequest{Ref: ref, Output: out}, &dl)
	waitCold(t, "the late node fetching the cold file", func() bool {
		var st DownloadStatus
		get(t, late.URL()+"/api/downloads/"+cold.Root, &st)
		if st.State == "failed" {
			t.Fatalf("download failed: %+v", st)
		}
		return st.State == "complete"
	})
	took := time.Since(start)
	var got []byte
	waitCold(t, "the output file written", func() bool {
		got, err = os.ReadFile(out)
		return err == nil && len(got) == len(want)
	})
	if !bytes.Equal(got, want) {
		t.Fatal("the file fetched after the churn differs")
	}
	t.Logf("after the seeder and half the holders left, the late node fetched %d bytes in %v from the two holders left", len(got), took.Round(time.Millisecond))
}

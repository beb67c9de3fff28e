package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/credit/cold"
	"github.com/cairn-nostr/cairn/media/chunkmap"
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

// heldEverywhere reports whether each of root's chunks (chunks of them)
// is held by exactly replicas holders.
func heldEverywhere(st *ColdStatus, root string, chunks, replicas int) bool {
	hs := holdersOf(st, root)
	if len(hs) != chunks {
		return false
	}
	for _, l := range hs {
		if len(l) != replicas {
			return false
		}
	}
	return true
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
	sh, _ := shareRandom(t, s, 89, chunk, chunk)
	if fetchAll(t, []fetch{{taker, sh.Nevent, sh.Root}})[0] == 0 {
		t.Fatal("the taker's fetch did not finish")
	}
	var holders []*Node
	var jobs []fetch
	for i := range 4 {
		h := startNode(t, boot())
		holders = append(holders, h)
		sh, _ := shareRandom(t, h, uint64(80+i), chunk, chunk)
		jobs = append(jobs, fetch{s, sh.Nevent, sh.Root})
	}
	for i, took := range fetchAll(t, jobs) {
		if took == 0 {
			t.Fatalf("fetch %d did not finish", i)
		}
	}

	cold, want := shareRandom(t, s, 90, 8*chunk, chunk)
	name := map[string]string{s.Key().Public: "the seeder", taker.Key().Public: "the taker"}
	for i, h := range holders {
		name[h.Key().Public] = "holder " + string(rune('1'+i))
	}
	waitCold(t, "the cold file's 8 chunks held by 3 holders each", func() bool {
		return heldEverywhere(s.ColdStatus(), cold.Root, 8, 3)
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
	// Each holder keeps pinned, and reports held, every chunk of the cold
	// file whose assignment it accepted (it answers once they are kept;
	// offers of other files may still be under way).
	byKey := map[string]*Node{}
	for _, h := range holders {
		byKey[h.Key().Public] = h
	}
	for c, l := range holdersOf(st, cold.Root) {
		cb, _ := hex.DecodeString(c)
		var ch [32]byte
		copy(ch[:], cb)
		for _, pk := range l {
			h := byKey[pk]
			if h == nil {
				t.Fatalf("chunk %.16s given to %s", c, name[pk])
			}
			if !h.Blobs().Has(ch) || !strings.Contains(strings.Join(h.Blobs().Pins(ch), ","), PinCold) {
				t.Fatalf("%s does not keep chunk %.16s pinned", name[pk], c)
			}
			reported := false
			for _, hd := range h.ColdStatus().Held {
				reported = reported || hd.Chunk == c && hd.Root == cold.Root
			}
			if !reported {
				t.Fatalf("%s does not report chunk %.16s held", name[pk], c)
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

	// The ceiling: a node fetching the file while everyone is there
	// (then it leaves too, taking its copy with it).
	control := startNode(t, boot())
	ceiling := fetchAll(t, []fetch{{control, cold.Nevent, cold.Root}})[0]
	if ceiling == 0 {
		t.Fatal("the control fetch did not finish")
	}

	// The seeder and holders 1 and 2 leave.
	for _, n := range []*Node{control, s, holders[0], holders[1]} {
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
	t.Logf("after the seeder and half the holders left, the late node fetched %d bytes in %v from the two holders left; with the seeder there, %v (%.1fx)",
		len(got), took.Round(time.Millisecond), ceiling.Round(time.Millisecond), float64(took)/float64(ceiling))
}

// mapEvent reads a stored kind 7001 of n by id.
func mapEvent(t *testing.T, n *Node, id string) *nostr.Event {
	t.Helper()
	var ev nostr.Event
	err := n.Store().Query(context.Background(), nostr.Filter{IDs: []string{id}}, 1, func(raw []byte) error {
		return json.Unmarshal(raw, &ev)
	})
	if err != nil || ev.ID != id {
		t.Fatalf("map %s: %v", id, err)
	}
	return &ev
}

// TestColdOffers: a holder refuses a malformed or misaddressed offer
// (the stream is reset), declines with the reason an offer whose chunk
// map is missing, of another root or lacks a chunk offered, and one made
// to a node run with --cold-hold=false; a good offer's chunks are
// fetched, pinned and reported held, and the map kept on its relay; a
// restart lifts the pins.
func TestColdOffers(t *testing.T) {
	const chunk = 64 << 10
	a := startNode(t, TestingConfig(t))
	boot := func(hold bool) Config {
		c := TestingConfig(t)
		c.BT.Enabled = false
		c.Cold.Hold = hold
		for _, m := range a.Host().Addrs() {
			c.P2P.Bootstrap = append(c.P2P.Bootstrap, m.String())
		}
		return c
	}
	hc := boot(true)
	h, off := startNode(t, hc), startNode(t, boot(false))
	var maps []*nostr.Event
	var roots [][32]byte
	var chunks [][][32]byte
	for i := range 2 {
		sh, _ := shareRandom(t, a, uint64(95+i), 2*chunk, chunk)
		ev := mapEvent(t, a, sh.MapID)
		m, err := chunkmap.Parse(ev)
		if err != nil {
			t.Fatal(err)
		}
		maps, roots, chunks = append(maps, ev), append(roots, m.Root), append(chunks, m.Chunks)
	}
	// send offers o (with map ev, and the offer edited by edit) to n and
	// returns the chunks accepted and the reason, or the error.
	send := func(n *Node, o cold.Offer, mapID string, ev *nostr.Event, edit func(*cold.Message)) ([][32]byte, string, error) {
		o.Holder = n.Key().Public
		o.Expires = time.Now().Add(time.Hour)
		offer := cold.OfferEvent(o, mapID, time.Now())
		if err := offer.Sign(a.Key().Secret); err != nil {
			t.Fatal(err)
		}
		m := cold.Message{Offer: offer, Map: ev}
		if edit != nil {
			edit(&m)
		}
		body, _ := json.Marshal(m)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ans, err := a.Host().OfferCustody(ctx, n.Host().ID(), body)
		if err != nil {
			return nil, "", err
		}
		msg, err := cold.DecodeMessage(ans)
		if err != nil {
			t.Fatal(err)
		}
		acc, why, err := cold.ParseAnswer(msg.Answer, o, offer.ID, a.Key().Public)
		if err != nil {
			t.Fatal(err)
		}
		return acc, why, nil
	}
	good := cold.Offer{Root: roots[0], Chunks: chunks[0]}
	for name, c := range map[string]struct {
		to    *Node
		o     cold.Offer
		mapID string
		ev    *nostr.Event
		edit  func(*cold.Message)
		why   string // "" for a reset stream
	}{
		"garbage": {h, good, maps[0].ID, maps[0], func(m *cold.Message) { m.Offer.Content = "changed after signing" }, ""},
		"to another": {h, good, maps[0].ID, maps[0], func(m *cold.Message) {
			m.Offer.Tags[0] = nostr.Tag{"p", off.Key().Public}
			m.Offer.Sign(a.Key().Secret)
		}, ""},
		"no map":         {h, good, maps[0].ID, nil, nil, "without the chunk map"},
		"other map":      {h, good, maps[0].ID, maps[1], nil, "without the chunk map"},
		"another root":   {h, good, maps[1].ID, maps[1], nil, "of another root"},
		"chunk not in":   {h, cold.Offer{Root: roots[0], Chunks: chunks[1][:1]}, maps[0].ID, maps[0], nil, "not in the map"},
		"not holding":    {off, good, maps[0].ID, maps[0], nil, "holds nothing for others"},
		"forged map sig": {h, good, maps[0].ID, &nostr.Event{ID: maps[0].ID, Kind: 7001, PubKey: maps[0].PubKey, Sig: maps[0].Sig, Tags: maps[0].Tags}, nil, "chunk map"},
	} {
		acc, why, err := send(c.to, c.o, c.mapID, c.ev, c.edit)
		switch {
		case c.why == "" && err == nil:
			t.Errorf("%s: answered (%d chunks, %q), want the stream reset", name, len(acc), why)
		case c.why != "" && (err != nil || len(acc) != 0 || !strings.Contains(why, c.why)):
			t.Errorf("%s: %d chunks accepted, %q, %v; want none and %q", name, len(acc), why, err, c.why)
		}
	}
	if len(h.ColdStatus().Held) != 0 {
		t.Fatalf("held after refusals: %+v", h.ColdStatus().Held)
	}
	acc, why, err := send(h, good, maps[0].ID, maps[0], nil)
	if err != nil || len(acc) != 2 || why != "" {
		t.Fatalf("a good offer: %d accepted, %q, %v", len(acc), why, err)
	}
	for _, c := range chunks[0] {
		if !h.Blobs().Has(c) || !strings.Contains(strings.Join(h.Blobs().Pins(c), ","), PinCold) {
			t.Fatalf("chunk %x not kept pinned", c[:4])
		}
	}
	if held := h.ColdStatus().Held; len(held) != 2 || held[0].Assigner != a.Key().Public {
		t.Fatalf("held %+v", held)
	}
	mapEvent(t, h, maps[0].ID) // kept: a downloader can resolve it here
	// Restarted, the holder keeps what it held (cold.json).
	if err := h.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	h = startNode(t, hc)
	for _, c := range chunks[0] {
		if !h.Blobs().Has(c) || !strings.Contains(strings.Join(h.Blobs().Pins(c), ","), PinCold) {
			t.Fatalf("after a restart chunk %x: held %v, pins %v", c[:4], h.Blobs().Has(c), h.Blobs().Pins(c))
		}
	}
	if held := h.ColdStatus().Held; len(held) != 2 {
		t.Fatalf("held after a restart: %+v", held)
	}
	// Without its state (a run that kept none), the cold pins no holding
	// names are lifted, the chunks still there until the quota evicts them.
	if err := h.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(coldFile(hc.DataDir)); err != nil {
		t.Fatal(err)
	}
	h = startNode(t, hc)
	for _, c := range chunks[0] {
		if !h.Blobs().Has(c) || len(h.Blobs().Pins(c)) != 0 {
			t.Fatalf("after a restart without cold.json, chunk %x: held %v, pins %v", c[:4], h.Blobs().Has(c), h.Blobs().Pins(c))
		}
	}
	if held := h.ColdStatus().Held; len(held) != 0 {
		t.Fatalf("held after a restart without cold.json: %+v", held)
	}
}

// TestColdStorageRestart: real nodes on loopback over libp2p, restarted on
// their data dirs. Two holders hold every chunk of a file only the
// assigner seeds. A restarted holder still reports its holdings, keeps
// their chunks pinned and passes the assigner's next challenges. A
// restarted assigner still has its assignments and keeps challenging its
// holders, who keep passing. A broken cold.json is reported and set aside,
// and the node starts.
func TestColdStorageRestart(t *testing.T) {
	const chunk = 64 << 10
	cfg := func() Config {
		c := TestingConfig(t)
		c.BT.Enabled = false
		c.Cold.Every = Duration(50 * time.Millisecond)
		c.Cold.Replicas = 2
		return c
	}
	sc := cfg()
	sc.Cold.Assign = true
	sc.Cold.ChallengeEvery = Duration(time.Second)
	s := startNode(t, sc)
	boot := func() Config {
		c := cfg()
		for _, m := range s.Host().Addrs() {
			c.P2P.Bootstrap = append(c.P2P.Bootstrap, m.String())
		}
		return c
	}
	var holders []*Node
	var hcfg []Config
	var jobs []fetch
	for i := range 2 {
		c := boot()
		h := startNode(t, c)
		holders, hcfg = append(holders, h), append(hcfg, c)
		sh, _ := shareRandom(t, h, uint64(70+i), chunk, chunk)
		jobs = append(jobs, fetch{s, sh.Nevent, sh.Root})
	}
	for i, took := range fetchAll(t, jobs) {
		if took == 0 {
			t.Fatalf("fetch %d did not finish", i)
		}
	}
	file, _ := shareRandom(t, s, 79, 4*chunk, chunk)
	allHeld := func() bool { return heldEverywhere(s.ColdStatus(), file.Root, 4, 2) }
	waitCold(t, "the file's 4 chunks held by both holders", allHeld)
	passed := func(pk string) int {
		for _, hs := range s.ColdStatus().Holders {
			if hs.Holder == pk {
				if hs.Failed != 0 {
					t.Fatalf("holder %.8s failed a challenge: %+v", pk, hs)
				}
				return hs.Passed
			}
		}
		return 0
	}
	heldBy := func(h *Node) []string {
		var out []string
		for _, hd := range h.ColdStatus().Held {
			if hd.Root == file.Root {
				out = append(out, hd.Chunk)
			}
		}
		return out
	}
	h0 := holders[0]
	pk0 := h0.Key().Public
	waitCold(t, "holder 1 passing a challenge", func() bool { return passed(pk0) > 0 })
	before := heldBy(h0)
	if len(before) != 4 {
		t.Fatalf("holder 1 reports %d chunks held, want 4", len(before))
	}

	// The holder restarts.
	if err := h0.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	h0 = startNode(t, hcfg[0])
	after := heldBy(h0)
	if strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("holdings after the restart %v, before %v", after, before)
	}
	for _, c := range after {
		cb, _ := hex.DecodeString(c)
		var ch [32]byte
		copy(ch[:], cb)
		if !h0.Blobs().Has(ch) || !strings.Contains(strings.Join(h0.Blobs().Pins(ch), ","), PinCold) {
			t.Fatalf("the restarted holder does not keep chunk %.16s pinned", c)
		}
	}
	p := passed(pk0)
	waitCold(t, "the restarted holder passing the next challenges", func() bool { return passed(pk0) >= p+2 })

	// The assigner restarts.
	given := holdersOf(s.ColdStatus(), file.Root)
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	s = startNode(t, sc)
	if got := holdersOf(s.ColdStatus(), file.Root); fmt.Sprint(got) != fmt.Sprint(given) {
		// What the assigner read at start: its file, or the one set aside.
		var read []string
		files, _ := filepath.Glob(coldFile(sc.DataDir) + "*")
		for _, f := range files {
			b, _ := os.ReadFile(f)
			_, err := cold.DecodeSaved(b)
			read = append(read, fmt.Sprintf("%s (%d bytes, decodes: %v):\n%.3000s", filepath.Base(f), len(b), err, b))
		}
		t.Fatalf("assignments after the assigner's restart %v, before %v\n%s", got, given, strings.Join(read, "\n"))
	}
	waitCold(t, "the restarted assigner challenging both holders, and both passing", func() bool {
		return passed(pk0) > p+2 && passed(holders[1].Key().Public) > 0 && s.ColdStatus().Proved >= 2
	})
	if !allHeld() {
		t.Fatalf("assignments lost: %v", holdersOf(s.ColdStatus(), file.Root))
	}
	st := s.ColdStatus()
	t.Logf("after both restarts: %d challenges, %d proofs good, %d failed", st.Challenged, st.Proved, st.Failed)

	// A broken file: set aside, the node starts with nothing held.
	if err := h0.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(coldFile(hcfg[0].DataDir), []byte(`{"version":1,"holdings":[`), 0o600); err != nil {
		t.Fatal(err)
	}
	h0 = startNode(t, hcfg[0])
	if l := heldBy(h0); len(l) != 0 {
		t.Fatalf("held %v from a broken file", l)
	}
	aside, _ := filepath.Glob(coldFile(hcfg[0].DataDir) + ".broken-*")
	if len(aside) != 1 {
		t.Fatalf("the broken file was not set aside: %v", aside)
	}
}

// shareRandom shares size random bytes (from seed) on n in chunks of
// chunk, and returns the share and the bytes.
func shareRandom(t *testing.T, n *Node, seed uint64, size, chunk int) (*ShareResult, []byte) {
	t.Helper()
	path, data := randFile(t, seed, size)
	sh, err := n.Share(context.Background(), ShareRequest{Path: path, ChunkSize: int64(chunk)})
	if err != nil {
		t.Fatal(err)
	}
	return sh, data
}

package node

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/peer"
	"github.com/cairn-nostr/cairn/relay"
	"github.com/cairn-nostr/cairn/relay/client"
	"github.com/cairn-nostr/cairn/superpeer"
)

// The offload workload: 50 authors with 10 notes each over the last 12 h;
// 30 clients, each following 10 authors, load their feed (kind 1, limit
// 20) once a round for 10 rounds; before each round 5 new notes are
// published. Notes are of realistic size: text of 20 to 1,200 characters
// (most 80 to 280) and 0 to 3 "p"/"e" tags.
const (
	offAuthors, offBacklog, offClients, offFollows = 50, 10, 30, 10
	offPerRound, offSupers, offLimit               = 5, 5, 20
)

// offRounds is 10, or CAIRN_NIP95_ROUNDS (more rounds give CPU figures
// above the 10 ms resolution of the kernel's accounting).
func offRounds() int {
	if n, err := strconv.Atoi(os.Getenv("CAIRN_NIP95_ROUNDS")); err == nil && n > 0 && n <= 1000 {
		return n
	}
	return 10
}

// TestNIP95RelayProcess is TestNIP95Offload's relay in a process of its
// own (the test binary run again with CAIRN_NIP95_RELAY=1), so that the
// relay's CPU time can be read apart from the clients'. It prints the
// relay's URL and serves until its stdin closes.
func TestNIP95RelayProcess(t *testing.T) {
	if os.Getenv("CAIRN_NIP95_RELAY") != "1" {
		t.Skip("the relay process of TestNIP95Offload, run by it")
	}
	rc := relay.DefaultConfig()
	rc.EventsPerSecond, rc.EventsPerSecondIP = 0, 0 // the workload publishes its backlog at once
	_, url := nip95RelayConfig(t, rc, func(c *superpeer.Config) {
		// Each new client costs a super peer 2-4 PEER_SIGNALs; Nexus's 20
		// per 10 s would bar a super peer after about 6 clients.
		c.Limits[superpeer.VerbSignal] = 10_000
		// The workload compresses time (a round every ~0.2 s, where a
		// person reloads a feed every few seconds at most): the PEER_REQUEST
		// limit (20 per 10 s) is scaled with it, here and in the clients.
		c.Limits[superpeer.VerbRequest] = 10_000
	})
	fmt.Println("URL", url)
	io.Copy(io.Discard, os.Stdin)
}

// relayProcess starts TestNIP95RelayProcess and returns its URL and a
// reader of its CPU time so far (user + system, from /proc; 0 where there
// is no /proc).
func relayProcess(t *testing.T, ctx context.Context) (string, func() time.Duration) {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestNIP95RelayProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "CAIRN_NIP95_RELAY=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "URL "); ok {
				urls <- u
			}
		}
		close(urls)
	}()
	var url string
	select {
	case u, ok := <-urls:
		if !ok {
			t.Fatal("the relay process ended before it printed its URL")
		}
		url = u
	case <-ctx.Done():
		t.Fatal("the relay process never printed its URL")
	}
	pid := cmd.Process.Pid
	cpu := func() time.Duration {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0
		}
		// Fields after the command name (in parentheses): utime and stime
		// are the 12th and 13th, in USER_HZ (100) ticks.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		return time.Duration(u+s) * 10 * time.Millisecond
	}
	return url, cpu
}

// note is one note of the workload, signed when published.
type note struct {
	author  int
	created int64
	content string
	tags    nostr.Tags
}

// workload draws the backlog and the rounds' notes (the same in every
// mode, from a fixed seed; created_at relative to start).
func workload(start int64) (backlog []note, rounds [][]note) {
	rng := rand.New(rand.NewPCG(95, 2293))
	words := strings.Fields("the relay peer note feed morning coffee build ship nostr signal relay bitcoin photo walk city river music today tomorrow thanks great idea think about this that with from just again really")
	text := func() string {
		var n int
		switch r := rng.Float64(); {
		case r < 0.2:
			n = 20 + rng.IntN(60)
		case r < 0.8:
			n = 80 + rng.IntN(200)
		default:
			n = 300 + rng.IntN(900)
		}
		var b strings.Builder
		for b.Len() < n {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(' ')
		}
		return b.String()
	}
	tags := func() nostr.Tags {
		out := nostr.Tags{}
		for range rng.IntN(4) {
			name := "p"
			if rng.IntN(2) == 0 {
				name = "e"
			}
			out = append(out, nostr.Tag{name, fmt.Sprintf("%016x%016x%016x%016x", rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64())})
		}
		return out
	}
	for a := range offAuthors {
		for range offBacklog {
			backlog = append(backlog, note{a, start - 60 - rng.Int64N(12*3600), text(), tags()})
		}
	}
	for r := range offRounds() {
		var round []note
		for k := range offPerRound {
			round = append(round, note{rng.IntN(offAuthors), start + int64(r*offPerRound+k), text(), tags()})
		}
		rounds = append(rounds, round)
	}
	return backlog, rounds
}

// offloadMode is one run of the workload against a relay process of its own.
type offloadMode struct {
	name   string
	nip95  bool // casual clients (else plain REQs)
	supers int
}

// offloadFigures are one mode's results over the rounds (warm-up apart).
type offloadFigures struct {
	relayBytes       int64         // every byte the relay sent to the clients and super peers
	superBytes       int64         // of them, to super peers (pushes, acknowledgements, signaling)
	warmBytes        int64         // sent to super peers before the rounds (warm-up)
	cpu              time.Duration // the relay process's CPU time
	fromPeers, total int
	fallbacks        int // loads that took the relay's answer after a super peer's
	latencies        []time.Duration
	eventBytes       int64 // the JSON of every event loaded
}

// TestNIP95Offload measures what super peers take off the relay under a
// feed workload (see the constants above), in three modes, each with the
// relay in a process of its own: plain REQs (the ceiling: what the relay
// sends without NIP-95), casual clients with no super peer, and casual
// clients with 5 super peers. Every load must be exactly the feed the
// published notes make (computed here); an honest peer reported fails.
// Figures (bytes, the relay's CPU, time to a full feed) are logged (go
// test -run TestNIP95Offload -v ./node/), never asserted.
func TestNIP95Offload(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
	defer cancel()
	modes := []offloadMode{{"plain REQ", false, 0}, {"NIP-95, no super peer", true, 0}, {fmt.Sprintf("NIP-95, %d super peers", offSupers), true, offSupers}}
	figs := make([]offloadFigures, len(modes))
	for i, m := range modes {
		figs[i] = runOffload(t, ctx, m)
	}
	ceil := figs[0]
	loads := offClients * offRounds()
	per1000 := func(d time.Duration) time.Duration { return d * 1000 / time.Duration(loads) }
	t.Logf("workload: %d authors x %d notes, %d clients following %d, %d rounds of %d new notes then one load each (kind 1, limit %d): %d loads, %d events, mean event %d bytes",
		offAuthors, offBacklog, offClients, offFollows, offRounds(), offPerRound, offLimit, loads, ceil.total, ceil.eventBytes/int64(max(1, ceil.total)))
	for i, m := range modes {
		f := figs[i]
		slices.Sort(f.latencies)
		t.Logf("%s: the relay sent %d bytes (%.3f of the ceiling; %d of them to super peers), CPU %v (%.2f of the ceiling's; %v per 1,000 loads); %d of %d events from peers (%.3f), %d loads fell back to the relay; time to a full feed p50 %v p90 %v; super peers' warm-up %d bytes",
			m.name, f.relayBytes, float64(f.relayBytes)/float64(ceil.relayBytes), f.superBytes, f.cpu, float64(f.cpu)/float64(max(1, ceil.cpu)), per1000(f.cpu),
			f.fromPeers, f.total, float64(f.fromPeers)/float64(max(1, f.total)), f.fallbacks,
			f.latencies[len(f.latencies)/2].Round(100*time.Microsecond), f.latencies[len(f.latencies)*9/10].Round(100*time.Microsecond), f.warmBytes)
	}
}

func runOffload(t *testing.T, ctx context.Context, m offloadMode) (f offloadFigures) {
	t.Helper()
	url, cpu := relayProcess(t, ctx)
	start := time.Now().Unix()
	backlog, rounds := workload(start)
	keys := make([]string, offAuthors)
	pubs := make([]string, offAuthors)
	for a := range keys {
		keys[a] = nostr.GeneratePrivateKey()
		pubs[a], _ = nostr.GetPublicKey(keys[a])
	}
	pub, err := client.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	var all []*nostr.Event
	publish := func(ns []note) {
		for _, n := range ns {
			ev := &nostr.Event{Kind: 1, CreatedAt: nostr.Timestamp(n.created), Content: n.content, Tags: n.tags}
			ev.Sign(keys[n.author])
			if err := pub.Publish(ctx, "EVENT", ev); err != nil {
				t.Fatal(err)
			}
			all = append(all, ev)
		}
	}
	publish(backlog)
	feeds := make([]nostr.Filter, offClients)
	for i := range feeds {
		var as []string
		for k := range offFollows {
			as = append(as, pubs[(i+5*k)%offAuthors])
		}
		feeds[i] = nostr.Filter{Kinds: []int{1}, Authors: as, Limit: offLimit}
	}
	// expect is the feed the published notes make (NIP-01's order).
	expect := func(f nostr.Filter) []string {
		var hits []*nostr.Event
		for _, ev := range all {
			if f.Matches(ev) {
				hits = append(hits, ev)
			}
		}
		slices.SortFunc(hits, func(a, b *nostr.Event) int {
			if a.CreatedAt != b.CreatedAt {
				return int(b.CreatedAt) - int(a.CreatedAt)
			}
			return strings.Compare(a.ID, b.ID)
		})
		var ids []string
		for _, ev := range hits[:min(len(hits), f.Limit)] {
			ids = append(ids, ev.ID)
		}
		return ids
	}

	var sps []*peer.SuperPeer
	for range m.supers {
		sps = append(sps, startSuperPeer(t, ctx, nil, url, nil))
	}
	superRead := func() (n int64) {
		for _, sp := range sps {
			n += sp.Stats().RelayBytes
		}
		return n
	}
	// One load as a plain client: REQ on the client's connection, to EOSE.
	type loader func(ctx context.Context, f nostr.Filter) (ids []string, fromPeers int, fellBack bool, bytes int64, err error)
	load := make([]loader, offClients)
	read := make([]func() int64, offClients)
	for i := range load {
		if !m.nip95 {
			c, err := client.Dial(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			var n int64
			read[i] = func() int64 { return n }
			seq := 0
			load[i] = func(ctx context.Context, f nostr.Filter) ([]string, int, bool, int64, error) {
				seq++
				sub := "f" + strconv.Itoa(seq)
				if err := c.Send(ctx, "REQ", sub, f); err != nil {
					return nil, 0, false, 0, err
				}
				var ids []string
				var eb int64
				for {
					verb, msg, err := c.Read(ctx)
					if err != nil {
						return nil, 0, false, 0, err
					}
					for _, e := range msg {
						n += int64(len(e)) + 1
					}
					n++
					if len(msg) < 2 || client.Str(msg[1]) != sub {
						continue // a live event of an earlier load's REQ, before its CLOSE
					}
					switch verb {
					case "EVENT":
						// Checked as a casual client checks what it shows.
						ev, err := event.Decode(msg[2])
						if err == nil {
							err = event.Check(ev, ev.ID)
						}
						if err != nil {
							return nil, 0, false, 0, err
						}
						ids = append(ids, ev.ID)
						eb += int64(len(msg[2]))
					case "EOSE":
						c.Send(ctx, "CLOSE", sub)
						return ids, 0, false, eb, nil
					}
				}
			}
			continue
		}
		c, err := peer.DialCasual(ctx, peer.CasualConfig{URL: url, Channels: PeerChannels(WebRTCConfig{Loopback: true}, nil), Seed: uint64(i + 1), MaxRequests: 10_000})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		read[i] = c.RelayBytesRead
		load[i] = func(ctx context.Context, f nostr.Filter) ([]string, int, bool, int64, error) {
			res, err := c.Recent(ctx, f)
			if err != nil {
				return nil, 0, false, 0, err
			}
			if len(res.Reports) > 0 {
				return nil, 0, false, 0, fmt.Errorf("honest peers reported: %+v", res.Reports)
			}
			var ids []string
			var eb int64
			for _, raw := range res.Events {
				ids = append(ids, idOfEvent(raw))
				eb += int64(len(raw))
			}
			return ids, res.FromPeers, res.Offered > 0 && res.FromRelay > 0, eb, nil
		}
	}

	f.warmBytes = superRead()
	before := make([]int64, offClients)
	for i := range read {
		before[i] = read[i]()
	}
	cpu0 := cpu()
	var mu sync.Mutex
	for r, ns := range rounds {
		publish(ns)
		errs := make(chan error, offClients)
		for i := range load {
			want := expect(feeds[i])
			go func() {
				t0 := time.Now()
				ids, fromPeers, fellBack, eb, err := load[i](ctx, feeds[i])
				took := time.Since(t0)
				if err == nil && !slices.Equal(ids, want) {
					err = fmt.Errorf("a feed of %d events that is not the published notes' %d", len(ids), len(want))
				}
				if err != nil {
					errs <- fmt.Errorf("%s: round %d client %d: %w", m.name, r, i, err)
					return
				}
				mu.Lock()
				f.total += len(ids)
				f.fromPeers += fromPeers
				f.eventBytes += eb
				f.latencies = append(f.latencies, took)
				if fellBack {
					f.fallbacks++
				}
				mu.Unlock()
				errs <- nil
			}()
		}
		for range load {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	f.cpu = cpu() - cpu0
	for i := range read {
		f.relayBytes += read[i]() - before[i]
	}
	f.superBytes = superRead() - f.warmBytes
	f.relayBytes += f.superBytes
	return f
}

// idOfEvent reads an event's id from its JSON.
func idOfEvent(raw []byte) string {
	var ev struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return ""
	}
	return ev.ID
}

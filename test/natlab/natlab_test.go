//go:build linux

package natlab

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"

	"github.com/cairn-nostr/cairn/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// labSize is the file moved over each path: large enough that the transfer,
// not the setup, dominates its time; within the relay's per-circuit limit
// (64 MiB here). Its 8 chunks of 5 MiB stay under the server's 10 requests
// per second per peer, which would otherwise cap every path alike.
const labSize = 40 << 20

// labChunk is the chunk size the lab shares with.
const labChunk = 5 << 20

// fetchTimeout bounds one transfer. With the waits for the relay slots
// (40 s) and the record (15 s) the lab takes at most about 3 minutes after
// the build; a passing run about 30 s.
const fetchTimeout = 40 * time.Second

// requireLab skips without root unless CAIRN_E2E=1, which makes it (and a
// missing tool) a failure.
func requireLab(t *testing.T) {
	t.Helper()
	why := Require()
	if why == "" {
		return
	}
	if os.Geteuid() != 0 && os.Getenv("CAIRN_E2E") != "1" {
		t.Skipf("%s (skipping: run as root, or set CAIRN_E2E=1 to make this a failure)", why)
	}
	t.Fatal(why)
}

// The lab:
//
//	              inet (bridge br0, 10.77.0.0/24: "the internet")
//	  ┌──────────────┬───────────┴───────┬─────────────────┐
//	pub .10        r1 .11              r2 .12            r3 .13
//	relay,       EIM NAT              EIM NAT         symmetric NAT
//	bootstrap       │               ┌────┴────┐            │
//	              a 10.77.1.10   b 10.77.2.10  l 10.77.4.10  s 10.77.3.10
//	                             (lan)        (lan2, routed, no NAT)
//
// b shares a file. l fetches it over a plain routed path (the baseline), a
// fetches it with a hole-punched connection through both NATs, s (behind
// the symmetric NAT) through pub's relay.
func buildLab(t *testing.T) *Lab {
	l := New(t)
	for _, role := range []string{"inet", "pub", "r1", "r2", "r3", "a", "b", "l", "s"} {
		l.AddNS(role)
	}
	l.Bridge("inet", "br0", "")
	for _, m := range []struct{ role, addr string }{{"pub", "10.77.0.10/24"}, {"r1", "10.77.0.11/24"}, {"r2", "10.77.0.12/24"}, {"r3", "10.77.0.13/24"}} {
		l.Link(m.role, "wan", m.addr, "inet", "p-"+m.role, "")
		l.Enslave("inet", "p-"+m.role, "br0")
	}
	l.Link("r1", "lan", "10.77.1.1/24", "a", "eth0", "10.77.1.10/24")
	l.Link("r2", "lan", "10.77.2.1/24", "b", "eth0", "10.77.2.10/24")
	l.Link("r2", "lan2", "10.77.4.1/24", "l", "eth0", "10.77.4.10/24")
	l.Link("r3", "lan", "10.77.3.1/24", "s", "eth0", "10.77.3.10/24")
	l.Router("r1", EndpointIndependent)
	l.Router("r2", EndpointIndependent)
	l.Router("r3", Symmetric)
	l.Route("a", "10.77.1.1")
	l.Route("b", "10.77.2.1")
	l.Route("l", "10.77.4.1")
	l.Route("s", "10.77.3.1")
	return l
}

// TestNATTraversal: a file shared behind one NAT is fetched from behind
// another with a direct, hole-punched connection; from behind a symmetric
// NAT it is fetched through the public node's relay. Throughputs are
// reported against the same transfer on a routed path with no NAT.
func TestNATTraversal(t *testing.T) {
	requireLab(t)
	start := time.Now()
	harness.Binary(t) // build first: the lab's time bound starts after it
	built := time.Now()
	l := buildLab(t)

	pub := l.StartNode(t, "pub", "--listen", "10.77.0.10:7447",
		"--p2p-listen", "/ip4/10.77.0.10/tcp/4848,/ip4/10.77.0.10/udp/4848/quic-v1",
		"--reachability", "public", "--relay-service",
		"--relay-circuit-bytes", "64MiB", "--relay-circuit-duration", "2m")
	pid := pub.MustStatus().P2P.PeerID
	boot := fmt.Sprintf("/ip4/10.77.0.10/tcp/4848/p2p/%s,/ip4/10.77.0.10/udp/4848/quic-v1/p2p/%s", pid, pid)
	p2pListen := "/ip4/0.0.0.0/tcp/4848,/ip4/0.0.0.0/udp/4848/quic-v1"
	nodes := map[string]*Node{}
	for _, role := range []string{"a", "b", "l", "s"} {
		nodes[role] = l.StartNode(t, role, "--p2p-listen", p2pListen, "--bootstrap", boot)
	}
	a, b, ln, s := nodes["a"], nodes["b"], nodes["l"], nodes["s"]

	// Behind their NATs, a, b and s find they are not reachable and
	// reserve a slot on pub's relay: their addresses gain /p2p-circuit
	// ones.
	for _, n := range []*Node{a, b, s} {
		waitFor(t, 40*time.Second, n.Name+" has a /p2p-circuit address", func() (bool, string) {
			st := n.MustStatus()
			return len(st.P2P.NAT.RelayAddrs) > 0, fmt.Sprintf("%+v addrs %v", st.P2P.NAT, st.P2P.Addrs)
		})
	}
	t.Logf("relay reservations after %v", time.Since(built).Round(time.Millisecond))

	// b shares; its cairn-p2p record, with its circuit addresses, and the
	// file's events are carried to pub's relay, which the nevent names.
	path, want := labFile(t)
	out := b.Run(time.Minute, "share", path, "--chunk-size", "5MiB", "--title", "lab bytes")
	mapID := eventID(t, out)
	bst := b.MustStatus()
	waitFor(t, 15*time.Second, "b's cairn-p2p record lists its circuit addresses", func() (bool, string) {
		rec := queryRelay(t, b.NS, b.WSURL, nostr.Filter{Kinds: []int{30078}, Authors: []string{bst.PubKey}})
		return len(rec) == 1 && strings.Contains(rec[0].Content, "p2p-circuit"), fmt.Sprint(rec)
	})
	evs := queryRelay(t, b.NS, b.WSURL, nostr.Filter{Authors: []string{bst.PubKey}})
	publishRelay(t, pub.NS, pub.WSURL, evs)
	nevent, err := nip19.EncodeEvent(mapID, []string{pub.WSURL}, bst.PubKey)
	if err != nil {
		t.Fatal(err)
	}

	// The baseline runs last: the first transfer from b pays for b's
	// first reads of the file, which would count against whichever path
	// went first.
	punched := fetch(t, a, nevent, want)
	relayed := fetch(t, s, nevent, want)
	direct := fetch(t, ln, nevent, want)

	// a's connection to b is direct: not /p2p-circuit, to b's NAT (r2's
	// WAN address), and the chunks moved over it.
	ast := a.MustStatus()
	if c := connsTo(ast, bst.P2P.PeerID, false); len(c) == 0 || !strings.Contains(strings.Join(c, " "), "/ip4/10.77.0.12/") {
		t.Errorf("a has no direct connection to b through r2 (10.77.0.12): %+v", ast.P2P.Conns)
	}
	if got := ast.Transfer["relay"].BytesDown; got > 0 {
		t.Errorf("a received %d chunk bytes over a relay; want all over the hole-punched connection", got)
	}
	if st := b.MustStatus(); st.P2P.NAT.HolePunches.Succeeded == 0 && ast.P2P.NAT.HolePunches.Succeeded == 0 {
		t.Errorf("no successful hole punch counted: b %+v, a %+v", st.P2P.NAT.HolePunches, ast.P2P.NAT.HolePunches)
	}
	// s's, through the symmetric NAT, is relayed, and carried the file.
	sst := s.MustStatus()
	if c := connsTo(sst, bst.P2P.PeerID, true); len(c) == 0 {
		t.Errorf("s has no relayed connection to b: %+v", sst.P2P.Conns)
	}
	if c := connsTo(sst, bst.P2P.PeerID, false); len(c) > 0 {
		t.Errorf("s has a direct connection to b through a symmetric NAT: %v", c)
	}
	if got := sst.Transfer["relay"].BytesDown; got < labSize {
		t.Errorf("s received %d bytes over the relay, want at least %d", got, labSize)
	}
	// l's path is routed, with no NAT and no relay.
	if c := connsTo(ln.MustStatus(), bst.P2P.PeerID, false); len(c) == 0 || !strings.Contains(strings.Join(c, " "), "/ip4/10.77.2.10/") {
		t.Errorf("l has no direct connection to b's own address: %+v", ln.MustStatus().P2P.Conns)
	}

	t.Logf("a's connections to b: direct %v, relayed %v; hole punches a %+v, b %+v", connsTo(ast, bst.P2P.PeerID, false), connsTo(ast, bst.P2P.PeerID, true),
		ast.P2P.NAT.HolePunches, b.MustStatus().P2P.NAT.HolePunches)
	t.Logf("l's connections to b: %v", connsTo(ln.MustStatus(), bst.P2P.PeerID, false))
	t.Logf("s's connections to b: direct %v, relayed %v; hole punches s %+v", connsTo(sst, bst.P2P.PeerID, false), connsTo(sst, bst.P2P.PeerID, true), sst.P2P.NAT.HolePunches)
	mb := func(x float64) float64 { return x / (1 << 20) }
	t.Logf("NAT lab: %d MiB, 5 MiB chunks; build %v, lab run %v", labSize>>20, built.Sub(start).Round(time.Millisecond), time.Since(built).Round(time.Millisecond))
	t.Logf("  path                            MiB/s  ratio  first chunk")
	t.Logf("  direct (routed, no NAT):        %7.1f  1.00   %v", mb(direct.rate), direct.firstChunk.Round(time.Millisecond))
	t.Logf("  hole-punched (EIM NAT x2):      %7.1f  %.2f   %v", mb(punched.rate), punched.rate/direct.rate, punched.firstChunk.Round(time.Millisecond))
	t.Logf("  relayed (symmetric NAT, relay): %7.1f  %.2f   %v", mb(relayed.rate), relayed.rate/direct.rate, relayed.firstChunk.Round(time.Millisecond))
}

// fetch runs `cairn get` on n and returns the transfer's throughput in
// bytes per second: the bytes after the first chunk's worth over the time
// from that point to the last byte, polled from /api/status (so the wait
// for a hole punch, during which a few protocol bytes may already come
// over the relay, is not in it); and the time from the start of `cairn
// get` to the first chunk's worth of bytes (resolving, connecting, the
// hole punch or its wait included).
func fetch(t *testing.T, n *Node, nevent string, want []byte) labTransfer {
	t.Helper()
	before := n.MustStatus().Transfer["libp2p"].BytesDown
	start := time.Now()
	out := filepath.Join(t.TempDir(), "got.bin")
	done := make(chan string, 1)
	go func() {
		// Run's failures end this goroutine; the select below sees no result.
		defer func() { close(done) }()
		done <- n.Run(fetchTimeout, "get", nevent, "-o", out, "-q")
	}()
	var first, firstChunk, last time.Time
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	deadline := time.After(fetchTimeout + 10*time.Second)
	finished := false
	for !finished {
		select {
		case _, ok := <-done:
			if !ok {
				t.Fatalf("%s: cairn get failed", n.Name)
			}
			finished = true
		case <-poll.C:
		case <-deadline:
			t.Fatalf("%s: cairn get did not finish within %v", n.Name, fetchTimeout)
		}
		st, err := n.Status()
		if err != nil {
			continue
		}
		got := st.Transfer["libp2p"].BytesDown - before
		if got > 0 && first.IsZero() {
			first = time.Now()
		}
		if got >= labChunk && firstChunk.IsZero() {
			firstChunk = time.Now()
		}
		if got >= labSize && last.IsZero() {
			last = time.Now()
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(b) != sha256.Sum256(want) {
		t.Fatalf("%s fetched %d bytes that differ from the %d shared", n.Name, len(b), len(want))
	}
	if first.IsZero() || last.IsZero() || !last.After(first) {
		t.Fatalf("%s: could not time the transfer (first %v, last %v)", n.Name, first, last)
	}
	if !last.After(firstChunk) {
		t.Fatalf("%s: could not time the transfer after its first chunk (first chunk %v, last %v)", n.Name, firstChunk, last)
	}
	return labTransfer{rate: float64(labSize-labChunk) / last.Sub(firstChunk).Seconds(), firstChunk: firstChunk.Sub(start)}
}

// labTransfer is one fetch's throughput (bytes per second after the first
// chunk) and time from the start of `cairn get` to a chunk's worth
// of bytes received.
type labTransfer struct {
	rate       float64
	firstChunk time.Duration
}

func connsTo(st Status, peer string, relayed bool) []string {
	var out []string
	for _, c := range st.P2P.Conns {
		if c.Peer == peer && c.Relayed == relayed {
			out = append(out, c.Remote)
		}
	}
	return out
}

func labFile(t *testing.T) (string, []byte) {
	rng := rand.New(rand.NewPCG(77, 0))
	b := make([]byte, labSize)
	for i := 0; i+8 <= len(b); i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	p := filepath.Join(t.TempDir(), "lab.bin")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, b
}

var neventLine = regexp.MustCompile(`(?m)^nevent:\s+(\S+)$`)

// eventID is the id of the chunk map whose nevent `cairn share` printed.
func eventID(t *testing.T, shareOut string) string {
	t.Helper()
	m := neventLine.FindStringSubmatch(shareOut)
	if m == nil {
		t.Fatalf("no nevent in cairn share's output:\n%s", shareOut)
	}
	_, v, err := nip19.Decode(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return v.(nostr.EventPointer).ID
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s; last: %s", d, what, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// dialRelay opens a websocket to a node's relay from inside ns.
func dialRelay(t *testing.T, ns, url string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: HTTPClient(ns, 10*time.Second)})
	if err != nil {
		t.Fatalf("dialling %s in %s: %v", url, ns, err)
	}
	ws.SetReadLimit(16 << 20)
	t.Cleanup(func() { ws.CloseNow() })
	return ws
}

func queryRelay(t *testing.T, ns, url string, f nostr.Filter) []*nostr.Event {
	t.Helper()
	ws := dialRelay(t, ns, url)
	defer ws.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := json.Marshal([]any{"REQ", "lab", f})
	if err := ws.Write(ctx, websocket.MessageText, req); err != nil {
		t.Fatal(err)
	}
	var evs []*nostr.Event
	for {
		_, msg, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("reading from %s: %v", url, err)
		}
		var parts []json.RawMessage
		if json.Unmarshal(msg, &parts) != nil || len(parts) == 0 {
			continue
		}
		var label string
		json.Unmarshal(parts[0], &label)
		switch label {
		case "EOSE":
			return evs
		case "EVENT":
			var ev nostr.Event
			if len(parts) == 3 && json.Unmarshal(parts[2], &ev) == nil {
				evs = append(evs, &ev)
			}
		case "CLOSED", "NOTICE":
			t.Fatalf("%s: %s", url, msg)
		}
	}
}

func publishRelay(t *testing.T, ns, url string, evs []*nostr.Event) {
	t.Helper()
	ws := dialRelay(t, ns, url)
	defer ws.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, ev := range evs {
		msg, _ := json.Marshal([]any{"EVENT", ev})
		if err := ws.Write(ctx, websocket.MessageText, msg); err != nil {
			t.Fatal(err)
		}
		for {
			_, ans, err := ws.Read(ctx)
			if err != nil {
				t.Fatalf("publishing to %s: %v", url, err)
			}
			if bytes.HasPrefix(ans, []byte(`["OK"`)) {
				if !bytes.Contains(ans, []byte("true")) {
					t.Fatalf("%s refused event kind %d: %s", url, ev.Kind, ans)
				}
				break
			}
		}
	}
}

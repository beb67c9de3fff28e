package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/peer"
	"github.com/cairn-nostr/cairn/relay/client"
	"github.com/cairn-nostr/cairn/test/harness"
	"github.com/cairn-nostr/cairn/webrtc"
)

// goChannels are loopback DataChannels for the Go super peers and casual
// clients of TestNIP95Tabs.
func goChannels(send func(ctx context.Context, to string, data json.RawMessage) error) peer.PeerChannels {
	return peer.AdaptChannels(webrtc.NewChannels(webrtc.ChannelsConfig{Send: send, Loopback: true}))
}

// goSuperPeer runs a Go super peer of url until the test ends and waits
// until it is warm and promoted.
func goSuperPeer(t *testing.T, ctx context.Context, url string) *peer.SuperPeer {
	t.Helper()
	return goSuperPeerServing(t, ctx, url, nil)
}

// goSuperPeerServing is goSuperPeer with what it serves replaced by serve
// (peer.SuperPeerConfig.Serve: a lying peer).
func goSuperPeerServing(t *testing.T, ctx context.Context, url string, serve func([]byte) []byte) *peer.SuperPeer {
	t.Helper()
	sp, err := peer.NewSuperPeer(peer.SuperPeerConfig{URL: url, Bandwidth: 50, Storage: 1000, Channels: goChannels, Serve: serve})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); sp.Run(rctx) }()
	t.Cleanup(func() { stop(); <-done })
	select {
	case <-sp.Ready():
	case <-done:
		t.Fatal("a Go super peer ended before it was ready")
	}
	deadline := time.Now().Add(20 * time.Second)
	for !sp.Stats().Promoted {
		if time.Now().After(deadline) {
			t.Fatal("a Go super peer was not promoted within 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return sp
}

// TestNIP95Tabs is NIP-95 with browsers among the peers: one cairn node
// (its relay, NIP-95 on, promotion at once, the PEER_SIGNAL limit raised
// for 30 clients), 5 super peers (one a Chromium tab running the core's
// nip95Serve, four Go super peers of the same core) and 30 casual clients
// (one a Chromium tab calling nip95Recent, 29 Go clients of the same core),
// loading the feeds of 10 of 20 authors in 4 rounds with new notes
// published before each. Every load of every client must be exactly the
// feed the published notes make; the tab's loads come from peers, and the
// tab super peer serves. The share of events served peer to peer and the
// relay's bytes to the clients (against the same loads as plain REQs,
// measured after each round) are logged.
func TestNIP95Tabs(t *testing.T) {
	harness.NeedChromium(t)
	n := harness.Start(t, "--public-bootstrap=false", "--webrtc-loopback", "--nip95-min-uptime=0", "--nip95-signal-limit=10000")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const authors, backlog, goSupers, goClients, follows, rounds, perRound = 20, 10, 4, 29, 10, 4, 5

	rng := rand.New(rand.NewPCG(95, 30))
	words := strings.Fields("relay peer note feed coffee build ship nostr signal photo walk city river music today thanks idea think about this")
	text := func() string {
		var b strings.Builder
		for l := 40 + rng.IntN(500); b.Len() < l; {
			b.WriteString(words[rng.IntN(len(words))] + " ")
		}
		return b.String()
	}
	keys := make([]string, authors)
	pubs := make([]string, authors)
	for a := range keys {
		keys[a] = nostr.GeneratePrivateKey()
		pubs[a], _ = nostr.GetPublicKey(keys[a])
	}
	pub := harness.Dial(t, n.WSURL)
	var all []*nostr.Event
	now := time.Now().Unix()
	publish := func(a int, created int64) {
		ev := nostr.Event{Kind: 1, CreatedAt: nostr.Timestamp(created), Content: text(), Tags: nostr.Tags{{"p", pubs[rng.IntN(authors)]}}}
		ev.Sign(keys[a])
		if ok, why := pub.Publish(ev); !ok {
			t.Fatalf("publishing: %s", why)
		}
		all = append(all, &ev)
	}
	for a := range authors {
		for range backlog {
			publish(a, now-60-rng.Int64N(6*3600))
		}
	}
	feed := func(i int) nostr.Filter {
		var as []string
		for k := range follows {
			as = append(as, pubs[(i+3*k)%authors])
		}
		return nostr.Filter{Kinds: []int{1}, Authors: as, Limit: 20}
	}
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

	// The tab super peer, then the Go ones.
	superTab := harness.NewBrowser(t)
	superTab.Open(n.URL + "/wasm_exec.js")
	superTab.Eval(coreJS, nil)
	var served struct {
		PeerID string `json:"peerId"`
		Cached int    `json:"cached"`
	}
	superTab.Eval(fmt.Sprintf(`cairn.nip95Serve(%q, {bandwidth: 50, storage: 1000, loopback: true})`, n.WSURL), &served)
	if served.PeerID == "" || served.Cached < authors*backlog {
		t.Fatalf("the tab super peer: %+v, want at least %d cached", served, authors*backlog)
	}
	superTab.WaitFor(20*time.Second, `cairn.nip95Status().superPeer.promoted`)
	var sps []*peer.SuperPeer
	for range goSupers {
		sp := goSuperPeer(t, ctx, n.WSURL)
		sps = append(sps, sp)
	}

	// The casual clients: 29 in Go, one tab.
	casualTab := harness.NewBrowser(t)
	casualTab.Open(n.URL + "/wasm_exec.js")
	casualTab.Eval(coreJS, nil)
	var cs []*peer.Casual
	for i := range goClients {
		c, err := peer.DialCasual(ctx, peer.CasualConfig{URL: n.WSURL, Channels: goChannels, Seed: uint64(i + 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		cs = append(cs, c)
	}
	counter, err := client.Dial(ctx, n.WSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer counter.Close()
	// ceiling: the bytes of the relay's answer to f as a plain REQ.
	ceiling := func(f nostr.Filter, sub string) int64 {
		if err := counter.Send(ctx, "REQ", sub, f); err != nil {
			t.Fatal(err)
		}
		var b int64
		for {
			verb, msg, err := counter.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(msg) < 2 || client.Str(msg[1]) != sub {
				continue
			}
			b++
			for _, e := range msg {
				b += int64(len(e)) + 1
			}
			if verb == "EOSE" {
				counter.Send(ctx, "CLOSE", sub)
				return b
			}
		}
	}

	type tabResult struct {
		Events     []struct{ ID string } `json:"events"`
		FromPeers  int                   `json:"fromPeers"`
		FromRelay  int                   `json:"fromRelay"`
		RelayBytes int64                 `json:"relayBytes"`
		Reports    []any                 `json:"reports"`
	}
	// superBytes: what the relay has sent the super peers so far.
	superBytes := func() int64 {
		var st struct {
			SuperPeer struct {
				RelayBytes int64 `json:"relay_bytes"`
			} `json:"superPeer"`
		}
		superTab.Eval(`cairn.nip95Status()`, &st)
		n := st.SuperPeer.RelayBytes
		for _, sp := range sps {
			n += sp.Stats().RelayBytes
		}
		return n
	}
	var before int64
	for _, c := range cs {
		before += c.RelayBytesRead()
	}
	superBefore := superBytes()
	var fromPeers, total, tabFromPeers int
	var tabRelayBytes, ceil int64
	for r := range rounds {
		for k := range perRound {
			publish(rng.IntN(authors), now+int64(r*perRound+k))
		}
		var mu sync.Mutex
		errs := make(chan error, goClients+1)
		for i, c := range cs {
			go func() {
				f := feed(i)
				res, err := c.Recent(ctx, f)
				if err == nil && len(res.Reports) > 0 {
					err = fmt.Errorf("honest peers reported: %+v", res.Reports)
				}
				if err == nil {
					var ids []string
					for _, raw := range res.Events {
						var ev struct{ ID string }
						json.Unmarshal(raw, &ev)
						ids = append(ids, ev.ID)
					}
					if want := expect(f); !slices.Equal(ids, want) {
						err = fmt.Errorf("a feed of %d events, not the published notes' %d", len(ids), len(want))
					}
				}
				mu.Lock()
				fromPeers += res.FromPeers
				total += len(res.Events)
				mu.Unlock()
				if err != nil {
					err = fmt.Errorf("round %d, Go client %d: %w", r, i, err)
				}
				errs <- err
			}()
		}
		go func() {
			f := feed(goClients)
			fj, _ := json.Marshal(f)
			var res tabResult
			err := casualTab.EvalErr(fmt.Sprintf(`cairn.nip95Recent(%q, %s, {loopback: true})`, n.WSURL, fj), &res)
			if err == nil && len(res.Reports) > 0 {
				err = fmt.Errorf("honest peers reported: %+v", res.Reports)
			}
			if err == nil {
				var ids []string
				for _, ev := range res.Events {
					ids = append(ids, ev.ID)
				}
				if want := expect(f); !slices.Equal(ids, want) {
					err = fmt.Errorf("a feed of %d events, not the published notes' %d", len(ids), len(want))
				}
			}
			mu.Lock()
			fromPeers += res.FromPeers
			tabFromPeers += res.FromPeers
			total += len(res.Events)
			tabRelayBytes += res.RelayBytes
			mu.Unlock()
			if err != nil {
				err = fmt.Errorf("round %d, the casual tab: %w", r, err)
			}
			errs <- err
		}()
		for range goClients + 1 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		for i := range goClients + 1 {
			ceil += ceiling(feed(i), fmt.Sprintf("c%d-%d", r, i))
		}
	}
	var after int64
	for _, c := range cs {
		after += c.RelayBytesRead()
	}
	var st struct {
		SuperPeer struct {
			Served int64 `json:"events_served"`
		} `json:"superPeer"`
	}
	superTab.Eval(`cairn.nip95Status()`, &st)
	if tabFromPeers == 0 {
		t.Fatal("the casual tab got no event from a super peer")
	}
	if st.SuperPeer.Served == 0 {
		t.Fatal("the tab super peer served no event")
	}
	// The tab's cache is in IndexedDB: a super peer started again reads
	// it back before it warms from the relay.
	superTab.Eval(`cairn.nip95Stop().stopped`, nil)
	superTab.WaitFor(20*time.Second, `cairn.nip95Status().superPeer === null`)
	superTab.Eval(fmt.Sprintf(`cairn.nip95Serve(%q, {bandwidth: 50, storage: 1000, loopback: true})`, n.WSURL), nil)
	var again struct {
		SuperPeer struct {
			Loaded     int  `json:"loaded"`
			Persistent bool `json:"persistent"`
		} `json:"superPeer"`
	}
	superTab.Eval(`cairn.nip95Status()`, &again)
	if !again.SuperPeer.Persistent || again.SuperPeer.Loaded < authors*backlog+rounds*perRound {
		t.Fatalf("the tab super peer started again read back %d events from IndexedDB (persistent %t), want at least %d",
			again.SuperPeer.Loaded, again.SuperPeer.Persistent, authors*backlog+rounds*perRound)
	}
	var goServed int64
	for _, sp := range sps {
		goServed += sp.Stats().Served
	}
	relay := after - before + tabRelayBytes
	toSupers := superBytes() - superBefore
	t.Logf("%d loads (%d clients x %d rounds): %d of %d events from super peers (%.3f); the tab super peer served %d, the Go ones %d; the casual tab took %d from peers",
		(goClients+1)*rounds, goClients+1, rounds, fromPeers, total, float64(fromPeers)/float64(max(1, total)), st.SuperPeer.Served, goServed, tabFromPeers)
	t.Logf("the same loads as plain REQs: %d bytes from the relay; with super peers the relay sent %d bytes to the casual clients (offers, gaps, the Go clients' signaling; the tab's offers and gaps) and %d to the super peers (pushes, signaling): %.3f of it",
		ceil, relay, toSupers, float64(relay+toSupers)/float64(ceil))
}

// TestAppFeedThroughPeers: the web app's feed, against a node whose NIP-11
// announces NIP-95 (limitation.p2p_enabled), loads its recent notes through
// the browser core's casual client: with a super peer holding them, every
// note comes peer to peer (the page says so), each one shown as published.
func TestAppFeedThroughPeers(t *testing.T) {
	harness.NeedChromium(t)
	n := harness.Start(t, "--public-bootstrap=false", "--webrtc-loopback", "--nip95-min-uptime=0")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pub := harness.Dial(t, n.WSURL)
	const notes = 12
	publishNotes(t, pub, notes, "note %d through the peers")
	sp := goSuperPeer(t, ctx, n.WSURL)
	b := harness.NewBrowser(t)
	b.Open(n.URL + "/?loopback=1")
	b.WaitFor(60*time.Second, fmt.Sprintf(`document.querySelectorAll('.feed .post').length >= %d`, notes))
	var note string
	b.Eval(`document.getElementById('feed-p2p').textContent`, &note)
	if !strings.Contains(note, fmt.Sprintf("%d of %d recent items came from", notes, notes)) {
		t.Fatalf("the feed says %q; want all %d notes from peers", note, notes)
	}
	for i := range notes {
		var shown bool
		b.Eval(fmt.Sprintf(`[...document.querySelectorAll('.feed .post .content')].some(p => p.textContent === %q)`, fmt.Sprintf("note %d through the peers", i)), &shown)
		if !shown {
			t.Fatalf("note %d is not in the feed", i)
		}
	}
	if st := sp.Stats(); st.Served < notes {
		t.Fatalf("the super peer served %d events, want %d", st.Served, notes)
	}
	// The node's status and dashboard show the split and the super peer.
	var st struct {
		NIP95 struct {
			Asked   int `json:"events_asked"`
			Offered int `json:"events_offered"`
			Peers   []struct {
				ID         string  `json:"peer_id"`
				Promoted   bool    `json:"promoted"`
				Reputation float64 `json:"reputation"`
			} `json:"peers"`
		} `json:"nip95"`
	}
	getJSON(t, n.URL+"/api/status", &st)
	spID := sp.Stats().PeerID
	if st.NIP95.Offered < notes || st.NIP95.Asked < st.NIP95.Offered || !slices.ContainsFunc(st.NIP95.Peers, func(p struct {
		ID         string  `json:"peer_id"`
		Promoted   bool    `json:"promoted"`
		Reputation float64 `json:"reputation"`
	}) bool {
		return p.ID == spID && p.Promoted && p.Reputation > 0
	}) {
		t.Fatalf("/api/status nip95: %+v; want at least %d offered and the super peer %s promoted", st.NIP95, notes, spID)
	}
	b.Open(n.URL + "/dashboard")
	b.WaitFor(30*time.Second, fmt.Sprintf(`[...document.querySelectorAll('h2')].some(h => h.textContent === 'NIP-95 super peers') && [...document.querySelectorAll('td')].some(td => td.textContent.startsWith(%q))`, spID))
	screenshot(t, b, "dashboard-nip95")
	t.Logf("the feed: %q; the relay: %d recent events asked, %d handed to super peers", note, st.NIP95.Asked, st.NIP95.Offered)
}

// TestAppFeedForgingPeer: with the only super peer serving altered notes,
// the web app's feed shows every note as published (from the relay), none
// altered, and says nothing came from peers.
func TestAppFeedForgingPeer(t *testing.T) {
	harness.NeedChromium(t)
	n := harness.Start(t, "--public-bootstrap=false", "--webrtc-loopback", "--nip95-min-uptime=0")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pub := harness.Dial(t, n.WSURL)
	const notes = 8
	publishNotes(t, pub, notes, "genuine note %d")
	sp := goSuperPeerServing(t, ctx, n.WSURL, func(raw []byte) []byte {
		return bytes.Replace(raw, []byte(`"content":"genuine`), []byte(`"content":"forged`), 1)
	})
	b := harness.NewBrowser(t)
	b.Open(n.URL + "/?loopback=1")
	b.WaitFor(60*time.Second, fmt.Sprintf(`document.querySelectorAll('.feed .post').length >= %d`, notes))
	var shown []string
	b.Eval(`[...document.querySelectorAll('.feed .post .content')].map(p => p.textContent)`, &shown)
	for i := range notes {
		if !slices.Contains(shown, fmt.Sprintf("genuine note %d", i)) {
			t.Fatalf("note %d is not in the feed: %q", i, shown)
		}
	}
	for _, c := range shown {
		if strings.HasPrefix(c, "forged") {
			t.Fatalf("the feed shows a forged note: %q", c)
		}
	}
	var note string
	b.Eval(`document.getElementById('feed-p2p').textContent`, &note)
	if note != "" {
		t.Fatalf("the feed says %q; nothing came from peers", note)
	}
	if st := sp.Stats(); st.Served == 0 {
		t.Fatal("the forging super peer was never asked: the test proves nothing")
	}
}

// publishNotes publishes n kind 1 notes of one new key through pub, a
// second apart and ending a second ago, their contents format with the
// note's index.
func publishNotes(t *testing.T, pub *harness.Conn, n int, format string) {
	t.Helper()
	sk := nostr.GeneratePrivateKey()
	now := time.Now().Unix()
	for i := range n {
		ev := nostr.Event{Kind: 1, CreatedAt: nostr.Timestamp(now - int64(n-i)), Content: fmt.Sprintf(format, i), Tags: nostr.Tags{}}
		ev.Sign(sk)
		if ok, why := pub.Publish(ev); !ok {
			t.Fatal(why)
		}
	}
}

package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/peer"
	"github.com/cairn-nostr/cairn/relay"
	"github.com/cairn-nostr/cairn/relay/client"
	"github.com/cairn-nostr/cairn/store"
	"github.com/cairn-nostr/cairn/superpeer"
)

// nip95Relay is a cairn relay with NIP-95 on (promotion without the 5
// minutes of uptime), on loopback.
func nip95Relay(t *testing.T, mod func(*superpeer.Config)) (*relay.Relay, string) {
	t.Helper()
	return nip95RelayConfig(t, relay.DefaultConfig(), mod)
}

// nip95RelayConfig is nip95Relay with the relay's configuration rc.
func nip95RelayConfig(t *testing.T, rc relay.Config, mod func(*superpeer.Config)) (*relay.Relay, string) {
	t.Helper()
	st := store.NewMemory()
	r, err := relay.New(rc, st, relay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := superpeer.DefaultConfig()
	cfg.MinUptime = 0
	if mod != nil {
		mod(&cfg)
	}
	r.EnablePeers(cfg)
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		r.Close()
		srv.Close()
		st.Close()
	})
	return r, "ws" + strings.TrimPrefix(srv.URL, "http")
}

// publishNotes publishes n kind 1 notes by one author, one second apart
// in created_at (the newest now), and returns them.
func publishNotes(t *testing.T, ctx context.Context, url string, n int, tag string) []*nostr.Event {
	t.Helper()
	c, err := client.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sk := nostr.GeneratePrivateKey()
	now := time.Now().Unix()
	var out []*nostr.Event
	for i := range n {
		ev := &nostr.Event{Kind: 1, Content: tag + " note " + string(rune('a'+i%26)), CreatedAt: nostr.Timestamp(now - int64(n-i)), Tags: nostr.Tags{}}
		ev.Sign(sk)
		if err := c.Publish(ctx, "EVENT", ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// relayRaw is the relay's own answer to f: each event's JSON as sent.
func relayRaw(t *testing.T, ctx context.Context, url string, f nostr.Filter) []json.RawMessage {
	t.Helper()
	out, _ := relayQuery(t, ctx, url, f)
	return out
}

// relayQuery is relayRaw and the bytes of every message the relay sent
// for it (as compact JSON arrays).
func relayQuery(t *testing.T, ctx context.Context, url string, f nostr.Filter) ([]json.RawMessage, int64) {
	t.Helper()
	c, err := client.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Send(ctx, "REQ", "x", f); err != nil {
		t.Fatal(err)
	}
	var out []json.RawMessage
	var n int64
	for {
		verb, msg, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n++
		for _, e := range msg {
			n += int64(len(e)) + 1
		}
		switch verb {
		case "EVENT":
			out = append(out, msg[2])
		case "EOSE":
			return out, n
		}
	}
}

// startSuperPeer runs a super peer of url until the test ends and waits
// until the relay has promoted it.
func startSuperPeer(t *testing.T, ctx context.Context, r *relay.Relay, url string, serve func([]byte) []byte) *peer.SuperPeer {
	t.Helper()
	pub, _ := nostr.GetPublicKey(nostr.GeneratePrivateKey())
	sp, err := peer.NewSuperPeer(peer.SuperPeerConfig{
		PubKey: pub,
		URL:    url, Bandwidth: 50, Storage: 1000,
		Channels: PeerChannels(WebRTCConfig{Loopback: true}, nil), Serve: serve,
	})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sp.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case <-sp.Ready():
	case err := <-done:
		t.Fatalf("super peer ended: %v", err)
	case <-ctx.Done():
		t.Fatal("super peer never warmed its cache")
	}
	waitFor(t, "the super peer's promotion", func() bool { return sp.Stats().Promoted })
	return sp
}

func dialCasual(t *testing.T, ctx context.Context, url string, spot float64) *peer.Casual {
	t.Helper()
	c, err := peer.DialCasual(ctx, peer.CasualConfig{URL: url, Channels: PeerChannels(WebRTCConfig{Loopback: true}, nil), Wait: 2 * time.Second, SpotCheck: spot, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

var feed = nostr.Filter{Kinds: []int{1}, Limit: 20}

// TestNIP95PeerToPeer: a super peer registers with a cairn relay, warms
// its cache, is promoted and pushed new events; a casual client asks the
// relay for the recent feed, is offered the super peer and gets every
// event of the feed from it over a DataChannel, byte for byte what the
// relay itself answers, with no event bytes from the relay.
func TestNIP95PeerToPeer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, url := nip95Relay(t, nil)
	publishNotes(t, ctx, url, 15, "before")
	sp := startSuperPeer(t, ctx, r, url, nil)
	publishNotes(t, ctx, url, 10, "after") // pushed with PEER_EVENT_NEW
	waitFor(t, "the pushed events", func() bool { return sp.Stats().Cached == 25 })

	c := dialCasual(t, ctx, url, 1)
	res, err := c.Recent(ctx, feed)
	if err != nil {
		t.Fatal(err)
	}
	want := relayRaw(t, ctx, url, feed)
	if len(want) != 20 || len(res.Events) != 20 || res.FromPeers != 20 || res.FromRelay != 0 {
		t.Fatalf("got %d events (%d from peers, %d from the relay), the relay has %d", len(res.Events), res.FromPeers, res.FromRelay, len(want))
	}
	for i := range want {
		if !bytes.Equal(res.Events[i], want[i]) {
			t.Fatalf("event %d differs from the relay's:\n%s\n%s", i, res.Events[i], want[i])
		}
	}
	if len(res.Reports) != 0 || len(res.Checked) != 1 {
		t.Fatalf("an honest peer, spot-checked: reports %+v, checked %v", res.Reports, res.Checked)
	}
	if st := sp.Stats(); st.Served != 20 {
		t.Fatalf("super peer served %d", st.Served)
	}
	t.Logf("peer bytes %d, relay bytes %d (offer and spot check)", res.PeerBytes, res.RelayBytes)
}

// TestNIP95LyingPeers: a super peer that omits events is caught by a spot
// check and one that serves an altered event is caught at once; either
// way the client gets every event, verified, from the relay, and stops
// asking that peer.
func TestNIP95LyingPeers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		serve  func([]byte) []byte
		reason string
	}{
		{"omits", func(raw []byte) []byte {
			if sha256.Sum256(raw)[0]%2 == 0 { // about half, by content
				return nil
			}
			return raw
		}, "omitted"},
		{"forges", func(raw []byte) []byte {
			return bytes.Replace(raw, []byte(`"content":"`), []byte(`"content":"altered `), 1)
		}, "forged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			r, url := nip95Relay(t, nil)
			publishNotes(t, ctx, url, 20, tc.name)
			startSuperPeer(t, ctx, r, url, tc.serve)
			want := relayRaw(t, ctx, url, feed)
			c := dialCasual(t, ctx, url, 1)
			for round := range 2 {
				res, err := c.Recent(ctx, feed)
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Events) != len(want) {
					t.Fatalf("round %d: %d events, want %d", round, len(res.Events), len(want))
				}
				for i := range want {
					if !bytes.Equal(res.Events[i], want[i]) {
						t.Fatalf("round %d: event %d is not the relay's: %s", round, i, res.Events[i])
					}
				}
				switch round {
				case 0:
					if len(res.Reports) != 1 || !strings.Contains(res.Reports[0].Reason, tc.reason) {
						t.Fatalf("reports %+v (result %d %d %d %v)", res.Reports, res.FromPeers, res.FromRelay, res.Offered, res.Checked)
					}
					if res.FromRelay == 0 {
						t.Fatal("nothing came from the relay")
					}
				case 1: // the peer is no longer asked
					if res.FromPeers != 0 || res.FromRelay != len(want) || len(res.Reports) != 0 {
						t.Fatalf("second round: %d from peers, %d from the relay, reports %+v", res.FromPeers, res.FromRelay, res.Reports)
					}
				}
			}
		})
	}
}

// TestNIP95PeersGone: every super peer leaves in the middle of a request
// (the one asked stops as the request comes in, the others are offered
// too); the client still gets every event, from the relay, before its
// wait for peers is up, and holds nothing against the peers that left.
func TestNIP95PeersGone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, url := nip95Relay(t, nil)
	publishNotes(t, ctx, url, 20, "gone")
	var stops []context.CancelFunc
	for range 2 {
		sctx, stop := context.WithCancel(ctx)
		stops = append(stops, stop)
		sp, err := peer.NewSuperPeer(peer.SuperPeerConfig{URL: url, Bandwidth: 50, Storage: 1000,
			Channels: PeerChannels(WebRTCConfig{Loopback: true}, nil),
			Serve: func([]byte) []byte {
				for _, s := range stops {
					s() // every super peer goes
				}
				return nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- sp.Run(sctx) }()
		t.Cleanup(func() { stop(); <-done })
		<-sp.Ready()
		waitFor(t, "promotion", func() bool { return sp.Stats().Promoted })
	}
	c, err := peer.DialCasual(ctx, peer.CasualConfig{URL: url, Channels: PeerChannels(WebRTCConfig{Loopback: true}, nil), SpotCheck: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	res, err := c.Recent(ctx, feed)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	want := relayRaw(t, ctx, url, feed)
	if len(res.Events) != len(want) || res.FromRelay != len(want) || res.Offered == 0 {
		t.Fatalf("%d events (%d from the relay, %d offered), want %d", len(res.Events), res.FromRelay, res.Offered, len(want))
	}
	for i := range want {
		if !bytes.Equal(res.Events[i], want[i]) {
			t.Fatalf("event %d is not the relay's", i)
		}
	}
	if len(res.Reports) != 0 {
		t.Fatalf("peers that left were reported: %+v", res.Reports)
	}
	t.Logf("every event from the relay %v after the request (the wait for peers is %v)", took.Round(time.Millisecond), superpeer.FallbackAfter)
}

// TestNIP95OmissionDetection: a super peer that silently drops a quarter
// of the events it is asked for (5 of the feed's 20). Ten casual clients
// (each its own seed) load the feed until a check catches it: with whole
// offers every load is checked against the relay's digest; with per-id
// offers (the Nexus way) a spot check (share 0.1) must draw it. Every load
// is complete all the same (the relay fills the gaps). The number of loads
// each client needed is logged (go test -run TestNIP95OmissionDetection
// -v ./node/); each must catch it within 100.
func TestNIP95OmissionDetection(t *testing.T) {
	for _, perID := range []bool{false, true} {
		name := map[bool]string{false: "whole", true: "per-id"}[perID]
		t.Run(name, func(t *testing.T) { omissionDetection(t, perID) })
	}
}

func omissionDetection(t *testing.T, perID bool) {
	const clients, maxLoads = 10, 100
	ctx, cancel := context.WithTimeout(context.Background(), 170*time.Second)
	defer cancel()
	r, url := nip95Relay(t, func(c *superpeer.Config) {
		c.Limits[superpeer.VerbRequest] = 10_000
		c.Limits[superpeer.VerbSignal] = 10_000 // 10 clients at once: past Nexus's 20 per 10 s
		c.Demote = -1                           // each client must catch it itself, not learn it from the others' reports
	})
	publishNotes(t, ctx, url, 40, "omission")
	startSuperPeer(t, ctx, r, url, func(raw []byte) []byte {
		for _, l := range "afkpuz" { // every fifth letter: 5 of the feed's 20 notes
			if bytes.Contains(raw, []byte(`note `+string(l)+`"`)) {
				return nil
			}
		}
		return raw
	})
	want := relayRaw(t, ctx, url, feed)
	loads := make([]int, clients)
	errs := make(chan error, clients)
	for i := range clients {
		c, err := peer.DialCasual(ctx, peer.CasualConfig{URL: url, Channels: PeerChannels(WebRTCConfig{Loopback: true}, nil),
			Wait: 300 * time.Millisecond, SpotCheck: 0.1, Seed: uint64(100 + i), MaxRequests: 10_000, PerID: perID})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go func() {
			var last peer.RecentResult
			for n := 1; n <= maxLoads; n++ {
				res, err := c.Recent(ctx, feed)
				last = res
				if err != nil {
					errs <- err
					return
				}
				if len(res.Events) != len(want) {
					errs <- fmt.Errorf("client %d load %d: %d events, want %d", i, n, len(res.Events), len(want))
					return
				}
				for j := range want {
					if !bytes.Equal(res.Events[j], want[j]) {
						errs <- fmt.Errorf("client %d load %d: event %d is not the relay's", i, n, j)
						return
					}
				}
				if len(res.Reports) > 0 {
					if !strings.Contains(res.Reports[0].Reason, "omitted") || len(res.Reports[0].Missing) == 0 {
						errs <- fmt.Errorf("client %d: report %+v", i, res.Reports[0])
						return
					}
					loads[i] = n
					errs <- nil
					return
				}
			}
			errs <- fmt.Errorf("client %d: not caught in %d loads (last: %d offered, %d from peers, %d from the relay, unreached %v, checked %v)", i, maxLoads, last.Offered, last.FromPeers, last.FromRelay, last.Unreached, last.Checked)
		}()
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	sorted := slices.Clone(loads)
	slices.Sort(sorted)
	t.Logf("%s offers: loads until a check caught a peer dropping 5 of 20 events (spot-check share 0.1, %d clients): %v; median %d, max %d", map[bool]string{false: "whole", true: "per-id"}[perID], clients, sorted, sorted[clients/2], sorted[clients-1])
}

// TestNIP95Refused: a relay that refuses PEER_REQUEST (here: its limit is
// 2 per 10 s, and past it the connection is barred) costs the client
// nothing but the peers: every load still brings the whole feed, from the
// relay alone.
func TestNIP95Refused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, url := nip95Relay(t, func(c *superpeer.Config) { c.Limits[superpeer.VerbRequest] = 2 })
	publishNotes(t, ctx, url, 20, "refused")
	startSuperPeer(t, ctx, r, url, nil)
	want := relayRaw(t, ctx, url, feed)
	c := dialCasual(t, ctx, url, 0)
	for n := range 4 {
		res, err := c.Recent(ctx, feed)
		if err != nil {
			t.Fatalf("load %d: %v", n, err)
		}
		if len(res.Events) != len(want) {
			t.Fatalf("load %d: %d events, want %d", n, len(res.Events), len(want))
		}
		for j := range want {
			if !bytes.Equal(res.Events[j], want[j]) {
				t.Fatalf("load %d: event %d is not the relay's", n, j)
			}
		}
		switch {
		case n < 2 && res.FromPeers != len(want):
			t.Fatalf("load %d within the limit: %d from peers", n, res.FromPeers)
		case n >= 2 && res.FromRelay != len(want):
			t.Fatalf("load %d past the limit: %d from the relay", n, res.FromRelay)
		}
	}
}

// TestNIP95Demotion: clients that catch a super peer (one forging events,
// one omitting them) report it to the relay (PEER_REPORT); once three
// have, its reputation is below the line and the relay demotes it
// (PEER_DEMOTED) and offers it no more.
func TestNIP95Demotion(t *testing.T) {
	for _, tc := range []struct {
		name  string
		serve func([]byte) []byte
	}{
		{"forges", func(raw []byte) []byte {
			return bytes.Replace(raw, []byte(`"content":"`), []byte(`"content":"altered `), 1)
		}},
		{"omits", func(raw []byte) []byte {
			if sha256.Sum256(raw)[0]%2 == 0 {
				return nil
			}
			return raw
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			r, url := nip95Relay(t, nil)
			publishNotes(t, ctx, url, 20, "demotion "+tc.name)
			sp := startSuperPeer(t, ctx, r, url, tc.serve)
			for i := range 3 {
				if !sp.Stats().Promoted {
					t.Fatalf("demoted after %d reports", i)
				}
				c, err := peer.DialCasual(ctx, peer.CasualConfig{URL: url, Channels: PeerChannels(WebRTCConfig{Loopback: true}, nil),
					Wait: 500 * time.Millisecond, SpotCheck: 1, Seed: uint64(i + 1)})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				res, err := c.Recent(ctx, feed)
				if err != nil || len(res.Reports) != 1 {
					t.Fatalf("client %d: reports %+v, %v (offered %d, from peers %d, from the relay %d, checked %v, unreached %v)", i, res.Reports, err, res.Offered, res.FromPeers, res.FromRelay, res.Checked, res.Unreached)
				}
			}
			waitFor(t, "the relay to demote the peer", func() bool { return !sp.Stats().Promoted })
			c := dialCasual(t, ctx, url, 0)
			res, err := c.Recent(ctx, feed)
			if err != nil || res.Offered != 0 || res.FromRelay != 20 {
				t.Fatalf("after demotion: %d offered, %d from the relay, %v", res.Offered, res.FromRelay, err)
			}
		})
	}
}

// memPersist is a RecentPersist in memory.
type memPersist struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (p *memPersist) Load() (map[string][]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.m), nil
}
func (p *memPersist) Put(id string, raw []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[id] = raw
	return nil
}
func (p *memPersist) Delete(ids []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		delete(p.m, id)
	}
	return nil
}
func (p *memPersist) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

// TestNIP95SuperPeerPersist: a super peer with a persistent cache (the
// tab's IndexedDB) puts every event it caches, deletes those that leave
// (bounded at MaxCached), and on restart reads them back, verified again:
// an altered one and one past the window are dropped from the store.
func TestNIP95SuperPeerPersist(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, url := nip95Relay(t, nil)
	publishNotes(t, ctx, url, 8, "persist")
	p := &memPersist{m: map[string][]byte{}}
	run := func(max int) (*peer.SuperPeer, func()) {
		sp, err := peer.NewSuperPeer(peer.SuperPeerConfig{URL: url, Bandwidth: 50, Storage: 1000, MaxCached: max,
			Channels: PeerChannels(WebRTCConfig{Loopback: true}, nil), Persist: p})
		if err != nil {
			t.Fatal(err)
		}
		rctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); sp.Run(rctx) }()
		end := func() { stop(); <-done }
		t.Cleanup(end)
		select {
		case <-sp.Ready():
		case <-done:
			t.Fatal("the super peer ended")
		}
		return sp, end
	}
	sp, end := run(5)
	publishNotes(t, ctx, url, 3, "pushed") // pushed once promoted, or not: the bound holds either way
	if st := sp.Stats(); st.Loaded != 0 || st.Cached != 5 || p.len() != 5 {
		t.Fatalf("first run: loaded %d, cached %d, persisted %d; want 0, 5, 5", st.Loaded, st.Cached, p.len())
	}
	// The first run ends before the store is touched: a push still on its
	// way would otherwise be cached (and persisted) beside the test's edits.
	end()
	if st := sp.Stats(); st.Cached != 5 || p.len() != 5 {
		t.Fatalf("first run, stopped: cached %d, persisted %d; want 5, 5", st.Cached, p.len())
	}
	// An altered copy and an event past the window join the store.
	var some string
	for id := range p.m {
		some = id
		break
	}
	p.m[some] = bytes.Replace(p.m[some], []byte(`"content":"`), []byte(`"content":"altered `), 1)
	sk := nostr.GeneratePrivateKey()
	old := &nostr.Event{Kind: 1, Content: "old", CreatedAt: nostr.Timestamp(time.Now().Add(-25 * time.Hour).Unix()), Tags: nostr.Tags{}}
	old.Sign(sk)
	oldRaw, _ := json.Marshal(old)
	p.m[old.ID] = oldRaw
	sp2, _ := run(100)
	if st := sp2.Stats(); st.Loaded != 4 {
		t.Fatalf("second run read back %d events, want the 4 intact ones", st.Loaded)
	}
	after, _ := p.Load()
	if bytes.Contains(after[some], []byte("altered")) {
		t.Fatal("the altered event stayed in the store")
	}
	if _, ok := after[old.ID]; ok {
		t.Fatal("the event past the window stayed in the store")
	}
}

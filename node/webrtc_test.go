package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/internal/netproxy"
	"github.com/cairn-nostr/cairn/media"
	"github.com/cairn-nostr/cairn/peer"
	"github.com/cairn-nostr/cairn/relay/client"
	"github.com/cairn-nostr/cairn/swarm"
	"github.com/cairn-nostr/cairn/webrtc"
)

// rtcPeer starts a WebRTC node on loopback, as a browser tab would run,
// signaling through the relay at url and serving blobs.
func rtcPeer(t *testing.T, url string, blobs blobstore.Blobs) (*webrtc.Node, string) {
	t.Helper()
	sk := nostr.GeneratePrivateKey()
	sig := &webrtc.RelayClient{URL: url}
	cfg := webrtc.DefaultConfig()
	cfg.SecretKey, cfg.Signal, cfg.Loopback, cfg.Blobs = sk, sig, true, blobs
	p, err := webrtc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Close()
		sig.Close()
	})
	return p, sk
}

func randFile(t *testing.T, seed uint64, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(seed, seed+1))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(t.TempDir(), "f.bin")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func rootOf(t *testing.T, s string) (root [32]byte) {
	t.Helper()
	if _, err := hex.Decode(root[:], []byte(s)); err != nil {
		t.Fatal(err)
	}
	return root
}

// A node serves the chunks it holds to a WebRTC peer (a browser) that dials
// it by its pubkey through its own relay, and counts the bytes.
func TestWebRTCServesChunk(t *testing.T) {
	n := startNode(t, TestingConfig(t))
	it, data := shareSmall(t, n, 7, 300_000)
	tab, _ := rtcPeer(t, n.RelayURL(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := tab.Dial(ctx, n.Key().Public, it.Map.Root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Fetch(ctx, it.Map.Chunks[1], it.Map.Root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data[64<<10:128<<10]) {
		t.Fatalf("chunk 1: %d bytes, not the file's", len(got))
	}
	st := n.Status()
	if st.Transfer["webrtc"].BytesUp < 64<<10 || st.Peers["webrtc"] != 1 {
		t.Fatalf("status: transfer %+v peers %+v", st.Transfer, st.Peers)
	}
	// A chunk no stored map lists is NOT_FOUND, not a timeout.
	if _, err := c.Fetch(ctx, [32]byte{1}, it.Map.Root, nil); !errors.Is(err, swarm.ErrNotFound) {
		t.Fatalf("unknown chunk: %v", err)
	}
}

// shareSmall shares size random bytes (seeded) from n in 64 KiB chunks and
// returns the stored file and the bytes.
func shareSmall(t *testing.T, n *Node, seed uint64, size int) (*peer.File, []byte) {
	t.Helper()
	path, data := randFile(t, seed, size)
	sh, err := n.Share(context.Background(), ShareRequest{Path: path, ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	return storedItem(t, n, sh.Root), data
}

// storedItem is the stored file of a root.
func storedItem(t *testing.T, n *Node, root string) *peer.File {
	t.Helper()
	it := n.Peer().FileByRoot(context.Background(), root)
	if it == nil {
		t.Fatalf("no stored map of root %s", root)
	}
	return it
}

// Bridging: B knows the chunk map but holds nothing; A holds the file. A
// browser asking B over WebRTC for a chunk gets it: B fetched it from A over
// libp2p, stored it and served it.
func TestWebRTCBridgesToSwarm(t *testing.T) {
	a, b := startPair(t)
	path, data := randFile(t, 9, 500_000)
	sh, err := a.Share(context.Background(), ShareRequest{Path: path, ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	var e MediaEntry
	post(t, b.URL()+"/api/resolve", GetRequest{Ref: sh.Nevent}, &e)
	if e.ChunksHeld != 0 {
		t.Fatalf("B holds chunks already: %+v", e)
	}
	it := storedItem(t, b, sh.Root)
	tab, _ := rtcPeer(t, b.RelayURL(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := tab.Dial(ctx, b.Key().Public, it.Map.Root)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{3, 7, 3} {
		got, err := c.Fetch(ctx, it.Map.Chunks[i], it.Map.Root, nil)
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		if !bytes.Equal(got, data[i*64<<10:min((i+1)*64<<10, len(data))]) {
			t.Fatalf("chunk %d: %d bytes, not the file's", i, len(got))
		}
		if !b.Blobs().Has(it.Map.Chunks[i]) {
			t.Fatalf("B did not store bridged chunk %d", i)
		}
	}
	if s := b.Status(); s.Transfer["libp2p"].BytesDown == 0 || s.Transfer["webrtc"].BytesUp == 0 {
		t.Errorf("B transfer: %+v", s.Transfer)
	}
	// One on-demand fetch served both chunks (and is shared with range
	// reads).
	if lazy := b.Peer().OnDemand(); lazy != 1 {
		t.Errorf("%d on-demand fetches, want 1", lazy)
	}
}

// A browser's upload handed to the node: the tab holds a file, publishes
// its chunk map and announces its root (kind 20002); the node, asked to get
// the root, finds the tab (no cairn-p2p record) and fetches every chunk
// over WebRTC.
func TestDownloadFromWebRTCPeer(t *testing.T) {
	cfg := TestingConfig(t)
	cfg.P2P.DHT = false
	n := startNode(t, cfg)

	path, data := randFile(t, 11, 700_000)
	tabBlobs := blobstore.NewMemory(0)
	plan, _, err := swarm.Share(context.Background(), path, tabBlobs, media.Chunker{TargetSize: 128 << 10}, "")
	if err != nil {
		t.Fatal(err)
	}
	tab, sk := rtcPeer(t, n.RelayURL(), tabBlobs)
	m := plan.Map()
	mapEv := m.Event()
	if err := mapEv.Sign(sk); err != nil {
		t.Fatal(err)
	}
	ann := nostr.Event{Kind: peer.KindAnnounce, CreatedAt: nostr.Now(), Tags: nostr.Tags{
		{"t", "entropy"}, {"x", hex.EncodeToString(m.Root[:])}, {"chunks", strconv.Itoa(len(m.Chunks))},
	}}
	if err := ann.Sign(sk); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := client.Dial(ctx, n.RelayURL())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	for _, ev := range []*nostr.Event{&mapEv, &ann} {
		if err := rc.Publish(ctx, "EVENT", ev); err != nil {
			t.Fatalf("kind %d: %v", ev.Kind, err)
		}
	}

	out := filepath.Join(t.TempDir(), "out.bin")
	waitDownload(t, n, hex.EncodeToString(m.Root[:]), out)
	if f, _ := os.ReadFile(out); !bytes.Equal(f, data) {
		t.Fatalf("fetched file differs (%d bytes)", len(f))
	}
	st := n.Status()
	if st.Transfer["webrtc"].BytesDown < uint64(len(data)) {
		t.Errorf("webrtc bytes down %d, want at least %d", st.Transfer["webrtc"].BytesDown, len(data))
	}
	if ts := tab.Stats(); ts.BytesUp < int64(len(data)) {
		t.Errorf("the tab sent %d bytes", ts.BytesUp)
	}
	var dls []DownloadStatus
	get(t, n.URL()+"/api/downloads", &dls)
	if len(dls) != 1 || dls[0].Transports["webrtc"] != int64(len(data)) {
		t.Errorf("downloads: %+v", dls)
	}
}

func TestConfigValidateWebRTC(t *testing.T) {
	for _, tc := range []struct {
		servers    []string
		user, cred string
		want       string
	}{
		{servers: []string{"stun:stun.example.org:3478"}},
		{servers: []string{"turn:turn.example.org:3478?transport=tcp"}, user: "u", cred: "p"},
		{servers: []string{"turn:turn.example.org:3478"}, want: "--ice-username"},
		{servers: []string{"http://stun.example.org"}, want: "want stun:host:port"},
		{servers: []string{""}, want: "ice server"},
	} {
		c := DefaultConfig()
		c.WebRTC.ICEServers, c.WebRTC.ICEUsername, c.WebRTC.ICECredential = tc.servers, tc.user, tc.cred
		err := c.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: %v, want %q", tc.servers, err, tc.want)
		}
	}
	c := DefaultConfig()
	c.WebRTC.ICEServers = []string{"stun:s:1", "turn:t:2"}
	c.WebRTC.ICEUsername, c.WebRTC.ICECredential = "u", "p"
	got := c.WebRTC.iceServers()
	if len(got) != 2 || got[0].Username != "" || got[1].Username != "u" || got[1].Credential != "p" {
		t.Errorf("ice servers %+v", got)
	}
}

// TestWebRTCAnswersAfterIdle: a node left idle far beyond its relay's idle
// timeout and ping interval answers the first offer of a peer that sends
// nothing else. (The node signals through its own relay in process: there
// is no connection of its own for the relay to close.)
func TestWebRTCAnswersAfterIdle(t *testing.T) {
	cfg := TestingConfig(t)
	cfg.Relay.IdleTimeout = 300 * time.Millisecond
	cfg.Relay.PingInterval = 100 * time.Millisecond
	n := startNode(t, cfg)
	it, data := shareSmall(t, n, 11, 100_000)
	fetch := func(what string) {
		t.Helper()
		tab, _ := rtcPeer(t, n.RelayURL(), nil)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := tab.Dial(ctx, n.Key().Public, it.Map.Root)
		if err != nil {
			t.Fatalf("%s: the offer got no answer: %v", what, err)
		}
		got, err := c.Fetch(ctx, it.Map.Chunks[0], it.Map.Root, nil)
		if err != nil || !bytes.Equal(got, data[:64<<10]) {
			t.Fatalf("%s: chunk 0: %d bytes, %v", what, len(got), err)
		}
	}
	// A first peer: the node has answered an offer before going idle.
	fetch("before idle")
	// Idle: ten idle timeouts with no new offer.
	<-time.After(10 * cfg.Relay.IdleTimeout)
	fetch("after idle")
}

// TestWebRTCSignalingSurvivesCut: a tab's connection to the relay is cut
// and new ones refused; the offer it makes meanwhile is not lost: its
// session reconnects once the relay is reachable, resumes its signaling
// subscription, then sends the offer, and the node's answer arrives.
func TestWebRTCSignalingSurvivesCut(t *testing.T) {
	n := startNode(t, TestingConfig(t))
	it, data := shareSmall(t, n, 12, 100_000)
	proxy := netproxy.New(t, strings.TrimPrefix(n.RelayURL(), "ws://"))
	tab, _ := rtcPeer(t, proxy.URL(), nil)
	<-proxy.Accepted // the tab's session, subscribed
	proxy.Kill(true)
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := tab.Dial(ctx, n.Key().Public, it.Map.Root)
		if err != nil {
			done <- result{err: err}
			return
		}
		b, err := c.Fetch(ctx, it.Map.Chunks[0], it.Map.Root, nil)
		done <- result{b, err}
	}()
	<-proxy.Refused // the session tried again while the relay was unreachable
	proxy.Up()
	r := <-done
	if r.err != nil || !bytes.Equal(r.data, data[:64<<10]) {
		t.Fatalf("offer across a cut: %d bytes, %v", len(r.data), r.err)
	}
	<-proxy.Accepted // it was a new connection
}

// TestWebRTCGatedByNode: the node's credit gate applies to a WebRTC peer
// (as a tab runs one) that only takes: past its grant it is throttled, and
// a request whose turn is more than 5 s away is refused with ERROR
// INSUFFICIENT_CREDIT; /api/credits counts both and lists the peer by its
// signaling pubkey.
func TestWebRTCGatedByNode(t *testing.T) {
	const chunk = 64 << 10
	cfg := TestingConfig(t)
	cfg.Credit.Grant, cfg.Credit.DebtorRate = chunk, chunk/4 // a debtor's chunk every 4 s
	n := startNode(t, cfg)
	it, data := shareSmall(t, n, 11, 5*chunk)
	tab, _ := rtcPeer(t, n.RelayURL(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := tab.Dial(ctx, n.Key().Public, it.Map.Root)
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(i int) error {
		got, err := c.Fetch(ctx, it.Map.Chunks[i], it.Map.Root, nil)
		if err == nil && !bytes.Equal(got, data[i*chunk:(i+1)*chunk]) {
			return errors.New("not the file's bytes")
		}
		return err
	}
	// The grant, one more at balance 0, one throttled whose turn is now.
	for i := range 3 {
		if err := fetch(i); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
	// Two at once: one waits its turn (4 s), the other's is 8 s away.
	errs := make(chan error, 2)
	for i := 3; i < 5; i++ {
		go func() { errs <- fetch(i) }()
	}
	var ok, refused int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, swarm.ErrInsufficientCredit):
			refused++
		default:
			t.Fatalf("chunk 3 or 4: %v", err)
		}
	}
	if ok != 1 || refused != 1 {
		t.Fatalf("%d served, %d refused; want one each", ok, refused)
	}
	g := n.Credits().Gate
	if g == nil || g.Throttled != 2 || g.Refused != 1 {
		t.Fatalf("gate status %+v", g)
	}
	found := false
	for _, p := range g.Peers {
		if p.Peer == tab.PubKey() {
			found = p.Throttled == 2 && p.Refused == 1 && p.Balance == chunk-4*chunk
		}
	}
	if !found {
		t.Fatalf("the tab's account is not listed as throttled twice and refused once: %+v", g.Peers)
	}
}

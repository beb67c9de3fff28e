package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/bt"
	"github.com/cairn-nostr/cairn/identity"
)

// bridgeOf reads the bridge's figures from /api/status.
func bridgeOf(t *testing.T, n *Node) BTBridgeStatus {
	t.Helper()
	var st struct {
		BTDHT *BTDHTStatus `json:"bt_dht"`
	}
	get(t, n.URL()+"/api/status", &st)
	if st.BTDHT == nil || st.BTDHT.Bridge == nil {
		t.Fatal("no bridge in /api/status")
	}
	return *st.BTDHT.Bridge
}

// waitBridge waits (bounded) until the bridge's pointer covers events.
func waitBridge(t *testing.T, n *Node, events int64) BTBridgeStatus {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		br := bridgeOf(t, n)
		if br.Events >= events && br.Published >= events {
			return br
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bridge never covered %d events: %+v", events, br)
		}
		time.Sleep(100 * time.Millisecond) // polling the status, bounded by the deadline
	}
}

// TestBridgeArchive: a --bt-bridge node archives the events of three
// authors stored in three rounds into per-author bundles, sealing pages of
// two bundles, and another node reads the whole archive (every page, every
// bundle, every event checked) from the npub over a private DHT. Restarted,
// the node seeds the same files and archives only what is new; a bundle
// changed on disk is refused at start with the reason.
func TestBridgeArchive(t *testing.T) {
	boot := privateDHT(t, 4)
	ca, cb := TestingConfig(t), TestingConfig(t)
	ca.BT.DHTBootstrap, cb.BT.DHTBootstrap = boot, boot
	ca.BT.Bridge, ca.BT.BridgeWindow, ca.BT.BridgePage = true, 100*time.Millisecond, 2
	a, b := startNode(t, ca), startNode(t, cb)
	ctx := context.Background()

	authors := []identity.Key{identity.Generate(), identity.Generate(), identity.Generate()}
	want := map[string]bool{}
	publish := func(round int) {
		for i, k := range authors {
			for j := range 3 {
				ev := &nostr.Event{Kind: 1, CreatedAt: nostr.Now() - nostr.Timestamp(100*round+j), Tags: nostr.Tags{}, Content: strings.Repeat("x", i+j+round)}
				if err := ev.Sign(k.Secret); err != nil {
					t.Fatal(err)
				}
				if err := a.Relay().Publish(ctx, ev); err != nil {
					t.Fatal(err)
				}
				want[ev.ID] = true
			}
		}
	}
	var total int64
	for round := range 3 {
		publish(round)
		total = a.Store().Stats().Events
		waitBridge(t, a, total)
	}
	br := bridgeOf(t, a)
	if br.Pages < 3 || br.Bundles < 9 {
		t.Fatalf("3 rounds of 3 authors: want at least 9 bundles on 3 pages, got %+v", br)
	}

	read := func() FollowResult {
		var res FollowResult
		post(t, b.URL()+"/api/bt/follow?"+url.Values{"pubkey": {a.Key().Npub()}, "archive": {"1"}, "print": {"1"}}.Encode(), nil, &res)
		return res
	}
	res := read()
	got := map[string]bool{}
	for _, raw := range res.Events {
		var ev nostr.Event
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		got[ev.ID] = true
	}
	for id := range want {
		if !got[id] {
			t.Fatalf("event %.16s is not in the archive read (%d events; steps %q)", id, len(got), res.Steps)
		}
	}
	t.Logf("archive: %+v; read %d events; last step %q", br, len(got), res.Steps[len(res.Steps)-1])

	// Restarted: the same archive, nothing archived twice.
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	a2 := startNode(t, ca)
	if br2 := bridgeOf(t, a2); br2.Events != br.Events || br2.Bundles != br.Bundles || br2.Cursor != br.Cursor {
		t.Fatalf("after a restart the bridge is %+v, was %+v", br2, br)
	}
	if err := a2.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// A bundle changed on disk: the node refuses to start, saying which.
	ents, _ := os.ReadDir(BridgeDir(ca.DataDir))
	var bundle string
	for _, e := range ents {
		if m := bridgeFile.FindStringSubmatch(e.Name()); m != nil && m[2] != "archive.json" {
			bundle = filepath.Join(BridgeDir(ca.DataDir), e.Name())
			break
		}
	}
	data, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 1
	if err := os.WriteFile(bundle, data, 0o600); err != nil {
		t.Fatal(err)
	}
	n3, err := New(ca, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = n3.Start()
	n3.Stop(ctx)
	if err == nil || !strings.Contains(err.Error(), "changed on disk") {
		t.Fatalf("a bundle changed on disk: start gave %v", err)
	}
}

// publishScene is a node on a private DHT of four loopback nodes, and a
// DHT node and a BitTorrent client joined to it, for a test to publish
// feeds and archives as another node would; ctx bounds the test.
func publishScene(t *testing.T) (*Node, context.Context, *bt.DHT, *bt.Client) {
	t.Helper()
	boot := privateDHT(t, 4)
	cfg := TestingConfig(t)
	cfg.BT.DHTBootstrap = boot
	nd := startNode(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	d, err := bt.NewDHT(bt.Config{Addr: "127.0.0.1:0", Bootstrap: boot})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	d.Bootstrap(ctx)
	c, err := bt.NewClient(bt.ClientConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return nd, ctx, d, c
}

// TestNodeCrawl: users publish feeds into a private DHT (root follows x
// and y, x follows z, z follows w; y has no feed); the node's follow API
// with depth=2 reaches root, x, y and z (not w), reports y's missing feed
// and stores the notes of root, x and z in the node's relay, and seeds their
// feeds again (also after a restart, a kept file that no longer checks
// dropped). A bad depth is refused with the reason.
func TestNodeCrawl(t *testing.T) {
	nd, ctx, pubd, seeder := publishScene(t)
	root, x, y, z, w := identity.Generate(), identity.Generate(), identity.Generate(), identity.Generate(), identity.Generate()
	follows := map[*identity.Key][]identity.Key{&root: {x, y}, &x: {z}, &z: {w}, &w: {root}}
	notes := map[string]string{}
	var rootIndex *metainfo.MetaInfo
	for k, fl := range follows {
		contacts := &nostr.Event{Kind: 3, CreatedAt: nostr.Now(), Tags: nostr.Tags{}}
		for _, f := range fl {
			contacts.Tags = append(contacts.Tags, nostr.Tag{"p", f.Public})
		}
		note := &nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Tags: nostr.Tags{}, Content: "note of " + k.Public[:8]}
		for _, ev := range []*nostr.Event{contacts, note} {
			if err := ev.Sign(k.Secret); err != nil {
				t.Fatal(err)
			}
		}
		notes[k.Public] = note.ID
		f, err := bt.BuildFeed([]*nostr.Event{contacts, note}, k.Public, time.Now(), fmt.Sprintf("127.0.0.1:%d", seeder.Port()))
		if err != nil {
			t.Fatal(err)
		}
		att := bt.Attestation(bt.Key(*k).Public().(ed25519.PublicKey), nostr.Now())
		if err := att.Sign(k.Secret); err != nil {
			t.Fatal(err)
		}
		if _, err := pubd.Publish(ctx, seeder, bt.Key(*k), att, f, time.Now()); err != nil {
			t.Fatal(err)
		}
		if k == &root {
			rootIndex = f.Index.MI
		}
	}
	var res FollowResult
	post(t, nd.URL()+"/api/bt/follow?"+url.Values{"pubkey": {root.Npub()}, "depth": {"2"}, "timeout": {"1m"}}.Encode(), nil, &res)
	want := map[string]int{root.Public: 0, x.Public: 1, y.Public: 1, z.Public: 2}
	if !maps.Equal(res.Users, want) {
		t.Fatalf("reached %v, want %v (steps %q)", res.Users, want, res.Steps)
	}
	if len(res.Failed) != 1 || res.Failed[y.Public] == "" || res.Fetched != 3 {
		t.Fatalf("failed %v, fetched %d: want y's feed missing, 3 fetched", res.Failed, res.Fetched)
	}
	for _, k := range []identity.Key{root, x, z} {
		if n, _ := nd.Store().Count(ctx, nostr.Filter{IDs: []string{notes[k.Public]}}); n != 1 {
			t.Fatalf("the note of %.8s is not in the node's relay", k.Public)
		}
	}
	if n, _ := nd.Store().Count(ctx, nostr.Filter{IDs: []string{notes[w.Public]}}); n != 0 {
		t.Fatal("the note of w (degree 3) was fetched")
	}

	// The crawled feeds are seeded again: with their publisher gone, a
	// fresh client fetches root's index from the node alone; restarted, the
	// node seeds them again, and drops a kept file that no longer checks.
	if !slices.ContainsFunc(res.Steps, func(s string) bool { return strings.Contains(s, "of the feed's files again") }) {
		t.Fatalf("no file seeded again: %q", res.Steps)
	}
	seeder.Close()
	fetchFromNode := func(n *Node) error {
		c, err := bt.NewClient(bt.ClientConfig{Listen: "127.0.0.1:0"})
		if err != nil {
			return err
		}
		defer c.Close()
		spec, err := bt.MetaInfoSpec(rootIndex)
		if err != nil {
			return err
		}
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_, err = c.Fetch(fctx, spec, filepath.Join(t.TempDir(), "index.json"), bt.FetchOptions{Peers: []string{fmt.Sprintf("127.0.0.1:%d", n.bt.Port())}})
		return err
	}
	if err := fetchFromNode(nd); err != nil {
		t.Fatalf("root's index from the node: %v", err)
	}
	kept := len(nd.btFeed.reseeds.list())
	if err := nd.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	data, _ := filepath.Glob(filepath.Join(SeedsDir(nd.cfg.DataDir), "*.data"))
	if len(data) != kept || kept < 6 {
		t.Fatalf("%d files kept, %d seeded (want one per index and bundle of 3 feeds)", len(data), kept)
	}
	var spoiled string
	for _, p := range data {
		if !strings.HasPrefix(filepath.Base(p), rootIndex.HashInfoBytes().HexString()) {
			spoiled = p
			os.WriteFile(p, []byte("not the bytes"), 0o600)
			break
		}
	}
	nd2 := startNode(t, nd.cfg)
	if got := len(nd2.btFeed.reseeds.list()); got != kept-1 {
		t.Fatalf("after a restart %d files seeded again, want %d (one spoiled)", got, kept-1)
	}
	if _, err := os.Stat(spoiled); !os.IsNotExist(err) {
		t.Fatalf("the spoiled file was kept: %v", err)
	}
	if err := fetchFromNode(nd2); err != nil {
		t.Fatalf("root's index from the restarted node: %v", err)
	}
	hr, err := http.Post(nd2.URL()+"/api/bt/follow?"+url.Values{"pubkey": {root.Public}, "depth": {"9"}}.Encode(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Error string }
	json.NewDecoder(hr.Body).Decode(&e)
	hr.Body.Close()
	if hr.StatusCode != http.StatusBadRequest || !strings.Contains(e.Error, "depth") {
		t.Fatalf("depth 9: %d %q", hr.StatusCode, e.Error)
	}
}

// TestNodeStoresNothingOfABadArchive: an archive whose one bundle holds a
// good event and an event whose signature fails: the node's follow API
// (archive=1) answers 502 naming the bad event, and the good event is not
// stored either.
func TestNodeStoresNothingOfABadArchive(t *testing.T) {
	nd, ctx, pubd, seeder := publishScene(t)

	author, relay := identity.Generate(), identity.Generate()
	good := &nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Tags: nostr.Tags{}, Content: "good"}
	bad := &nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Tags: nostr.Tags{}, Content: "signed"}
	for _, ev := range []*nostr.Event{good, bad} {
		if err := ev.Sign(author.Secret); err != nil {
			t.Fatal(err)
		}
	}
	bad.Content = "changed after signing"
	gb, _ := json.Marshal(good)
	bb, _ := json.Marshal(bad)
	f, err := bt.BuildBundle("bad.json", [][]byte{gb, bb})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := bt.Magnet(f.MI, "", fmt.Sprintf("127.0.0.1:%d", seeder.Port()))
	pg, err := bt.PageFile(bt.ArchivePage{UpdatedAt: time.Now().Unix(), Bundles: []bt.ArchiveEntry{{NPK: author.Public, Magnet: m, Events: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []bt.File{f, pg} {
		if _, err := seeder.Seed(file.MI, bytes.NewReader(file.Data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := pubd.Announce(ctx, pg.MI.HashInfoBytes(), seeder.Port()); err != nil {
		t.Fatal(err)
	}
	att := bt.Attestation(bt.Key(relay).Public().(ed25519.PublicKey), nostr.Now())
	if err := att.Sign(relay.Secret); err != nil {
		t.Fatal(err)
	}
	if err := pubd.PutLocator(ctx, att); err != nil {
		t.Fatal(err)
	}
	if _, err := pubd.PutArchive(ctx, bt.Key(relay), bt.Pointer{IH: pg.MI.HashInfoBytes(), TS: time.Now().Unix(), NPK: relay.Public}); err != nil {
		t.Fatal(err)
	}
	hr, err := http.Post(nd.URL()+"/api/bt/follow?"+url.Values{"pubkey": {relay.Npub()}, "archive": {"1"}}.Encode(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Error string }
	json.NewDecoder(hr.Body).Decode(&e)
	hr.Body.Close()
	if hr.StatusCode != http.StatusBadGateway || !strings.Contains(e.Error, bad.ID[:16]) {
		t.Fatalf("a bad archive: %d %q, want 502 naming event %.16s", hr.StatusCode, e.Error, bad.ID)
	}
	if n, _ := nd.Store().Count(ctx, nostr.Filter{Authors: []string{author.Public}}); n != 0 {
		t.Fatalf("%d event(s) of a refused archive stored", n)
	}
	t.Logf("refused: %s", e.Error)
}

// TestFollowFeedFallback: a feed seeded and announced with no locator or
// pointer in the DHT (as nostr-over-bt publishes when its DHT put fails),
// whose nostr-over-bt-feed fallback (kind 30078, the index's magnet) is on
// the node's relay: follow finds it from there and stores the note. A
// fallback whose content is not a magnet is refused with the reason, and
// a user with neither is told so.
func TestFollowFeedFallback(t *testing.T) {
	nd, ctx, pubd, seeder := publishScene(t)
	at := fmt.Sprintf("127.0.0.1:%d", seeder.Port())

	u := identity.Generate()
	note := &nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Tags: nostr.Tags{}, Content: "read through the fallback"}
	if err := note.Sign(u.Secret); err != nil {
		t.Fatal(err)
	}
	f, err := bt.BuildFeed([]*nostr.Event{note}, u.Public, time.Now(), at)
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range append([]bt.File{f.Index}, f.Bundles...) {
		if _, err := seeder.Seed(file.MI, bytes.NewReader(file.Data)); err != nil {
			t.Fatal(err)
		}
		if err := pubd.Announce(ctx, file.MI.HashInfoBytes(), seeder.Port()); err != nil {
			t.Fatal(err)
		}
	}
	im, _ := bt.Magnet(f.Index.MI, "")
	fallback := func(k identity.Key, content string) {
		ev := &nostr.Event{Kind: bt.KindAppData, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"d", bt.FeedFallbackTag}}, Content: content}
		if err := ev.Sign(k.Secret); err != nil {
			t.Fatal(err)
		}
		if err := nd.Relay().Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	fallback(u, im)
	var res FollowResult
	post(t, nd.URL()+"/api/bt/follow?"+url.Values{"pubkey": {u.Npub()}}.Encode(), nil, &res)
	if res.Stored != 1 || !slices.ContainsFunc(res.Steps, func(s string) bool { return strings.Contains(s, "nostr-over-bt-feed fallback") }) {
		t.Fatalf("follow through the fallback: %+v", res)
	}
	if n, _ := nd.Store().Count(ctx, nostr.Filter{IDs: []string{note.ID}}); n != 1 {
		t.Fatal("the note is not stored")
	}

	refused := func(pk, want string) {
		t.Helper()
		hr, err := http.Post(nd.URL()+"/api/bt/follow?"+url.Values{"pubkey": {pk}}.Encode(), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Error string }
		json.NewDecoder(hr.Body).Decode(&e)
		hr.Body.Close()
		if hr.StatusCode != http.StatusBadGateway || !strings.Contains(e.Error, want) {
			t.Fatalf("%.16s: %d %q, want 502 naming %q", pk, hr.StatusCode, e.Error, want)
		}
	}
	w := identity.Generate()
	fallback(w, "https://example.invalid/index.json")
	refused(w.Public, "not a magnet")
	refused(identity.Generate().Public, "holds no nostr-over-bt-feed fallback")
}

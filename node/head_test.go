package node

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/relay"
	"github.com/cairn-nostr/cairn/web"
	"github.com/nbd-wtf/go-nostr"
)

// signed signs ev with key and returns it with its raw JSON.
func signed(t *testing.T, ev nostr.Event, key string) storedEvent {
	t.Helper()
	ev.CreatedAt = 1700000000
	if err := ev.Sign(key); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return storedEvent{raw: raw, ev: &ev}
}

// testMap is a chunk map of n chunks of 100 bytes, salted so that two
// maps differ.
func testMap(n int, salt byte) *chunkmap.Map {
	var hs [][32]byte
	for i := range n {
		hs = append(hs, sha256.Sum256([]byte{salt, byte(i)}))
	}
	m := chunkmap.New(hs, int64(100*n))
	m.ChunkSize = 100
	return m
}

func fileEvent(m *chunkmap.Map) nostr.Event {
	return m.FileMetadata("http://127.0.0.1/x", sha256.Sum256([]byte("file"))).Event()
}

// TestHeadStart: what the node's hook picks for a map, a file event (its
// author's map of the same root, not another author's or another root's),
// and what it refuses; only held chunks are preloaded.
func TestHeadStart(t *testing.T) {
	alice, mallory := nostr.GeneratePrivateKey(), nostr.GeneratePrivateKey()
	m := testMap(4, 1)
	mapEv := signed(t, m.Event(), alice)
	other := signed(t, testMap(4, 2).Event(), alice)
	forged := signed(t, m.Event(), mallory) // the same root, another author
	file := signed(t, fileEvent(m), alice)
	hexOf := func(h [32]byte) string { return hex.EncodeToString(h[:]) }
	all := func([32]byte) bool { return true }

	h, ok := headStart(mapEv, nil, all)
	if !ok || len(h.Events) != 1 || !bytes.Equal(h.Events[0], mapEv.raw) || !slices.Equal(h.Preload, []string{hexOf(m.Chunks[0]), hexOf(m.Chunks[1])}) {
		t.Errorf("map: %v %+v", ok, h)
	}
	h, ok = headStart(file, []storedEvent{forged, other, mapEv}, all)
	if !ok || len(h.Events) != 2 || !bytes.Equal(h.Events[0], file.raw) || !bytes.Equal(h.Events[1], mapEv.raw) {
		t.Errorf("file event: %v, %d events", ok, len(h.Events))
	}
	h, ok = headStart(file, []storedEvent{mapEv}, func(c [32]byte) bool { return c == m.Chunks[1] })
	if !ok || !slices.Equal(h.Preload, []string{hexOf(m.Chunks[1])}) {
		t.Errorf("only chunk 1 held: %+v", h.Preload)
	}
	for name, c := range map[string]struct {
		target storedEvent
		maps   []storedEvent
	}{
		"file event, its map not stored":       {file, []storedEvent{other, forged}},
		"file event without x-hash":            {signed(t, nostr.Event{Kind: chunkmap.KindFileMetadata, Tags: nostr.Tags{{"url", "http://x/y"}, {"m", "video/mp4"}, {"x", strings.Repeat("ab", 32)}}}, alice), []storedEvent{mapEv}},
		"a note":                               {signed(t, nostr.Event{Kind: 1, Content: "hi"}, alice), nil},
		"a one-chunk map":                      {signed(t, testMap(1, 3).Event(), alice), nil},
		"a map whose root is not its chunks'":  {signed(t, func() nostr.Event { b := testMap(3, 4); b.Root[0] ^= 1; return b.Event() }(), alice), nil},
		"a map event with a broken chunk list": {signed(t, nostr.Event{Kind: chunkmap.KindChunkMap, Tags: nostr.Tags{{"x-hash", strings.Repeat("00", 32)}, {"chunk", "zz", "0"}}}, alice), nil},
	} {
		if h, ok := headStart(c.target, c.maps, all); ok {
			t.Errorf("%s: head start %+v", name, h)
		}
	}
}

// TestWatchHead: a node that shared a file puts the file event and its map
// in the page for /watch/<nevent> (either nevent) and preloads chunks 0 and
// 1; a node that never heard of it, or an unknown reference, gets the plain
// page; a relay whose reads need AUTH puts nothing in it.
func TestWatchHead(t *testing.T) {
	a, b := startPair(t)
	sh, data := shareRandom(t, a, 3, 300<<10, 128<<10)

	page := func(n *Node, ref string) string {
		t.Helper()
		res, err := http.Get(n.URL() + "/watch/" + ref)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("/watch/%s: %s", ref, res.Status)
		}
		return string(b)
	}
	c0, c1 := sha256.Sum256(data[:128<<10]), sha256.Sum256(data[128<<10:256<<10])
	for ref, want := range map[string][]string{sh.FileNevent: {sh.FileID, sh.MapID}, sh.Nevent: {sh.MapID}, sh.FileID: {sh.FileID, sh.MapID}} {
		p := page(a, ref)
		if !strings.Contains(p, `id="cairn-early"`) {
			t.Fatalf("/watch/%s on the sharing node has no head start", ref)
		}
		for _, id := range want {
			if !strings.Contains(p, `"id":"`+id+`"`) {
				t.Errorf("/watch/%s: event %s is not in the page", ref, id)
			}
		}
		for _, c := range [][32]byte{c0, c1} {
			if !strings.Contains(p, `<link rel="preload" href="/`+hex.EncodeToString(c[:])+`" as="fetch" crossorigin>`) {
				t.Errorf("/watch/%s: chunk %x is not preloaded", ref, c[:4])
			}
		}
	}
	if p := page(b, sh.FileNevent); strings.Contains(p, "cairn-early") || strings.Contains(p, `rel="preload" href="/`+sh.Root[:8]) {
		t.Errorf("a node that does not hold the file put a head start in the page")
	}
	if p := page(a, strings.Repeat("0", 64)); strings.Contains(p, "cairn-early") {
		t.Errorf("an unknown reference got a head start")
	}

	// Reads behind AUTH: the hook gives nothing.
	a.cfg.Relay.Auth = relay.AuthAll
	if _, ok := a.watchHead(t.Context(), sh.FileNevent); ok {
		t.Errorf("a relay whose reads need AUTH gave a head start")
	}
	a.cfg.Relay.Auth = relay.AuthOff
	if h, ok := a.watchHead(t.Context(), sh.FileNevent); !ok || len(h.Events) != 2 {
		t.Errorf("after AUTH was lifted: %v %+v", ok, h)
	}
	var _ web.HeadFunc = a.watchHead
}

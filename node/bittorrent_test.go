package node

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/bt"
	"github.com/cairn-nostr/cairn/media/chunkmap"
)

// TestShareIsATorrent: a share's kind 7001 and 1063 carry the same magnet
// (v1 infohash, xl = size, ws = the node's /<sha256>, xs = its .torrent);
// the node serves the .torrent and seeds it from its chunk store: a
// BitTorrent client given only the magnet and the node's BitTorrent port
// fetches identical bytes. After a restart the node seeds it again.
func TestShareIsATorrent(t *testing.T) {
	cfg := TestingConfig(t)
	a := startNode(t, cfg)
	data := make([]byte, 2<<20+999)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(t.TempDir(), "clip.bin")
	os.WriteFile(path, data, 0o600)
	var sh ShareResult
	post(t, a.URL()+"/api/share", ShareRequest{Path: path, ChunkSize: 256 << 10}, &sh)
	mg, err := chunkmap.ParseMagnet(sh.Magnet)
	if err != nil {
		t.Fatalf("share's magnet %q: %v", sh.Magnet, err)
	}
	if mg.Length != int64(len(data)) || len(mg.WebSeeds) != 1 || mg.WebSeeds[0] != sh.URL || mg.Source != a.URL()+"/bt/"+sh.SHA256+".torrent" {
		t.Fatalf("magnet %+v, share %+v", mg, sh)
	}
	ctx := context.Background()
	for _, id := range []string{sh.MapID, sh.FileID} {
		var evs []*nostr.Event
		err := a.Store().Query(ctx, nostr.Filter{IDs: []string{id}}, 1, func(raw []byte) error {
			ev := &nostr.Event{}
			evs = append(evs, ev)
			return json.Unmarshal(raw, ev)
		})
		if err != nil || len(evs) != 1 {
			t.Fatalf("event %s: %v", id, err)
		}
		var got string
		if evs[0].Kind == chunkmap.KindChunkMap {
			m, err := chunkmap.Parse(evs[0])
			if err != nil {
				t.Fatal(err)
			}
			got = m.Magnet
		} else {
			f, err := chunkmap.ParseFileMetadata(evs[0])
			if err != nil {
				t.Fatal(err)
			}
			got = f.Magnet
			if f.InfoHash != mg.InfoHashHex() {
				t.Fatalf("1063 i %s, magnet %s", f.InfoHash, mg.InfoHashHex())
			}
		}
		if got != sh.Magnet {
			t.Fatalf("kind %d magnet %q, want %q", evs[0].Kind, got, sh.Magnet)
		}
	}
	res, err := http.Get(mg.Source)
	if err != nil {
		t.Fatal(err)
	}
	mi, info, err := bt.LoadTorrent(res.Body)
	res.Body.Close()
	if err != nil || mi.HashInfoBytes().HexString() != mg.InfoHashHex() || info.Length != int64(len(data)) {
		t.Fatalf(".torrent: %v", err)
	}
	for _, bad := range []string{"/bt/" + strings.Repeat("0", 64) + ".torrent", "/bt/xyz.torrent", "/bt/" + strings.ToUpper(sh.SHA256) + ".torrent"} {
		if res, err := http.Get(a.URL() + bad); err != nil || res.StatusCode < 400 {
			t.Fatalf("GET %s: %v %v", bad, res.Status, err)
		}
	}

	fetch := func(n *Node) {
		t.Helper()
		st := n.Status().BitTorrent
		if st == nil || st.Seeding != 1 {
			t.Fatalf("status %+v", st)
		}
		c, err := bt.NewClient(bt.ClientConfig{Listen: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		spec, _ := bt.MagnetSpec("magnet:?xt=urn:btih:" + mg.InfoHashHex()) // peers only: no web seed, no xs
		out := filepath.Join(t.TempDir(), "out.bin")
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if _, err := c.Fetch(ctx, spec, out, bt.FetchOptions{Peers: []string{"127.0.0.1:" + strconv.Itoa(st.Port)}}); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(out)
		if !bytes.Equal(got, data) {
			t.Fatal("fetched bytes differ")
		}
		if up := n.Status().Transfer["bittorrent"].BytesUp; up < uint64(len(data)) {
			t.Fatalf("bittorrent bytes up %d", up)
		}
	}
	fetch(a)
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	b := startNode(t, cfg)
	fetch(b)
	res, _ = http.Get(b.URL() + "/bt/" + sh.SHA256 + ".torrent")
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || len(body) == 0 {
		t.Fatalf("after restart: %s", res.Status)
	}
}

// TestDownloadOverBitTorrent: B holds A's chunk map and file event but
// knows no cairn peer of it (no libp2p bootstrap, no relay of A's, no
// addressing record): the map's magnet makes the torrent one more peer,
// reached at the magnet's x.pe (A's BitTorrent client). The download
// completes, every chunk verified, all of it over BitTorrent.
func TestDownloadOverBitTorrent(t *testing.T) {
	a := startNode(t, TestingConfig(t))
	b := startNode(t, TestingConfig(t))
	data := make([]byte, 1<<20+4567)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(t.TempDir(), "f.bin")
	os.WriteFile(path, data, 0o600)
	var sh ShareResult
	post(t, a.URL()+"/api/share", ShareRequest{Path: path, ChunkSize: 128 << 10}, &sh)
	mg, err := chunkmap.ParseMagnet(sh.Magnet)
	if err != nil || len(mg.Peers) != 1 || mg.Peers[0] != "127.0.0.1:"+strconv.Itoa(a.Status().BitTorrent.Port) {
		t.Fatalf("magnet %+v: %v", mg, err)
	}
	ctx := context.Background()
	for _, id := range []string{sh.MapID, sh.FileID} {
		a.Store().Query(ctx, nostr.Filter{IDs: []string{id}}, 1, func(raw []byte) error {
			ev := &nostr.Event{}
			if err := json.Unmarshal(raw, ev); err != nil {
				return err
			}
			return b.Store().Save(ctx, ev)
		})
	}
	out := filepath.Join(t.TempDir(), "out.bin")
	waitDownload(t, b, sh.Root, out)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("downloaded bytes differ")
	}
	var st DownloadStatus
	get(t, b.URL()+"/api/downloads/"+sh.Root, &st)
	if st.Transports[bt.TransportName] != int64(len(data)) {
		t.Fatalf("transports %v, want all %d bytes over bittorrent", st.Transports, len(data))
	}
}

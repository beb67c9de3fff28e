package node

import (
	"bytes"
	"context"
	"crypto/sha256"
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
	path, data := testFile(t, "clip.bin", 2<<20+999, 3)
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
	path, data := testFile(t, "f.bin", 1<<20+4567, 5)
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

// TestDownloadOverBitTorrentRefusesOtherBytes: a chunk map (signed by
// someone else) whose magnet names the torrent of another file of the same
// size: the torrent's bytes fail the chunks' SHA-256, the torrent is
// banned from the download and dropped, and no chunk is stored.
func TestDownloadOverBitTorrentRefusesOtherBytes(t *testing.T) {
	a := startNode(t, TestingConfig(t))
	b := startNode(t, TestingConfig(t))
	const size, cs = 300_000, 128 << 10
	path, _ := testFile(t, "x.bin", size, 7)
	var sh ShareResult
	post(t, a.URL()+"/api/share", ShareRequest{Path: path, ChunkSize: cs}, &sh)

	// Another file of the same size, its map carrying X's magnet.
	var chunks [][32]byte
	for off := 0; off < size; off += cs {
		other := make([]byte, min(cs, size-off))
		other[0] = byte(off)
		chunks = append(chunks, sha256.Sum256(other))
	}
	m := chunkmap.New(chunks, size)
	m.ChunkSize = cs
	m.Magnet = sh.Magnet
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	ev := m.Event()
	ev.CreatedAt = nostr.Now()
	if err := ev.Sign(nostr.GeneratePrivateKey()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Store().Save(ctx, &ev); err != nil {
		t.Fatal(err)
	}
	var st DownloadStatus
	post(t, b.URL()+"/api/get", GetRequest{Ref: ev.ID}, &st)
	waitForIn(t, 30*time.Second, "the torrent banned from the download", func() bool {
		for _, dl := range b.Peer().Downloads() {
			if dl.File.Map.Root == m.Root && dl.Progress().Banned > 0 {
				return true
			}
		}
		return false
	})
	for i, h := range chunks {
		if b.Blobs().Has(h) {
			t.Fatalf("chunk %d stored", i)
		}
	}
	for _, dl := range b.Peer().Downloads() {
		if p := dl.Progress(); dl.File.Map.Root == m.Root && (p.ChunksDone != 0 || p.Transports[bt.TransportName] != 0) {
			t.Fatalf("progress %+v", p)
		}
	}
}

func waitForIn(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(d)
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("no %s within %v", what, d)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// testFile writes size pseudo-random bytes (from seed) to a file named
// name in a temporary directory.
func testFile(t *testing.T, name string, size int, seed uint64) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(seed, seed+1))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, data
}

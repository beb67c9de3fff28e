package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/cairn-nostr/cairn/bt"
	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/peer"
	"github.com/cairn-nostr/cairn/swarm"
)

// BTConfig is the node's BitTorrent side: every share is also a v1 torrent
// (its magnet in the kind 7001 and 1063 events, its web seed the node's
// /<sha256>), seeded by an anacrolix/torrent client from the blob store.
type BTConfig struct {
	// Enabled runs the client (default on). Off, shares still carry a
	// magnet whose web seed is this node.
	Enabled bool
	// Listen is the client's TCP host:port for peers.
	Listen string
	// DHT runs a Mainline DHT node (with the client on): the owner's feed
	// is published there and `cairn follow` reads feeds through it.
	DHT bool
	// DHTListen is its UDP host:port.
	DHTListen string
	// DHTBootstrap are DHT nodes (host:port) to join through, besides the
	// public routers when public bootstrap is on (a private DHT: only these).
	DHTBootstrap []string
	// Bridge archives every event the relay stores, of any author, into
	// bundles seeded as torrents and listed by this node's archive pointer
	// (needs the client and the DHT node).
	Bridge bool
	// BridgeWindow is how often the bridge archives what was stored since
	// (0: BridgeWindow); BridgePage how many bundles an archive page lists
	// (0: bt.ArchivePageBundles).
	BridgeWindow time.Duration
	BridgePage   int
}

// DefaultDHTListen is the Mainline DHT node's UDP address.
//
// Not 6881: with public bootstrap on, the BitTorrent client runs its own
// DHT on its port's UDP side.
const DefaultDHTListen = "0.0.0.0:6882"

// DefaultBTListen is BitTorrent's customary port on every interface.
const DefaultBTListen = "0.0.0.0:6881"

// TorrentsDir is where the .torrent of each share is kept, named by the
// file's sha256.
func TorrentsDir(dataDir string) string { return filepath.Join(dataDir, "torrents") }

// startBT starts the client and seeds the torrents of earlier shares.
func (n *Node) startBT() error {
	if n.cfg.BT.Bridge && (!n.cfg.BT.Enabled || !n.cfg.BT.DHT) {
		return fmt.Errorf("--bt-bridge needs the BitTorrent client and its DHT node: drop --bt=false and --bt-dht=false, or --bt-bridge")
	}
	if !n.cfg.BT.Enabled {
		return nil
	}
	cc := bt.ClientConfig{
		Listen: n.cfg.BT.Listen,
		Public: n.cfg.P2P.PublicBootstrap,
		Logger: n.log.With("part", "bittorrent"),
	}
	c, err := bt.NewClient(cc)
	if err != nil && n.cfg.BT.Listen == DefaultBTListen && errors.Is(err, syscall.EADDRINUSE) {
		// The default port is taken (another node or BitTorrent client on
		// this machine): any free port serves as well, the magnets name it.
		host, _, _ := net.SplitHostPort(DefaultBTListen)
		cc.Listen = net.JoinHostPort(host, "0")
		n.log.Warn("the default BitTorrent port is taken; using a free one (set --bt-listen to choose)", "default", DefaultBTListen)
		c, err = bt.NewClient(cc)
	}
	if err != nil {
		return err
	}
	n.bt = c
	if err := n.startBTDHT(); err != nil {
		return err
	}
	os.RemoveAll(btCacheDir(n.cfg.DataDir)) // pieces left by a run that did not stop
	ents, _ := os.ReadDir(TorrentsDir(n.cfg.DataDir))
	for _, e := range ents {
		sha, ok := strings.CutSuffix(e.Name(), ".torrent")
		if !ok || len(sha) != 64 {
			continue
		}
		mi, err := loadTorrentFile(filepath.Join(TorrentsDir(n.cfg.DataDir), e.Name()))
		if err != nil {
			n.log.Warn("a stored torrent does not load; not seeded", "file", e.Name(), "err", err)
			continue
		}
		if f := n.fileBySHA256(n.ctx, sha); f != nil {
			if err := n.seed(mi, f); err != nil {
				n.log.Warn("not seeding a stored torrent", "sha256", sha, "err", err)
			}
		}
	}
	return nil
}

func loadTorrentFile(path string) (*metainfo.MetaInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	mi, _, err := bt.LoadTorrent(f)
	return mi, err
}

// seed seeds mi from the chunks of f, read in place from the blob store:
// no second copy of the bytes. Every chunk must be held.
func (n *Node) seed(mi *metainfo.MetaInfo, f *peer.File) error {
	if n.bt == nil {
		return nil
	}
	info, err := bt.SingleFile(mi)
	if err != nil {
		return err
	}
	if info.Length != f.Map.Size {
		return fmt.Errorf("the torrent has %d bytes, the chunk map %d", info.Length, f.Map.Size)
	}
	for i, h := range f.Map.Chunks {
		if !n.blobs.Has(h) {
			return fmt.Errorf("chunk %d of %d is not held", i, len(f.Map.Chunks))
		}
	}
	rd, err := swarm.NewReader(n.ctx, f.Map, n.blobs, nil)
	if err != nil {
		return err
	}
	_, err = n.bt.Seed(mi, rd)
	return err
}

// hashAndTorrent reads path once for its sha256 and its v1 torrent, the
// file named name in it (no web seed yet: the web seed's URL names the
// sha256).
func hashAndTorrent(ctx context.Context, path, name string) ([32]byte, *metainfo.MetaInfo, error) {
	var sum [32]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return sum, nil, err
	}
	h := sha256.New()
	r := io.TeeReader(ctxReader{ctx, f}, h)
	var mi *metainfo.MetaInfo
	if st.Size() == 0 {
		_, err = io.Copy(io.Discard, r)
	} else {
		mi, err = bt.MakeTorrent(r, st.Size(), name)
	}
	if err != nil {
		return sum, nil, fmt.Errorf("hashing %s: %w", path, err)
	}
	h.Sum(sum[:0])
	return sum, mi, nil
}

// btPeerAddrs is the x.pe of this node's magnets: the host of its public
// HTTP URL (the web seed's) and the client's port; none when the client
// is off.
func (n *Node) btPeerAddrs() []string {
	if n.bt == nil {
		return nil
	}
	u, err := url.Parse(n.publicHTTPURL())
	if err != nil || u.Hostname() == "" {
		return nil
	}
	return []string{net.JoinHostPort(u.Hostname(), strconv.Itoa(n.bt.Port()))}
}

// btCacheDir holds the pieces of torrents read as a download's transport,
// for the node's run (removed at stop, and at start after a crash).
func btCacheDir(dataDir string) string { return filepath.Join(dataDir, "bt-cache") }

// btFallbackAfter is how long a download runs with no cairn peer before
// the torrent of its map joins it.
const btFallbackAfter = 4 * time.Second

// btProvider is a download's BitTorrent fallback: when the chunk map of
// root carries a magnet, the client runs, and the download has found no
// cairn peer for btFallbackAfter, the torrent itself becomes one more peer
// (its pieces checked by the engine, then each chunk against its SHA-256
// by the download). Once added, a torrent stays a peer of the root's
// downloads for the node's run.
func (n *Node) btProvider(ctx context.Context, root [32]byte) []peer.Contact {
	if n.bt == nil {
		return nil
	}
	n.btMu.Lock()
	defer n.btMu.Unlock()
	ch := n.btChunks[root]
	if ch == nil {
		var dl *peer.Download
		for _, d := range n.peer.Downloads() {
			if d.File.Map.Root == root {
				dl = d
			}
		}
		if dl == nil || dl.File.Map.Magnet == "" {
			return nil
		}
		if p := dl.Progress(); p.Peers > 0 || p.Elapsed < btFallbackAfter {
			return nil
		}
		f := dl.File
		spans, err := chunkSpans(f.Map)
		if err != nil {
			return nil
		}
		mg, err := chunkmap.ParseMagnet(f.Map.Magnet)
		if err != nil {
			return nil
		}
		peers := mg.Peers
		if ch, err = n.bt.Chunks(ctx, f.Map.Magnet, btCacheDir(n.cfg.DataDir), f.Map.Size, spans, peers); err != nil {
			n.log.Debug("bittorrent transport", "root", hex.EncodeToString(root[:8]), "err", err)
			return nil
		}
		if n.btChunks == nil {
			n.btChunks = map[[32]byte]*bt.Chunks{}
		}
		n.btChunks[root] = ch
	}
	return []peer.Contact{{Transport: ch, ID: ch.PeerID()}}
}

// chunkSpans places a map's chunks in the file: from its chunk-info, or
// every chunk but the last of chunk-size bytes.
func chunkSpans(m *chunkmap.Map) ([]bt.Span, error) {
	spans := make([]bt.Span, len(m.Chunks))
	var off int64
	for i, h := range m.Chunks {
		l := m.ChunkSize
		if m.ChunkInfo != nil {
			off, l = m.ChunkInfo[i].Offset, m.ChunkInfo[i].Length
		} else if i == len(m.Chunks)-1 {
			l = m.Size - off
		}
		if l <= 0 || off+l > m.Size {
			return nil, fmt.Errorf("chunk %d does not fit the file", i)
		}
		spans[i] = bt.Span{Hash: h, Offset: off, Length: l}
		off += l
	}
	return spans, nil
}

// torrentURL is where the node serves the .torrent of the file sha.
func (n *Node) torrentURL(sha string) string {
	return n.publicHTTPURL() + "/bt/" + sha + ".torrent"
}

// saveTorrent writes mi as DATA_DIR/torrents/<sha>.torrent, atomically.
func (n *Node) saveTorrent(sha string, mi *metainfo.MetaInfo) error {
	dir := TorrentsDir(n.cfg.DataDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var b bytes.Buffer
	if err := mi.Write(&b); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".torrent-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, sha+".torrent"))
}

// serveTorrent answers GET /bt/<sha256>.torrent with the .torrent of a
// file this node shared (the xs of its magnet).
func (n *Node) serveTorrent(w http.ResponseWriter, r *http.Request) {
	sha, ok := strings.CutSuffix(r.PathValue("name"), ".torrent")
	if _, err := hex.DecodeString(sha); !ok || err != nil || len(sha) != 64 || strings.ToLower(sha) != sha {
		http.Error(w, "want /bt/<sha256>.torrent, the sha256 in 64 lowercase hex digits", http.StatusBadRequest)
		return
	}
	b, err := os.ReadFile(filepath.Join(TorrentsDir(n.cfg.DataDir), sha+".torrent"))
	if err != nil {
		http.Error(w, "not found: this node made no torrent of the file with sha256 "+sha+" (it makes one for each file it shares)", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/x-bittorrent")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Write(b)
}

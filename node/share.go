package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"

	"github.com/cairn-nostr/cairn/bt"
	"github.com/cairn-nostr/cairn/media"
	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/store"
	"github.com/cairn-nostr/cairn/swarm"
)

// ShareRequest is the body of POST /api/share.
type ShareRequest struct {
	Path        string `json:"path"` // absolute path of a file on the node's machine
	Title       string `json:"title"`
	Description string `json:"description"`
	// ChunkSize is the target chunk size; 0 means 5 MiB.
	ChunkSize int64 `json:"chunk_size"`
}

// ShareResult is the answer of POST /api/share.
type ShareResult struct {
	Root       string `json:"root"`
	Nevent     string `json:"nevent"` // the kind 7001 map, with this relay as hint
	MapID      string `json:"map_id"`
	FileNevent string `json:"file_nevent"` // the kind 1063 event
	FileID     string `json:"file_id"`
	SHA256     string `json:"sha256"`
	URL        string `json:"url"`
	MIME       string `json:"mime"`
	Chunks     int    `json:"chunks"`
	Size       int64  `json:"size"`
	Path       string `json:"path"` // the file that was cut (a remuxed copy for a progressive MP4)
	// Magnet is the file's BitTorrent v1 magnet (empty for an empty file).
	Magnet string `json:"magnet,omitempty"`
}

func (n *Node) serveShare(w http.ResponseWriter, r *http.Request) {
	var req ShareRequest
	if !readJSON(w, r, &req) {
		return
	}
	res, err := n.Share(r.Context(), req)
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// Share cuts a local file into chunks, pins them, publishes its chunk map
// (kind 7001, this node as gatekeeper) and file event (kind 1063), and
// provides its root on the DHT.
func (n *Node) Share(ctx context.Context, req ShareRequest) (*ShareResult, error) {
	if !filepath.IsAbs(req.Path) {
		return nil, fmt.Errorf("path %q must be absolute (the node resolves it on its own machine)", req.Path)
	}
	c := media.Chunker{TargetSize: req.ChunkSize}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(MediaDir(n.cfg.DataDir), 0o700); err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(filepath.Base(req.Path), filepath.Ext(req.Path))
	remuxPath := filepath.Join(MediaDir(n.cfg.DataDir), base+".frag.mp4")
	plan, sharedPath, err := swarm.Share(ctx, req.Path, n.blobs, c, remuxPath)
	if err != nil {
		return nil, err
	}
	sum, mi, err := hashAndTorrent(ctx, sharedPath, filepath.Base(sharedPath))
	if err != nil {
		return nil, err
	}
	shaHex := hex.EncodeToString(sum[:])
	fileURL := n.publicHTTPURL() + "/" + shaHex + filepath.Ext(sharedPath)
	m := plan.Map()
	m.Title, m.Description = req.Title, req.Description
	if m.MIME == "" {
		m.MIME = mimeOf(req.Path)
	}
	mapEv, fileEv, magnet, err := n.publishFile(ctx, m, fileURL, sum, mi)
	if err != nil {
		return nil, err
	}
	hint := []string{n.publicRelayURL()}
	nevent, _ := nip19.EncodeEvent(mapEv.ID, hint, n.key.Public)
	fileNevent, _ := nip19.EncodeEvent(fileEv.ID, hint, n.key.Public)
	n.log.Info("shared", "path", sharedPath, "root", hex.EncodeToString(m.Root[:]), "chunks", len(m.Chunks), "size", m.Size)
	return &ShareResult{
		Root:       hex.EncodeToString(m.Root[:]),
		Nevent:     nevent,
		MapID:      mapEv.ID,
		FileNevent: fileNevent,
		FileID:     fileEv.ID,
		SHA256:     shaHex,
		URL:        fileURL,
		MIME:       m.MIME,
		Chunks:     len(m.Chunks),
		Size:       m.Size,
		Path:       sharedPath,
		Magnet:     magnet,
	}, nil
}

// publishFile signs and publishes the chunk map m (this node its
// gatekeeper) and the kind 1063 of the file it cuts, served at fileURL
// with sha256 sum, through the core (which announces the root, held in
// full), and provides the root on the DHT. With mi, the file's v1 torrent
// (nil for an empty file), both events carry its magnet (web seed
// fileURL), the torrent is kept and the BitTorrent client seeds it. It is
// the one publishing step of every share: `cairn share` and Blossom
// uploads. The extra tags are added to both events (a Blossom blob's
// streaming rendition and the blob name each other so).
func (n *Node) publishFile(ctx context.Context, m *chunkmap.Map, fileURL string, sum [32]byte, mi *metainfo.MetaInfo, extra ...nostr.Tag) (mapEv, fileEv nostr.Event, magnet string, err error) {
	shaHex := hex.EncodeToString(sum[:])
	if mi != nil {
		mi.UrlList = []string{fileURL}
		if magnet, err = bt.Magnet(mi, n.torrentURL(shaHex), n.btPeerAddrs()...); err != nil {
			return mapEv, fileEv, "", err
		}
		if err := n.saveTorrent(shaHex, mi); err != nil {
			return mapEv, fileEv, "", fmt.Errorf("saving the torrent: %w", err)
		}
	}
	m.Gatekeepers = []string{n.key.Public}
	m.Magnet = magnet
	if err := m.Validate(); err != nil {
		return mapEv, fileEv, "", fmt.Errorf("chunk map: %w", err)
	}
	mapEv = m.Event()
	mapEv.Tags = append(mapEv.Tags, extra...)
	if err := n.publishNew(ctx, &mapEv); err != nil {
		return mapEv, fileEv, "", err
	}
	fm := m.FileMetadata(fileURL, sum)
	fm.MIME = baseMIME(fm.MIME)
	fileEv = fm.Event()
	fileEv.Tags = append(fileEv.Tags, extra...)
	if err := n.publishNew(ctx, &fileEv); err != nil {
		return mapEv, fileEv, "", err
	}
	n.provide(m.Root)
	if mi != nil {
		if f := n.fileBySHA256(ctx, shaHex); f == nil {
			n.log.Warn("not seeding the share's torrent: its file event is not found", "sha256", shaHex)
		} else if err := n.seed(mi, f); err != nil {
			n.log.Warn("not seeding the share's torrent", "sha256", shaHex, "err", err)
		}
	}
	return mapEv, fileEv, magnet, nil
}

// publishNew signs and publishes ev created now. The same file shared
// again within the second its events were deleted (NIP-09) would get the
// very ids the store now refuses; it is then dated a second later.
func (n *Node) publishNew(ctx context.Context, ev *nostr.Event) error {
	ev.CreatedAt = nostr.Now()
	for try := 0; ; try++ {
		err := n.peer.PublishOwn(ctx, ev)
		if !errors.Is(err, store.ErrDeleted) || try == 2 {
			return err
		}
		ev.CreatedAt++
	}
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// mimeOf types a file by its extension.
func mimeOf(path string) string {
	if t := mime.TypeByExtension(filepath.Ext(path)); t != "" {
		return baseMIME(t)
	}
	return "application/octet-stream"
}

// baseMIME drops parameters (codecs, charset): NIP-94's m is a bare type.
func baseMIME(t string) string {
	if mt, _, err := mime.ParseMediaType(t); err == nil {
		return mt
	}
	return t
}

// provide announces on the DHT, in the background, that this node has root.
func (n *Node) provide(root [32]byte) {
	if n.host == nil || n.host.DHT() == nil {
		return
	}
	n.spawn(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := n.host.Provide(ctx, root); err != nil && ctx.Err() == nil {
			n.log.Debug("DHT provide", "root", hex.EncodeToString(root[:8]), "err", err)
		}
	})
}

// provideInterval is how often the roots held in full are provided again
// (provider records expire after 48 h in Kademlia).
const provideInterval = 12 * time.Hour

// provideLoop provides every root this node holds in full, at start (once
// the bootstrap had a moment) and every provideInterval.
func (n *Node) provideLoop() error {
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return nil
		case <-t.C:
		}
		for _, f := range n.peer.SeededFiles(n.ctx) {
			n.provide(f.Map.Root)
		}
		t.Reset(provideInterval)
	}
}

package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairn-nostr/cairn/p2p"
	"github.com/cairn-nostr/cairn/swarm"
)

// download is one swarm download the node runs for /api/get or /api/pin.
type download struct {
	it *item
	d  *swarm.Download

	mu     sync.Mutex
	state  string // downloading, assembling, complete, failed
	err    string
	output string
}

// DownloadStatus is the JSON of a download in /api/downloads.
type DownloadStatus struct {
	Root          string           `json:"root"`
	SHA256        string           `json:"sha256,omitempty"`
	Title         string           `json:"title,omitempty"`
	MIME          string           `json:"mime,omitempty"`
	State         string           `json:"state"` // downloading, assembling, complete, failed
	Error         string           `json:"error,omitempty"`
	Output        string           `json:"output,omitempty"`
	Size          int64            `json:"size"`
	BytesDone     int64            `json:"bytes_done"`
	Received      int64            `json:"received"`
	Chunks        int              `json:"chunks"`
	ChunksDone    int              `json:"chunks_done"`
	ChunksResumed int              `json:"chunks_resumed"`
	Peers         int              `json:"peers"`
	Active        int              `json:"active"`
	Rate          float64          `json:"rate"` // bytes per second
	ETASeconds    float64          `json:"eta_seconds"`
	Elapsed       float64          `json:"elapsed_seconds"`
	Transports    map[string]int64 `json:"transports,omitempty"`
}

func (dl *download) status() DownloadStatus {
	p := dl.d.Progress()
	m := dl.it.m
	dl.mu.Lock()
	defer dl.mu.Unlock()
	return DownloadStatus{
		Root:          hex.EncodeToString(m.Root[:]),
		SHA256:        dl.it.sha256,
		Title:         m.Title,
		MIME:          m.MIME,
		State:         dl.state,
		Error:         dl.err,
		Output:        dl.output,
		Size:          m.Size,
		BytesDone:     p.BytesDone,
		Received:      p.Received,
		Chunks:        p.Chunks,
		ChunksDone:    p.ChunksDone,
		ChunksResumed: p.ChunksResumed,
		Peers:         p.Peers,
		Active:        p.Active,
		Rate:          p.Rate,
		ETASeconds:    p.ETA.Seconds(),
		Elapsed:       p.Elapsed.Seconds(),
		Transports:    p.Transports,
	}
}

// GetRequest is the body of POST /api/get.
type GetRequest struct {
	Ref string `json:"ref"`
	// Output, when set, is an absolute path the node writes the file to
	// once every chunk is stored.
	Output string `json:"output"`
}

func (n *Node) serveGet(w http.ResponseWriter, r *http.Request) {
	var req GetRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.Output != "" && !filepath.IsAbs(req.Output) {
		apiError(w, http.StatusBadRequest, fmt.Sprintf("output %q must be an absolute path", req.Output))
		return
	}
	it := n.resolveFor(w, r, req.Ref)
	if it == nil {
		return
	}
	dl, err := n.startDownload(it, req.Output)
	if err != nil {
		apiError(w, downloadErrorCode(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, dl.status())
}

// startDownload starts (or joins) the download of it.
func (n *Node) startDownload(it *item, output string) (*download, error) {
	s := n.media
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("the node is stopping")
	}
	if dl := s.downloads[it.m.Root]; dl != nil {
		dl.mu.Lock()
		running := dl.state == "downloading"
		if running && output != "" {
			dl.output = output
		}
		dl.mu.Unlock()
		if running {
			return dl, nil
		}
	}
	// A file larger than the room the quota leaves would evict its own
	// chunks while they arrive.
	if bs := n.blobs.Stats(); bs.Quota > 0 && it.m.Size > bs.Quota-bs.PinnedBytes {
		return nil, fmt.Errorf("%w: the file is %d bytes; the blob quota (%d bytes, %d of them pinned) cannot hold it: raise --blob-quota or unpin files", errTooLarge, it.m.Size, bs.Quota, bs.PinnedBytes)
	}
	d, err := swarm.NewDownload(swarm.Config{Map: it.m, Blobs: n.blobs, Logger: n.log.With("part", "swarm")})
	if err != nil {
		return nil, err
	}
	dl := &download{it: it, d: d, state: "downloading", output: output}
	s.downloads[it.m.Root] = dl
	n.wg.Add(1)
	go n.runDownload(dl)
	return dl, nil
}

func downloadErrorCode(err error) int {
	if errors.Is(err, errTooLarge) {
		return http.StatusInsufficientStorage
	}
	return http.StatusInternalServerError
}

// runDownload finds peers for dl until it ends, then provides the root and
// writes the output file.
func (n *Node) runDownload(dl *download) {
	defer n.wg.Done()
	m := dl.it.m
	// ctx ends when the node stops; peers are looked for until the
	// download ends.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	findCtx, stopFinding := context.WithCancel(ctx)
	defer stopFinding()
	go func() {
		select {
		case <-dl.d.Done():
			stopFinding()
		case <-n.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.findPeers(findCtx, dl.d, dl.it)
	}()
	err := dl.d.Wait(ctx)
	if err == nil {
		n.provide(m.Root)
		n.announceMap(m)
		dl.mu.Lock()
		dl.state = "assembling"
		out := dl.output
		dl.mu.Unlock()
		if out != "" {
			err = n.assemble(ctx, dl.it, out)
		}
	}
	dl.mu.Lock()
	defer dl.mu.Unlock()
	if err != nil {
		dl.state, dl.err = "failed", err.Error()
		if errors.Is(err, swarm.ErrClosed) || ctx.Err() != nil {
			dl.err = "stopped before it completed; get it again to resume"
		}
		return
	}
	dl.state = "complete"
}

// findPeers adds to d the peers that may have it: over libp2p the
// gatekeepers' cairn-p2p records, the seeders that announced its root (kind
// 20002) and the DHT's providers; over WebRTC the map's author, gatekeepers
// and announcers that have no cairn-p2p record (browsers). It looks again
// every few seconds until ctx ends.
func (n *Node) findPeers(ctx context.Context, d *swarm.Download, it *item) {
	m := it.m
	tr := n.host.SwarmTransport()
	rtcAdded := map[string]time.Time{}
	wait := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = 5 * time.Second
		// The gatekeepers' records first: they are local and quick.
		n.addPeers(ctx, d, tr, n.gatekeeperPeers(ctx, m.Gatekeepers))
		// Then the seeders heard announcing the root (kind 20002).
		n.addPeers(ctx, d, tr, n.announcerPeers(ctx, m.Root))
		// Browsers, over WebRTC.
		n.addWebRTCPeers(ctx, d, it, rtcAdded)
		if n.host.DHT() != nil {
			fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			provs, err := n.host.FindProviders(fctx, m.Root, 20)
			cancel()
			if err != nil {
				n.log.Debug("DHT find providers", "err", err)
			}
			n.addPeers(ctx, d, tr, provs)
		}
	}
}

func (n *Node) addPeers(ctx context.Context, d *swarm.Download, tr swarm.Transport, peers []peer.AddrInfo) {
	for _, ai := range peers {
		if ai.ID == n.host.ID() || n.host.Banned(ai.ID) {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := n.host.Connect(cctx, ai)
		cancel()
		if err != nil {
			n.log.Debug("seeder unreachable", "peer", ai.ID, "err", err)
			continue
		}
		d.AddPeer(p2p.SwarmPeer(ai.ID), tr, swarm.HasAll)
	}
}

// assemble writes the file to out through a temporary file, checking its
// sha256 when a kind 1063 gave one.
func (n *Node) assemble(ctx context.Context, it *item, out string) error {
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.part")
	if err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	err = swarm.Assemble(ctx, io.MultiWriter(tmp, h), it.m, n.blobs)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if it.sha256 != "" {
		if got := hex.EncodeToString(h.Sum(nil)); got != it.sha256 {
			return fmt.Errorf("the assembled file's sha256 is %s, its file event says %s", got, it.sha256)
		}
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	return nil
}

func (n *Node) serveDownloads(w http.ResponseWriter, _ *http.Request) {
	s := n.media
	s.mu.Lock()
	dls := make([]*download, 0, len(s.downloads))
	for _, d := range s.downloads {
		dls = append(dls, d)
	}
	s.mu.Unlock()
	out := make([]DownloadStatus, 0, len(dls))
	for _, d := range dls {
		out = append(out, d.status())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Root < out[j].Root })
	writeJSON(w, http.StatusOK, out)
}

func (n *Node) serveDownload(w http.ResponseWriter, r *http.Request) {
	s := r.PathValue("root")
	if !isHex64(s) {
		apiError(w, http.StatusBadRequest, "want /api/downloads/<root, 64 lowercase hex characters>")
		return
	}
	var root [32]byte
	hex.Decode(root[:], []byte(s))
	n.media.mu.Lock()
	dl := n.media.downloads[root]
	n.media.mu.Unlock()
	if dl == nil {
		apiError(w, http.StatusNotFound, "no download of this root in this run of the node; start one with POST /api/get")
		return
	}
	writeJSON(w, http.StatusOK, dl.status())
}

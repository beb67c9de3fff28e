package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"

	"github.com/cairn-nostr/cairn/media"
	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/swarm"
)

// PinUser is the pin reason of `cairn pin`.
const PinUser = "user"

// errTooLarge: a file does not fit in the blob quota.
var errTooLarge = errors.New("too large")

// mediaState is the node's downloads, by root.
type mediaState struct {
	mu        sync.Mutex
	downloads map[[32]byte]*download
	closed    bool
	// bySHA caches the items GET /<sha256> found, so that the Range
	// requests of a player do not each scan the stored maps.
	bySHA map[string]*item
}

// maxCachedItems bounds mediaState.bySHA; it is emptied when full.
const maxCachedItems = 1024

func newMediaState() *mediaState {
	return &mediaState{downloads: make(map[[32]byte]*download), bySHA: make(map[string]*item)}
}

// itemBySHA256 is localBySHA256 through the cache.
func (n *Node) itemBySHA256(ctx context.Context, sha string) *item {
	s := n.media
	s.mu.Lock()
	it := s.bySHA[sha]
	s.mu.Unlock()
	if it != nil {
		return it
	}
	if it = n.localBySHA256(ctx, sha); it == nil {
		return nil
	}
	s.mu.Lock()
	if len(s.bySHA) >= maxCachedItems {
		clear(s.bySHA)
	}
	s.bySHA[sha] = it
	s.mu.Unlock()
	return it
}

func (s *mediaState) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.downloads)
}

// closeAll stops every download (their chunks stay: a later get resumes).
func (s *mediaState) closeAll() {
	s.mu.Lock()
	s.closed = true
	ds := make([]*download, 0, len(s.downloads))
	for _, d := range s.downloads {
		ds = append(ds, d)
	}
	s.mu.Unlock()
	for _, d := range ds {
		d.d.Close()
	}
}

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

func (n *Node) routeMedia(mux *http.ServeMux, web http.Handler) {
	mux.HandleFunc("POST /api/share", localOnly(n.serveShare))
	mux.HandleFunc("POST /api/get", localOnly(n.serveGet))
	mux.HandleFunc("POST /api/resolve", localOnly(n.serveResolve))
	mux.HandleFunc("GET /api/downloads", localOnly(n.serveDownloads))
	mux.HandleFunc("GET /api/downloads/{root}", localOnly(n.serveDownload))
	mux.HandleFunc("GET /api/media", localOnly(n.serveMediaList))
	mux.HandleFunc("POST /api/pin", localOnly(func(w http.ResponseWriter, r *http.Request) { n.servePin(w, r, true) }))
	mux.HandleFunc("POST /api/unpin", localOnly(func(w http.ResponseWriter, r *http.Request) { n.servePin(w, r, false) }))
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && fileRoute.MatchString(r.URL.Path) {
			n.serveFile(w, r)
			return
		}
		web.ServeHTTP(w, r)
	}))
}

// localOnly refuses clients not on this machine: the media API reads and
// writes files at the paths it is given, so it is for the node's own user
// even when the node listens on a public address. (Behind a reverse proxy
// on the same machine every client looks local: do not proxy /api/.)
func localOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			apiError(w, http.StatusForbidden, "the media API answers only clients on the node's own machine (loopback); run cairn there")
			return
		}
		h(w, r)
	}
}

// fileRoute is /<sha256>, optionally with an extension (BUD-01).
var fileRoute = regexp.MustCompile(`^/[0-9a-f]{64}(\.[A-Za-z0-9]{1,10})?$`)

// apiError writes {"error": msg} with status code.
func apiError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func readJSON(w http.ResponseWriter, r *http.Request, into any) bool {
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(into); err != nil {
		apiError(w, http.StatusBadRequest, "request body is not the expected JSON: "+err.Error())
		return false
	}
	return true
}

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
	sum, err := fileSHA256(ctx, sharedPath)
	if err != nil {
		return nil, err
	}
	m := plan.Map()
	m.Title, m.Description = req.Title, req.Description
	if m.MIME == "" {
		m.MIME = mimeOf(req.Path)
	}
	m.Gatekeepers = []string{n.key.Public}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("chunk map: %w", err)
	}
	mapEv := m.Event()
	mapEv.CreatedAt = nostr.Now()
	if err := n.publish(ctx, &mapEv); err != nil {
		return nil, err
	}
	shaHex := hex.EncodeToString(sum[:])
	fileURL := n.publicHTTPURL() + "/" + shaHex + filepath.Ext(sharedPath)
	fm := m.FileMetadata(fileURL, sum)
	fm.MIME = baseMIME(fm.MIME)
	fileEv := fm.Event()
	fileEv.CreatedAt = nostr.Now()
	if err := n.publish(ctx, &fileEv); err != nil {
		return nil, err
	}
	n.provide(m.Root)
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
	}, nil
}

func fileSHA256(ctx context.Context, path string) ([32]byte, error) {
	var sum [32]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, f}); err != nil {
		return sum, fmt.Errorf("hashing %s: %w", path, err)
	}
	h.Sum(sum[:0])
	return sum, nil
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
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		go func() {
			select {
			case <-n.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		if err := n.host.Provide(ctx, root); err != nil {
			n.log.Debug("DHT provide", "root", hex.EncodeToString(root[:8]), "err", err)
		}
	}()
}

// provideInterval is how often the roots held in full are provided again
// (provider records expire after 48 h in Kademlia).
const provideInterval = 12 * time.Hour

// provideLoop provides every root this node holds in full, at start (once
// the bootstrap had a moment) and every provideInterval.
func (n *Node) provideLoop() {
	defer n.wg.Done()
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		for _, e := range n.mediaList(context.Background()) {
			if e.ChunksHeld == e.Chunks {
				var root [32]byte
				hex.Decode(root[:], []byte(e.Root))
				n.provide(root)
			}
		}
		t.Reset(provideInterval)
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

// resolveFor resolves ref for an API request, answering the error itself
// (404 for ErrUnknown) and returning nil when it fails.
func (n *Node) resolveFor(w http.ResponseWriter, r *http.Request, ref string) *item {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	it, err := n.resolve(ctx, ref)
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, ErrUnknown) {
			code = http.StatusNotFound
		}
		apiError(w, code, err.Error())
		return nil
	}
	return it
}

// serveResolve resolves a reference and stores its events without fetching
// any chunk, and says where the node serves the file: for streaming it with
// Range requests.
func (n *Node) serveResolve(w http.ResponseWriter, r *http.Request) {
	var req GetRequest
	if !readJSON(w, r, &req) {
		return
	}
	it := n.resolveFor(w, r, req.Ref)
	if it == nil {
		return
	}
	e := n.entry(it)
	if it.sha256 != "" {
		e.URL = n.URL() + "/" + it.sha256
	}
	writeJSON(w, http.StatusOK, e)
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
		n.findPeers(findCtx, dl.d, m)
	}()
	err := dl.d.Wait(ctx)
	if err == nil {
		n.provide(m.Root)
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

// findPeers adds to d the peers that may have m: the gatekeepers'
// cairn-p2p records and the DHT's providers, looking again every few
// seconds until ctx ends.
func (n *Node) findPeers(ctx context.Context, d *swarm.Download, m *chunkmap.Map) {
	tr := swarm.NewLibp2p(n.host)
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
		d.AddPeer(swarm.Libp2pPeer(ai.ID), tr, swarm.HasAll)
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

// MediaEntry is one line of GET /api/media.
type MediaEntry struct {
	Root       string `json:"root"`
	SHA256     string `json:"sha256,omitempty"`
	Title      string `json:"title,omitempty"`
	MIME       string `json:"mime,omitempty"`
	Size       int64  `json:"size"`
	Chunks     int    `json:"chunks"`
	ChunksHeld int    `json:"chunks_held"`
	Shared     bool   `json:"shared"` // published by this node
	Pinned     bool   `json:"pinned"` // every chunk pinned by `cairn pin`
	MapID      string `json:"map_id"`
	URL        string `json:"url,omitempty"` // where this node serves it
}

func (n *Node) entry(it *item) MediaEntry {
	e := MediaEntry{
		Root:   hex.EncodeToString(it.m.Root[:]),
		SHA256: it.sha256,
		Title:  it.m.Title,
		MIME:   it.m.MIME,
		Size:   it.m.Size,
		Chunks: len(it.m.Chunks),
		Shared: it.mapEv.PubKey == n.key.Public,
		MapID:  it.mapEv.ID,
		Pinned: len(it.m.Chunks) > 0,
	}
	for _, h := range it.m.Chunks {
		if n.blobs.Has(h) {
			e.ChunksHeld++
		}
		if !hasReason(n.blobs.Pins(h), PinUser) {
			e.Pinned = false
		}
	}
	return e
}

func hasReason(rs []string, r string) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// mediaList lists the media this node shared or holds chunks of.
func (n *Node) mediaList(ctx context.Context) []MediaEntry {
	seen := map[[32]byte]bool{}
	var out []MediaEntry
	n.store.Query(ctx, nostr.Filter{Kinds: []int{chunkmap.KindChunkMap}}, 0, func(raw []byte) error {
		ev := decodeEvent(raw)
		if ev == nil {
			return nil
		}
		m, err := chunkmap.Parse(ev)
		if err != nil || seen[m.Root] {
			return nil
		}
		seen[m.Root] = true
		e := n.entry(&item{m: m, mapEv: ev})
		if e.ChunksHeld == 0 && !e.Shared && !e.Pinned {
			return nil
		}
		out = append(out, e)
		return nil
	})
	for i := range out {
		var root [32]byte
		hex.Decode(root[:], []byte(out[i].Root))
		out[i].SHA256 = n.shaOfRoot(ctx, root)
		if out[i].SHA256 != "" {
			out[i].URL = n.URL() + "/" + out[i].SHA256
		}
	}
	return out
}

func (n *Node) serveMediaList(w http.ResponseWriter, r *http.Request) {
	out := n.mediaList(r.Context())
	if out == nil {
		out = []MediaEntry{}
	}
	writeJSON(w, http.StatusOK, out)
}

// servePin pins (or unpins) every chunk of a file for PinUser. Pinning a
// file whose chunks are not all here starts its download.
func (n *Node) servePin(w http.ResponseWriter, r *http.Request, pin bool) {
	var req GetRequest
	if !readJSON(w, r, &req) {
		return
	}
	it := n.resolveFor(w, r, req.Ref)
	if it == nil {
		return
	}
	for i, h := range it.m.Chunks {
		var err error
		if pin {
			err = n.blobs.Pin(h, PinUser)
		} else {
			err = n.blobs.Unpin(h, PinUser)
		}
		if err != nil {
			apiError(w, http.StatusInternalServerError, fmt.Sprintf("chunk %d: %v", i, err))
			return
		}
	}
	e := n.entry(it)
	if pin && e.ChunksHeld < e.Chunks {
		if _, err := n.startDownload(it, ""); err != nil {
			apiError(w, downloadErrorCode(err), err.Error())
			return
		}
	}
	writeJSON(w, http.StatusOK, e)
}

// serveFile answers GET and HEAD /<sha256>[.ext] with the file a stored
// kind 1063 event names, from local chunks or, for those missing, from the
// swarm on demand: a Range request fetches only the chunks it covers.
func (n *Node) serveFile(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	sha := name[:64]
	it := n.itemBySHA256(r.Context(), sha)
	if it == nil {
		http.Error(w, "not found: no file with sha256 "+sha+" is known to this node (it serves files named by the kind 1063 events it stores; resolve one first with `cairn resolve <nevent>` or `cairn get <nevent>`)", http.StatusNotFound)
		return
	}
	m := it.m
	var src swarm.Source
	missing := false
	for _, h := range m.Chunks {
		if !n.blobs.Has(h) {
			missing = true
			break
		}
	}
	if missing {
		n.media.mu.Lock()
		dl := n.media.downloads[m.Root]
		n.media.mu.Unlock()
		if dl != nil && !isDone(dl.d) {
			src = dl.d
		} else {
			d, err := swarm.NewDownload(swarm.Config{Map: m, Blobs: n.blobs, Lazy: true, Logger: n.log.With("part", "swarm")})
			if err != nil {
				http.Error(w, "cannot read this file: "+err.Error(), http.StatusInternalServerError)
				return
			}
			defer d.Close()
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				n.findPeers(ctx, d, m)
			}()
			src = d
		}
	}
	rctx, rcancel := context.WithCancel(r.Context())
	defer rcancel()
	go func() {
		select {
		case <-n.stop: // a read waiting for a peer must not hold up Stop
			rcancel()
		case <-rctx.Done():
		}
	}()
	rd, err := swarm.NewReader(rctx, m, n.blobs, src)
	if err != nil {
		http.Error(w, "cannot read this file at offsets: "+err.Error(), http.StatusInternalServerError)
		return
	}
	rd.ReadAhead = 1
	ct := m.MIME
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("ETag", `"`+sha+`"`)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	http.ServeContent(countingWriter{w, &n.httpServed}, r, "", time.Time{}, rd)
}

func isDone(d *swarm.Download) bool {
	select {
	case <-d.Done():
		return true
	default:
		return false
	}
}

// countingWriter counts the body bytes written, for the "http" transfer
// figure of /api/status.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Uint64
}

func (c countingWriter) Write(p []byte) (int, error) {
	k, err := c.ResponseWriter.Write(p)
	c.n.Add(uint64(k))
	return k, err
}

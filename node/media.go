package node

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/media/chunkmap"
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
	// lazy are the on-demand fetches of roots not downloaded in full.
	lazy map[[32]byte]*lazyFetch
}

// maxCachedItems bounds mediaState.bySHA; it is emptied when full.
const maxCachedItems = 1024

func newMediaState() *mediaState {
	return &mediaState{downloads: make(map[[32]byte]*download), bySHA: make(map[string]*item), lazy: make(map[[32]byte]*lazyFetch)}
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
	s.closeLazy()
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
	mux.HandleFunc("GET /api/seeders/{root}", n.serveSeeders) // public: browsers ask it
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

// eachChunkMap calls fn with every stored kind 7001 chunk map, newest
// first, once per root. Only events whose JSON contains hint (if not empty)
// are decoded. fn returning errStop ends the walk without an error.
func (n *Node) eachChunkMap(ctx context.Context, hint string, fn func(m *chunkmap.Map, ev *nostr.Event) error) error {
	seen := map[[32]byte]bool{}
	err := n.store.Query(ctx, nostr.Filter{Kinds: []int{chunkmap.KindChunkMap}}, 0, func(raw []byte) error {
		if hint != "" && !strings.Contains(string(raw), hint) {
			return nil
		}
		ev := decodeEvent(raw)
		if ev == nil {
			return nil
		}
		m, err := chunkmap.Parse(ev)
		if err != nil || seen[m.Root] {
			return nil
		}
		seen[m.Root] = true
		return fn(m, ev)
	})
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

// mediaList lists the media this node shared or holds chunks of.
func (n *Node) mediaList(ctx context.Context) []MediaEntry {
	var out []MediaEntry
	n.eachChunkMap(ctx, "", func(m *chunkmap.Map, ev *nostr.Event) error {
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

package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/cairn-nostr/cairn/peer"
)

// PinUser is the pin reason of `cairn pin`.
const PinUser = "user"

// mediaState is what the node adds to the core's downloads: where each
// get writes its file, and a cache of files by sha256.
type mediaState struct {
	mu    sync.Mutex
	gets  map[[32]byte]*download
	bySHA map[string]*peer.File
}

// maxCachedItems bounds mediaState.bySHA; it is emptied when full.
const maxCachedItems = 1024

func newMediaState() *mediaState {
	return &mediaState{gets: map[[32]byte]*download{}, bySHA: map[string]*peer.File{}}
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
	mux.HandleFunc("GET /bt/{name}", n.serveTorrent)          // public: the xs of shares' magnets
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
// (404 for peer.ErrUnknown) and returning nil when it fails.
func (n *Node) resolveFor(w http.ResponseWriter, r *http.Request, ref string) *peer.File {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	it, err := n.peer.Resolve(ctx, ref)
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, peer.ErrUnknown) {
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
	if it.SHA256 != "" {
		e.URL = n.URL() + "/" + it.SHA256
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

func (n *Node) entry(f *peer.File) MediaEntry {
	m := f.Map
	e := MediaEntry{
		Root:   f.Root(),
		SHA256: f.SHA256,
		Title:  m.Title,
		MIME:   m.MIME,
		Size:   m.Size,
		Chunks: len(m.Chunks),
		Shared: f.Author() == n.key.Public,
		MapID:  f.Event.ID,
		Pinned: len(m.Chunks) > 0,
	}
	for _, h := range m.Chunks {
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
	var files []*peer.File
	n.peer.ChunkMaps(ctx, "", func(f *peer.File) error {
		files = append(files, f)
		return nil
	})
	var out []MediaEntry
	for _, f := range files {
		e := n.entry(f)
		if e.ChunksHeld == 0 && !e.Shared && !e.Pinned {
			continue
		}
		if full := n.peer.FileByRoot(ctx, e.Root); full != nil {
			e.SHA256 = full.SHA256
		}
		if e.SHA256 != "" {
			e.URL = n.URL() + "/" + e.SHA256
		}
		out = append(out, e)
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
	for i, h := range it.Map.Chunks {
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
		if _, err := n.startGet(it, ""); err != nil {
			downloadError(w, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, e)
}

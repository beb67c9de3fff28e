package node

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/peer"
	"github.com/cairn-nostr/cairn/swarm"
)

// fileBySHA256 is the core's FileBySHA256 through the cache, so that the
// Range requests of a player do not each scan the stored maps.
func (n *Node) fileBySHA256(ctx context.Context, sha string) *peer.File {
	s := n.media
	s.mu.Lock()
	f := s.bySHA[sha]
	s.mu.Unlock()
	if f != nil {
		return f
	}
	if f = n.peer.FileBySHA256(ctx, sha); f == nil {
		return nil
	}
	s.mu.Lock()
	if len(s.bySHA) >= maxCachedItems {
		clear(s.bySHA)
	}
	s.bySHA[sha] = f
	s.mu.Unlock()
	return f
}

// serveFile answers GET and HEAD /<sha256>[.ext] with the file a stored
// kind 1063 event names, from local chunks or, for those missing, from the
// swarm on demand: a Range request fetches only the chunks it covers.
func (n *Node) serveFile(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	sha := name[:64]
	if err := n.mayGet(r, sha); err != nil {
		blossomError(w, err)
		return
	}
	it := n.fileBySHA256(r.Context(), sha)
	if it == nil {
		if n.serveChunk(w, r, sha) {
			return
		}
		blossomError(w, refusal(http.StatusNotFound, "not found: no file or chunk with sha256 %s is known to this node (it serves files named by the kind 1063 events it stores, and the chunks of the chunk maps it stores; resolve one first with `cairn resolve <nevent>` or `cairn get <nevent>`)", sha))
		return
	}
	m := it.Map
	var src swarm.Source
	for _, h := range m.Chunks {
		if !n.blobs.Has(h) {
			s, release, err := n.peer.Source(it)
			if err != nil {
				blossomError(w, refusal(http.StatusServiceUnavailable, "cannot read this file: %v", err))
				return
			}
			defer release()
			src = s
			break
		}
	}
	// The request's context derives from the node's lifetime (the
	// server's BaseContext): a read waiting for a peer ends at Stop.
	rd, err := swarm.NewReader(r.Context(), m, n.blobs, src)
	if err != nil {
		blossomError(w, refusal(http.StatusInternalServerError, "cannot read this file at offsets: %v", err))
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
	cors(w)
	cw := countingWriter{ResponseWriter: w, n: &n.httpServed}
	if n.isBlossomBlob(sha) {
		cw.also = &n.blossom.served
	}
	http.ServeContent(cw, r, "", time.Time{}, rd)
}

// countingWriter counts the body bytes written, for the "http" transfer
// figure of /api/status.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Uint64
	// also, when set, counts them too (Blossom blobs served).
	also *atomic.Uint64
}

func (c countingWriter) Write(p []byte) (int, error) {
	k, err := c.ResponseWriter.Write(p)
	c.n.Add(uint64(k))
	if c.also != nil {
		c.also.Add(uint64(k))
	}
	return k, err
}

// serveChunk answers GET /<sha256> when sha256 is a chunk rather than a
// file: a chunk is a blob addressed by its hash too. One the node holds is
// served at once; one a stored chunk map lists is fetched from the swarm
// first (as for a WebRTC peer, within bridgeTimeout). It reports false when
// the hash names no chunk the node knows.
func (n *Node) serveChunk(w http.ResponseWriter, r *http.Request, sha string) bool {
	hash, err := event.ParseHex32(sha)
	if err != nil {
		return false
	}
	if !n.blobs.Has(hash) {
		ctx, cancel := context.WithTimeout(r.Context(), bridgeTimeout)
		err := n.fetchChunk(ctx, hash)
		cancel()
		if errors.Is(err, peer.ErrUnknown) {
			return false
		}
		if err != nil {
			blossomError(w, refusal(http.StatusServiceUnavailable, "chunk %s could not be fetched from the swarm: %v", sha, err))
			return true
		}
	}
	data, err := n.blobs.Get(hash)
	if err != nil {
		blossomError(w, refusal(http.StatusServiceUnavailable, "chunk %s: %v", sha, err))
		return true
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("ETag", `"`+sha+`"`)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	cors(w)
	cw := countingWriter{ResponseWriter: w, n: &n.httpServed}
	if n.isBlossomBlob(sha) {
		cw.also = &n.blossom.served
	}
	http.ServeContent(cw, r, "", time.Time{}, bytes.NewReader(data))
	return true
}

//go:build js && wasm

package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall/js"
	"time"

	"github.com/cairn-nostr/cairn/peer"
	"github.com/cairn-nostr/cairn/swarm"
)

// httpName is the HTTP transport's name in progress and status.
const httpName = "http"

// httpChunks is a swarm.Transport that fetches chunks from the node that
// served the page, over plain HTTP: a Range GET of the file's
// /<sha256> (which the node serves from its blob store, or fetches from
// the swarm for chunks it lacks), through JavaScript's fetch. Every chunk
// is hashed with WebCrypto and compared with the map's hash before Fetch
// returns it, as swarm.Transport asks: bytes that do not match are an
// ErrHashMismatch, never handed on.
//
// It is one peer of a download (ID "http <base>"), next to the WebRTC
// peers; the scheduler spreads chunks over all of them. For a file the tab
// knows no sha256 for (no kind 1063) it asks the chunk by its own hash
// (GET /<chunk sha256>, which the node serves too); a root the tab does not
// know is ErrNotFound.
type httpChunks struct {
	base  string                                     // http(s)://host:port, no trailing slash
	files func(root [32]byte) *peer.File             // the map and sha256 of a root
	get   func(url string, from, to int64) fetchFunc // nil: JavaScript's fetch

	down atomic.Int64 // body bytes of verified chunks

	mu     sync.Mutex
	banned time.Time
}

// fetchFunc runs one request and returns the body (a Uint8Array of the
// page) and the HTTP status.
type fetchFunc func(ctx context.Context) (js.Value, int, error)

var _ swarm.Transport = (*httpChunks)(nil)

func newHTTPChunks(base string, files func(root [32]byte) *peer.File) *httpChunks {
	return &httpChunks{base: base, files: files}
}

// ID is the transport's one peer.
func (h *httpChunks) ID() swarm.PeerID { return swarm.PeerID(httpName + " " + h.base) }

// Name is "http".
func (h *httpChunks) Name() string { return httpName }

// Ban refuses further fetches until until (the node sent chunks that did
// not verify).
func (h *httpChunks) Ban(_ swarm.PeerID, until time.Time) {
	h.mu.Lock()
	h.banned = until
	h.mu.Unlock()
}

// span returns the offset and length of the first chunk of f whose hash
// is hash.
func span(f *peer.File, hash [32]byte) (off, n int64, ok bool) {
	m := f.Map
	for i, c := range m.Chunks {
		if c != hash {
			continue
		}
		if m.ChunkInfo != nil {
			return m.ChunkInfo[i].Offset, m.ChunkInfo[i].Length, true
		}
		off = int64(i) * m.ChunkSize
		return off, min(m.ChunkSize, m.Size-off), true
	}
	return 0, 0, false
}

// Fetch implements swarm.Transport.
func (h *httpChunks) Fetch(ctx context.Context, _ swarm.PeerID, hash, root [32]byte, progress func(got, total int)) ([]byte, error) {
	body, err := h.FetchJS(ctx, hash, root, progress)
	if err != nil {
		return nil, err
	}
	out := make([]byte, body.Length())
	js.CopyBytesToGo(out, body)
	return out, nil
}

// FetchJS is Fetch returning the verified chunk as the Uint8Array it came
// in, never copied into Go: for the player, which appends it as it is.
func (h *httpChunks) FetchJS(ctx context.Context, hash, root [32]byte, progress func(got, total int)) (js.Value, error) {
	none := js.Undefined()
	h.mu.Lock()
	banned := time.Now().Before(h.banned)
	h.mu.Unlock()
	if banned {
		return none, fmt.Errorf("%s: banned after chunks that did not verify", h.base)
	}
	f := h.files(root)
	if f == nil {
		return none, fmt.Errorf("root %x is not known: %w", root[:4], swarm.ErrNotFound)
	}
	off, n, ok := span(f, hash)
	if !ok || n <= 0 {
		return none, fmt.Errorf("chunk %x is not in the map of %x: %w", hash[:4], root[:4], swarm.ErrNotFound)
	}
	// The file's range when its sha256 is known, else the chunk by its
	// own hash (the node serves both, GET /<sha256>).
	url := h.base + "/" + f.SHA256
	if len(f.SHA256) != 64 {
		url, off = h.base+"/"+hex.EncodeToString(hash[:]), 0
	}
	get := h.get
	if get == nil {
		get = jsGet
	}
	body, status, err := get(url, off, off+n-1)(ctx)
	if err != nil {
		return none, fmt.Errorf("GET %s: %w", url, err)
	}
	switch {
	case status == 206 || status == 200 && off == 0 && (n == f.Map.Size || len(f.SHA256) != 64):
	case status == 404 || status == 416:
		return none, fmt.Errorf("GET %s: HTTP %d: %w", url, status, swarm.ErrNotFound)
	case status == 429 || status == 503:
		return none, fmt.Errorf("GET %s: HTTP %d: %w", url, status, swarm.ErrBusy)
	default:
		return none, fmt.Errorf("GET %s bytes %d-%d: HTTP %d", url, off, off+n-1, status)
	}
	if got := int64(body.Length()); got != n {
		return none, fmt.Errorf("GET %s bytes %d-%d: %d bytes came: %w", url, off, off+n-1, got, swarm.ErrHashMismatch)
	}
	if progress != nil {
		progress(int(n), int(n))
	}
	// Hashed in JavaScript, where the bytes are.
	sum, err := digest(body)
	if err != nil {
		return none, fmt.Errorf("hashing chunk %x: %w", hash[:4], err)
	}
	if sum != hash {
		return none, fmt.Errorf("chunk %x from %s: %w", hash[:4], h.base, swarm.ErrHashMismatch)
	}
	h.down.Add(n)
	return body, nil
}

// digest is the SHA-256 of a Uint8Array by WebCrypto.
func digest(u js.Value) ([32]byte, error) {
	var sum [32]byte
	d, err := awaitPromise(js.Global().Get("crypto").Get("subtle").Call("digest", "SHA-256", u))
	if err != nil {
		return sum, err
	}
	js.CopyBytesToGo(sum[:], js.Global().Get("Uint8Array").New(d))
	return sum, nil
}

// jsGet is a Range GET through JavaScript's fetch, aborted when ctx ends.
func jsGet(url string, from, to int64) fetchFunc {
	return func(ctx context.Context) (js.Value, int, error) {
		ac := js.Global().Get("AbortController").New()
		stop := context.AfterFunc(ctx, func() { ac.Call("abort") })
		defer stop()
		hdr := js.Global().Get("Object").New()
		hdr.Set("Range", "bytes="+strconv.FormatInt(from, 10)+"-"+strconv.FormatInt(to, 10))
		init := js.Global().Get("Object").New()
		init.Set("headers", hdr)
		init.Set("signal", ac.Get("signal"))
		res, err := awaitPromise(js.Global().Call("fetch", url, init))
		if err != nil {
			return js.Undefined(), 0, ctxErr(ctx, err)
		}
		status := res.Get("status").Int()
		if status != 200 && status != 206 {
			if b := res.Get("body"); b.Truthy() {
				b.Call("cancel") // no need for an error page's body
			}
			return js.Undefined(), status, nil
		}
		buf, err := awaitPromise(res.Call("arrayBuffer"))
		if err != nil {
			return js.Undefined(), 0, ctxErr(ctx, err)
		}
		return js.Global().Get("Uint8Array").New(buf), status, nil
	}
}

// ctxErr prefers the context's error to the AbortError it caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Package web serves the browser app embedded in the binary.
//
// The app is a single page: every extensionless path that is not a file
// (/, /watch/<ref>, /upload, /profile, /dashboard, ...) is answered with
// /index.html, and the page routes itself. Files are served with a strong
// ETag (a hash of their content) and "Cache-Control: no-cache", so a browser
// revalidates each load and gets a 304 while the binary is unchanged. A file
// is sent in the best content coding the client's Accept-Encoding allows
// (q-values honoured): zstd, else gzip, else as is, with
// "Vary: Accept-Encoding" and an ETag per encoding. Gzip is made once, on
// first request, and kept in memory; a file shipped with an encoding beside
// it (`make build-wasm` writes cairn.wasm.zst, zstd -19 with an 8 MiB
// window, and cairn.wasm.gz, gzip -9) is served from that encoding once it
// is checked to decompress to the file, so the first load of the 10 MB core
// does not wait for compression and a stale or corrupt one is never sent.
// zstd is only ever shipped, never made at run time. The WebAssembly core
// is served as application/wasm, which WebAssembly.instantiateStreaming
// requires.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
)

//go:embed static
var static embed.FS

// Handler serves the embedded app.
func Handler() *Server {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // "static" is embedded: cannot fail
	}
	return New(sub)
}

// Server serves the files of an fs.FS as a single-page app. It is safe for
// concurrent use.
type Server struct {
	fsys fs.FS

	mu     sync.Mutex
	assets map[string]*asset // by file name, loaded on first request
	head   HeadFunc          // nil: /watch pages carry no head start (head.go)
}

// New returns a Server of the files in fsys, whose index.html is the app.
func New(fsys fs.FS) *Server {
	return &Server{fsys: fsys, assets: make(map[string]*asset)}
}

// asset is one file in memory: its bytes, identity and, once asked for,
// its encodings.
type asset struct {
	name  string
	data  []byte
	ctype string
	etag  string

	gzOnce sync.Once
	gz     []byte // nil when gzip does not make it smaller

	zstOnce sync.Once
	zst     []byte // nil when no usable zstd encoding is shipped
}

// minGzip is the smallest file worth compressing.
const minGzip = 512

// maxZstdWindow is the largest zstd window a browser accepts in a
// Content-Encoding (8 MiB, RFC 8878 section 3): a shipped .zst with a larger
// one is not served, since the browser would fail to decode it.
const maxZstdWindow = 8 << 20

// gzipped returns the gzip encoding of a, or nil when it would not be
// smaller: the first time, what pre returns when it decompresses to a's
// bytes, else a's bytes compressed now.
func (a *asset) gzipped(pre func() []byte) []byte {
	a.gzOnce.Do(func() {
		if len(a.data) < minGzip {
			return
		}
		if p := pre(); p != nil && len(p) < len(a.data) && gunzipsTo(p, a.data) {
			a.gz = p
			return
		}
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(a.data)
		zw.Close()
		if b.Len() < len(a.data) {
			a.gz = b.Bytes()
		}
	})
	return a.gz
}

// zstded returns the zstd encoding of a, or nil: the first time, what pre
// returns when it is smaller than a's bytes and decompresses to them within
// a browser's window limit. Nothing is compressed at run time: only the
// core ships a .zst (`make build-wasm`), and other files are small.
func (a *asset) zstded(pre func() []byte) []byte {
	a.zstOnce.Do(func() {
		if p := pre(); p != nil && len(p) < len(a.data) && unzstdsTo(p, a.data) {
			a.zst = p
		}
	})
	return a.zst
}

// gunzipsTo reports whether gz is a gzip stream of exactly want.
func gunzipsTo(gz, want []byte) bool {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return false
	}
	got, err := io.ReadAll(io.LimitReader(zr, int64(len(want))+1))
	return err == nil && bytes.Equal(got, want)
}

// unzstdsTo reports whether zst is a zstd stream of exactly want whose
// window a browser accepts.
func unzstdsTo(zst, want []byte) bool {
	zr, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxWindow(maxZstdWindow),
		zstd.WithDecoderMaxMemory(uint64(len(want))+maxZstdWindow)) // bounds the window too
	if err != nil {
		return false
	}
	defer zr.Close()
	got, err := zr.DecodeAll(zst, make([]byte, 0, len(want)))
	return err == nil && bytes.Equal(got, want)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: the web app answers GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	name, ok := s.route(r.URL.Path)
	if !ok {
		http.Error(w, "not found: "+r.URL.Path, http.StatusNotFound)
		return
	}
	a, err := s.asset(name)
	if err != nil {
		http.Error(w, "not found: "+r.URL.Path, http.StatusNotFound)
		return
	}
	if name == "index.html" && s.serveHead(w, r, a) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	body, etag := a.data, a.etag
	zst := func() []byte { return a.zstded(func() []byte { return s.preencoded(name, ".zst") }) }
	gz := func() []byte { return a.gzipped(func() []byte { return s.preencoded(name, ".gz") }) }
	// Vary before any encoding is checked, so that a client is kept
	// waiting for the check of its own encoding only (the first request of
	// the core checks 11 MB).
	if len(a.data) >= minGzip {
		h.Add("Vary", "Accept-Encoding")
	}
	for _, coding := range negotiate(r.Header.Get("Accept-Encoding")) {
		var enc []byte
		switch coding {
		case "zstd":
			enc = zst()
		case "gzip":
			enc = gz()
		}
		if enc == nil {
			continue
		}
		if len(a.data) < minGzip {
			h.Add("Vary", "Accept-Encoding")
		}
		body, etag = enc, strings.TrimSuffix(a.etag, `"`)+"-"+coding+`"`
		h.Set("Content-Encoding", coding)
		// The whole encoded body, never a range of it (ServeContent
		// leaves Content-Length to us once an encoding is set).
		h.Set("Content-Length", strconv.Itoa(len(enc)))
		r2 := *r
		r2.Header = r.Header.Clone()
		r2.Header.Del("Range")
		r = &r2
		break
	}
	h.Set("ETag", etag)
	// ServeContent answers If-None-Match (304), Range and HEAD, and sets
	// Content-Length.
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(body))
}

// route maps a URL path to the file that answers it: the file itself when
// it exists, else index.html for app routes (extensionless paths outside
// /api/, and anything under /watch/). ok is false for a missing file.
func (s *Server) route(urlPath string) (name string, ok bool) {
	p := path.Clean("/" + urlPath)
	if p == "/" || p == "/index.html" {
		return "index.html", true
	}
	name = strings.TrimPrefix(p, "/")
	if st, err := fs.Stat(s.fsys, name); err == nil && !st.IsDir() {
		return name, true
	}
	return "index.html", isAppRoute(p)
}

// isAppRoute reports whether the cleaned path p is one the page routes
// itself rather than a file.
func isAppRoute(p string) bool {
	switch {
	case p == "/api" || strings.HasPrefix(p, "/api/"):
		return false
	case strings.HasPrefix(p, "/watch/"):
		return true
	}
	return path.Ext(p) == ""
}

// preencoded is the file name+ext (".gz", ".zst") shipped beside name, or
// nil.
func (s *Server) preencoded(name, ext string) []byte {
	b, err := fs.ReadFile(s.fsys, name+ext)
	if err != nil {
		return nil
	}
	return b
}

// asset loads (once) the file name.
func (s *Server) asset(name string) (*asset, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.assets[name]; a != nil {
		return a, nil
	}
	data, err := fs.ReadFile(s.fsys, name)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	a := &asset{
		name:  name,
		data:  data,
		ctype: contentType(name, data),
		etag:  `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`,
	}
	s.assets[name] = a
	return a, nil
}

// contentType is name's media type by extension (application/wasm for the
// core, whatever the system's tables say), else sniffed.
func contentType(name string, data []byte) string {
	switch ext := path.Ext(name); ext {
	case ".wasm":
		return "application/wasm"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".html":
		return "text/html; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	default:
		if t := mime.TypeByExtension(ext); t != "" {
			return t
		}
	}
	return http.DetectContentType(data)
}

// negotiate returns the content codings an Accept-Encoding header allows
// that the server can send ("zstd", "gzip"), best first: by q-value, then
// by size (zstd before gzip). A coding the header does not name takes the
// q of *, if any; q=0 refuses it. An empty list means identity. Identity is
// preferred only where the header names it with a higher q than the rest.
func negotiate(header string) []string {
	q := map[string]float64{}
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding == "" {
			continue
		}
		v := 1.0
		for _, p := range strings.Split(params, ";") {
			k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil && f >= 0 && f <= 1 {
					v = f
				} else {
					v = 0 // a malformed q refuses rather than guesses
				}
			}
		}
		if coding == "x-gzip" {
			coding = "gzip"
		}
		q[coding] = v
	}
	qOf := func(coding string) float64 {
		if v, ok := q[coding]; ok {
			return v
		}
		if v, ok := q["*"]; ok {
			return v
		}
		return 0
	}
	var out []string
	for _, c := range []string{"zstd", "gzip"} {
		if qOf(c) > 0 {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return qOf(out[i]) > qOf(out[j]) })
	if id, ok := q["identity"]; ok {
		for i, c := range out {
			if qOf(c) < id {
				return out[:i]
			}
		}
	}
	return out
}

package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/klauspost/compress/zstd"
)

var index = []byte("<!doctype html><title>app</title>")

func testServer() *Server {
	return New(fstest.MapFS{
		"index.html":   {Data: index},
		"app.js":       {Data: bytes.Repeat([]byte("console.log('cairn');\n"), 200)},
		"core.wasm":    {Data: append([]byte("\x00asm\x01\x00\x00\x00"), make([]byte, 4096)...)},
		"tiny.css":     {Data: []byte("a{}")},
		"img/logo.png": {Data: []byte("\x89PNG\r\n\x1a\n")},
	})
}

func do(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestContentTypes(t *testing.T) {
	s := testServer()
	for path, want := range map[string]string{
		"/":             "text/html; charset=utf-8",
		"/app.js":       "text/javascript; charset=utf-8",
		"/core.wasm":    "application/wasm",
		"/tiny.css":     "text/css; charset=utf-8",
		"/img/logo.png": "image/png",
	} {
		res := do(t, s, "GET", path, nil)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != want {
			t.Errorf("%s: %s, Content-Type %q, want %q", path, res.Status, res.Header.Get("Content-Type"), want)
		}
		if res.Header.Get("Cache-Control") != "no-cache" || !strings.HasPrefix(res.Header.Get("ETag"), `"`) {
			t.Errorf("%s: cache headers %v", path, res.Header)
		}
	}
}

func TestGzipRoundTrip(t *testing.T) {
	s := testServer()
	plain := do(t, s, "GET", "/core.wasm", nil)
	want := body(t, plain)
	if plain.Header.Get("Content-Encoding") != "" || plain.Header.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("identity response headers %v", plain.Header)
	}
	for _, ae := range []string{"gzip", "br, gzip;q=0.5", "deflate, *"} {
		res := do(t, s, "GET", "/core.wasm", map[string]string{"Accept-Encoding": ae})
		gz := body(t, res)
		if res.Header.Get("Content-Encoding") != "gzip" || res.Header.Get("Vary") != "Accept-Encoding" {
			t.Fatalf("%q: headers %v", ae, res.Header)
		}
		if cl, _ := strconv.Atoi(res.Header.Get("Content-Length")); cl != len(gz) || len(gz) >= len(want) {
			t.Fatalf("%q: Content-Length %s, body %d bytes, plain %d", ae, res.Header.Get("Content-Length"), len(gz), len(want))
		}
		if res.Header.Get("ETag") == plain.Header.Get("ETag") {
			t.Errorf("%q: the gzip and identity encodings share an ETag", ae)
		}
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%q: gunzipped %d bytes (%v), want the %d bytes served plain", ae, len(got), err, len(want))
		}
	}
	for _, ae := range []string{"", "br", "gzip;q=0", "gzip;q=0, *"} {
		res := do(t, s, "GET", "/core.wasm", map[string]string{"Accept-Encoding": ae})
		if res.Header.Get("Content-Encoding") != "" || !bytes.Equal(body(t, res), want) {
			t.Errorf("%q: compressed although not accepted", ae)
		}
	}
	// A small file with a shipped zstd encoding: sent with Vary all the same.
	small := New(fstest.MapFS{"index.html": {Data: index}, "s.js": {Data: []byte(strings.Repeat("a", 300))}, "s.js.zst": {Data: zstdOf(t, []byte(strings.Repeat("a", 300)))}})
	if res := do(t, small, "GET", "/s.js", map[string]string{"Accept-Encoding": "zstd"}); res.Header.Get("Content-Encoding") != "zstd" || res.Header.Get("Vary") != "Accept-Encoding" {
		t.Errorf("small file, shipped zstd: %v", res.Header)
	}
	// Too small to gain from gzip: served as is, no Vary.
	res := do(t, s, "GET", "/tiny.css", map[string]string{"Accept-Encoding": "gzip"})
	if res.Header.Get("Content-Encoding") != "" || string(body(t, res)) != "a{}" {
		t.Errorf("tiny file: %v", res.Header)
	}
}

func TestETagRevalidation(t *testing.T) {
	s := testServer()
	for _, ae := range []string{"", "gzip"} {
		first := do(t, s, "GET", "/app.js", map[string]string{"Accept-Encoding": ae})
		etag := first.Header.Get("ETag")
		if etag == "" || strings.HasPrefix(etag, "W/") {
			t.Fatalf("%q: ETag %q, want a strong one", ae, etag)
		}
		res := do(t, s, "GET", "/app.js", map[string]string{"Accept-Encoding": ae, "If-None-Match": etag})
		if res.StatusCode != http.StatusNotModified || len(body(t, res)) != 0 {
			t.Errorf("%q: revalidation %s", ae, res.Status)
		}
		res = do(t, s, "GET", "/app.js", map[string]string{"Accept-Encoding": ae, "If-None-Match": `"other"`})
		if res.StatusCode != 200 {
			t.Errorf("%q: stale ETag answered %s", ae, res.Status)
		}
	}
	// A range of the file as is; never of its gzip encoding.
	res := do(t, s, "GET", "/app.js", map[string]string{"Range": "bytes=0-6"})
	if res.StatusCode != http.StatusPartialContent || string(body(t, res)) != "console" {
		t.Errorf("range: %s", res.Status)
	}
	res = do(t, s, "GET", "/app.js", map[string]string{"Range": "bytes=0-6", "Accept-Encoding": "gzip"})
	if gz := body(t, res); res.StatusCode != 200 || res.Header.Get("Content-Length") != strconv.Itoa(len(gz)) {
		t.Errorf("range with gzip: %s, %d bytes, Content-Length %s", res.Status, len(gz), res.Header.Get("Content-Length"))
	}
	// The ETag is the content's: another file has another.
	if do(t, s, "GET", "/app.js", nil).Header.Get("ETag") == do(t, s, "GET", "/", nil).Header.Get("ETag") {
		t.Error("two files share an ETag")
	}
}

func TestSinglePageFallback(t *testing.T) {
	s := testServer()
	for _, p := range []string{"/", "/index.html", "/watch/nevent1abc", "/watch/some.file.mp4", "/upload", "/profile", "/dashboard", "/credits", "/anything/else", "/img"} {
		res := do(t, s, "GET", p, nil)
		if b := body(t, res); res.StatusCode != 200 || !bytes.Equal(b, index) {
			t.Errorf("%s: %s %.40q, want index.html", p, res.Status, b)
		}
	}
	res := do(t, s, "HEAD", "/upload", nil)
	if res.StatusCode != 200 || res.Header.Get("Content-Length") != strconv.Itoa(len(index)) {
		t.Errorf("HEAD /upload: %s %v", res.Status, res.Header)
	}
}

func TestNotFound(t *testing.T) {
	s := testServer()
	for _, p := range []string{"/missing.js", "/img/none.png", "/cairn.wasm", "/api/nothing", "/api"} {
		if res := do(t, s, "GET", p, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %s, want 404", p, res.Status)
		}
	}
	if res := do(t, s, "POST", "/", nil); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %s", res.Status)
	}
}

// The embedded app has its page.
func TestEmbedded(t *testing.T) {
	res := do(t, Handler(), "GET", "/dashboard", nil)
	if b := body(t, res); res.StatusCode != 200 || !bytes.Contains(b, []byte("<title>cairn")) {
		t.Fatalf("%s: %.80q", res.Status, b)
	}
}

// TestPregzipped: a file's .gz beside it is served as its gzip encoding
// when it decompresses to the file; a stale or corrupt one is ignored and
// the file compressed as usual.
func TestPregzipped(t *testing.T) {
	core := append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Repeat([]byte("cairn"), 2000)...)
	gz := func(b []byte) []byte {
		var out bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
		zw.Write(b)
		zw.Close()
		return out.Bytes()
	}
	good := gz(core)
	for name, pre := range map[string][]byte{
		"fresh":   good,
		"stale":   gz(append(bytes.Clone(core), '!')),
		"corrupt": good[:len(good)/2],
	} {
		s := New(fstest.MapFS{"index.html": {Data: index}, "core.wasm": {Data: core}, "core.wasm.gz": {Data: pre}})
		res := do(t, s, "GET", "/core.wasm", map[string]string{"Accept-Encoding": "gzip"})
		b := body(t, res)
		if res.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s: not gzip-encoded: %v", name, res.Header)
		}
		if !gunzipsTo(b, core) {
			t.Fatalf("%s: the body does not decompress to the file", name)
		}
		if shipped := bytes.Equal(b, pre); shipped != (name == "fresh") {
			t.Errorf("%s: shipped encoding served = %v", name, shipped)
		}
		if plain := body(t, do(t, s, "GET", "/core.wasm", nil)); !bytes.Equal(plain, core) {
			t.Errorf("%s: identity body differs", name)
		}
	}
}

func TestNegotiate(t *testing.T) {
	for _, c := range []struct {
		header string
		want   string // the codings, best first, joined by ","
	}{
		{"", ""},
		{"gzip, deflate, br, zstd", "zstd,gzip"}, // Chromium's
		{"gzip, deflate, br", "gzip"},
		{"zstd", "zstd"},
		{"ZSTD;Q=1", "zstd"},
		{"zstd;q=0.5, gzip", "gzip,zstd"},
		{"zstd;q=0.5, gzip;q=0.5", "zstd,gzip"},
		{"zstd;q=0, gzip", "gzip"},
		{"zstd;q=0, gzip;q=0", ""},
		{"x-gzip", "gzip"},
		{"*", "zstd,gzip"},
		{"*;q=0", ""},
		{"*;q=0.3, gzip", "gzip,zstd"},
		{"*, zstd;q=0", "gzip"},
		{"br", ""},
		{"zstd;q=2", ""},    // out of range: refused
		{"zstd;q=high", ""}, // malformed: refused
		{"zstd;q=0.001", "zstd"},
		{"gzip;q=0.5, identity", ""}, // identity named above the rest
		{"gzip;q=0.5, identity;q=0.5", "gzip"},
		{"zstd, gzip;q=0.4, identity;q=0.5", "zstd"},
		{" , ;q=1, zstd ; q=0.9 ", "zstd"},
	} {
		if got := strings.Join(negotiate(c.header), ","); got != c.want {
			t.Errorf("negotiate(%q) = %q, want %q", c.header, got, c.want)
		}
	}
}

// zstdOf is b as one zstd frame with its window size in the header (not a
// single segment, as `zstd -19` writes a file of several MiB).
func zstdOf(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw, err := zstd.NewWriter(&out, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithSingleSegment(false), zstd.WithWindowSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestZstd: a file's .zst beside it is served to clients that accept zstd
// when it decompresses to the file with a window a browser accepts; a
// stale, corrupt, too-wide or useless one is never sent, and those clients
// get the gzip encoding instead, which decompresses to the file.
func TestZstd(t *testing.T) {
	core := append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Repeat([]byte("cairn core "), 3000)...)
	good := zstdOf(t, core)
	// The frame header: magic, descriptor (no single-segment flag), then
	// the window descriptor; 0x70 is a 16 MiB window, which a browser
	// refuses although the frame decodes with it.
	if good[4]&0x20 != 0 {
		t.Fatalf("frame header %x: single segment", good[:6])
	}
	wide := bytes.Clone(good)
	wide[5] = 0x70
	chromium := map[string]string{"Accept-Encoding": "gzip, deflate, br, zstd"}
	for name, pre := range map[string][]byte{
		"fresh":   good,
		"stale":   zstdOf(t, append(bytes.Clone(core), '!')),
		"corrupt": good[:len(good)/2],
		"garbage": bytes.Repeat([]byte{0x28, 0xb5, 0x2f, 0xfd}, 100),
		"wide":    wide,
		"larger":  append(zstdOf(t, core), make([]byte, len(core))...),
	} {
		s := New(fstest.MapFS{"index.html": {Data: index}, "core.wasm": {Data: core}, "core.wasm.zst": {Data: pre}})
		res := do(t, s, "GET", "/core.wasm", chromium)
		b := body(t, res)
		if res.StatusCode != 200 || res.Header.Get("Vary") != "Accept-Encoding" {
			t.Fatalf("%s: %s %v", name, res.Status, res.Header)
		}
		if cl, _ := strconv.Atoi(res.Header.Get("Content-Length")); cl != len(b) {
			t.Errorf("%s: Content-Length %d, body %d", name, cl, len(b))
		}
		switch enc := res.Header.Get("Content-Encoding"); {
		case name == "fresh":
			if enc != "zstd" || !bytes.Equal(b, good) || !unzstdsTo(b, core) {
				t.Errorf("fresh: Content-Encoding %q, %d bytes: not the shipped encoding", enc, len(b))
			}
		case enc != "gzip" || !gunzipsTo(b, core):
			t.Errorf("%s: Content-Encoding %q: not the file's gzip encoding", name, enc)
		}
		if plain := body(t, do(t, s, "GET", "/core.wasm", nil)); !bytes.Equal(plain, core) {
			t.Errorf("%s: identity body differs", name)
		}
		if gz := body(t, do(t, s, "GET", "/core.wasm", map[string]string{"Accept-Encoding": "gzip"})); !gunzipsTo(gz, core) {
			t.Errorf("%s: gzip body does not decompress to the file", name)
		}
	}
}

// TestZstdHeadRangeRevalidation: HEAD, Range and If-None-Match on the zstd
// encoding, whose ETag is its own.
func TestZstdHeadRangeRevalidation(t *testing.T) {
	core := append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Repeat([]byte("cairn core "), 3000)...)
	zst := zstdOf(t, core)
	s := New(fstest.MapFS{"index.html": {Data: index}, "core.wasm": {Data: core}, "core.wasm.zst": {Data: zst}})
	ae := func(v string, more ...string) map[string]string {
		h := map[string]string{"Accept-Encoding": v}
		for i := 0; i+1 < len(more); i += 2 {
			h[more[i]] = more[i+1]
		}
		return h
	}
	get := do(t, s, "GET", "/core.wasm", ae("gzip, zstd"))
	body(t, get)
	if s.assets["core.wasm"].gz != nil {
		t.Error("a zstd client's request made (and checked) the gzip encoding too")
	}
	etag := get.Header.Get("ETag")
	gzETag := do(t, s, "GET", "/core.wasm", ae("gzip")).Header.Get("ETag")
	plainETag := do(t, s, "GET", "/core.wasm", nil).Header.Get("ETag")
	if !strings.HasSuffix(etag, `-zstd"`) || etag == gzETag || etag == plainETag || gzETag == plainETag {
		t.Fatalf("ETags: zstd %s, gzip %s, identity %s: want three", etag, gzETag, plainETag)
	}

	head := do(t, s, "HEAD", "/core.wasm", ae("zstd"))
	if b := body(t, head); head.StatusCode != 200 || len(b) != 0 || head.Header.Get("Content-Encoding") != "zstd" ||
		head.Header.Get("Content-Length") != strconv.Itoa(len(zst)) || head.Header.Get("ETag") != etag {
		t.Errorf("HEAD: %s, %d body bytes, %v", head.Status, len(b), head.Header)
	}

	// A range is of the file as is; with zstd accepted the whole encoding
	// is sent.
	res := do(t, s, "GET", "/core.wasm", ae("zstd", "Range", "bytes=0-3"))
	if b := body(t, res); res.StatusCode != 200 || !bytes.Equal(b, zst) || res.Header.Get("Content-Range") != "" {
		t.Errorf("range with zstd: %s, %d bytes, %v", res.Status, len(b), res.Header)
	}
	res = do(t, s, "GET", "/core.wasm", map[string]string{"Range": "bytes=0-3"})
	if b := body(t, res); res.StatusCode != http.StatusPartialContent || string(b) != "\x00asm" {
		t.Errorf("range as is: %s %q", res.Status, b)
	}

	// 304 for the zstd ETag with zstd; a client that now takes only gzip
	// gets the gzip body, not a 304 for the other encoding.
	res = do(t, s, "GET", "/core.wasm", ae("gzip, zstd", "If-None-Match", etag))
	if b := body(t, res); res.StatusCode != http.StatusNotModified || len(b) != 0 {
		t.Errorf("revalidation: %s", res.Status)
	}
	res = do(t, s, "GET", "/core.wasm", ae("gzip", "If-None-Match", etag))
	if b := body(t, res); res.StatusCode != 200 || !gunzipsTo(b, core) {
		t.Errorf("zstd ETag, gzip client: %s", res.Status)
	}
}

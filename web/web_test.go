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

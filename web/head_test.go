package web

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"
)

const headIndex = "<!doctype html><html><head><title>app</title>\n" + headMarker + "\n<script type=\"module\" src=\"/app.js\"></script></head><body></body></html>"

var (
	shaA = strings.Repeat("a1", 32)
	shaB = strings.Repeat("b2", 32)
)

// headServer serves headIndex with a hook that answers from films (ref ->
// head) and counts its calls.
func headServer(films map[string]Head, calls *int) *Server {
	s := New(fstest.MapFS{"index.html": {Data: []byte(headIndex)}})
	s.SetHead(func(_ context.Context, ref string) (Head, bool) {
		*calls++
		h, ok := films[ref]
		return h, ok
	})
	return s
}

// early extracts and parses the page's cairn-early element: what a
// browser's parser gives as its text is everything up to the first
// "</script", so that is what is read here.
func early(t *testing.T, page []byte) (ref string, events []map[string]any) {
	t.Helper()
	const open = `<script type="application/json" id="cairn-early">`
	i := bytes.Index(page, []byte(open))
	if i < 0 {
		t.Fatalf("no cairn-early element in:\n%s", page)
	}
	text := page[i+len(open):]
	text = text[:bytes.Index(bytes.ToLower(text), []byte("</script"))]
	var d struct {
		Ref    string           `json:"ref"`
		Events []map[string]any `json:"events"`
	}
	if err := json.Unmarshal(text, &d); err != nil {
		t.Fatalf("the element's text is not the JSON written (%v): %s", err, text)
	}
	return d.Ref, d.Events
}

// TestHeadInPage: /watch/<ref> of a ref the hook knows carries its events
// and preloads; other paths and refs get index.html as it is.
func TestHeadInPage(t *testing.T) {
	calls := 0
	s := headServer(map[string]Head{
		"note1abc": {Events: []json.RawMessage{[]byte(`{"id":"1","kind":1063, "content":"a film"}`), []byte(`{"id":"2","kind":7001}`)}, Preload: []string{shaA, shaB}},
	}, &calls)
	res := do(t, s, "GET", "/watch/note1abc", nil)
	page := body(t, res)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/html; charset=utf-8" || res.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("%s %v", res.Status, res.Header)
	}
	ref, evs := early(t, page)
	if ref != "note1abc" || len(evs) != 2 || evs[0]["content"] != "a film" || evs[1]["id"] != "2" {
		t.Errorf("ref %q, events %v", ref, evs)
	}
	for _, sha := range []string{shaA, shaB} {
		if want := `<link rel="preload" href="/` + sha + `" as="fetch" crossorigin>`; !bytes.Contains(page, []byte(want)) {
			t.Errorf("no %s in\n%s", want, page)
		}
	}
	if !bytes.Contains(page, []byte(`crossorigin>`+"\n"+beginHead+headMarker)) || bytes.Count(page, []byte("begin()")) != 1 {
		t.Errorf("the page does not begin the head start once, after the preloads:\n%s", page)
	}
	if !bytes.HasPrefix(page, []byte("<!doctype html><html><head><title>app</title>\n<script type=\"application/json\"")) || !bytes.HasSuffix(page, []byte(headMarker+"\n<script type=\"module\" src=\"/app.js\"></script></head><body></body></html>")) {
		t.Errorf("the head start is not at the marker:\n%s", page)
	}

	for _, p := range []string{"/watch/note1unknown", "/watch/note1abc/more", "/", "/upload", "/watch/note1%3Cb%3E"} {
		res := do(t, s, "GET", p, nil)
		if b := body(t, res); res.StatusCode != 200 || string(b) != headIndex {
			t.Errorf("%s: %s, page %q, want index.html as it is", p, res.Status, b)
		}
	}
	if calls != 2 { // note1abc and note1unknown: the others are not watch refs the page could name
		t.Errorf("the hook was called %d times, want 2", calls)
	}
}

// TestHeadEscaping: event content that would close the script element or
// open a comment in it stays inside the JSON, and comes out of the
// element's text exactly as it went in.
func TestHeadEscaping(t *testing.T) {
	nasty := "</script><script>alert(1)</script> <!-- <script> & \u2028 </SCRIPT >"
	content, _ := json.Marshal(nasty)
	calls := 0
	s := headServer(map[string]Head{
		"note1x": {Events: []json.RawMessage{[]byte(`{"id":"1","content":` + string(content) + `,"tags":[["alt","</script>"]]}`)}},
	}, &calls)
	page := body(t, do(t, s, "GET", "/watch/note1x", nil))
	_, evs := early(t, page)
	if len(evs) != 1 || evs[0]["content"] != nasty {
		t.Fatalf("content came back as %q", evs)
	}
	if n := bytes.Count(bytes.ToLower(page), []byte("</script")); n != 3 { // the element's own end, the begin module's and app.js's
		t.Errorf("%d </script in the page, want 3:\n%s", n, page)
	}
	if bytes.Contains(page, []byte("<!--  <script>")) || bytes.Contains(page, []byte("<script>alert")) {
		t.Errorf("markup from the content is in the page:\n%s", page)
	}
}

// TestHeadBadInput: events that are not JSON objects are left out (all of
// them: the plain page); preloads that are not a sha256 are left out.
func TestHeadBadInput(t *testing.T) {
	calls := 0
	s := headServer(map[string]Head{
		"note1bad":  {Events: []json.RawMessage{[]byte(`{"id":`), []byte(`[1]`), []byte(``)}},
		"note1some": {Events: []json.RawMessage{[]byte(`{"id":"ok"}`), []byte(`not json`)}, Preload: []string{"../etc", strings.ToUpper(shaA), shaA + "0", `x" onload="alert(1)`}},
	}, &calls)
	if b := body(t, do(t, s, "GET", "/watch/note1bad", nil)); string(b) != headIndex {
		t.Errorf("no valid event: page %q", b)
	}
	page := body(t, do(t, s, "GET", "/watch/note1some", nil))
	if _, evs := early(t, page); len(evs) != 1 || evs[0]["id"] != "ok" {
		t.Errorf("events %v", evs)
	}
	if bytes.Contains(page, []byte(`rel="preload"`)) {
		t.Errorf("a bad preload was written:\n%s", page)
	}
	// An index.html with neither the marker nor </head> is served as it is.
	plain := New(fstest.MapFS{"index.html": {Data: index}})
	plain.SetHead(func(context.Context, string) (Head, bool) { return Head{Events: []json.RawMessage{[]byte(`{}`)}}, true })
	if b := body(t, do(t, plain, "GET", "/watch/note1x", nil)); !bytes.Equal(b, index) {
		t.Errorf("page %q", b)
	}
}

// TestHeadETag: the page's ETag follows its bytes, so a browser holding
// one film's page (or the same film's page from before the store changed)
// never gets a 304 for another; HEAD and If-None-Match behave as for files.
func TestHeadETag(t *testing.T) {
	calls := 0
	films := map[string]Head{
		"note1a": {Events: []json.RawMessage{[]byte(`{"id":"a"}`)}},
		"note1b": {Events: []json.RawMessage{[]byte(`{"id":"b"}`)}},
	}
	s := headServer(films, &calls)
	plainTag := do(t, s, "GET", "/", nil).Header.Get("ETag")
	a := do(t, s, "GET", "/watch/note1a", nil).Header.Get("ETag")
	b := do(t, s, "GET", "/watch/note1b", nil).Header.Get("ETag")
	if a == "" || a == b || a == plainTag || b == plainTag {
		t.Fatalf("ETags: a %s, b %s, plain %s", a, b, plainTag)
	}
	if res := do(t, s, "GET", "/watch/note1a", map[string]string{"If-None-Match": a}); res.StatusCode != http.StatusNotModified {
		t.Errorf("revalidating a's page: %s", res.Status)
	}
	for _, tag := range []string{b, plainTag} {
		res := do(t, s, "GET", "/watch/note1a", map[string]string{"If-None-Match": tag})
		if _, evs := early(t, body(t, res)); res.StatusCode != 200 || evs[0]["id"] != "a" {
			t.Errorf("a's page with If-None-Match %s: %s %v", tag, res.Status, evs)
		}
	}
	// The store changed: a's page now preloads a chunk.
	films["note1a"] = Head{Events: films["note1a"].Events, Preload: []string{shaA}}
	res := do(t, s, "GET", "/watch/note1a", map[string]string{"If-None-Match": a})
	if page := body(t, res); res.StatusCode != 200 || !bytes.Contains(page, []byte(shaA)) || res.Header.Get("ETag") == a {
		t.Errorf("after the change: %s, ETag %s", res.Status, res.Header.Get("ETag"))
	}
	// A film the node no longer holds: the plain page, with its own ETag.
	delete(films, "note1a")
	if res := do(t, s, "GET", "/watch/note1a", map[string]string{"If-None-Match": a}); res.StatusCode != 200 || res.Header.Get("ETag") != plainTag {
		t.Errorf("after removal: %s, ETag %s", res.Status, res.Header.Get("ETag"))
	}
	head := do(t, s, "HEAD", "/watch/note1b", nil)
	if hb := body(t, head); head.StatusCode != 200 || len(hb) != 0 || head.Header.Get("ETag") != b || head.Header.Get("Content-Length") == "" {
		t.Errorf("HEAD: %s, %d body bytes, %v", head.Status, len(hb), head.Header)
	}
}

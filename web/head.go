package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"path"
	"strings"
	"time"
)

// Head is what the page for /watch/<ref> carries inline when the server
// already holds what the player asks for first (web/static/early.js):
// the signed events that resolve ref, and the blobs to fetch at once.
type Head struct {
	// Events are signed events as a relay sends them (raw JSON).
	Events []json.RawMessage
	// Preload are the sha256 (64 lowercase hex digits) of blobs the page
	// GETs first, as /<sha256>, in the order it asks for them.
	Preload []string
}

// HeadFunc gives the head start for ref (the path after /watch/), and false
// when there is none: the page is then served as it is.
type HeadFunc func(ctx context.Context, ref string) (Head, bool)

// SetHead sets the hook that gives /watch/<ref> pages their head start. It
// is meant to be called once, before the server answers requests.
func (s *Server) SetHead(f HeadFunc) {
	s.mu.Lock()
	s.head = f
	s.mu.Unlock()
}

// headMarker is where index.html takes the head start; without it, the
// head start goes before </head>.
const headMarker = "<!--cairn:head-->"

// maxHeadRef bounds the reference the hook is asked about (an nevent with
// a few relay hints is a few hundred characters).
const maxHeadRef = 2048

// serveHead answers /watch/<ref> with the app page carrying ref's head
// start, when the hook gives one; it reports false, having written
// nothing, otherwise. The page is built per request: its ETag is a hash of
// its bytes, so a page cached for one film or one store state is never
// revalidated as another's.
func (s *Server) serveHead(w http.ResponseWriter, r *http.Request, index *asset) bool {
	s.mu.Lock()
	f := s.head
	s.mu.Unlock()
	if f == nil {
		return false
	}
	p := path.Clean("/" + r.URL.Path)
	ref, ok := strings.CutPrefix(p, "/watch/")
	if !ok || len(ref) > maxHeadRef || !refChars(ref) {
		return false
	}
	h, ok := f(r.Context(), ref)
	if !ok {
		return false
	}
	page, ok := withHead(index.data, ref, h)
	if !ok {
		return false
	}
	sum := sha256.Sum256(page)
	hd := w.Header()
	hd.Set("Content-Type", index.ctype)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("ETag", `"h`+base64.RawURLEncoding.EncodeToString(sum[:18])+`"`)
	http.ServeContent(w, r, index.name, time.Time{}, bytes.NewReader(page))
	return true
}

// beginHead starts the head start from the HTML (early.js begin): an async
// module runs as soon as it and its imports are loaded, without waiting
// for app.js, the route and the player's imports. The modules it imports
// are preloaded at once, not found one import after another.
const beginHead = `<link rel="modulepreload" href="/early.js">
<link rel="modulepreload" href="/nostr.js">
<link rel="modulepreload" href="/util.js">
<link rel="modulepreload" href="/media.js">
<script type="module" async>import { begin } from "/early.js"; begin();</script>
`

// withHead returns page with h rendered at its head marker (or before
// </head>): a JSON script element {"ref", "events"} with id cairn-early,
// a preload link per blob, fetched as early.js fetches it (a same-origin
// fetch() in cors mode, so the browser hands the preloaded response to it),
// and the module that begins early.js's work (beginHead).
// Every string is escaped for HTML (<, > and & as \u escapes inside the
// JSON, so no content can close the script element). It reports false
// when page has no place for it, h has no valid event, or ref is not one
// the page could have asked for.
func withHead(page []byte, ref string, h Head) ([]byte, bool) {
	at := bytes.Index(page, []byte(headMarker))
	if at < 0 {
		at = bytes.Index(page, []byte("</head>"))
	}
	if at < 0 || !refChars(ref) {
		return nil, false
	}
	var events []json.RawMessage
	for _, ev := range h.Events {
		var c bytes.Buffer
		if err := json.Compact(&c, ev); err != nil || c.Len() == 0 || c.Bytes()[0] != '{' {
			continue
		}
		events = append(events, c.Bytes())
	}
	if len(events) == 0 {
		return nil, false
	}
	data, err := json.Marshal(struct {
		Ref    string            `json:"ref"`
		Events []json.RawMessage `json:"events"`
	}{ref, events})
	if err != nil {
		return nil, false
	}
	var b bytes.Buffer
	b.Grow(len(page) + len(data) + 128*len(h.Preload) + 128)
	b.Write(page[:at])
	b.WriteString(`<script type="application/json" id="cairn-early">`)
	json.HTMLEscape(&b, data)
	b.WriteString("</script>\n")
	for _, sha := range h.Preload {
		if len(sha) == 64 && isLowerHex(sha) {
			b.WriteString(`<link rel="preload" href="/` + sha + `" as="fetch" crossorigin>` + "\n")
		}
	}
	b.WriteString(beginHead)
	b.Write(page[at:])
	return b.Bytes(), true
}

// refChars reports whether ref uses only what the page's references use
// (bech32 and hex: letters and digits).
func refChars(ref string) bool {
	for i := 0; i < len(ref); i++ {
		c := ref[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return ref != ""
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

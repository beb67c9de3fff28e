package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/test/harness"
)

var (
	earlyElement = regexp.MustCompile(`<script type="application/json" id="cairn-early">([^<]*)</script>`)
	preloadLink  = regexp.MustCompile(`<link rel="preload" href="/([0-9a-f]{64})" as="fetch" crossorigin>`)
)

// pageHead GETs url and returns the page's inline events and preloaded
// hashes (none of either for a plain page).
func pageHead(t *testing.T, u string) (events []map[string]any, preloads []string) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET %s: %s %s", u, res.Status, res.Header.Get("Content-Type"))
	}
	if m := earlyElement.FindSubmatch(b); m != nil {
		var d struct {
			Events []map[string]any `json:"events"`
		}
		if err := json.Unmarshal(m[1], &d); err != nil {
			t.Fatalf("the page's cairn-early element is not JSON: %v", err)
		}
		events = d.Events
	}
	for _, m := range preloadLink.FindAllSubmatch(b, -1) {
		preloads = append(preloads, string(m[1]))
	}
	return events, preloads
}

// pageMarks reads the page's cairn:* performance marks, in ms from
// navigation, and logs them.
func pageMarks(t *testing.T, br *harness.Browser) map[string]float64 {
	var marks map[string]float64
	br.Eval(`Object.fromEntries(performance.getEntriesByType('mark').filter(m => m.name.startsWith('cairn:')).map(m => [m.name, m.startTime]))`, &marks)
	t.Logf("marks (ms from navigation): %v", marks)
	return marks
}

// countingProxy forwards to target (the node: pages, chunks, the relay's
// websocket) and counts the GETs of each path.
type countingProxy struct {
	*httptest.Server
	mu   sync.Mutex
	gets map[string]int
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{gets: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			p.mu.Lock()
			p.gets[r.URL.Path]++
			p.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *countingProxy) count(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gets[path]
}

// TestAppWatchHeadStart: the node that holds a film answers
// /watch/<nevent> (of its chunk map) with the map and preloads of
// chunks 0 and 1 in the page; the page plays from them (early.js takes the
// inline events, no REQ needed) and Chromium hands the preloaded responses
// to early.js's fetches: the node sees one GET of each of those chunks. A
// /watch of a reference the node does not hold gets the plain page.
func TestAppWatchHeadStart(t *testing.T) {
	clip := testVideo(t, 12, 900, "")
	n := harness.Start(t, "--webrtc-loopback")
	s := shareChunked(t, n, clip, "256KiB")

	events, preloads := pageHead(t, n.URL+"/watch/"+s.nevent)
	var chunks []string // chunk hashes by index, from the inline map
	for _, ev := range events {
		if ev["kind"] != 7001.0 {
			continue
		}
		for _, tag := range ev["tags"].([]any) {
			tg := tag.([]any)
			if tg[0] == "chunk" && len(tg) >= 3 {
				i, _ := strconv.Atoi(tg[2].(string))
				for len(chunks) <= i {
					chunks = append(chunks, "")
				}
				chunks[i] = tg[1].(string)
			}
		}
	}
	if len(events) != 1 || len(chunks) < 2 {
		t.Fatalf("the page of a held film carries %d events (want the chunk map the nevent names), a map of %d chunks", len(events), len(chunks))
	}
	if !slices.Equal(preloads, chunks[:2]) {
		t.Fatalf("preloads %v, want chunks 0 and 1 %v", preloads, chunks[:2])
	}
	if ev, pre := pageHead(t, n.URL+"/watch/"+strings.Repeat("0", 64)); len(ev) != 0 || len(pre) != 0 {
		t.Errorf("an unknown reference got a head start: %d events, %v", len(ev), pre)
	}

	proxy := newCountingProxy(t, n.URL)
	br := harness.NewBrowser(t)
	br.Open(proxy.URL + "/watch/" + s.nevent + "?loopback=1")
	br.WaitFor(60*time.Second, `(() => { const v = document.querySelector('video'); return !!v && v.currentTime > 0.2; })()`)
	marks := pageMarks(t, br)
	if _, ok := marks["cairn:early-inline"]; !ok {
		t.Errorf("early.js did not take the page's inline events: marks %v", marks)
	}
	if _, ok := marks["cairn:early"]; !ok {
		t.Errorf("the player did not start from the head start: marks %v", marks)
	}
	_, prepared := marks["cairn:early-init-appended"]
	_, own := marks["cairn:init-appended"]
	var players int
	br.Eval(`document.querySelectorAll('video, audio').length`, &players)
	if !prepared || own || players != 1 {
		t.Errorf("the player did not play on the element the page prepared (early.js prepareMedia): %d media elements, marks %v", players, marks)
	}
	if r, ok := marks["cairn:core-released"]; !ok || marks["cairn:wasm-compiled"] < r {
		t.Errorf("the core was compiled before the player released it (holdCore): marks %v", marks)
	}
	if b, ok := marks["cairn:early-begin"]; !ok || b > marks["cairn:early-inline"] {
		t.Errorf("the page did not begin the head start itself, before the player (early.js begin): marks %v", marks)
	}
	for i, c := range chunks[:2] {
		if got := proxy.count("/" + c); got != 1 {
			t.Errorf("chunk %d: the node got %d GETs of /%s…, want 1 (the preload, reused by early.js's fetch)", i, got, c[:8])
		}
	}
	proxy.mu.Lock()
	t.Logf("GETs seen by the node: %s", fmt.Sprint(proxy.gets))
	proxy.mu.Unlock()
	assertNoConsoleErrors(t, br)
}

// TestAppWatchRelayHint: node B never heard of the film node A shared.
// B's /watch/<nevent> is the plain page; the page finds the map on the
// nevent's relay hint (A's relay) from the browser, hands it to B's relay
// (which checks it and stores it, with A's addressing record), and plays
// from chunks B serves by hash, pulled from A.
func TestAppWatchRelayHint(t *testing.T) {
	clip := testVideo(t, 12, 900, "")
	a := harness.Start(t, "--webrtc-loopback")
	s := shareChunked(t, a, clip, "256KiB")
	b := harness.Start(t, "--webrtc-loopback")
	if ev, pre := pageHead(t, b.URL+"/watch/"+s.nevent); len(ev) != 0 || len(pre) != 0 {
		t.Fatalf("a node that does not hold the film put a head start in its page: %d events, %v", len(ev), pre)
	}
	br := harness.NewBrowser(t)
	br.Open(b.URL + "/watch/" + s.nevent + "?loopback=1")
	br.WaitFor(60*time.Second, `(() => { const v = document.querySelector('video'); return !!v && v.currentTime > 0.2; })()`)
	marks := pageMarks(t, br)
	for _, m := range []string{"cairn:early-hint", "cairn:early", "cairn:first-chunk"} {
		if _, ok := marks[m]; !ok {
			t.Errorf("no %s mark: the page did not start from the relay hint (marks %v)", m, marks)
		}
	}
	c := harness.Dial(t, b.WSURL)
	if got := c.Query("m", nostr.Filter{Kinds: []int{7001}}); len(got) != 1 {
		t.Errorf("B's relay holds %d chunk maps after the page handed it the film's, want 1", len(got))
	}
	if got := c.Query("r", nostr.Filter{Kinds: []int{30078}, Authors: []string{nodePubkey(t, a)}}); len(got) == 0 {
		t.Errorf("B's relay did not get A's addressing record from the page")
	}
	assertNoConsoleErrors(t, br)
}

package e2e

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/cairn-nostr/cairn/test/harness"
)

// The web app's tests drive the pages as a user does, in headless Chromium,
// against nodes on loopback. ?loopback=1 tells the app to keep only
// 127.0.0.1 WebRTC candidates. CAIRN_SCREENSHOTS=dir writes each screen at
// desktop and phone widths there (`make screenshots` sets it to
// docs/screenshots).

// testVideo makes a fragmented H.264/AAC MP4 of secs seconds with a
// keyframe every 2 s at about kbps; vf, when set, filters the test card
// (noise makes it as large as the bitrate asks).
func testVideo(t testing.TB, secs, kbps int, vf string) string {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("CAIRN_E2E") == "1" {
			t.Fatal("ffmpeg not found (`make deps` installs it)")
		}
		t.Skip("ffmpeg not installed")
	}
	out := filepath.Join(t.TempDir(), "clip.mp4")
	args := []string{"-loglevel", "error", "-f", "lavfi", "-i", fmt.Sprintf("testsrc=size=640x360:rate=25:duration=%d", secs),
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:duration=%d", secs),
		"-vf", cmp.Or(vf, "null"),
		"-c:v", "libx264", "-preset", "veryfast", "-profile:v", "baseline", "-pix_fmt", "yuv420p",
		"-b:v", fmt.Sprintf("%dk", kbps), "-maxrate", fmt.Sprintf("%dk", kbps), "-bufsize", fmt.Sprintf("%dk", kbps),
		"-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-c:a", "aac",
		"-movflags", "+frag_keyframe+empty_moov+default_base_moof", out}
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return out
}

// screenshot saves the screen at desktop and phone widths when
// CAIRN_SCREENSHOTS names a directory, then restores the desktop viewport.
func screenshot(t testing.TB, b *harness.Browser, name string) {
	dir := os.Getenv("CAIRN_SCREENSHOTS")
	if dir == "" {
		return
	}
	b.Screenshot(filepath.Join(dir, name+"-phone.png"), 390, 844)
	b.Screenshot(filepath.Join(dir, name+"-desktop.png"), 1280, 800)
}

// videoState is what the tests read of the page's <video>.
type videoState struct {
	Time     float64 `json:"t"`
	Duration float64 `json:"d"`
	Paused   bool    `json:"paused"`
	Have     int     `json:"have"`
	Total    int     `json:"total"`
}

const videoStateJS = `(() => {
  const v = document.querySelector('video');
  const root = %q;
  let p = {};
  try { p = cairn.progress(root) || {}; } catch (e) {}
  return {t: v ? v.currentTime : -1, d: v ? v.duration : -1, paused: v ? v.paused : true, have: p.have || 0, total: p.total || 0};
})()`

// TestAppWatch: a video shared on node A with `cairn share` is opened at
// /watch/<nevent> on node B's web app. Playback starts (currentTime
// advances) before the whole file has arrived (A's uploads are capped, so
// the file takes several seconds to cross), and a seek into the last quarter
// plays from there.
func TestAppWatch(t *testing.T) {
	clip := testVideo(t, 20, 900, "") // ~2.3 MB
	a := harness.Start(t, "--webrtc-loopback", "--upload-rate", "192KiB")
	b := harness.Start(t, "--webrtc-loopback")
	s := shareChunked(t, a, clip, "192KiB")

	br := harness.NewBrowser(t)
	br.Open(b.URL + "/watch/" + s.nevent + "?loopback=1")
	state := func() videoState {
		var v videoState
		br.Eval(fmt.Sprintf(videoStateJS, s.root), &v)
		return v
	}
	br.WaitFor(90*time.Second, `(() => { const v = document.querySelector('video'); return !!v && v.currentTime > 0.2; })()`)
	// The page's head start (the map from the nevent's relay hint, chunks 0
	// and 1 from B) may play before the core runs: wait for its download.
	br.WaitFor(60*time.Second, fmt.Sprintf(`(() => { try { return (cairn.progress(%q) || {}).total > 0; } catch (e) { return false; } })()`, s.root))
	first := state()
	t.Logf("playing at %.2fs with %d of %d chunks held", first.Time, first.Have, first.Total)
	if first.Total == 0 || first.Have >= first.Total {
		t.Fatalf("playback started only once the whole file had arrived (%d of %d chunks): the test shows nothing", first.Have, first.Total)
	}
	// The first chunks came from B, the node that served the page, over
	// HTTP (B fetching them from A meanwhile): to the page's head start or
	// to the core.
	var bst struct {
		Transfer map[string]struct {
			BytesUp uint64 `json:"bytes_up"`
		} `json:"transfer"`
	}
	getJSON(t, b.URL+"/api/status", &bst)
	if h := bst.Transfer["http"].BytesUp; h == 0 {
		t.Errorf("the serving node sent the tab nothing over HTTP: %+v", bst)
	}
	screenshot(t, br, "watch")

	// Seek into the last quarter: 20 s of media, to 16 s.
	const target = 16.0
	br.Eval(fmt.Sprintf(`(() => { const v = document.querySelector('video'); v.currentTime = %f; v.play().catch(() => {}); return true; })()`, target), nil)
	br.WaitFor(90*time.Second, fmt.Sprintf(`(() => { const v = document.querySelector('video'); return v.currentTime > %f && !v.paused; })()`, target+0.5))
	after := state()
	t.Logf("after the seek: playing at %.2fs (%d of %d chunks held)", after.Time, after.Have, after.Total)
	if after.Time < target || after.Time > target+4.5 {
		t.Fatalf("after seeking to %.0fs the video is at %.2fs", target, after.Time)
	}
	assertNoConsoleErrors(t, br)
}

// TestAppUpload: a video uploaded through the page of browser 1 appears in
// browser 2's feed and plays there, its chunks coming from browser 1 and
// from the node (which took them from browser 1 when the page handed the
// upload over).
func TestAppUpload(t *testing.T) {
	clip := testVideo(t, 24, 5000, "noise=alls=40:allf=t") // ~14 MB: several 5 MiB chunks
	n := harness.Start(t, "--webrtc-loopback")
	up := harness.NewBrowser(t)
	up.Open(n.URL + "/upload?loopback=1")
	screenshot(t, up, "upload")
	ctx, cancel := context.WithTimeout(up.Context(), 60*time.Second)
	defer cancel()
	const title = "A test card, uploaded from the page"
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible("#title"),
		chromedp.SetUploadFiles("#file", []string{clip}),
		chromedp.SendKeys("#title", title),
		chromedp.SendKeys("#desc", "Twenty-four seconds of colour bars."),
		chromedp.Click(`button[type="submit"]`),
	); err != nil {
		t.Fatalf("filling the upload form: %v", err)
	}
	up.WaitFor(2*time.Minute, `!!document.querySelector('a[href^="/watch/"]')`)
	var upPub string
	up.Eval(`cairn.status().pubkey`, &upPub)
	screenshot(t, up, "upload-done")

	// The node was handed the upload: it fetches it from the tab.
	deadline := time.Now().Add(90 * time.Second)
	for {
		var dls []struct {
			State string `json:"state"`
			Error string `json:"error"`
		}
		getJSON(t, n.URL+"/api/downloads", &dls)
		if len(dls) > 0 && dls[0].State == "complete" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node did not take the upload from the tab: downloads %+v", dls)
		}
		time.Sleep(500 * time.Millisecond)
	}

	viewer := harness.NewBrowser(t)
	// Over HTTP the node would send every chunk before the uploader's
	// WebRTC channel opened: this test is of the swarm, so the viewer's
	// app is set not to use the node's HTTP (the setting the app reads).
	viewer.Open(n.URL + "/wasm_exec.js")
	viewer.Eval(`localStorage.setItem('cairn.http', 'false'), true`, nil)
	viewer.Open(n.URL + "/?loopback=1")
	viewer.WaitFor(60*time.Second, fmt.Sprintf(`[...document.querySelectorAll('a[href^="/watch/"]')].some(a => a.textContent.includes(%q))`, title))
	screenshot(t, viewer, "feed")
	viewer.Eval(fmt.Sprintf(`(() => { [...document.querySelectorAll('a[href^="/watch/"]')].find(a => a.textContent.includes(%q)).click(); return true; })()`, title), nil)
	viewer.WaitFor(90*time.Second, `(() => { const v = document.querySelector('video'); return !!v && v.currentTime > 0.5; })()`)

	var st coreStatus
	viewer.Eval(`cairn.status()`, &st)
	nodePub := nodePubkey(t, n)
	fromTab, fromNode := st.peerDown(upPub), st.peerDown(nodePub)
	t.Logf("the viewer received %d bytes from the uploading tab and %d from the node", fromTab, fromNode)
	if fromTab+fromNode == 0 {
		t.Fatalf("the viewer's status shows no bytes from the uploader or the node: %+v", st)
	}
	if fromTab == 0 || fromNode == 0 {
		t.Errorf("the viewer should fetch from both the uploading tab (%d bytes) and the node (%d bytes)", fromTab, fromNode)
	}
	assertNoConsoleErrors(t, up, viewer)
}

// coreReadyJS is true once the app's banner says the browser node runs.
// It is read from the page, not by calling the core: a synchronous call
// made while start is still running has been seen to stall start (an open
// issue, see docs/ARCHITECTURE.md).
const coreReadyJS = `document.getElementById('corestate')?.dataset.phase === 'ready'`

// TestAppScreens: every screen loads with no console error, works with the
// browser's own key (no NIP-07 signer), and is photographed at desktop and
// phone widths when CAIRN_SCREENSHOTS is set. The key the app made lives in
// this browser and survives a reload.
func TestAppScreens(t *testing.T) {
	n := harness.Start(t, "--webrtc-loopback")
	b := harness.NewBrowser(t)
	var keys []string
	for _, screen := range []struct{ name, path, ready string }{
		{"feed", "/", coreReadyJS},
		{"profile", "/profile", coreReadyJS + ` && document.body.textContent.includes('npub1')`},
		{"dashboard", "/dashboard", `document.body.textContent.includes('webrtc') && document.body.textContent.includes('uploads open to') && document.body.textContent.includes('TURN allocations (browsers)') && document.body.textContent.includes('torrents seeded') && document.body.textContent.includes('Peers by reputation (verified bytes')`},
		{"credits", "/credits", `document.getElementById('chain')?.dataset.ok === 'yes' && document.body.textContent.includes('receipts accepted') && !document.body.textContent.includes('null') && document.getElementById('tabcredits')?.textContent.includes('entries in this browser') && document.body.textContent.includes('Cold storage: holding 0 chunks for other nodes')`},
	} {
		b.Open(n.URL + screen.path + "?loopback=1")
		b.WaitFor(45*time.Second, screen.ready)
		var hasSigner bool
		b.Eval(`!!window.nostr`, &hasSigner)
		if hasSigner {
			t.Fatal("the test browser has a NIP-07 signer: this test wants the browser key")
		}
		if screen.name != "dashboard" && screen.name != "credits" {
			var key string
			b.Eval(`cairn.status().pubkey`, &key)
			keys = append(keys, key)
		}
		screenshot(t, b, screen.name)
	}
	if len(keys) != 2 || len(keys[0]) != 64 || keys[0] != keys[1] {
		t.Errorf("the browser key changed across pages: %q", keys)
	}
	if errs := b.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// firstFrameJS runs in every document before its own scripts: it records,
// relative to navigation start (performance.now()), the first 'playing'
// event and the first frame presented (requestVideoFrameCallback) of the
// first <video> the page creates, and the page's performance marks.
const firstFrameJS = `(() => {
  globalThis.__ff = {playing: 0, frame: 0, stalls: 0, stalledMs: 0, since: 0};
  const watch = (v) => {
    if (v.__ffWatched) return;
    v.__ffWatched = true;
    v.addEventListener('playing', () => {
      if (!__ff.playing) __ff.playing = performance.now();
      if (__ff.since) { __ff.stalledMs += performance.now() - __ff.since; __ff.since = 0; }
    });
    v.addEventListener('waiting', () => { if (__ff.frame && !__ff.since) { __ff.stalls++; __ff.since = performance.now(); } });
    if (v.requestVideoFrameCallback) v.requestVideoFrameCallback(() => { if (!__ff.frame) __ff.frame = performance.now(); });
  };
  new MutationObserver(() => { const v = document.querySelector('video'); if (v) watch(v); })
    .observe(document, {childList: true, subtree: true});
})()`

// firstFrame is what one load of /watch/<nevent> measured, in ms from
// navigation start, with the app's own marks (cairn:*) when it sets them.
type firstFrame struct {
	Playing float64            `json:"playing"`
	Frame   float64            `json:"frame"`
	Marks   map[string]float64 `json:"marks"`
	// Stalls and StalledMs: the video's waits for data after its first
	// frame, until it had played stallWindow seconds.
	Stalls    int     `json:"stalls"`
	StalledMs float64 `json:"stalledMs"`
}

// stallWindow is how many seconds of the film each load plays, after its
// first frame, while its stalls are counted.
const stallWindow = 6

// watchFirstFrame opens url in a fresh browser that records the first
// <video>'s first frame (firstFrameJS), waits up to d for it, and returns
// the browser and what the load measured.
func watchFirstFrame(b *testing.B, url string, d time.Duration) (*harness.Browser, firstFrame) {
	br := harness.NewBrowser(b)
	if err := chromedp.Do(br.Context(), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: firstFrameJS})
		return err
	})); err != nil {
		b.Fatal(err)
	}
	br.Open(url)
	br.WaitFor(d, `__ff.frame > 0 && __ff.playing > 0`)
	br.WaitFor(d, fmt.Sprintf(`document.querySelector('video').currentTime >= %d`, stallWindow))
	var ff firstFrame
	br.Eval(`({playing: __ff.playing, frame: __ff.frame, stalls: __ff.stalls, stalledMs: __ff.stalledMs + (__ff.since ? performance.now() - __ff.since : 0),
	  marks: Object.fromEntries([...performance.getEntriesByType('mark').filter(m => m.name.startsWith('cairn:')).map(m => [m.name, m.startTime]),
	    ...['responseStart', 'responseEnd', 'domInteractive'].map(k => ['nav:' + k, performance.getEntriesByType('navigation')[0]?.[k]]),
	    ...performance.getEntriesByType('resource').filter(r => /\/((app|player|early|util|nostr|core|media|wasm_exec)\.js|app\.css|cairn\.wasm)$/.test(r.name)).map(r => ['got:' + r.name.split('/').pop(), r.responseEnd])])})`, &ff)
	return br, ff
}

// BenchmarkAppFirstFrame loads /watch/<nevent> of a 30 MiB H.264 film held
// by the node that serves the page, each time in a fresh browser (empty
// IndexedDB and cache), and reports the p50 and worst time from navigation
// start to the first frame presented, next to ceilings measured in the same
// run against the same node:
//
//	http-get-ms        GET of the init segment and first media chunk
//	                   (one Range request of /<sha256>) from a loaded page
//	http-nav-ms        the same GET ending, counted from navigation start
//	                   of a page that does nothing else
//	native-frame-ms    <video src=/<sha256>> first frame, from the
//	                   element's creation (the browser's own progressive
//	                   playback)
//
// stalls/load and stalled-ms/load, the video's waits for data after its
// first frame while it plays its first stallWindow seconds (what a later
// core costs the chunks after the first), and
// core-ready-p50-ms, navigation start to the browser core's Go main
// having registered globalThis.cairn (the app's cairn:wasm-ready mark).
//
//	CAIRN_E2E=1 go test ./test/ -run '^$' -bench AppFirstFrame -benchtime 10x
func BenchmarkAppFirstFrame(b *testing.B) {
	clip := testVideo(b, 50, 5000, "noise=alls=40:allf=t") // ~30 MiB
	if fi, err := os.Stat(clip); err == nil {
		b.Logf("film: %.1f MiB", float64(fi.Size())/(1<<20))
	}
	n := harness.Start(b, "--webrtc-loopback")
	s := shareChunked(b, n, clip, "0")

	var loads []firstFrame
	var firstBytes int64 // init segment + first media chunk
	for i := 0; i < b.N; i++ {
		br, ff := watchFirstFrame(b, n.URL+"/watch/"+s.nevent+"?loopback=1", 60*time.Second)
		loads = append(loads, ff)
		b.Logf("load %d: first frame %.0f ms, playing %.0f ms, %d stalls (%.0f ms) in the first %d s, marks %v", i, ff.Frame, ff.Playing, ff.Stalls, ff.StalledMs, stallWindow, ff.Marks)
		if firstBytes == 0 {
			br.WaitFor(60*time.Second, coreReadyJS) // the first frame may come before the core (early.js)
			br.Eval(fmt.Sprintf(`cairn.open(%q).then(f => f.chunks[0].length + f.chunks[1].length)`, s.nevent), &firstBytes)
		}
		assertNoConsoleErrorsTB(b, br)
		br.Close()
	}

	// Ceilings, against the same node.
	var httpGet, httpNav, native []float64
	for i := 0; i < 5; i++ {
		br := harness.NewBrowser(b)
		br.Open(n.URL + "/wasm_exec.js") // a page of the node's origin that runs nothing
		var r struct{ Get, Nav float64 }
		br.Eval(fmt.Sprintf(`(async () => {
		  const t0 = performance.now();
		  const res = await fetch('/%s', {headers: {Range: 'bytes=0-%d'}, cache: 'no-store'});
		  const n = (await res.arrayBuffer()).byteLength;
		  if (n !== %d) throw new Error('got ' + n + ' bytes');
		  const t1 = performance.now();
		  return {Get: t1 - t0, Nav: t1};
		})()`, s.sha256, firstBytes-1, firstBytes), &r)
		var v float64
		br.Eval(fmt.Sprintf(`new Promise((ok, fail) => {
		  const v = document.createElement('video');
		  v.muted = true; v.autoplay = true;
		  const t0 = performance.now();
		  v.requestVideoFrameCallback(() => ok(performance.now() - t0));
		  v.onerror = () => fail(new Error('video error ' + (v.error && v.error.message)));
		  v.src = '/%s';
		  document.body.append(v);
		})`, s.sha256), &v)
		httpGet, httpNav, native = append(httpGet, r.Get), append(httpNav, r.Nav), append(native, v)
		br.Close()
	}
	frames := make([]float64, len(loads))
	var ready []float64
	stalls, stalled := 0, 0.0
	for i, l := range loads {
		frames[i] = l.Frame
		stalls, stalled = stalls+l.Stalls, stalled+l.StalledMs
		if r, ok := l.Marks["cairn:wasm-ready"]; ok {
			ready = append(ready, r)
		}
	}
	if len(ready) > 0 {
		b.ReportMetric(median(ready), "core-ready-p50-ms")
	}
	b.ReportMetric(median(frames), "first-frame-p50-ms")
	b.ReportMetric(slices.Max(frames), "first-frame-max-ms")
	b.ReportMetric(median(httpGet), "http-get-ms")
	b.ReportMetric(median(httpNav), "http-nav-ms")
	b.ReportMetric(median(native), "native-frame-ms")
	b.ReportMetric(median(frames)/median(httpNav), "frame/http-nav")
	b.ReportMetric(float64(firstBytes)/(1<<20), "first-MiB")
	b.ReportMetric(float64(stalls)/float64(len(loads)), "stalls/load")
	b.ReportMetric(stalled/float64(len(loads)), "stalled-ms/load")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkAppFirstFrameRemote is the first frame when the node that serves
// the page does not hold the film: node A shared it; for each load a fresh
// node B starts (nothing cached), and a fresh browser opens B's
// /watch/<nevent>, so B (over HTTP) and the tab (over WebRTC) pull from A.
// The ceiling, in the same run: a fresh node B's `GET /<sha256>` of the
// init segment and first media chunk (one Range request that B serves by
// pulling from A), from navigation start of a page that does nothing else.
//
//	CAIRN_E2E=1 go test ./test/ -run '^$' -bench AppFirstFrameRemote -benchtime 5x
func BenchmarkAppFirstFrameRemote(b *testing.B) {
	clip := testVideo(b, 50, 5000, "noise=alls=40:allf=t") // ~30 MiB
	a := harness.Start(b, "--webrtc-loopback")
	s := shareChunked(b, a, clip, "0")
	var firstBytes int64
	var frames, ready, httpNav []float64
	stalls, stalled := 0, 0.0
	for i := 0; i < b.N; i++ {
		node := harness.Start(b, "--webrtc-loopback")
		br, ff := watchFirstFrame(b, node.URL+"/watch/"+s.nevent+"?loopback=1", 90*time.Second)
		b.Logf("load %d (fresh node): first frame %.0f ms, %d stalls (%.0f ms) in the first %d s, marks %v", i, ff.Frame, ff.Stalls, ff.StalledMs, stallWindow, ff.Marks)
		frames = append(frames, ff.Frame)
		stalls, stalled = stalls+ff.Stalls, stalled+ff.StalledMs
		if r, ok := ff.Marks["cairn:wasm-ready"]; ok {
			ready = append(ready, r)
		}
		if firstBytes == 0 {
			br.WaitFor(60*time.Second, coreReadyJS) // the first frame may come before the core (early.js)
			br.Eval(fmt.Sprintf(`cairn.open(%q).then(f => f.chunks[0].length + f.chunks[1].length)`, s.nevent), &firstBytes)
		}
		assertNoConsoleErrorsTB(b, br)
		br.Close()
		node.Stop()

		// The ceiling: another fresh node serving the same bytes over plain HTTP.
		ceil := harness.Start(b)
		// It learns of the file as the page's node did: by resolving the nevent.
		if out, errOut, code := harness.Run(b, "resolve", s.nevent, "--node", ceil.URL); code != 0 {
			b.Fatalf("cairn resolve exited %d: %s %s", code, out, errOut)
		}
		br = harness.NewBrowser(b)
		br.Open(ceil.URL + "/wasm_exec.js")
		var nav float64
		br.Eval(fmt.Sprintf(`(async () => {
		  const res = await fetch('/%s', {headers: {Range: 'bytes=0-%d'}, cache: 'no-store'});
		  const n = (await res.arrayBuffer()).byteLength;
		  if (n !== %d) throw new Error('got ' + n + ' bytes');
		  return performance.now();
		})()`, s.sha256, firstBytes-1, firstBytes), &nav)
		httpNav = append(httpNav, nav)
		br.Close()
		ceil.Stop()
	}
	if len(ready) > 0 {
		b.ReportMetric(median(ready), "core-ready-p50-ms")
	}
	b.ReportMetric(median(frames), "first-frame-p50-ms")
	b.ReportMetric(slices.Max(frames), "first-frame-max-ms")
	b.ReportMetric(median(httpNav), "http-nav-ms")
	b.ReportMetric(median(frames)/median(httpNav), "frame/http-nav")
	b.ReportMetric(float64(stalls)/float64(len(frames)), "stalls/load")
	b.ReportMetric(stalled/float64(len(frames)), "stalled-ms/load")
	b.ReportMetric(0, "ns/op")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func assertNoConsoleErrorsTB(t testing.TB, bs ...*harness.Browser) {
	t.Helper()
	for i, b := range bs {
		if errs := b.ConsoleErrors(); len(errs) > 0 {
			t.Errorf("browser %d logged errors:\n%s", i, strings.Join(errs, "\n"))
		}
	}
}

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/klauspost/compress/zstd"

	"github.com/cairn-nostr/cairn/test/harness"
)

// TestCoreZstd: the node sends the browser core in its zstd encoding to a
// client that accepts zstd (the .zst `make build-wasm` writes, byte for
// byte), and Chromium, which does, loads the app's core through it: the
// resource's encoded size is the .zst's, its decoded size the core's, and
// the core comes up.
func TestCoreZstd(t *testing.T) {
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	n := harness.Start(t, "--webrtc-loopback") // builds the core and its encodings first
	if os.Getenv("CAIRN_BIN") != "" {
		t.Skip("CAIRN_BIN: web/static need not be the binary's")
	}
	core, err := os.ReadFile(filepath.Join(root, "web", "static", "cairn.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	zst, err := os.ReadFile(filepath.Join(root, "web", "static", "cairn.wasm.zst"))
	if err != nil {
		t.Fatalf("no zstd encoding of the core (the zstd command builds it: `make deps`): %v", err)
	}

	req, _ := http.NewRequest(http.MethodGet, n.URL+"/cairn.wasm", nil)
	req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd") // by hand: the body stays encoded
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sent, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.Header.Get("Content-Encoding") != "zstd" || !bytes.Equal(sent, zst) {
		t.Fatalf("the node sent %d bytes, Content-Encoding %q; want cairn.wasm.zst's %d", len(sent), res.Header.Get("Content-Encoding"), len(zst))
	}

	b := harness.NewBrowser(t)
	b.Open(n.URL + "/?loopback=1")
	b.WaitFor(60*time.Second, coreReadyJS)
	var sizes struct{ Encoded, Decoded, Transfer float64 }
	b.Eval(`(() => {
	  const e = performance.getEntriesByName(location.origin + '/cairn.wasm')[0];
	  return e ? {Encoded: e.encodedBodySize, Decoded: e.decodedBodySize, Transfer: e.transferSize} : {};
	})()`, &sizes)
	if int(sizes.Encoded) != len(zst) || int(sizes.Decoded) != len(core) {
		t.Fatalf("Chromium fetched the core as %.0f bytes decoded to %.0f; want the .zst's %d decoded to %d",
			sizes.Encoded, sizes.Decoded, len(zst), len(core))
	}
	t.Logf("core: %d bytes, %d on the wire (zstd), %.0f transferred with headers", len(core), len(zst), sizes.Transfer)
	if errs := b.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%v", errs)
	}
}

// TestChromiumZstdWindow checks the limit web relies on (maxZstdWindow):
// Chromium decodes a zstd Content-Encoding whose frame declares an 8 MiB
// window and refuses one that declares 16 MiB, although both frames hold
// the same bytes.
func TestChromiumZstdWindow(t *testing.T) {
	data := bytes.Repeat([]byte("cairn window "), 10000)
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithSingleSegment(false))
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	// magic (4 bytes), frame header descriptor, window descriptor: its
	// exponent is log2(window)-10, in the top five bits. The encoder sized
	// the window to the data; declaring a wider one changes nothing else.
	frame := buf.Bytes()
	if frame[4]&0x20 != 0 {
		t.Fatalf("frame header %x: single segment, no window descriptor", frame[:6])
	}
	fits, wide := bytes.Clone(frame), bytes.Clone(frame)
	fits[5], wide[5] = (23-10)<<3, (24-10)<<3
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := fits
		if r.URL.Path == "/wide" {
			body = wide
		}
		if r.URL.Path == "/" {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<!doctype html><title>zstd</title>")
			return
		}
		w.Header().Set("Content-Encoding", "zstd")
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
	}))
	t.Cleanup(srv.Close)

	b := harness.NewBrowser(t)
	b.Open(srv.URL)
	var got struct{ Fits, Wide string }
	b.Eval(`(async () => {
	  const get = async (p) => {
	    try { return String((await (await fetch(p, {cache: 'no-store'})).arrayBuffer()).byteLength); }
	    catch (e) { return 'error: ' + e.message; }
	  };
	  return {Fits: await get('/fits'), Wide: await get('/wide')};
	})()`, &got)
	if got.Fits != fmt.Sprint(len(data)) {
		t.Errorf("8 MiB window: %s, want %d bytes", got.Fits, len(data))
	}
	if got.Wide == fmt.Sprint(len(data)) {
		t.Errorf("16 MiB window: Chromium decoded it; web's 8 MiB limit is stricter than needed")
	}
	t.Logf("Chromium: 8 MiB window %s bytes, 16 MiB window %s", got.Fits, got.Wide)
}

// BenchmarkCoreReadyThrottled is the time from navigation to the browser
// core being ready (the app's cairn:wasm-ready mark) on a link Chromium
// throttles to throttleMbps down with throttleLatency, each load in a fresh
// browser, next to the same loads unthrottled in the same run. The ceiling
// is wire-ms, the core's encoded bytes at the throttled rate (the core
// cannot be ready before its last byte arrives; compiling streams
// alongside); the ratio is wire-ms over the throttled ready time (1: ready
// the moment the core's bytes are in).
// Interleave CAIRN_BIN binaries to compare encodings.
//
//	CAIRN_E2E=1 go test ./test/ -run '^$' -bench CoreReadyThrottled -benchtime 5x
func BenchmarkCoreReadyThrottled(b *testing.B) {
	const throttleMbps, throttleLatency = 20, 20 // Mb/s, ms
	n := harness.Start(b, "--webrtc-loopback")
	load := func(throttle bool) (readyMs, encoded float64) {
		br := harness.NewBrowser(b)
		defer br.Close()
		if throttle {
			rate := float64(throttleMbps) * 1e6 / 8
			if err := chromedp.Do(br.Context(), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
					return err
				}
				_, err := cdp.Call(ctx, tg, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
					MatchedNetworkConditions: []*network.Conditions{{Latency: throttleLatency, DownloadThroughput: rate, UploadThroughput: rate}},
				})
				return err
			})); err != nil {
				b.Fatal(err)
			}
		}
		br.Open(n.URL + "/?loopback=1")
		br.WaitFor(90*time.Second, coreReadyJS)
		var r struct{ Ready, Encoded float64 }
		br.Eval(`(() => {
		  const m = performance.getEntriesByName('cairn:wasm-ready')[0];
		  const e = performance.getEntriesByName(location.origin + '/cairn.wasm')[0];
		  return {Ready: m ? m.startTime : -1, Encoded: e ? e.encodedBodySize : -1};
		})()`, &r)
		if r.Ready < 0 || r.Encoded <= 0 {
			b.Fatalf("no cairn:wasm-ready mark or /cairn.wasm entry: %+v", r)
		}
		return r.Ready, r.Encoded
	}
	var plain, slow []float64
	var encoded float64
	for i := 0; i < b.N; i++ {
		p, _ := load(false)
		s, e := load(true)
		plain, slow, encoded = append(plain, p), append(slow, s), e
		b.Logf("load %d: ready %.0f ms, throttled %.0f ms, core %.0f bytes on the wire", i, p, s, e)
	}
	wire := encoded / (float64(throttleMbps) * 1e6 / 8) * 1000
	b.ReportMetric(median(plain), "core-ready-p50-ms")
	b.ReportMetric(median(slow), "throttled-ready-p50-ms")
	b.ReportMetric(encoded/1e6, "wire-MB")
	b.ReportMetric(wire, "wire-ms")
	b.ReportMetric(wire/median(slow), "wire/throttled")
	b.ReportMetric(0, "ns/op")
}

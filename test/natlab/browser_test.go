package natlab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/test/harness"
)

// The browsers of the lab: headless Chromium started inside a home
// network's namespace, running the browser core against the public node,
// with the ICE servers of its GET /api/ice (its STUN and TURN server) and
// the default ICE policy: whatever path ICE finds is the one used.

// labTabJS loads the browser core into a page of the node, records each
// RTCPeerConnection the core makes, and starts the core as the web app
// does: the ICE servers of /api/ice, no loopback trimming, the node not
// used as a peer and not over HTTP (only tabs serve the file).
const labTabJS = `(async () => {
  window.pcs = [];
  const Orig = window.RTCPeerConnection;
  window.RTCPeerConnection = function (cfg) { const pc = new Orig(cfg); window.pcs.push(pc); return pc; };
  window.RTCPeerConnection.prototype = Orig.prototype;
  await new Promise((ok, fail) => {
    const s = document.createElement('script');
    s.src = '/wasm_exec.js'; s.onload = ok; s.onerror = () => fail(new Error('wasm_exec.js did not load'));
    document.head.append(s);
  });
  const ready = new Promise(ok => { globalThis.onCairnReady = ok; });
  const go = new Go();
  const { instance } = await WebAssembly.instantiateStreaming(fetch('/cairn.wasm'), go.importObject);
  go.run(instance);
  await ready;
  const st = await (await fetch('/api/status')).json();
  const ice = await (await fetch('/api/ice')).json();
  const k = cairn.generateKey();
  const r = await cairn.start({relay: st.urls.relay, secretKey: k.secretKey, nodePubkey: '', http: false,
    db: 'cairn-lab', iceServers: ice.iceServers});
  return r.pubkey;
})()`

// labShareJS shares %d random bytes and publishes the map; it returns the
// map's id and the bytes' SHA-256 (computed by the page).
const labShareJS = `(async () => {
  const b = new Uint8Array(%d);
  for (let i = 0; i < b.length; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(b.length, i + 65536)));
  const hex = buf => [...new Uint8Array(buf)].map(x => x.toString(16).padStart(2, '0')).join('');
  const sha = hex(await crypto.subtle.digest('SHA-256', b));
  const r = await cairn.share(b, {name: 'lab.bin', mime: 'application/octet-stream', title: 'lab'});
  let id = '';
  for (const tpl of r.events) {
    const ev = await cairn.sign(tpl);
    const res = await cairn.publish(ev);
    if (!res.ok) throw new Error('publish refused: ' + res.message);
    if (ev.kind === 7001) id = ev.id;
  }
  return {id, sha, root: r.root};
})()`

// labFetchJS fetches %q (a map id) whose root is %q, and returns the
// milliseconds to the first verified chunk (progress polled every 5 ms)
// and to the whole file, and the SHA-256 the page computes of it.
const labFetchJS = `(async () => {
  const t0 = performance.now();
  let first = 0;
  const poll = setInterval(() => {
    try { const p = cairn.progress(%[2]q); if (!first && p && p.have > 0) first = performance.now() - t0; } catch (e) {}
  }, 5);
  let r;
  try { r = await cairn.fetch(%[1]q, {}); } finally { clearInterval(poll); }
  const total = performance.now() - t0;
  if (!first) first = total;
  const bytes = await cairn.read(r.root, 0, r.size);
  const hex = buf => [...new Uint8Array(buf)].map(x => x.toString(16).padStart(2, '0')).join('');
  return {first_ms: first, total_ms: total, size: r.size, sha: hex(await crypto.subtle.digest('SHA-256', bytes))};
})()`

// labPairsJS gives the candidate types of the selected pair of each
// connected RTCPeerConnection, from the browser's getStats().
const labPairsJS = `(async () => {
  const out = [];
  for (const pc of window.pcs) {
    if (pc.connectionState !== 'connected') continue;
    const st = await pc.getStats();
    let pair;
    st.forEach(r => { if (r.type === 'transport' && r.selectedCandidatePairId) pair = st.get(r.selectedCandidatePairId); });
    if (!pair) continue;
    const l = st.get(pair.localCandidateId), rm = st.get(pair.remoteCandidateId);
    out.push({local: l.candidateType, remote: rm.candidateType, local_addr: l.address + ':' + l.port, remote_addr: rm.address + ':' + rm.port});
  }
  return out;
})()`

type labPair struct {
	Local      string `json:"local"`
	Remote     string `json:"remote"`
	LocalAddr  string `json:"local_addr"`
	RemoteAddr string `json:"remote_addr"`
}

func (p labPair) relayed() bool { return p.Local == "relay" || p.Remote == "relay" }

type labFetch struct {
	FirstMS float64 `json:"first_ms"`
	TotalMS float64 `json:"total_ms"`
	Size    int64   `json:"size"`
	SHA     string  `json:"sha"`
}

// labTab is Chromium in role's namespace with the core started against
// pub.
func labTab(t *testing.T, l *Lab, role string, pub *Node) (*harness.Browser, string) {
	t.Helper()
	wrapper := filepath.Join(t.TempDir(), "chromium-"+role)
	script := fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n", l.NS(role), harness.NeedChromium(t))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// The node's origin is plain HTTP on a non-loopback address: Chromium
	// is told to count it as secure, as an https origin would be (the core
	// needs WebCrypto, which only secure contexts have), and may reach it
	// (the harness's Chromium reaches 127.0.0.1 only).
	host := strings.TrimPrefix(pub.URL, "http://")
	host = host[:strings.LastIndex(host, ":")]
	b := harness.NewBrowserExec(t, wrapper, map[string]any{
		"unsafely-treat-insecure-origin-as-secure": pub.URL,
		"host-resolver-rules":                      "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE " + host,
	})
	b.Open(pub.URL + "/wasm_exec.js") // a page of the node's origin where the app does not boot
	var pub8 string
	if err := b.EvalTimeout(2*time.Minute, labTabJS, &pub8); err != nil || len(pub8) != 64 {
		t.Fatalf("tab in %s: cairn.start: %q, %v\nconsole:\n%s", role, pub8, err, b.ConsoleText())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tab in %s console:\n%s", role, b.ConsoleText())
		}
	})
	return b, pub8
}

func pairs(t *testing.T, b *harness.Browser) []labPair {
	t.Helper()
	var ps []labPair
	b.Eval(labPairsJS, &ps)
	return ps
}

// TestBrowsersBehindNAT: a tab behind an endpoint-independent NAT (home 1)
// fetches a file from a tab behind another (home 2) over a direct path
// that STUN opened: the browsers' getStats() show no relay candidate and
// a reflexive remote one. A tab behind the symmetric NAT (home 3) fetches
// the same file with the same configuration: ICE falls back to relay
// candidates on the public node's TURN server, which counts the bytes (it
// fetches from home 2's tab and home 1's, which seeds once it holds the
// file; both connections relayed).
// Times to the first chunk and to the whole file are logged for both.
func TestBrowsersBehindNAT(t *testing.T) {
	requireLab(t)
	harness.NeedChromium(t)
	harness.Binary(t)
	l := buildLab(t)
	// The lab's internet is 10.77.0.0/24, private space: the TURN server
	// must be allowed to relay to it.
	pub := l.StartNode(t, "pub", "--listen", "10.77.0.10:7447", "--p2p-listen", "/ip4/10.77.0.10/tcp/4848", "--turn-allow-private", "--turn-rate", "0")
	if st := pub.MustStatus(); st.TURN == nil || !strings.HasPrefix(st.TURN.Addr, "10.77.0.10:") {
		t.Fatalf("pub's TURN server is not on 10.77.0.10: %+v", st.TURN)
	}

	b, bpub := labTab(t, l, "b", pub)
	const size = 6<<20 + 777
	var shared struct{ ID, SHA, Root string }
	if err := b.EvalTimeout(2*time.Minute, fmt.Sprintf(labShareJS, size), &shared); err != nil {
		t.Fatalf("share in b: %v", err)
	}

	type result struct {
		role  string
		got   labFetch
		pairs []labPair
	}
	var results []result
	for _, role := range []string{"a", "s"} {
		tab, _ := labTab(t, l, role, pub)
		turnBytes := func() uint64 { st := pub.MustStatus().TURN; return st.BytesOut + st.BytesIn }
		before := turnBytes()
		var got labFetch
		if err := tab.EvalTimeout(3*time.Minute, fmt.Sprintf(labFetchJS, shared.ID, shared.Root), &got); err != nil {
			t.Fatalf("fetch in %s: %v", role, err)
		}
		if got.SHA != shared.SHA || got.Size != size {
			t.Fatalf("%s got %d bytes with sha256 %s; b shared %d with %s", role, got.Size, got.SHA, size, shared.SHA)
		}
		// a's one connection is to b; s has one to b and may have one to
		// a, which seeds the file once it holds it.
		ps := pairs(t, tab)
		if len(ps) == 0 || (role == "a" && len(ps) != 1) || len(ps) > 2 {
			t.Fatalf("%s: %d connected peer connections (%+v)", role, len(ps), ps)
		}
		relayed := turnBytes() - before // either way: the relay candidate may be either side's
		switch role {
		case "a": // two endpoint-independent NATs: direct through STUN
			if ps[0].relayed() || (ps[0].Remote != "srflx" && ps[0].Remote != "prflx") {
				t.Fatalf("a's selected pair %+v: want no relay candidate and b's reflexive address as the remote one", ps[0])
			}
			if relayed > 1<<20 {
				t.Fatalf("the TURN server relayed %d bytes while a fetched over a direct path", relayed)
			}
		case "s": // behind the symmetric NAT: only a relay works
			for _, p := range ps {
				if !p.relayed() {
					t.Fatalf("s's selected pair %+v: want a relay candidate through pub's TURN", p)
				}
			}
			if relayed < size {
				t.Fatalf("the TURN server relayed %d bytes of s's fetch of %d", relayed, size)
			}
		}
		results = append(results, result{role, got, ps})
	}
	bp := pairs(t, b)
	t.Logf("b (%s) selected pairs: %+v", bpub[:8], bp)
	for _, r := range results {
		mib := float64(r.got.Size) / (1 << 20)
		t.Logf("%s: selected pairs %+v; first chunk %.0f ms, whole file %.0f ms, %.1f MiB/s from the start",
			r.role, r.pairs, r.got.FirstMS, r.got.TotalMS, mib/(r.got.TotalMS/1000))
	}
	if len(results) == 2 {
		t.Logf("relayed/direct time to the whole file: %.2f; to the first chunk: %.2f", results[1].got.TotalMS/results[0].got.TotalMS, results[1].got.FirstMS/results[0].got.FirstMS)
	}
	t.Logf("pub's TURN: %+v", *pub.MustStatus().TURN)
}

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

// labStartJS starts the core as the web app does: the ICE servers of
// /api/ice, no loopback trimming, the node not used as a peer and not over
// HTTP (only tabs serve the files).
const labStartJS = `(async () => {
  const st = await (await fetch('/api/status')).json();
  const ice = await (await fetch('/api/ice')).json();
  const k = cairn.generateKey();
  const r = await cairn.start({relay: st.urls.relay, secretKey: k.secretKey, nodePubkey: '', http: false,
    db: 'cairn-lab', iceServers: ice.iceServers});
  return r.pubkey;
})()`

// labShareJS shares %d random bytes and publishes the map; it returns the
// map's id and root, its chunk count and the bytes' SHA-256 (computed by
// the page).
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
  return {id, sha, root: r.root, chunks: r.chunks};
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
	b.Eval(harness.RecordPeerConnectionsJS, nil)
	if err := b.EvalTimeout(2*time.Minute, harness.LoadCoreJS, nil); err != nil {
		t.Fatalf("tab in %s: loading the core: %v", role, err)
	}
	var pub8 string
	if err := b.EvalTimeout(2*time.Minute, labStartJS, &pub8); err != nil || len(pub8) != 64 {
		t.Fatalf("tab in %s: cairn.start: %q, %v\nconsole:\n%s", role, pub8, err, b.ConsoleText())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tab in %s console:\n%s", role, b.ConsoleText())
		}
	})
	return b, pub8
}

// TestBrowsersBehindNAT: a tab behind an endpoint-independent NAT (home 1)
// fetches files from a tab behind another (home 2) over a direct path
// that STUN opened: the browsers' getStats() show no relay candidate and
// a reflexive remote one. A tab behind the symmetric NAT (home 3) fetches
// other files from the same tab with the same configuration: ICE falls
// back to relay candidates on the public node's TURN server, which counts
// the bytes. Each fetch is of a file only home 2's tab holds (one seeder);
// two rounds, the first connecting (cold), the second over the open
// connections (warm), in alternating order; times to the first chunk and
// to the whole file are logged.
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
	tabs := map[string]*harness.Browser{}
	for _, role := range []string{"a", "s"} {
		tabs[role], _ = labTab(t, l, role, pub)
	}
	turnBytes := func() uint64 { st := pub.MustStatus().TURN; return st.BytesOut + st.BytesIn }
	// quiet waits (at most 10 s) until the TURN server's counters stop
	// moving: what an earlier fetch still had in flight through it (a
	// request answered after the fetch completed) is not counted against
	// the next one.
	quiet := func() {
		last := turnBytes()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			time.Sleep(300 * time.Millisecond)
			now := turnBytes()
			if now == last {
				return
			}
			last = now
		}
	}

	const size = 6<<20 + 777
	type result struct {
		round, role string
		got         labFetch
	}
	var results []result
	for _, round := range []struct {
		name  string
		order []string
	}{{"cold", []string{"s", "a"}}, {"warm", []string{"a", "s"}}} {
		for _, role := range round.order {
			var shared struct {
				ID, SHA, Root string
				Chunks        int
			}
			if err := b.EvalTimeout(2*time.Minute, fmt.Sprintf(labShareJS, size), &shared); err != nil {
				t.Fatalf("share in b: %v", err)
			}
			tab := tabs[role]
			quiet()
			before := turnBytes()
			var got labFetch
			if err := tab.EvalTimeout(3*time.Minute, fmt.Sprintf(labFetchJS, shared.ID, shared.Root), &got); err != nil {
				t.Fatalf("%s fetch in %s: %v", round.name, role, err)
			}
			if got.SHA != shared.SHA || got.Size != size {
				t.Fatalf("%s got %d bytes with sha256 %s; b shared %d with %s", role, got.Size, got.SHA, size, shared.SHA)
			}
			ps := tab.SelectedPairs()
			if len(ps) != 1 {
				t.Fatalf("%s: %d connected peer connections (%+v), want 1 (to b)", role, len(ps), ps)
			}
			relayed := turnBytes() - before // either way: the relay candidate may be either side's
			switch role {
			case "a": // two endpoint-independent NATs: direct through STUN
				if ps[0].Relayed() || (ps[0].Remote != "srflx" && ps[0].Remote != "prflx") {
					t.Fatalf("a's selected pair %+v: want no relay candidate and b's reflexive address as the remote one", ps[0])
				}
				if relayed > 1<<20 {
					t.Fatalf("the TURN server relayed %d bytes while a fetched over a direct path", relayed)
				}
			case "s": // behind the symmetric NAT: only a relay works
				if !ps[0].Relayed() {
					t.Fatalf("s's selected pair %+v: want a relay candidate through pub's TURN", ps[0])
				}
				if relayed < size {
					t.Fatalf("the TURN server relayed %d bytes of s's fetch of %d", relayed, size)
				}
			}
			t.Logf("%s %s: selected %s/%s (%s -> %s); first chunk %.0f ms, whole file (%d chunks) %.0f ms", round.name, role,
				ps[0].Local, ps[0].Remote, ps[0].LocalAddr, ps[0].RemoteAddr, got.FirstMS, shared.Chunks, got.TotalMS)
			results = append(results, result{round.name, role, got})
		}
	}
	t.Logf("b (%s) selected pairs: %+v", bpub[:8], b.SelectedPairs())
	find := func(round, role string) labFetch {
		for _, r := range results {
			if r.round == round && r.role == role {
				return r.got
			}
		}
		return labFetch{}
	}
	mib := float64(size) / (1 << 20)
	for _, round := range []string{"cold", "warm"} {
		d, r := find(round, "a"), find(round, "s")
		t.Logf("%s: direct (STUN) first chunk %.0f ms, file %.0f ms (%.1f MiB/s); relayed (TURN) first chunk %.0f ms, file %.0f ms (%.1f MiB/s); relayed/direct %.2f first chunk, %.2f file",
			round, d.FirstMS, d.TotalMS, mib/(d.TotalMS/1000), r.FirstMS, r.TotalMS, mib/(r.TotalMS/1000), r.FirstMS/d.FirstMS, r.TotalMS/d.TotalMS)
	}
	t.Logf("pub's TURN: %+v", *pub.MustStatus().TURN)
}

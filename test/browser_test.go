package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/relay/client"
	"github.com/cairn-nostr/cairn/test/harness"
	"github.com/cairn-nostr/cairn/webrtc"
)

// The browser tests run the browser core (web/static/cairn.wasm, the API of
// wasm/README.md) in headless Chromium, each browser with a profile of its
// own, against nodes started with --webrtc-loopback. The page is any page
// of the node's origin that does not start the app itself; loadCore adds
// the core to it.

// coreJS loads the core into the page (harness.LoadCoreJS).
const coreJS = harness.LoadCoreJS

// startJS starts the core with a fresh browser key against the node that
// serves the page; %s is "true" to use the node as a peer, "false" not to.
// These tests are of WebRTC: the node's chunks over HTTP (http: false) are
// left out; the app's tests have them.
// Meanwhile the page polls the synchronous calls every 10 ms, as a busy
// page would: start must resolve all the same.
const startJS = `(async () => {
  const st = await (await fetch('/api/status')).json();
  const k = cairn.generateKey();
  let polls = 0;
  const poll = setInterval(() => { cairn.status(); cairn.version(); cairn.progress('ab'.repeat(32)); polls++; }, 10);
  try {
    const r = await cairn.start({relay: st.urls.relay, secretKey: k.secretKey, nodePubkey: %s ? st.pubkey : '', loopback: true, http: false, db: 'cairn-test'});
    return r.pubkey;
  } finally {
    clearInterval(poll);
  }
})()`

// helpersJS: random bytes, and the SHA-256 of a whole file read back
// through the core (computed in JavaScript, independently of the core).
const helpersJS = `
window.t = {
  random(n) { const b = new Uint8Array(n); for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536))); return b; },
  hex(buf) { return [...new Uint8Array(buf)].map(x => x.toString(16).padStart(2, '0')).join(''); },
  async digest(b) { return this.hex(await crypto.subtle.digest('SHA-256', b)); },
  async readAll(root, size) { return await cairn.read(root, 0, size); },
};
true`

// coreTab is a browser running the core.
type coreTab struct {
	*harness.Browser
	pubkey string
}

func startCore(t testing.TB, n *harness.Node, useNode bool) *coreTab {
	t.Helper()
	b := harness.NewBrowser(t)
	b.Open(n.URL + "/wasm_exec.js") // a page of the node's origin where the app does not boot
	b.Eval(coreJS, nil)
	b.Eval(helpersJS, nil)
	var pub string
	b.Eval(fmt.Sprintf(startJS, strconv.FormatBool(useNode)), &pub)
	if len(pub) != 64 {
		t.Fatalf("cairn.start returned pubkey %q", pub)
	}
	t.Cleanup(func() {
		if errs := b.ConsoleErrors(); t.Failed() || len(errs) > 0 {
			t.Logf("browser %s console:\n%s", pub[:8], b.ConsoleText())
		}
	})
	return &coreTab{Browser: b, pubkey: pub}
}

// shareJS shares n random bytes from the tab, signs and publishes the chunk
// map and file metadata with the browser key, and returns the root and the
// SHA-256 computed in JavaScript.
const shareJS = `(async () => {
  const bytes = t.random(%d);
  const sha = await t.digest(bytes);
  const r = await cairn.share(bytes, {name: 'random.bin', mime: 'application/octet-stream', title: 'random'});
  let id = '';
  for (const tpl of r.events) {
    const ev = await cairn.sign(tpl);
    const res = await cairn.publish(ev);
    if (!res.ok) throw new Error('publish refused: ' + res.message);
    if (ev.kind === 7001) id = ev.id;
  }
  return {root: r.root, id: id, sha: sha, core_sha: r.sha256, chunks: r.chunks};
})()`

type sharedInTab struct {
	Root    string `json:"root"`
	ID      string `json:"id"` // of the kind 7001
	SHA     string `json:"sha"`
	CoreSHA string `json:"core_sha"`
	Chunks  int    `json:"chunks"`
}

func (c *coreTab) share(t testing.TB, size int) sharedInTab {
	t.Helper()
	var s sharedInTab
	c.Eval(fmt.Sprintf(shareJS, size), &s)
	if s.SHA != s.CoreSHA || len(s.Root) != 64 {
		t.Fatalf("share: %+v (the core's sha256 differs from the page's, or no root)", s)
	}
	return s
}

// fetchJS fetches a reference completely, then reads the whole file back
// and hashes it in JavaScript.
const fetchJS = `(async () => {
  const r = await cairn.fetch(%q, {});
  const bytes = await t.readAll(r.root, r.size);
  return {root: r.root, size: r.size, sha: await t.digest(bytes), core_sha: r.sha256};
})()`

type fetched struct {
	Root    string `json:"root"`
	Size    int64  `json:"size"`
	SHA     string `json:"sha"`
	CoreSHA string `json:"core_sha"`
}

func (c *coreTab) fetch(t testing.TB, ref string) fetched {
	t.Helper()
	var f fetched
	if err := c.EvalTimeout(3*time.Minute, fmt.Sprintf(fetchJS, ref), &f); err != nil {
		t.Fatalf("fetch %s in browser %s: %v\nconsole:\n%s", ref, c.pubkey[:8], err, c.ConsoleText())
	}
	return f
}

// coreStatus is the part of cairn.status() the tests read.
type coreStatus struct {
	PubKey string `json:"pubkey"`
	Peers  []struct {
		PubKey    string `json:"pubkey"`
		Transport string `json:"transport"`
		BytesUp   int64  `json:"bytes_up"`
		BytesDown int64  `json:"bytes_down"`
		State     string `json:"state"`
	} `json:"peers"`
	Transports map[string]struct {
		BytesUp   int64 `json:"bytes_up"`
		BytesDown int64 `json:"bytes_down"`
	} `json:"transports"`
	Credits struct {
		Up       int64 `json:"up"`
		Down     int64 `json:"down"`
		Balance  int64 `json:"balance"`
		Entries  int   `json:"entries"`
		Accepted int64 `json:"receipts_accepted"`
		Refused  int64 `json:"receipts_refused"`
		Sent     int64 `json:"receipts_sent"`
	} `json:"credits"`
}

func (c *coreTab) status(t testing.TB) coreStatus {
	t.Helper()
	var st coreStatus
	c.Eval(`cairn.status()`, &st)
	return st
}

// verifiedFrom is the verified bytes the tab's download of root took from
// pubkey (progress().peer_stats).
func (c *coreTab) verifiedFrom(t testing.TB, root, pubkey string) int64 {
	t.Helper()
	var prog struct {
		PeerStats []struct {
			PubKey string `json:"pubkey"`
			Bytes  int64  `json:"bytes"`
		} `json:"peer_stats"`
	}
	c.Eval(fmt.Sprintf(`cairn.progress(%q)`, root), &prog)
	var n int64
	for _, p := range prog.PeerStats {
		if p.PubKey == pubkey {
			n += p.Bytes
		}
	}
	return n
}

// peerDown is the bytes the tab received from pubkey.
func (st coreStatus) peerDown(pubkey string) int64 {
	var n int64
	for _, p := range st.Peers {
		if p.PubKey == pubkey {
			n += p.BytesDown
		}
	}
	return n
}

// TestBrowserToBrowser: browser A holds a file only it has; browser B, in a
// separate profile and told nothing of the node as a peer, fetches it over
// a browser<->browser DataChannel; the bytes are identical.
func TestBrowserToBrowser(t *testing.T) {
	n := harness.Start(t, "--webrtc-loopback")
	a := startCore(t, n, false)
	b := startCore(t, n, false)
	const size = 12<<20 + 12345
	s := a.share(t, size)
	signals := watchSignals(t, n)
	got := b.fetch(t, s.ID)
	if got.SHA != s.SHA || got.Size != size {
		t.Fatalf("B got %d bytes with sha256 %s; A shared %d bytes with sha256 %s", got.Size, got.SHA, size, s.SHA)
	}
	st := b.status(t)
	if down := st.peerDown(a.pubkey); down < size {
		t.Fatalf("B's status shows %d bytes from A (want >= %d): %+v", down, size, st)
	}
	checkSignals(t, signals(), a.pubkey, b.pubkey, s.Root)
	assertNoConsoleErrors(t, a.Browser, b.Browser)
}

// watchSignals records every kind 20001 event the node's relay passes on;
// the returned func gives those seen so far.
func watchSignals(t *testing.T, n *harness.Node) func() []*nostr.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	conn, err := client.Dial(ctx, n.WSURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	var mu sync.Mutex
	var seen []*nostr.Event
	ready := make(chan struct{})
	go conn.Subscribe(ctx, nostr.Filter{Kinds: []int{20001}}, func(ev *nostr.Event) {
		mu.Lock()
		seen = append(seen, ev)
		mu.Unlock()
	}, func() { close(ready) })
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("subscription to kind 20001 not live")
	}
	return func() []*nostr.Event {
		mu.Lock()
		defer mu.Unlock()
		return append([]*nostr.Event(nil), seen...)
	}
}

// checkSignals: the signaling between two browsers is kind 20001 between
// their keys, tagged p, x and type (offer, answer, ice-candidate), and its
// content is NIP-44 ciphertext with no SDP in clear.
func checkSignals(t *testing.T, evs []*nostr.Event, a, b, root string) {
	t.Helper()
	types := map[string]int{}
	for _, ev := range evs {
		if ok, _ := ev.CheckSignature(); !ok || ev.Kind != 20001 {
			t.Errorf("signal %s: kind %d, signature ok %v", ev.ID, ev.Kind, ok)
		}
		p, x, typ := ev.Tags.GetFirst([]string{"p", ""}), ev.Tags.GetFirst([]string{"x", ""}), ev.Tags.GetFirst([]string{"type", ""})
		if p == nil || x == nil || typ == nil {
			t.Errorf("signal %s lacks a p, x or type tag: %v", ev.ID, ev.Tags)
			continue
		}
		if !(ev.PubKey == a && (*p)[1] == b || ev.PubKey == b && (*p)[1] == a) {
			continue // another pair (the node's own signaling)
		}
		if (*x)[1] != root {
			t.Errorf("signal %s: x %s, want the root %s", ev.ID, (*x)[1], root)
		}
		types[(*typ)[1]]++
		// Each marker has a character outside base64's alphabet, so none can
		// appear in ciphertext by chance.
		for _, clear := range []string{"v=0", "a=candidate", `"sdp"`, "ice-ufrag:", "fingerprint:", "127.0.0.1", " "} {
			if strings.Contains(ev.Content, clear) {
				t.Errorf("signal %s content has %q in clear: %.80s", ev.ID, clear, ev.Content)
			}
		}
		if raw, err := base64.StdEncoding.DecodeString(ev.Content); err != nil || len(raw) < 99 || raw[0] != 2 {
			t.Errorf("signal %s content is not NIP-44 v2 ciphertext (base64 of version 2 payload): %.80s", ev.ID, ev.Content)
		}
	}
	t.Logf("signals between the browsers: %v", types)
	if types["offer"] == 0 || types["answer"] == 0 {
		t.Errorf("saw no offer and answer between the browsers on the relay: %v (of %d kind 20001 events)", types, len(evs))
	}
}

// TestBrowserFromNodeAndBrowser: a node holds a file; browser C fetched it
// before; browser D fetches it from the node and from C at the same time,
// and its status counters show bytes from both.
func TestBrowserFromNodeAndBrowser(t *testing.T) {
	n := harness.Start(t, "--webrtc-loopback")
	path, data := mediaFile(t, "node-and-browser.bin", 24<<20)
	want := sha256Hex(data)
	s := shareChunked(t, n, path, "1MiB")
	c := startCore(t, n, true)
	if got := c.fetch(t, s.nevent); got.SHA != want {
		t.Fatalf("C: sha256 %s, want %s", got.SHA, want)
	}
	d := startCore(t, n, true)
	got := d.fetch(t, s.nevent)
	if got.SHA != want {
		t.Fatalf("D: sha256 %s, want %s", got.SHA, want)
	}
	// Verified bytes by peer, as D's scheduler counted them (they stay
	// counted when a channel closes), and the DataChannel counters.
	nodePub := nodePubkey(t, n)
	fromNode, fromC := d.verifiedFrom(t, s.root, nodePub), d.verifiedFrom(t, s.root, c.pubkey)
	st := d.status(t)
	t.Logf("D verified %d bytes from the node and %d from browser C; its open channels: %+v", fromNode, fromC, st.Peers)
	if fromNode == 0 || fromC == 0 {
		t.Fatalf("D's status does not show bytes from both the node (%d) and browser C (%d): %+v", fromNode, fromC, st)
	}
	if fromNode+fromC != int64(len(data)) {
		t.Errorf("D verified %d bytes in all, the file has %d", fromNode+fromC, len(data))
	}
	var ns struct {
		Transfer map[string]struct {
			BytesUp int64 `json:"bytes_up"`
		} `json:"transfer"`
	}
	getJSON(t, n.URL+"/api/status", &ns)
	if ns.Transfer["webrtc"].BytesUp == 0 {
		t.Fatalf("the node's /api/status shows no webrtc bytes up: %+v", ns.Transfer)
	}
	// The tabs signed a receipt for every chunk the node sent them over
	// WebRTC; the node verified and credited them (they come after each
	// chunk, so they may still be on their way: bounded wait).
	var cr struct {
		Up       int64  `json:"up"`
		Accepted int64  `json:"receipts_accepted"`
		Refused  int64  `json:"receipts_refused"`
		Refusal  string `json:"last_refusal"`
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		getJSON(t, n.URL+"/api/credits", &cr)
		if cr.Accepted > 0 && cr.Up > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the node's ledger: %+v", cr)
	if cr.Accepted == 0 || cr.Up == 0 || cr.Refused != 0 {
		t.Fatalf("the node credited no receipt from the tabs, or refused some: %+v", cr)
	}
	// Tab C seeded to tab D: D signed a receipt per chunk, C's ledger
	// credits them (bytes up) and D's debits them, with what it fetched
	// from the node over WebRTC (not over HTTP: no receipt goes there);
	// bounded wait, the receipts follow the chunks.
	var sc, sd coreStatus
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		sc, sd = c.status(t), d.status(t)
		if sc.Credits.Up >= fromC && sd.Credits.Down >= fromC || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("tab C's ledger %+v; tab D's %+v", sc.Credits, sd.Credits)
	if sc.Credits.Up < fromC || sc.Credits.Refused != 0 || sc.Credits.Balance != 100<<20+sc.Credits.Up-sc.Credits.Down {
		t.Errorf("tab C credited %d bytes up for the %d it served D: %+v", sc.Credits.Up, fromC, sc.Credits)
	}
	if sd.Credits.Down < fromC || sd.Credits.Sent == 0 {
		t.Errorf("tab D debited %d bytes, less than the %d it fetched from C: %+v", sd.Credits.Down, fromC, sd.Credits)
	}
	assertNoConsoleErrors(t, c.Browser, d.Browser)
}

// TestBrowserRejectsCorruptChunks: a lying peer (pion, in this process)
// announces the root and answers every request with wrong bytes; the browser
// rejects them, strikes the liar, and completes from the node.
func TestBrowserRejectsCorruptChunks(t *testing.T) {
	n := harness.Start(t, "--webrtc-loopback")
	path, data := mediaFile(t, "corrupt.bin", 8<<20)
	want := sha256Hex(data)
	s := shareChunked(t, n, path, "256KiB")

	liar := startLiar(t, n, s)
	b := startCore(t, n, true)
	got := b.fetch(t, s.nevent)
	if got.SHA != want {
		t.Fatalf("sha256 %s, want %s", got.SHA, want)
	}
	served := liar.served()
	var prog struct {
		PeerStats []struct {
			PubKey  string `json:"pubkey"`
			Strikes int    `json:"strikes"`
			Corrupt int    `json:"corrupt"`
			Banned  bool   `json:"banned"`
			Bytes   int64  `json:"bytes"`
		} `json:"peer_stats"`
	}
	b.Eval(fmt.Sprintf(`cairn.progress(%q)`, s.root), &prog)
	var corrupt, liarBytes, others int64
	var banned bool
	for _, p := range prog.PeerStats {
		if p.PubKey == liar.pub {
			corrupt += int64(p.Corrupt)
			liarBytes += p.Bytes
			banned = banned || p.Banned
		} else {
			others += p.Bytes
		}
	}
	t.Logf("the liar answered %d requests; the browser counted %d corrupt chunks from it (banned %v), %d verified bytes from it and %d from others", served, corrupt, banned, liarBytes, others)
	if served == 0 {
		t.Fatal("the liar was never asked for a chunk: the test proves nothing")
	}
	if corrupt == 0 {
		t.Fatalf("the browser did not count a corrupt chunk against the liar: %+v", prog)
	}
	if liarBytes != 0 || others < 8<<20 {
		t.Fatalf("verified bytes: %d from the liar (want 0), %d from the node (want the whole file)", liarBytes, others)
	}
}

// liar is a WebRTC peer whose every chunk is wrong.
type liar struct {
	pub   string
	blobs *lyingBlobs
}

func (l *liar) served() int { return l.blobs.count() }

// lyingBlobs claims every chunk of one map and returns zeros of the right
// length for each.
type lyingBlobs struct {
	blobstore.Blobs
	sizes map[[32]byte]int64
	mu    sync.Mutex
	gets  int
}

func (l *lyingBlobs) Has(h [32]byte) bool { _, ok := l.sizes[h]; return ok }
func (l *lyingBlobs) Size(h [32]byte) (int64, error) {
	if n, ok := l.sizes[h]; ok {
		return n, nil
	}
	return 0, blobstore.ErrNotFound
}
func (l *lyingBlobs) Get(h [32]byte) ([]byte, error) {
	n, ok := l.sizes[h]
	if !ok {
		return nil, blobstore.ErrNotFound
	}
	l.mu.Lock()
	l.gets++
	l.mu.Unlock()
	return make([]byte, n), nil
}
func (l *lyingBlobs) ReadAt(h [32]byte, p []byte, off int64) (int, error) {
	if _, err := l.Get(h); err != nil {
		return 0, err
	}
	clear(p)
	return len(p), nil
}
func (l *lyingBlobs) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gets
}

func startLiar(t *testing.T, n *harness.Node, s shared) *liar {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := client.Dial(ctx, n.WSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rootHex := s.root
	_, ptr, err := nip19.Decode(s.nevent)
	if err != nil {
		t.Fatal(err)
	}
	id := ptr.(nostr.EventPointer).ID
	evs, err := conn.Query(ctx, nostr.Filter{IDs: []string{id}})
	if err != nil || len(evs) == 0 {
		t.Fatalf("the node's relay has no chunk map %s: %v", id, err)
	}
	m, err := chunkmap.Parse(evs[0])
	if err != nil {
		t.Fatal(err)
	}
	lb := &lyingBlobs{Blobs: blobstore.NewMemory(1 << 30), sizes: map[[32]byte]int64{}}
	for i, h := range m.Chunks {
		if len(m.ChunkInfo) == len(m.Chunks) {
			lb.sizes[h] = m.ChunkInfo[i].Length
		} else {
			lb.sizes[h] = min(m.ChunkSize, m.Size-int64(i)*m.ChunkSize)
		}
	}
	sk := nostr.GeneratePrivateKey()
	cfg := webrtc.DefaultConfig()
	cfg.SecretKey = sk
	cfg.Loopback = true
	cfg.Blobs = lb
	sig := &webrtc.RelayClient{URL: n.WSURL}
	cfg.Signal = sig
	node, err := webrtc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	nctx, ncancel := context.WithCancel(context.Background())
	t.Cleanup(func() { ncancel(); node.Close(); sig.Close() })
	if err := node.Start(nctx); err != nil {
		t.Fatal(err)
	}
	ann := nostr.Event{Kind: 20002, CreatedAt: nostr.Now(), Tags: nostr.Tags{
		{"t", m.Net}, {"x", rootHex}, {"chunks", strconv.Itoa(len(m.Chunks))},
	}}
	if ann.Tags[0][1] == "" {
		ann.Tags[0][1] = chunkmap.DefaultNet
	}
	if err := ann.Sign(sk); err != nil {
		t.Fatal(err)
	}
	if err := conn.Publish(ctx, "EVENT", &ann); err != nil {
		t.Fatalf("publishing the liar's announcement: %v", err)
	}
	return &liar{pub: node.PubKey(), blobs: lb}
}

// shareChunked runs `cairn share` against n with a chunk size.
func shareChunked(t testing.TB, n *harness.Node, path, chunk string) shared {
	t.Helper()
	out, errOut, code := harness.Run(t, "share", path, "--node", n.URL, "--chunk-size", chunk, "--title", "random bytes")
	if code != 0 {
		t.Fatalf("cairn share exited %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	var s shared
	for _, m := range shareLine.FindAllStringSubmatch(out, -1) {
		switch m[1] {
		case "nevent":
			s.nevent = m[2]
		case "root":
			s.root = m[2]
		case "sha256":
			s.sha256 = m[2]
		}
	}
	if s.nevent == "" || s.root == "" || s.sha256 == "" {
		t.Fatalf("cairn share did not print an nevent, a root and a sha256:\n%s", out)
	}
	return s
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func nodePubkey(t testing.TB, n *harness.Node) string {
	t.Helper()
	var st struct {
		PubKey string `json:"pubkey"`
	}
	getJSON(t, n.URL+"/api/status", &st)
	if _, err := hex.DecodeString(st.PubKey); err != nil || len(st.PubKey) != 64 {
		t.Fatalf("/api/status pubkey %q", st.PubKey)
	}
	return st.PubKey
}

func assertNoConsoleErrors(t *testing.T, bs ...*harness.Browser) {
	t.Helper()
	for i, b := range bs {
		if errs := b.ConsoleErrors(); len(errs) > 0 {
			t.Errorf("browser %d logged errors:\n%s", i, strings.Join(errs, "\n"))
		}
	}
}

//go:build js && wasm

package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall/js"
	"time"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/credit"
	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/nostr"
	"github.com/cairn-nostr/cairn/peer"
	"github.com/cairn-nostr/cairn/sha"
	"github.com/cairn-nostr/cairn/swarm"
	"github.com/cairn-nostr/cairn/wasm/idb"
	"github.com/cairn-nostr/cairn/webrtc"
	"github.com/cairn-nostr/cairn/webrtc/rtc"
)

// The tab wires the application core (package peer) to the browser:
// IndexedDB for chunks and events, the relay over a websocket as home,
// WebRTC as the one transport, WebCrypto as the hasher. What the core does
// is not written here.

const (
	// pinShared protects the chunks of the tab's own shares.
	pinShared = "shared"
	// defaultQuota is the IndexedDB quota when start gets none: 1 GiB.
	defaultQuota int64 = 1 << 30
	// relayTimeout bounds one relay round trip (query, publish).
	relayTimeout = 15 * time.Second
	// maxEvents bounds the events the tab keeps (chunk maps, file events,
	// addressing records).
	maxEvents = 5000
	// snapshotEvery is how often status and progress are refreshed for
	// the synchronous calls.
	snapshotEvery = 250 * time.Millisecond
	// openAfter is when IndexedDB opens after start if nothing needed it
	// sooner (latestore.go).
	openAfter = 2 * time.Second
)

// errNotStarted is returned by calls that need start first.
var errNotStarted = errors.New("call cairn.start({relay, secretKey}) first")

// tab is one page's node. The synchronous exports read only atomics and
// the snapshot; everything that waits runs on goroutines behind Promises.
type tab struct {
	hasher sha.Hasher

	mu       sync.Mutex
	starting bool
	started  bool
	sk, pub  string
	relayURL string
	nodePub  string
	store    *lateStore    // IndexedDB, open or opening
	whole    *wholeHeld    // chunks held for pending whole-file checks
	loaded   chan struct{} // closed once the stored records are read back
	lib      *peer.MemoryLibrary
	peer     *peer.Peer
	rtc      *webrtc.Node
	http     *httpChunks // the serving node over HTTP; nil when off
	home     *homeRelay
	shares   map[string]*shareRec   // root -> the tab's own shares
	held     map[string]*time.Timer // root -> a download held back (open)
	early    map[[32]byte]*early    // chunk -> its fetch started by open
	ctx      context.Context
	cancel   context.CancelFunc

	seeding atomic.Bool
	snap    atomic.Pointer[snapshot]
	credits *tabCredits // set by openLocal
}

func newTab() *tab {
	return &tab{hasher: sha.Default(), shares: map[string]*shareRec{}, held: map[string]*time.Timer{}, early: map[[32]byte]*early{}, loaded: make(chan struct{})}
}

// snapshot is what status() and progress() return, refreshed by a
// goroutine: they never wait for the download loop or IndexedDB.
type snapshot struct {
	status   map[string]any
	progress map[string]map[string]any
}

// shareRec is a file the tab shared: its map, maybe not yet signed (the
// page signs it with NIP-07 and publishes it), and what the page named it.
type shareRec struct {
	Root   string          `json:"root"`
	Map    json.RawMessage `json:"map"` // the kind 7001, signed or a template
	SHA256 string          `json:"sha256,omitempty"`
	Name   string          `json:"name,omitempty"`
	MIME   string          `json:"mime,omitempty"`

	m *chunkmap.Map
}

// startOptions are start's options.
type startOptions struct {
	Relay      string          `json:"relay"`
	SecretKey  string          `json:"secretKey"`
	NodePubkey string          `json:"nodePubkey"`
	ICEServers []rtc.ICEServer `json:"iceServers"`
	// ICETransportPolicy is "all" (default) or "relay" (TURN only).
	ICETransportPolicy string `json:"iceTransportPolicy"`
	Loopback           bool   `json:"loopback"`
	Quota              *int64 `json:"quota"`
	DB                 string `json:"db"`
	Seed               *bool  `json:"seed"`
	HTTP               *bool  `json:"http"`
}

func (t *tab) running() (*peer.Peer, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.started {
		return nil, errNotStarted
	}
	return t.peer, nil
}

func (t *tab) secret() (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.started {
		return "", errNotStarted
	}
	return t.sk, nil
}

// The tab's records in IndexedDB's "files" store: "ev:<id>" events of the
// library, "share:<root>" the tab's shares.
const (
	recEvent = "ev:"
	recShare = "share:"
)

// openLocal makes the key and starts opening storage: the part of start
// that needs no network. It does not wait for IndexedDB (latestore.go).
func (t *tab) openLocal(o startOptions) error {
	quota := defaultQuota
	if o.Quota != nil {
		quota = *o.Quota
	}
	if o.DB == "" {
		o.DB = "cairn"
	}
	t.mu.Lock()
	if t.started || t.starting {
		t.mu.Unlock()
		return errors.New("already started (reload the page to start again)")
	}
	t.starting = true
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.starting = false
		t.mu.Unlock()
	}()
	if o.SecretKey == "" {
		o.SecretKey = nostr.GeneratePrivateKey()
	}
	k, err := keyInfo(o.SecretKey)
	if err != nil {
		return err
	}
	// IndexedDB opens (the browser's work, on its own threads) while this
	// thread decompresses secp256k1's precomputed tables (warmCurve: ~100
	// ms here, far more on a loaded machine), which the first signature
	// check (open's chunk map) would otherwise pay, and connects to the
	// relay.
	store := newLateStore()
	persist := &latePersist{l: store}
	store.open = func() {
		st, err := idb.Open(o.DB, idb.Options{Quota: quota, Hasher: t.hasher})
		store.opened(st, err, t.warn)
		mark("idb-open")
	}
	// The store opens when something waits for it, once the player has
	// its first media chunk, or after openAfter: not while the first
	// frame is on its way (its callbacks and the records read back take
	// the page's one thread).
	time.AfterFunc(openAfter, store.need)
	warmCurve()
	lib := peer.NewMemoryLibrary(maxEvents, persist)
	credits := newCredits()
	t.mu.Lock()
	t.credits = credits
	t.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	p, err := t.wire(ctx, cancel, k, o, store, lib)
	if err != nil {
		if st, _ := store.wait(); st != nil {
			st.Close()
		}
		return err
	}
	go p.Run(ctx)
	<-p.Started() // downloads can start once it runs
	go t.snapshots(ctx)
	go t.loadStored(ctx, store, persist, lib, credits)
	return nil
}

// loadStored reads back, once IndexedDB is open, what earlier visits kept:
// the library's events, the tab's shares, the credit ledger; each merged
// with what came since start.
func (t *tab) loadStored(ctx context.Context, store *lateStore, persist *latePersist, lib *peer.MemoryLibrary, credits *tabCredits) {
	defer close(t.loaded)
	<-store.ready // opened by whoever needs it first
	st, err := store.st, store.err
	if err != nil {
		t.warn(err)
		return
	}
	persist.flush(st, t.warn)
	recs, err := st.Files()
	if err != nil {
		t.warn(fmt.Errorf("reading the stored events and shares: %w", err))
		return
	}
	evs := map[string]string{}
	shares := map[string]*shareRec{}
	for key, v := range recs {
		switch {
		case strings.HasPrefix(key, recEvent):
			evs[strings.TrimPrefix(key, recEvent)] = v
		case strings.HasPrefix(key, recShare):
			s := &shareRec{}
			if json.Unmarshal([]byte(v), s) == nil && s.parse() == nil {
				shares[s.Root] = s
			}
		}
	}
	lib.Load(evs)
	t.mu.Lock()
	for root, s := range shares {
		if t.shares[root] == nil {
			t.shares[root] = s
		}
	}
	t.mu.Unlock()
	for _, k := range credits.load(recs) {
		st.DeleteFile(k)
	}
	go credits.writer(ctx, st)
}

// db is the opened IndexedDB store, waited for: only for goroutines.
func (t *tab) db() (*idb.Store, error) { return t.store.wait() }

// warn reports a background failure on the page's console.
func (t *tab) warn(err error) {
	js.Global().Get("console").Call("warn", "cairn: "+err.Error())
}

// wire builds the core over the opened storage and marks the tab started.
func (t *tab) wire(ctx context.Context, cancel context.CancelFunc, k map[string]any, o startOptions, st *lateStore, lib *peer.MemoryLibrary) (*peer.Peer, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sk, t.pub = k["secretKey"].(string), k["pubkey"].(string)
	t.relayURL, t.nodePub = o.Relay, o.NodePubkey
	t.store, t.lib = st, lib
	t.whole = newWholeHeld()
	t.seeding.Store(o.Seed == nil || *o.Seed)
	t.ctx, t.cancel = ctx, cancel
	home, err := newHomeRelay(ctx, o.Relay, t.sk)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("relay: %w", err)
	}
	t.home = home
	if base := httpBase(o.Relay); base != "" && (o.HTTP == nil || *o.HTTP) {
		t.http = newHTTPChunks(base, t.fileOf)
	}
	p, err := peer.New(peer.Config{
		Signer:    peer.KeySigner{Secret: t.sk, Public: t.pub},
		Library:   lib,
		Blobs:     verifiedPuts{st, t.whole},
		Home:      events{home},
		HomeURL:   o.Relay,
		Carry:     true,
		Reach:     t.reach,
		Seeds:     t.seeds,
		Providers: t.providers,
		CheckFile: t.checkWhole,
		Seeding:   t.seeding.Load,
	})
	if err != nil {
		cancel()
		home.Close()
		return nil, err
	}
	t.peer = p
	t.started = true
	return p, nil
}

// start(opts) -> Promise<{pubkey, secretKey}>; without opts.secretKey a
// new key is made (the page saves the one returned).
func (t *tab) start(o startOptions) (any, error) {
	if o.Relay == "" {
		return nil, errors.New("opts.relay is required (the relay's ws:// or wss:// URL)")
	}
	if o.NodePubkey != "" {
		if _, err := event.ParseHex32(o.NodePubkey); err != nil {
			return nil, fmt.Errorf("nodePubkey: %w", err)
		}
	}
	switch o.ICETransportPolicy {
	case "", "all", "relay":
	default:
		return nil, fmt.Errorf("opts.iceTransportPolicy %q: want \"all\" or \"relay\"", o.ICETransportPolicy)
	}
	if err := t.openLocal(o); err != nil {
		return nil, err
	}
	mark("core-running")
	cfg := webrtc.DefaultConfig()
	cfg.SecretKey = t.sk
	cfg.Signal = t.home
	cfg.ICEServers = o.ICEServers
	if o.ICETransportPolicy == "relay" {
		cfg.ICETransportPolicy = rtc.ICETransportPolicyRelay
	}
	cfg.Loopback = o.Loopback
	cfg.Blobs = seedGate{t.store, &t.seeding}
	cfg.Hasher = t.hasher
	cfg.OnReceipt = func(r credit.Receipt, _ *nostr.Event) { t.credits.add(credit.Credit(r, r.ID)) }
	cfg.OnReceiptSent = func(r credit.Receipt) {
		t.credits.add(credit.Debit(r.ID, r.Seeder, r.Chunk, r.Root, r.Bytes, r.At, r.Sig))
	}
	n, err := webrtc.New(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(t.ctx, relayTimeout)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		n.Close()
		return nil, fmt.Errorf("no signaling subscription on %s: %w (is the relay up?)", o.Relay, err)
	}
	t.mu.Lock()
	t.rtc = n
	t.mu.Unlock()
	mark("signaling")
	return map[string]any{"pubkey": t.pub, "secretKey": t.sk}, nil
}

// warmCurve loads secp256k1's precomputed tables, which the first
// signature check or signature decompresses (~100 ms of the page's one
// thread under wasm). openLocal calls it while IndexedDB opens.
func warmCurve() {
	nostr.GetPublicKey("0000000000000000000000000000000000000000000000000000000000000001")
}

// reach is the core's Config.Reach: every peer of a tab is a WebRTC peer.
func (t *tab) reach(_ context.Context, pubkey string, _ *peer.AddressRecord) (peer.Contact, error) {
	t.mu.Lock()
	rtc := t.rtc
	t.mu.Unlock()
	if rtc == nil {
		return peer.Contact{}, errors.New("no WebRTC node: start did not connect to the relay")
	}
	return peer.Contact{Transport: rtc.Transport(), ID: swarm.PeerID(pubkey)}, nil
}

// providers is the core's Config.Providers: the node that served the page,
// over HTTP, for every root (a node that does not know the file answers
// 404, which the download takes as "not there").
func (t *tab) providers(context.Context, [32]byte) []peer.Contact {
	if t.http == nil {
		return nil
	}
	return []peer.Contact{{Transport: t.http, ID: t.http.ID()}}
}

// fileOf is what the HTTP transport reads a root's map and sha256 from.
func (t *tab) fileOf(root [32]byte) *peer.File {
	f, _ := t.file(t.ctx, rootHex(root))
	return f
}

// seeds is the core's Config.Seeds: the serving node, and the seeders it
// heard announcing the root (GET /api/seeders/{root} on the relay's host).
// Kind 20002 is ephemeral: announcements sent before this tab subscribed
// reach it only this way. Any failure (another kind of relay, an older
// node) gives none.
func (t *tab) seeds(ctx context.Context, root [32]byte) []string {
	out := []string{}
	if t.nodePub != "" {
		out = append(out, t.nodePub)
	}
	base := httpBase(t.relayURL)
	if base == "" {
		return out
	}
	res, err := awaitPromise(js.Global().Call("fetch", base+"/api/seeders/"+hex.EncodeToString(root[:])))
	if err != nil || !res.Get("ok").Bool() {
		return out
	}
	body, err := awaitPromise(res.Call("json"))
	if err != nil {
		return out
	}
	list := body.Get("seeders")
	if list.Type() != js.TypeObject {
		return out
	}
	for i := 0; i < list.Length() && i < 64; i++ {
		if pk := list.Index(i).Get("pubkey"); pk.Type() == js.TypeString {
			out = append(out, pk.String())
		}
	}
	return out
}

// httpBase turns a relay's ws:// or wss:// URL into the http:// or https://
// base URL of the same host, or "" for anything else.
func httpBase(relay string) string {
	u, err := url.Parse(relay)
	if err != nil {
		return ""
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// seedGate serves chunks to peers only while seeding is on.
type seedGate struct {
	blobstore.Blobs
	on *atomic.Bool
}

func (g seedGate) Get(h [32]byte) ([]byte, error) {
	if !g.on.Load() {
		return nil, blobstore.ErrNotFound
	}
	return g.Blobs.Get(h)
}

// verifiedPuts is the store as the core's downloads see it. A download puts
// only what its transports returned, and the one transport here (webrtc's)
// returns a chunk only after checking its sha256 against the hash
// (swarm.Transport's contract), so Put stores without hashing it again.
// The tab's shares store through the idb.Store itself.
// A chunk of a file whose whole-file check is pending is also held in
// memory for that check (wholeHeld).
type verifiedPuts struct {
	*lateStore
	whole *wholeHeld
}

func (v verifiedPuts) Put(hash [32]byte, data []byte) error { return v.PutVerified(hash, data) }

func (v verifiedPuts) PutVerified(hash [32]byte, data []byte) error {
	if v.whole == nil || !v.whole.wants(hash) {
		return v.lateStore.PutVerified(hash, data)
	}
	st, err := v.wait()
	if err != nil {
		return err
	}
	if st.Has(hash) {
		return st.PutVerified(hash, data) // marks it used, copies nothing
	}
	u := js.Global().Get("Uint8Array").New(len(data))
	js.CopyBytesToJS(u, data)
	if err := st.PutVerifiedJS(hash, u); err != nil {
		return err
	}
	v.whole.hold(hash, u)
	return nil
}

// checkWhole is the core's Config.CheckFile: the file assembled from the
// store, its sha256 compared with the file event's. With WebCrypto the
// file is joined and hashed inside JavaScript, from the chunks the
// download held in memory (wholeHeld) or else in one IndexedDB
// transaction, with no copy through Go; otherwise through Go.
func (t *tab) checkWhole(ctx context.Context, f *peer.File) error {
	mark("check-start")
	defer mark("check-end")
	var sum [32]byte
	if subtle := js.Global().Get("crypto").Get("subtle"); subtle.Truthy() {
		st, err := t.db()
		if err != nil {
			return err
		}
		var all js.Value
		if parts := t.whole.take(f); parts != nil {
			all, err = joinFile(f, parts, st.GetJS)
		} else {
			all, err = st.Concat(f.Map.Chunks)
		}
		if err != nil {
			return err
		}
		if n := int64(all.Length()); n != f.Map.Size {
			return fmt.Errorf("the chunks hold %d bytes, the map says %d: %w", n, f.Map.Size, swarm.ErrLayout)
		}
		d, err := awaitPromise(subtle.Call("digest", "SHA-256", all))
		if err != nil {
			return fmt.Errorf("hashing the file: %w", err)
		}
		js.CopyBytesToGo(sum[:], js.Global().Get("Uint8Array").New(d))
	} else {
		var buf bytes.Buffer
		buf.Grow(int(f.Map.Size))
		if err := swarm.Assemble(ctx, &buf, f.Map, t.store); err != nil {
			return err
		}
		var err error
		if sum, err = t.hasher.Sum256(buf.Bytes()); err != nil {
			return err
		}
	}
	if hex.EncodeToString(sum[:]) != f.SHA256 {
		return fmt.Errorf("the assembled file's sha256 is %x, the file event says %s: the map and the file event disagree", sum, f.SHA256)
	}
	return nil
}

func rootHex(r [32]byte) string { return hex.EncodeToString(r[:]) }

// publishEvent sends a signed event through the core; a kind 7001 whose
// chunks are all held is then seeded and announced.
func (t *tab) publishEvent(ev *nostr.Event) (any, error) {
	p, err := t.running()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(t.ctx, relayTimeout)
	defer cancel()
	err = p.Publish(ctx, ev)
	res := map[string]any{"ok": err == nil, "message": ""}
	if err != nil {
		if !isRefusal(err) {
			return nil, fmt.Errorf("relay %s: %w", t.relayURL, err)
		}
		res["message"] = err.Error()
		return res, nil
	}
	if ev.Kind == chunkmap.KindChunkMap {
		if m, err := chunkmap.Parse(ev); err == nil {
			t.signedShare(rootHex(m.Root), ev)
		}
	}
	return res, nil
}

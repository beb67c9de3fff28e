//go:build js && wasm

package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nbd-wtf/go-nostr"
	pion "github.com/pion/webrtc/v4"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/relay/client"
	"github.com/cairn-nostr/cairn/swarm"
	"github.com/cairn-nostr/cairn/wasm/idb"
	"github.com/cairn-nostr/cairn/webrtc"
)

// Protocol constants the tab shares with the node (docs/PROTOCOL.md).
const (
	kindAnnounce     = 20002
	announceInterval = 15 * time.Minute
	// pinShared protects the chunks of the tab's own shares.
	pinShared = "shared"
	// defaultQuota is the IndexedDB quota when start gets none: 1 GiB.
	defaultQuota int64 = 1 << 30
	// relayTimeout bounds one relay round trip (query, publish).
	relayTimeout = 15 * time.Second
)

// errNotStarted is returned by calls that need start first.
var errNotStarted = errors.New("call cairn.start({relay, secretKey}) first")

// file is what the tab knows about one piece of content: its chunk map and
// where it came from. It is saved in IndexedDB (idb.Store.PutFile) as JSON.
type file struct {
	Root   string          `json:"root"`
	Map    json.RawMessage `json:"map"` // the kind 7001 event (signed, or the share's template)
	Author string          `json:"author,omitempty"`
	SHA256 string          `json:"sha256,omitempty"`
	Name   string          `json:"name,omitempty"`
	MIME   string          `json:"mime,omitempty"`
	Shared bool            `json:"shared,omitempty"`

	m *chunkmap.Map
}

// parse fills f.m from f.Map.
func (f *file) parse() error {
	var ev nostr.Event
	if err := json.Unmarshal(f.Map, &ev); err != nil {
		return err
	}
	m, err := chunkmap.Parse(&ev)
	if err != nil {
		return err
	}
	f.m = m
	return nil
}

// download is a running or finished fetch of one root.
type download struct {
	d      *swarm.Download
	cancel context.CancelFunc
	mu     sync.Mutex
	peers  map[string]bool
	err    error // the whole-file check, once done
	done   chan struct{}
}

// core is the tab's node: key, storage, relay and WebRTC.
type core struct {
	mu        sync.Mutex
	started   bool
	starting  bool // start is opening storage
	sk, pub   string
	relayURL  string
	nodePub   string
	store     *idb.Store
	rtc       *webrtc.Node
	sig       *webrtc.RelayClient
	files     map[string]*file
	downloads map[string]*download
	announced map[string]bool // roots to announce while seeding
	ctx       context.Context
	cancel    context.CancelFunc

	seeding   atomic.Bool
	connected atomic.Bool
	pubMu     sync.Mutex
	pubConn   *client.Conn
}

var theCore = &core{files: map[string]*file{}, downloads: map[string]*download{}, announced: map[string]bool{}}

// startOptions are start's options.
type startOptions struct {
	Relay      string           `json:"relay"`
	SecretKey  string           `json:"secretKey"`
	NodePubkey string           `json:"nodePubkey"`
	ICEServers []pion.ICEServer `json:"iceServers"`
	Loopback   bool             `json:"loopback"`
	Quota      *int64           `json:"quota"`
	DB         string           `json:"db"`
	Seed       *bool            `json:"seed"`
}

func (c *core) secret() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started {
		return "", errNotStarted
	}
	return c.sk, nil
}

// openLocal opens the key and storage: the part of start that needs no
// network.
func (c *core) openLocal(o startOptions) error {
	k, err := keyInfo(o.SecretKey)
	if err != nil {
		return err
	}
	quota := defaultQuota
	if o.Quota != nil {
		quota = *o.Quota
	}
	if o.DB == "" {
		o.DB = "cairn"
	}
	if o.NodePubkey != "" {
		if _, err := parseHex32(o.NodePubkey); err != nil {
			return fmt.Errorf("nodePubkey: %w", err)
		}
	}
	// c.mu is not held while IndexedDB answers: the synchronous calls
	// (status, progress) take it from the event loop, which must keep
	// running for IndexedDB to answer at all.
	c.mu.Lock()
	if c.started || c.starting {
		c.mu.Unlock()
		return errors.New("already started (reload the page to start again)")
	}
	c.starting = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.starting = false
		c.mu.Unlock()
	}()
	st, err := idb.Open(o.DB, idb.Options{Quota: quota, Hasher: hasher})
	if err != nil {
		return err
	}
	recs, err := st.Files()
	if err != nil {
		st.Close()
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range recs {
		f := &file{}
		if json.Unmarshal([]byte(v), f) != nil || f.parse() != nil || f.Root != k {
			continue // unreadable: ignored, its chunks stay until evicted
		}
		c.files[k] = f
	}
	c.sk, c.pub = k["secretKey"].(string), k["pubkey"].(string)
	c.relayURL, c.nodePub = o.Relay, o.NodePubkey
	c.store = st
	c.seeding.Store(o.Seed == nil || *o.Seed)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.started = true
	return nil
}

// start(opts) -> Promise<{pubkey}>
func (c *core) start(o startOptions) (any, error) {
	if o.Relay == "" {
		return nil, errors.New("opts.relay is required (the relay's ws:// or wss:// URL)")
	}
	if err := c.openLocal(o); err != nil {
		return nil, err
	}
	cfg := webrtc.DefaultConfig()
	cfg.SecretKey = c.sk
	c.sig = &webrtc.RelayClient{URL: o.Relay}
	cfg.Signal = c.sig
	cfg.ICEServers = o.ICEServers
	cfg.Loopback = o.Loopback
	cfg.Blobs = seedGate{c.store, &c.seeding}
	cfg.Hasher = hasher
	n, err := webrtc.New(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(c.ctx, relayTimeout)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		n.Close()
		return nil, fmt.Errorf("no signaling subscription on %s: %w (is the relay up?)", o.Relay, err)
	}
	c.connected.Store(true)
	c.mu.Lock()
	c.rtc = n
	c.mu.Unlock()
	go c.announceLoop()
	return map[string]any{"pubkey": c.pub}, nil
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

// publish sends ev to the relay on the publishing connection (dialed
// lazily, answering AUTH with the tab's key).
func (c *core) publish(ctx context.Context, ev *nostr.Event) error {
	c.pubMu.Lock()
	defer c.pubMu.Unlock()
	if c.pubConn == nil {
		conn, err := client.Dial(ctx, c.relayURL)
		if err != nil {
			c.connected.Store(false)
			return err
		}
		c.pubConn = conn
	}
	err := c.pubConn.PublishAs(ctx, ev, c.sk)
	if err != nil && !errors.Is(err, client.ErrRefused) {
		c.pubConn.Close()
		c.pubConn = nil
		c.connected.Store(false)
		return err
	}
	c.connected.Store(true)
	return err
}

// query asks the relay for the events matching f (signatures checked).
func (c *core) query(ctx context.Context, f nostr.Filter) ([]*nostr.Event, error) {
	conn, err := client.Dial(ctx, c.relayURL)
	if err != nil {
		return nil, fmt.Errorf("relay %s: %w", c.relayURL, err)
	}
	defer conn.Close()
	evs, err := conn.Query(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("relay %s: %w", c.relayURL, err)
	}
	out := evs[:0]
	for _, ev := range evs {
		if ok, _ := ev.CheckSignature(); ok {
			out = append(out, ev)
		}
	}
	return out, nil
}

// held reports how many chunks of m the store holds.
func (c *core) held(m *chunkmap.Map) int {
	n := 0
	for _, h := range m.Chunks {
		if c.store.Has(h) {
			n++
		}
	}
	return n
}

// seed marks root for announcement and announces it now.
func (c *core) seed(root string) {
	c.mu.Lock()
	c.announced[root] = true
	c.mu.Unlock()
	if c.seeding.Load() {
		go c.announce([]string{root})
	}
}

// announce publishes a kind 20002 for each root held in full.
func (c *core) announce(roots []string) {
	for _, r := range roots {
		c.mu.Lock()
		f := c.files[r]
		c.mu.Unlock()
		if f == nil || c.held(f.m) != len(f.m.Chunks) {
			continue
		}
		net := f.m.Net
		if net == "" {
			net = chunkmap.DefaultNet
		}
		ev := &nostr.Event{
			Kind:      kindAnnounce,
			CreatedAt: nostr.Now(),
			Tags:      nostr.Tags{{"t", net}, {"x", r}, {"chunks", strconv.Itoa(len(f.m.Chunks))}},
		}
		if ev.Sign(c.sk) != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(c.ctx, relayTimeout)
		c.publish(ctx, ev)
		cancel()
	}
}

// announceLoop announces every held root at start and every interval.
func (c *core) announceLoop() {
	c.mu.Lock()
	for r, f := range c.files {
		if f.Shared || c.held(f.m) == len(f.m.Chunks) {
			c.announced[r] = true
		}
	}
	c.mu.Unlock()
	t := time.NewTicker(announceInterval)
	defer t.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-c.ctx.Done():
				return
			case <-t.C:
			}
		}
		if !c.seeding.Load() {
			continue
		}
		c.mu.Lock()
		roots := make([]string, 0, len(c.announced))
		for r := range c.announced {
			roots = append(roots, r)
		}
		c.mu.Unlock()
		c.announce(roots)
	}
}

// saveFile records f in memory and IndexedDB.
func (c *core) saveFile(f *file) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if err := c.store.PutFile(f.Root, string(b)); err != nil {
		return err
	}
	c.mu.Lock()
	c.files[f.Root] = f
	c.mu.Unlock()
	return nil
}

func (c *core) file(root string) *file {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.files[root]
}

func rootHex(r [32]byte) string { return hex.EncodeToString(r[:]) }

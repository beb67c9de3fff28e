package node

import (
	"container/list"
	"context"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/relay/client"
	"github.com/cairn-nostr/cairn/swarm"
)

// Seeder announcements are Entropy's kind 20002: an ephemeral event, signed
// by the seeder's key, with ["t", net], ["x", rootHex] and ["chunks", N]
// (the chunks it holds) and no content, sent again every AnnounceInterval
// while it seeds. The node sends one for each root it holds in full through
// its own relay (live subscribers get it; it is never stored), right after a
// share or a completed download and then every interval. It remembers the
// announcements its relay accepts (and those it hears on the relays of the
// nevents it resolves) and turns their authors, through their cairn-p2p
// records, into peers for its downloads of those roots.
const KindSeederAnnounce = 20002

// DefaultAnnounceInterval is how often a seeder announces its roots.
const DefaultAnnounceInterval = 15 * time.Minute

// Bounds of the announcer table.
const (
	maxAnnouncedRoots     = 10_000
	maxAnnouncersPerRoot  = 64
	maxAnnouncementWatch  = 16 // concurrent subscriptions on remote relays
	announcementWatchSpan = 2  // a watch lasts this many announce intervals
	minAnnouncementWatch  = 10 * time.Second
)

// announcer is one seeder heard announcing a root.
type announcer struct {
	pubkey string
	at     time.Time
	chunks int
}

type rootAnnouncers struct {
	root [32]byte
	last time.Time
	list []announcer
}

// announcers remembers recent seeder announcements by root, each for ttl.
// The roots form an LRU list (most recently announced at the front); past
// maxRoots the least recently announced root is dropped, and past maxPer
// announcers the oldest announcer of a root is replaced.
type announcers struct {
	mu      sync.Mutex
	ttl     time.Duration
	maxRoot int
	maxPer  int
	lru     *list.List // of *rootAnnouncers
	byRoot  map[[32]byte]*list.Element
}

func newAnnouncers(ttl time.Duration, maxRoots, maxPer int) *announcers {
	return &announcers{ttl: ttl, maxRoot: maxRoots, maxPer: maxPer, lru: list.New(), byRoot: make(map[[32]byte]*list.Element)}
}

// add records that pubkey announced root with chunks at now, and says
// whether pubkey was not a live announcer of root before.
func (a *announcers) add(root [32]byte, pubkey string, chunks int, now time.Time) (fresh bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expireLocked(now)
	el := a.byRoot[root]
	if el == nil {
		for a.lru.Len() >= a.maxRoot {
			back := a.lru.Back()
			delete(a.byRoot, back.Value.(*rootAnnouncers).root)
			a.lru.Remove(back)
		}
		el = a.lru.PushFront(&rootAnnouncers{root: root})
		a.byRoot[root] = el
	} else {
		a.lru.MoveToFront(el)
	}
	ra := el.Value.(*rootAnnouncers)
	ra.last = now
	ra.list = a.liveLocked(ra.list, now)
	for i := range ra.list {
		if ra.list[i].pubkey == pubkey {
			ra.list[i].at, ra.list[i].chunks = now, chunks
			return false
		}
	}
	e := announcer{pubkey: pubkey, at: now, chunks: chunks}
	if len(ra.list) < a.maxPer {
		ra.list = append(ra.list, e)
		return true
	}
	oldest := 0
	for i := range ra.list {
		if ra.list[i].at.Before(ra.list[oldest].at) {
			oldest = i
		}
	}
	ra.list[oldest] = e
	return true
}

// get returns the live announcers of root.
func (a *announcers) get(root [32]byte, now time.Time) []announcer {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expireLocked(now)
	el := a.byRoot[root]
	if el == nil {
		return nil
	}
	ra := el.Value.(*rootAnnouncers)
	ra.list = a.liveLocked(ra.list, now)
	return append([]announcer(nil), ra.list...)
}

// len is the number of roots remembered.
func (a *announcers) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lru.Len()
}

// expireLocked drops the roots nobody announced within ttl: they are at the
// back of the LRU list.
func (a *announcers) expireLocked(now time.Time) {
	for back := a.lru.Back(); back != nil; back = a.lru.Back() {
		ra := back.Value.(*rootAnnouncers)
		if now.Sub(ra.last) <= a.ttl {
			return
		}
		delete(a.byRoot, ra.root)
		a.lru.Remove(back)
	}
}

func (a *announcers) liveLocked(l []announcer, now time.Time) []announcer {
	out := l[:0]
	for _, e := range l {
		if now.Sub(e.at) <= a.ttl {
			out = append(out, e)
		}
	}
	return out
}

// parseAnnouncement reads a kind 20002 event: its root and chunk count.
func parseAnnouncement(ev *nostr.Event) (root [32]byte, chunks int, ok bool) {
	if ev.Kind != KindSeederAnnounce {
		return root, 0, false
	}
	var gotX, gotChunks bool
	for _, t := range ev.Tags {
		if len(t) < 2 {
			continue
		}
		switch t[0] {
		case "x":
			if gotX || !isHex64(t[1]) {
				return root, 0, false
			}
			hex.Decode(root[:], []byte(t[1]))
			gotX = true
		case "chunks":
			n, err := strconv.Atoi(t[1])
			if gotChunks || err != nil || n <= 0 || n > chunkmap.MaxChunks {
				return root, 0, false
			}
			chunks, gotChunks = n, true
		}
	}
	return root, chunks, gotX && gotChunks
}

// noteAnnouncement records a verified kind 20002 and, when a download of
// its root runs and the author is new to it, adds the author as a peer at
// once: over libp2p through its cairn-p2p record, or over WebRTC when it has
// none (in the background: it may be called from the relay's read loop).
func (n *Node) noteAnnouncement(ev *nostr.Event) {
	if ev.PubKey == n.key.Public {
		return
	}
	root, chunks, ok := parseAnnouncement(ev)
	if !ok {
		return
	}
	now := time.Now()
	ttl := 2 * time.Duration(n.cfg.AnnounceInterval)
	if d := now.Sub(ev.CreatedAt.Time()); d > ttl || d < -time.Minute {
		return // stale, or from the future
	}
	if !n.announced.add(root, ev.PubKey, chunks, now) {
		return // known already: findPeers asks its record again every few seconds
	}
	n.media.mu.Lock()
	dl := n.media.downloads[root]
	closed := n.media.closed
	n.media.mu.Unlock()
	if dl == nil || closed || isDone(dl.d) || n.host == nil {
		return
	}
	n.background(15*time.Second, func(ctx context.Context) {
		if n.rtc != nil && len(n.withoutRecord(ctx, []string{ev.PubKey})) == 1 {
			// No cairn-p2p record: a browser, reached over WebRTC.
			dl.d.AddPeer(swarm.PeerID(ev.PubKey), n.rtc.Transport(), swarm.HasAll)
			return
		}
		n.addPeers(ctx, dl.d, n.host.SwarmTransport(), n.gatekeeperPeers(ctx, []string{ev.PubKey}))
	})
}

// announcerPeers are the libp2p peers of the live announcers of root whose
// cairn-p2p records this node stores.
func (n *Node) announcerPeers(ctx context.Context, root [32]byte) []peer.AddrInfo {
	as := n.announced.get(root, time.Now())
	if len(as) == 0 {
		return nil
	}
	pks := make([]string, len(as))
	for i, a := range as {
		pks[i] = a.pubkey
	}
	return n.gatekeeperPeers(ctx, pks)
}

// stopContext is a context that ends after d or when the node stops.
func (n *Node) stopContext(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	go func() {
		select {
		case <-n.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// seeded is a root this node holds in full, with its network.
type seeded struct {
	root   [32]byte
	net    string
	chunks int
}

// seededRoots lists the roots of the stored chunk maps whose chunks are all
// held here (shared by this node, or downloaded in full).
func (n *Node) seededRoots(ctx context.Context) []seeded {
	var out []seeded
	n.eachChunkMap(ctx, "", func(m *chunkmap.Map, _ *nostr.Event) error {
		if s, ok := n.seedOf(m); ok {
			out = append(out, s)
		}
		return nil
	})
	return out
}

func (n *Node) seedOf(m *chunkmap.Map) (seeded, bool) {
	if len(m.Chunks) == 0 {
		return seeded{}, false
	}
	for _, h := range m.Chunks {
		if !n.blobs.Has(h) {
			return seeded{}, false
		}
	}
	net := m.Net
	if net == "" {
		net = chunkmap.DefaultNet
	}
	return seeded{root: m.Root, net: net, chunks: len(m.Chunks)}, true
}

// announce publishes a kind 20002 for each of roots through the node's own
// relay, over one connection. Ephemeral: if the relay refuses them they are
// dropped, not stored.
func (n *Node) announce(ctx context.Context, roots []seeded) {
	if len(roots) == 0 {
		return
	}
	c, err := client.Dial(ctx, n.localRelayURL())
	if err != nil {
		n.log.Debug("announcing seeded roots", "err", err)
		return
	}
	defer c.Close()
	for _, s := range roots {
		ev := nostr.Event{
			Kind:      KindSeederAnnounce,
			CreatedAt: nostr.Now(),
			Tags: nostr.Tags{
				{"t", s.net},
				{"x", hex.EncodeToString(s.root[:])},
				{"chunks", strconv.Itoa(s.chunks)},
			},
		}
		if err := ev.Sign(n.key.Secret); err != nil {
			return
		}
		if err := c.PublishAs(ctx, &ev, n.key.Secret); err != nil {
			n.log.Debug("announcing a seeded root", "root", hex.EncodeToString(s.root[:8]), "err", err)
			if ctx.Err() != nil {
				return
			}
		}
	}
}

// announceMap announces one map's root in the background, if it is held in
// full (after a share or a completed download).
func (n *Node) announceMap(m *chunkmap.Map) {
	s, ok := n.seedOf(m)
	if !ok {
		return
	}
	n.background(30*time.Second, func(ctx context.Context) {
		n.announce(ctx, []seeded{s})
	})
}

// announceLoop announces every root held in full shortly after start and
// then every AnnounceInterval.
func (n *Node) announceLoop() {
	defer n.wg.Done()
	every := time.Duration(n.cfg.AnnounceInterval)
	t := time.NewTimer(min(5*time.Second, every))
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		ctx, cancel := n.stopContext(time.Minute)
		n.announce(ctx, n.seededRoots(ctx))
		cancel()
		t.Reset(every)
	}
}

// watchAnnouncements subscribes on a remote relay, for a while, to the
// seeder announcements of root, and records those it hears together with
// their authors' cairn-p2p records (asked of the same relay). It runs in
// the background; at most maxAnnouncementWatch run at once, one per relay
// and root.
func (n *Node) watchAnnouncements(relayURL string, root [32]byte) {
	key := relayURL + " " + hex.EncodeToString(root[:])
	n.watchMu.Lock()
	if n.watching[key] || len(n.watching) >= maxAnnouncementWatch {
		n.watchMu.Unlock()
		return
	}
	select {
	case <-n.stop:
		n.watchMu.Unlock()
		return
	default:
	}
	n.watching[key] = true
	n.watchMu.Unlock()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer func() {
			n.watchMu.Lock()
			delete(n.watching, key)
			n.watchMu.Unlock()
		}()
		ctx, cancel := n.stopContext(max(announcementWatchSpan*time.Duration(n.cfg.AnnounceInterval), minAnnouncementWatch))
		defer cancel()
		c, err := client.Dial(ctx, relayURL)
		if err != nil {
			return
		}
		defer c.Close()
		f := nostr.Filter{Kinds: []int{KindSeederAnnounce}, Tags: nostr.TagMap{"x": {hex.EncodeToString(root[:])}}}
		known := map[string]bool{}
		c.Subscribe(ctx, f, func(ev *nostr.Event) {
			if r, _, ok := parseAnnouncement(ev); !ok || r != root || ev.PubKey == n.key.Public {
				return
			}
			if !ev.CheckID() {
				return
			}
			if ok, err := ev.CheckSignature(); !ok || err != nil {
				return
			}
			if !known[ev.PubKey] && len(known) < maxAnnouncersPerRoot {
				known[ev.PubKey] = true
				n.fetchAddressing(ctx, relayURL, ev.PubKey)
			}
			n.noteAnnouncement(ev)
		}, nil)
	}()
}

// fetchAddressing asks relayURL for pubkey's cairn-p2p record and stores it.
func (n *Node) fetchAddressing(ctx context.Context, relayURL, pubkey string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, relayURL)
	if err != nil {
		return
	}
	defer c.Close()
	recs, _ := c.Query(ctx, nostr.Filter{Kinds: []int{KindAppData}, Authors: []string{pubkey}, Tags: nostr.TagMap{"d": {AddressingTag}}})
	for _, e := range recs {
		n.saveVerified(ctx, e)
	}
}

// background runs fn on a goroutine that Stop waits for, with a context
// that ends after timeout or at Stop; nothing starts once Stop has begun.
func (n *Node) background(timeout time.Duration, fn func(ctx context.Context)) {
	select {
	case <-n.stop:
		return
	default:
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ctx, cancel := n.stopContext(timeout)
		defer cancel()
		fn(ctx)
	}()
}

// Seeder is one entry of GET /api/seeders/{root}.
type Seeder struct {
	PubKey  string `json:"pubkey"`
	Chunks  int    `json:"chunks"`
	HeardAt int64  `json:"heard_at"` // Unix seconds
}

// serveSeeders answers GET /api/seeders/{root} with the pubkeys heard
// announcing root (kind 20002) in the last two announce intervals. It is
// public: a browser that starts a download has missed the announcements
// sent before it subscribed (they are ephemeral, no relay keeps them), and
// the node it is served by has been listening all along.
func (n *Node) serveSeeders(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("root")
	b, err := hex.DecodeString(raw)
	if err != nil || len(b) != 32 || raw != strings.ToLower(raw) {
		apiError(w, http.StatusBadRequest, "root must be 64 lowercase hex digits (a Merkle root)")
		return
	}
	var root [32]byte
	copy(root[:], b)
	out := struct {
		Root    string   `json:"root"`
		Seeders []Seeder `json:"seeders"`
	}{Root: raw, Seeders: []Seeder{}}
	for _, a := range n.announced.get(root, time.Now()) {
		out.Seeders = append(out.Seeders, Seeder{PubKey: a.pubkey, Chunks: a.chunks, HeardAt: a.at.Unix()})
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

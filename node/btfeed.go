package node

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/bt"
	"github.com/cairn-nostr/cairn/bt/wot"
	"github.com/cairn-nostr/cairn/nostr/nip19"
)

// The node's feed in the Mainline DHT: its owner's newest events bundled
// (bt.BuildFeed), seeded by the BitTorrent client, and pointed at by a
// BEP-44 item under the key derived from the node's Nostr key; the
// attestation (kind 30078) goes to the node's relay and to the DHT's
// locator, so anyone with the npub finds the feed with no relay.

// FeedRepublish is how often the feed pointer is put again when nothing
// changed (BEP-44 items expire from nodes after about two hours).
const FeedRepublish = 30 * time.Minute

// feedPoll is how often the node looks for a new event of its owner.
const feedPoll = 2 * time.Second

type btFeed struct {
	dht     *bt.DHT
	bridge  *btBridge // the relay's archive (--bt-bridge); nil when off
	reseeds reseeds   // feed files followed and seeded again

	mu        sync.Mutex
	seq       int64
	published time.Time
	events    int
	lastErr   string
}

// BTDHTStatus is the Mainline DHT node and the owner's feed in /api/status.
type BTDHTStatus struct {
	Addr      string    `json:"addr"`
	Nodes     int       `json:"nodes"`
	FeedSeq   int64     `json:"feed_seq"`
	FeedItems int       `json:"feed_events"`
	Published time.Time `json:"feed_published,omitzero"`
	Error     string    `json:"feed_error,omitempty"`
	// Bridge is the relay's archive (--bt-bridge).
	Bridge *BTBridgeStatus `json:"bridge,omitempty"`
}

func (n *Node) btDHTStatus() *BTDHTStatus {
	f := n.btFeed
	if f == nil {
		return nil
	}
	var br *BTBridgeStatus
	if f.bridge != nil {
		br = f.bridge.status()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return &BTDHTStatus{Addr: f.dht.Addr(), Nodes: f.dht.Nodes(), FeedSeq: f.seq, FeedItems: f.events, Published: f.published, Error: f.lastErr, Bridge: br}
}

// startBTDHT starts the DHT node and the feed loop (with the client on).
func (n *Node) startBTDHT() error {
	if n.bt == nil || !n.cfg.BT.DHT {
		return nil
	}
	dc := bt.Config{Addr: n.cfg.BT.DHTListen, Public: n.cfg.P2P.PublicBootstrap, Bootstrap: n.cfg.BT.DHTBootstrap}
	d, err := bt.NewDHT(dc)
	if err != nil && n.cfg.BT.DHTListen == DefaultDHTListen && errors.Is(err, syscall.EADDRINUSE) {
		// The default port is taken (another node on this machine): the
		// DHT works from any port; its peers learn it from our packets.
		host, _, _ := net.SplitHostPort(DefaultDHTListen)
		dc.Addr = net.JoinHostPort(host, "0")
		n.log.Warn("the default Mainline DHT port is taken; using a free one (set --bt-dht-listen to choose)", "default", DefaultDHTListen)
		d, err = bt.NewDHT(dc)
	}
	if err != nil {
		return fmt.Errorf("%w (pass another --bt-dht-listen, or --bt-dht=false)", err)
	}
	n.btFeed = &btFeed{dht: d}
	n.group.Go(func() error {
		<-n.ctx.Done()
		d.Close()
		return nil
	})
	n.group.Go(func() error { n.feedLoop(); return nil })
	if n.host != nil {
		n.group.Go(func() error { n.mainlineLoop(); return nil })
	}
	n.loadReseeds()
	n.group.Go(func() error { n.reseedLoop(); return nil })
	if n.cfg.BT.Bridge {
		return n.startBridge()
	}
	return nil
}

// feedLoop joins the DHT, publishes the attestation, then republishes the
// feed whenever the owner has a newer event, and every FeedRepublish.
// Until the routing table holds a node (none when public bootstrap is off
// and no --bt-dht-bootstrap is given) there is no one to publish to, and
// nothing is published, the attestation included.
func (n *Node) feedLoop() {
	f := n.btFeed
	tick := time.NewTicker(feedPoll)
	defer tick.Stop()
	for f.dht.Nodes() == 0 {
		for i := 0; i < 3 && n.ctx.Err() == nil; i++ { // rounds: a node hands out only peers that answered it
			bctx, cancel := context.WithTimeout(n.ctx, 20*time.Second)
			f.dht.Bootstrap(bctx)
			cancel()
		}
		if f.dht.Nodes() > 0 {
			break
		}
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
		}
	}
	att := bt.Attestation(bt.Key(n.key).Public().(ed25519.PublicKey), nostr.Now())
	if err := att.Sign(n.key.Secret); err != nil {
		n.log.Warn("signing the nostr-over-bt attestation", "err", err)
		return
	}
	if err := n.relay.Publish(n.ctx, att); err != nil {
		n.log.Warn("publishing the nostr-over-bt attestation to the relay", "err", err)
	}
	var last string
	var lastPut time.Time
	for {
		evs := n.ownEvents(bt.FeedItems)
		ids := make([]string, len(evs))
		for i, ev := range evs {
			ids[i] = ev.ID
		}
		newest := strings.Join(ids, ",")
		if newest != last || time.Since(lastPut) > FeedRepublish {
			if err := n.publishFeed(att, evs); err != nil {
				f.mu.Lock()
				f.lastErr = err.Error()
				f.mu.Unlock()
				n.log.Debug("feed not published", "err", err)
			} else {
				last, lastPut = newest, time.Now()
			}
		}
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ownEvents are the owner's newest events, the attestation and the feed
// fallback (nostr-over-bt's kind 30078 records) aside.
func (n *Node) ownEvents(limit int) []*nostr.Event {
	var evs []*nostr.Event
	library{n.store}.Query(n.ctx, nostr.Filter{Authors: []string{n.key.Public}, Limit: limit + 1}, "", func(ev *nostr.Event) error {
		nobt := ev.Kind == bt.KindAppData && (ev.Tags.GetD() == bt.IdentityTag || ev.Tags.GetD() == bt.FeedFallbackTag)
		if !nobt && len(evs) < limit {
			evs = append(evs, ev)
		}
		return nil
	})
	return evs
}

func (n *Node) publishFeed(att *nostr.Event, evs []*nostr.Event) error {
	if len(evs) == 0 {
		return fmt.Errorf("no events of the owner yet")
	}
	feed, err := bt.BuildFeed(evs, n.key.Public, time.Now())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(n.ctx, time.Minute)
	defer cancel()
	seq, err := n.btFeed.dht.Publish(ctx, n.bt, bt.Key(n.key), att, feed, time.Now())
	if err != nil {
		return err
	}
	// nostr-over-bt's relay fallback: kind 30078, d nostr-over-bt-feed,
	// content = the index's magnet.
	if m, err := bt.Magnet(feed.Index.MI, ""); err == nil {
		fb := &nostr.Event{Kind: bt.KindAppData, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"d", bt.FeedFallbackTag}}, Content: m}
		if err := fb.Sign(n.key.Secret); err == nil {
			if err := n.relay.Publish(ctx, fb); err != nil {
				n.log.Debug("feed fallback not published", "err", err)
			}
		}
	}
	f := n.btFeed
	f.mu.Lock()
	f.seq, f.events, f.published, f.lastErr = seq, feed.Events, time.Now(), ""
	f.mu.Unlock()
	n.log.Info("feed published in the Mainline DHT", "seq", seq, "events", feed.Events, "bundles", len(feed.Bundles))
	return nil
}

// FollowResult is the answer of POST /api/bt/follow.
type FollowResult struct {
	Pubkey string            `json:"pubkey"`
	Seq    int64             `json:"seq"`
	Steps  []string          `json:"steps"`
	Stored int               `json:"stored"`
	Events []json.RawMessage `json:"events,omitempty"`
	// A crawl (depth > 0): every user reached with its degree, the feeds
	// that failed and why, whether a bound cut it.
	Users     map[string]int    `json:"users,omitempty"`
	Fetched   int               `json:"fetched,omitempty"` // feeds had`
	Failed    map[string]string `json:"failed,omitempty"`
	Truncated bool              `json:"truncated,omitempty"`
	Expired   bool              `json:"expired,omitempty"`
}

// Crawl bounds of POST /api/bt/follow?depth=N.
const (
	MaxCrawlDepth   = 3
	DefaultCrawlMax = 1000
	crawlParallel   = 4
)

// serveFollow finds a user's feed from the pubkey alone over the DHT,
// verifies every event and stores them in the relay (or, with print=1,
// returns them). With depth=N (1 to MaxCrawlDepth) it crawls the web of
// trust from the user (bt.Crawl; max_users, timeout) and stores every
// reached user's events. With archive=1 it reads the archive of a relay bridged to
// BitTorrent (--bt-bridge) instead: every event of every author it holds.
func (n *Node) serveFollow(w http.ResponseWriter, r *http.Request) {
	if n.btFeed == nil {
		writeJSON(w, http.StatusConflict, map[string]string{"error": "this node runs no Mainline DHT (start it with --bt and --bt-dht)"})
		return
	}
	who := r.URL.Query().Get("pubkey")
	pk := who
	if _, v, err := nip19.Decode(who); err == nil {
		if s, ok := v.(string); ok {
			pk = s
		}
	}
	if len(pk) != 64 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("%q is not an npub or a hex pubkey", who)})
		return
	}
	res := FollowResult{Pubkey: pk}
	os.MkdirAll(btCacheDir(n.cfg.DataDir), 0o700)
	var mu sync.Mutex // a crawl's fetches report from their goroutines
	opt := bt.FollowOptions{Dir: btCacheDir(n.cfg.DataDir), Progress: func(s string) { mu.Lock(); res.Steps = append(res.Steps, s); mu.Unlock() }}
	var evs []*nostr.Event
	var raws [][]byte
	var files []bt.File
	what := "following"
	q := r.URL.Query()
	depth, maxUsers, timeout := 0, DefaultCrawlMax, 2*time.Minute
	if v := q.Get("depth"); v != "" {
		if _, err := fmt.Sscan(v, &depth); err != nil || depth < 0 || depth > MaxCrawlDepth {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("depth %q: want 0 to %d", v, MaxCrawlDepth)})
			return
		}
	}
	if v := q.Get("max_users"); v != "" {
		if _, err := fmt.Sscan(v, &maxUsers); err != nil || maxUsers < 1 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("max_users %q: want a positive number", v)})
			return
		}
	}
	if v := q.Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > time.Hour {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("timeout %q: want a duration up to 1h, e.g. 5m", v)})
			return
		}
		timeout = d
	}
	// The whole request: the crawl's deadline, then storing what it found.
	ctx, cancel := context.WithTimeout(r.Context(), timeout+time.Minute)
	defer cancel()
	if depth > 0 {
		cr, err := n.btFeed.dht.Crawl(ctx, n.bt, pk, wot.Bounds{MaxDepth: depth, MaxUsers: maxUsers, Deadline: time.Now().Add(timeout), Parallel: crawlParallel}, opt)
		if err != nil {
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": fmt.Sprintf("crawling from %.16s: %v (steps: %q)", pk, err, res.Steps)})
			return
		}
		res.Users, res.Failed, res.Truncated, res.Expired, res.Fetched = cr.Depth, cr.Failed, cr.Truncated, cr.Expired, len(cr.Found)
		for _, u := range cr.Found {
			evs = append(evs, cr.Events[u]...)
			raws = append(raws, cr.Raw[u]...)
		}
		files = cr.Files
	} else if q.Get("archive") != "" {
		what = "reading the archive of"
		ar, err := n.btFeed.dht.FollowArchive(ctx, n.bt, pk, opt)
		if err != nil {
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": fmt.Sprintf("%s %.16s: %v (steps: %q)", what, pk, err, res.Steps)})
			return
		}
		res.Seq, evs, raws = ar.Seq, ar.Events, ar.Raw
	} else {
		fw, err := n.followFeed(ctx, pk, opt)
		if err != nil {
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": fmt.Sprintf("%s %.16s: %v (steps: %q)", what, pk, err, res.Steps)})
			return
		}
		res.Seq, evs, raws, files = fw.Seq, fw.Events, fw.Raw, fw.Files
	}
	if r.URL.Query().Get("print") != "" {
		for _, raw := range raws {
			res.Events = append(res.Events, json.RawMessage(raw))
		}
	} else {
		for _, ev := range evs {
			if err := n.relay.Publish(ctx, ev); err != nil {
				res.Steps = append(res.Steps, fmt.Sprintf("event %.16s not stored: %v", ev.ID, err))
				continue
			}
			res.Stored++
		}
		if k := n.reseed(ctx, files); k > 0 {
			res.Steps = append(res.Steps, fmt.Sprintf("seeding %d of the feed's files again", k))
		}
	}
	writeJSON(w, http.StatusOK, res)
}

// followFeed follows pk's feed over the DHT; when the DHT has no locator or
// pointer for pk, it takes nostr-over-bt's relay fallback (kind 30078, d
// nostr-over-bt-feed: the index's magnet) from this node's relay, if it
// holds one, and reads the feed from that index.
func (n *Node) followFeed(ctx context.Context, pk string, opt bt.FollowOptions) (*bt.Followed, error) {
	fw, err := n.btFeed.dht.Follow(ctx, n.bt, pk, opt)
	if err == nil || !errors.Is(err, bt.ErrNoFeed) {
		return fw, err
	}
	var fb *nostr.Event
	n.store.Query(ctx, nostr.Filter{Kinds: []int{bt.KindAppData}, Authors: []string{pk}, Tags: nostr.TagMap{"d": {bt.FeedFallbackTag}}}, 1, func(raw []byte) error {
		ev := &nostr.Event{}
		if json.Unmarshal(raw, ev) == nil {
			fb = ev
		}
		return nil
	})
	if fb == nil {
		return nil, fmt.Errorf("%w; this node's relay holds no nostr-over-bt-feed fallback of the user either", err)
	}
	m, ferr := bt.ParseFeedFallback(fb, pk)
	if ferr != nil {
		return nil, fmt.Errorf("%w; the relay's fallback is refused: %v", err, ferr)
	}
	if opt.Progress != nil {
		opt.Progress(fmt.Sprintf("not in the DHT (%v); using the nostr-over-bt-feed fallback %.16s from this node's relay", err, fb.ID))
	}
	opt.Index = m
	return n.btFeed.dht.Follow(ctx, n.bt, pk, opt)
}

package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/bt"
	"github.com/cairn-nostr/cairn/store"
)

// The relay's BitTorrent bridge (--bt-bridge): every event the store holds,
// of any author, is archived into bundles (bt.BuildBundle: one author's
// events of one window of ingest), seeded, and listed by the archive whose
// pointer is this node's (bt.ArchiveSalt). It reads the store in the order
// events were stored (store.Journal) from a cursor kept in
// DATA_DIR/bridge/state.json, written only once the bundles it covers are
// on disk: the relay answers OK as soon as its store has the event and
// never waits for the bridge, and after a crash the bridge resumes from the
// cursor and archives what the store got since.

// BridgeWindow is how often the bridge archives what was stored since: one
// bundle per author per window.
const BridgeWindow = 5 * time.Second

// bridgeBatch bounds the events one pass reads from the store.
const bridgeBatch = 5000

// bridgePublishEvery bounds how often the archive pointer is put while
// events keep coming (or every window, when shorter).
const bridgePublishEvery = 5 * time.Second

// BridgeDir is where the bridge keeps its bundles, pages and state.
func BridgeDir(dataDir string) string { return filepath.Join(dataDir, "bridge") }

// bridgeState is state.json: the cursor and the archive's newest page.
type bridgeState struct {
	Cursor  uint64            `json:"cursor"`            // store serial of the last archived event
	Prev    string            `json:"prev,omitempty"`    // magnet of the newest sealed page
	Sealed  []string          `json:"sealed"`            // infohashes of the sealed pages, oldest first
	Bundles []bt.ArchiveEntry `json:"bundles"`           // the newest page's bundles
	Events  int64             `json:"events"`            // events archived, in all pages
	Count   int64             `json:"bundles_archived"`  // bundles, in all pages
	Skipped int64             `json:"skipped,omitempty"` // records the bridge could not read
}

type btBridge struct {
	dir    string
	j      store.Journal
	window time.Duration
	page   int // bundles per archive page

	mu          sync.Mutex
	st          bridgeState
	newest      [20]byte // the newest page's torrent, seeded (zero: none yet)
	published   int64    // events the archive pointer covered when last put
	seq         int64
	publishedAt time.Time
	lastErr     string
}

// BTBridgeStatus is the bridge in /api/status (under bt_dht.bridge).
type BTBridgeStatus struct {
	Cursor      uint64    `json:"cursor"`
	Events      int64     `json:"events"`
	Bundles     int64     `json:"bundles"`
	Pages       int       `json:"pages"`
	Published   int64     `json:"published_events"`
	Seq         int64     `json:"seq"`
	PublishedAt time.Time `json:"published,omitzero"`
	Error       string    `json:"error,omitempty"`
}

func (b *btBridge) status() *BTBridgeStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	return &BTBridgeStatus{Cursor: b.st.Cursor, Events: b.st.Events, Bundles: b.st.Count, Pages: len(b.st.Sealed) + 1,
		Published: b.published, Seq: b.seq, PublishedAt: b.publishedAt, Error: b.lastErr}
}

// bridgeFile is how a bundle or page is named on disk: its infohash, then
// the torrent's file name (needed to rebuild the torrent).
var bridgeFile = regexp.MustCompile(`^([0-9a-f]{40})-([A-Za-z0-9.-]+)$`)

// startBridge loads the bridge's state, seeds every file it archived and
// starts its loop.
func (n *Node) startBridge() error {
	j, ok := n.store.(store.Journal)
	if !ok {
		return fmt.Errorf("--bt-bridge: this event store cannot be read in the order it was written")
	}
	b := &btBridge{dir: BridgeDir(n.cfg.DataDir), j: j, window: n.cfg.BT.BridgeWindow, page: n.cfg.BT.BridgePage}
	if b.window <= 0 {
		b.window = BridgeWindow
	}
	if b.page <= 0 {
		b.page = bt.ArchivePageBundles
	}
	if err := os.MkdirAll(b.dir, 0o700); err != nil {
		return fmt.Errorf("--bt-bridge: %w", err)
	}
	raw, err := os.ReadFile(filepath.Join(b.dir, "state.json"))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("--bt-bridge: %w", err)
	default:
		if err := json.Unmarshal(raw, &b.st); err != nil {
			return fmt.Errorf("--bt-bridge: %s is damaged (%v): move the bridge directory away to archive the store again from its start", filepath.Join(b.dir, "state.json"), err)
		}
	}
	if err := n.seedArchive(b); err != nil {
		return err
	}
	n.btFeed.bridge = b
	n.group.Go(func() error { n.bridgeLoop(b); return nil })
	return nil
}

// seedArchive seeds the files state.json refers to (the bundles of every
// page and the sealed pages), each checked against its infohash, and
// removes the others (bundles written by a pass that died before its state
// was).
func (n *Node) seedArchive(b *btBridge) error {
	keep := map[string]bool{}
	for _, e := range b.st.Bundles {
		m, err := metainfo.ParseMagnetUri(e.Magnet)
		if err != nil {
			return fmt.Errorf("--bt-bridge: state.json: %w", err)
		}
		keep[m.InfoHash.HexString()] = true
	}
	ents, err := os.ReadDir(b.dir)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			os.Remove(filepath.Join(b.dir, e.Name())) // a write that did not finish
			continue
		}
		if m := bridgeFile.FindStringSubmatch(e.Name()); m != nil {
			names[m[1]] = m[2]
		}
	}
	for _, ih := range b.st.Sealed {
		keep[ih] = true
		data, err := os.ReadFile(filepath.Join(b.dir, ih+"-"+names[ih]))
		if err != nil {
			return fmt.Errorf("--bt-bridge: a sealed archive page is missing: %w", err)
		}
		pg, err := bt.ParseArchivePage(data)
		if err != nil {
			return fmt.Errorf("--bt-bridge: sealed page %s: %w", ih, err)
		}
		for _, e := range pg.Bundles {
			m, _ := metainfo.ParseMagnetUri(e.Magnet)
			keep[m.InfoHash.HexString()] = true
		}
	}
	for ih, name := range names {
		path := filepath.Join(b.dir, ih+"-"+name)
		if !keep[ih] {
			os.Remove(path)
			continue
		}
		if err := n.seedBridgeFile(path, name, ih); err != nil {
			return fmt.Errorf("--bt-bridge: %w", err)
		}
		delete(keep, ih)
	}
	for ih := range keep {
		return fmt.Errorf("--bt-bridge: archived file %s is missing from %s", ih, b.dir)
	}
	return nil
}

func (n *Node) seedBridgeFile(path, name, ihHex string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var want [20]byte
	hex.Decode(want[:], []byte(ihHex))
	f, err := bt.FileFromBytes(name, data, want)
	if err != nil {
		return err
	}
	_, err = n.bt.Seed(f.MI, diskFile(path))
	return err
}

// diskFile reads a file kept on disk, opened for each read (bundles are
// read rarely; no descriptor is held per seeded bundle).
type diskFile string

func (p diskFile) ReadAt(b []byte, off int64) (int, error) {
	f, err := os.Open(string(p))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.ReadAt(b, off)
}

// bridgeLoop archives every BridgeWindow, and puts the archive pointer when
// the archive grew (at most every bridgePublishEvery) and every
// FeedRepublish.
func (n *Node) bridgeLoop(b *btBridge) {
	tick := time.NewTicker(b.window)
	defer tick.Stop()
	var att *nostr.Event
	for {
		for n.ctx.Err() == nil {
			got, err := n.bridgePass(b)
			if err != nil {
				b.mu.Lock()
				b.lastErr = err.Error()
				b.mu.Unlock()
				n.log.Warn("bridge: archiving failed; retrying at the next window", "err", err)
				break
			}
			if got < bridgeBatch {
				break
			}
		}
		b.mu.Lock()
		due := b.published != b.st.Events && time.Since(b.publishedAt) >= min(b.window, bridgePublishEvery) || time.Since(b.publishedAt) > FeedRepublish
		b.mu.Unlock()
		if due && n.btFeed.dht.Nodes() > 0 {
			if att == nil {
				att = bt.Attestation(bt.Key(n.key).Public().(ed25519.PublicKey), nostr.Now())
				if err := att.Sign(n.key.Secret); err != nil {
					n.log.Warn("bridge: signing the attestation", "err", err)
					att = nil
				}
			}
			if att != nil {
				if err := n.publishArchive(b, att); err != nil {
					b.mu.Lock()
					b.lastErr = err.Error()
					b.mu.Unlock()
					n.log.Debug("bridge: archive pointer not put", "err", err)
				}
			}
		}
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// bridgePass archives the events stored after the cursor (at most
// bridgeBatch): their bundles are written and synced, then state.json with
// the new cursor; only then are they seeded. It returns how many events it
// read.
func (n *Node) bridgePass(b *btBridge) (int, error) {
	type rec struct {
		serial uint64
		raw    []byte
	}
	byAuthor := map[string][]rec{}
	var order []string
	var last uint64
	read, skipped := 0, int64(0)
	err := b.j.After(n.ctx, b.st.Cursor, bridgeBatch, func(serial uint64, raw []byte) error {
		read++
		last = serial
		var h struct {
			PubKey string `json:"pubkey"`
		}
		if err := json.Unmarshal(raw, &h); err != nil || len(h.PubKey) != 64 {
			skipped++
			return nil
		}
		if _, ok := byAuthor[h.PubKey]; !ok {
			order = append(order, h.PubKey)
		}
		byAuthor[h.PubKey] = append(byAuthor[h.PubKey], rec{serial, bytes.Clone(raw)})
		return nil
	})
	if err != nil || read == 0 {
		return 0, err
	}
	st := b.st
	st.Bundles = append([]bt.ArchiveEntry(nil), st.Bundles...)
	st.Sealed = append([]string(nil), st.Sealed...)
	var newFiles []string
	for _, npk := range order {
		rs := byAuthor[npk]
		raws := make([][]byte, len(rs))
		for i, r := range rs {
			raws[i] = r.raw
		}
		f, err := bt.BuildBundle(fmt.Sprintf("%.16s-%d.json", npk, rs[0].serial), raws)
		if err != nil {
			return 0, err
		}
		path, m, err := writeBridgeFile(b.dir, f)
		if err != nil {
			return 0, err
		}
		newFiles = append(newFiles, path)
		st.Bundles = append(st.Bundles, bt.ArchiveEntry{NPK: npk, Magnet: m, Events: len(rs)})
		st.Events += int64(len(rs))
		st.Count++
	}
	for len(st.Bundles) >= b.page {
		pg := bt.ArchivePage{UpdatedAt: time.Now().Unix(), Prev: st.Prev, Bundles: st.Bundles[:b.page]}
		f, err := bt.PageFile(pg)
		if err != nil {
			return 0, err
		}
		path, m, err := writeBridgeFile(b.dir, f)
		if err != nil {
			return 0, err
		}
		newFiles, st.Prev = append(newFiles, path), m
		st.Sealed = append(st.Sealed, f.MI.HashInfoBytes().HexString())
		st.Bundles = append([]bt.ArchiveEntry(nil), st.Bundles[b.page:]...)
	}
	if err := syncDir(b.dir); err != nil {
		return 0, err
	}
	st.Cursor, st.Skipped = last, st.Skipped+skipped
	if err := writeBridgeState(b.dir, st); err != nil {
		return 0, err
	}
	b.mu.Lock()
	b.st = st
	b.mu.Unlock()
	if skipped > 0 {
		n.log.Warn("bridge: stored records that are not events were skipped", "count", skipped)
	}
	for _, path := range newFiles {
		m := bridgeFile.FindStringSubmatch(filepath.Base(path))
		if err := n.seedBridgeFile(path, m[2], m[1]); err != nil {
			n.log.Warn("bridge: not seeding an archived file", "file", path, "err", err)
		}
	}
	return read, nil
}

// publishArchive seeds the newest page, announces it, puts the locator and
// the archive pointer.
func (n *Node) publishArchive(b *btBridge, att *nostr.Event) error {
	b.mu.Lock()
	pg := bt.ArchivePage{UpdatedAt: time.Now().Unix(), Prev: b.st.Prev, Bundles: b.st.Bundles}
	events, old := b.st.Events, b.newest
	b.mu.Unlock()
	f, err := bt.PageFile(pg)
	if err != nil {
		return err
	}
	ih := f.MI.HashInfoBytes()
	if ih != old {
		if _, err := n.bt.Seed(f.MI, bytes.NewReader(f.Data)); err != nil {
			return fmt.Errorf("seeding the archive page: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(n.ctx, time.Minute)
	defer cancel()
	d := n.btFeed.dht
	if err := d.Announce(ctx, ih, n.bt.Port()); err != nil {
		return fmt.Errorf("announcing the archive page: %w", err)
	}
	if err := d.PutLocator(ctx, att); err != nil {
		return fmt.Errorf("putting the locator: %w", err)
	}
	seq, err := d.PutArchive(ctx, bt.Key(n.key), bt.Pointer{IH: ih, TS: time.Now().Unix(), NPK: n.key.Public})
	if err != nil {
		return fmt.Errorf("putting the archive pointer: %w", err)
	}
	if old != ([20]byte{}) && old != ih {
		n.bt.Unseed(old)
	}
	b.mu.Lock()
	b.newest, b.published, b.seq, b.publishedAt, b.lastErr = ih, events, seq, time.Now(), ""
	b.mu.Unlock()
	n.log.Info("bridge: archive pointer put", "seq", seq, "events", events, "bundles", len(pg.Bundles))
	return nil
}

// writeBridgeFile writes f's bytes durably as <infohash>-<name> in dir and
// returns that path and f's magnet.
func writeBridgeFile(dir string, f bt.File) (path, magnet string, err error) {
	if magnet, err = bt.Magnet(f.MI, ""); err != nil {
		return "", "", err
	}
	path = filepath.Join(dir, f.MI.HashInfoBytes().HexString()+"-"+f.Name)
	return path, magnet, writeSynced(path, f.Data)
}

func writeBridgeState(dir string, st bridgeState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := writeSynced(filepath.Join(dir, "state.json"), b); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

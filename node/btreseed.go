package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/cairn-nostr/cairn/bt"
)

// Feeds this node followed or crawled are seeded again: each index and
// bundle it fetched (and verified, every event) is kept in
// DATA_DIR/bt-seeds as <infohash>.torrent (the metainfo as the swarm gave
// it) and <infohash>.data, seeded, and announced in the DHT now and every
// FeedRepublish, so a feed stays reachable while its author's node is off.
// At most maxReseeded files; a stored file whose pieces no longer match its
// torrent is dropped at start.

const maxReseeded = 10000

// SeedsDir is where the node keeps the feed files it seeds again.
func SeedsDir(dataDir string) string { return filepath.Join(dataDir, "bt-seeds") }

type reseeds struct {
	mu  sync.Mutex
	ihs [][20]byte
	set map[[20]byte]bool
}

func (r *reseeds) add(ih [20]byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.set == nil {
		r.set = map[[20]byte]bool{}
	}
	if r.set[ih] || len(r.ihs) >= maxReseeded {
		return false
	}
	r.set[ih] = true
	r.ihs = append(r.ihs, ih)
	return true
}

func (r *reseeds) list() [][20]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][20]byte(nil), r.ihs...)
}

// reseed keeps, seeds and announces files fetched from feeds; it returns
// how many it took (files already seeded or beyond the bound are not).
func (n *Node) reseed(ctx context.Context, files []bt.File) int {
	dir := SeedsDir(n.cfg.DataDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		n.log.Warn("not seeding followed feeds again", "err", err)
		return 0
	}
	took := 0
	for _, f := range files {
		if f.MI == nil || len(f.Data) == 0 {
			continue
		}
		ih := f.MI.HashInfoBytes()
		if !n.btFeed.reseeds.add(ih) {
			continue
		}
		base := filepath.Join(dir, ih.HexString())
		tf, err := os.Create(base + ".torrent.tmp")
		if err == nil {
			err = f.MI.Write(tf)
			if cerr := tf.Close(); err == nil {
				err = cerr
			}
		}
		if err == nil {
			err = writeSynced(base+".data", f.Data)
		}
		if err == nil {
			err = os.Rename(base+".torrent.tmp", base+".torrent")
		}
		if err == nil {
			_, err = n.bt.Seed(f.MI, diskFile(base+".data"))
		}
		if err != nil {
			n.log.Debug("a followed feed's file not seeded again", "infohash", ih.HexString(), "err", err)
			continue
		}
		if err := n.btFeed.dht.Announce(ctx, ih, n.bt.Port()); err != nil {
			n.log.Debug("announcing a followed feed's file", "infohash", ih.HexString(), "err", err)
		}
		took++
	}
	return took
}

// loadReseeds seeds again, at start, the feed files kept in SeedsDir,
// each checked against its torrent's piece hashes.
func (n *Node) loadReseeds() {
	dir := SeedsDir(n.cfg.DataDir)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".torrent")
		if !ok {
			if strings.HasSuffix(e.Name(), ".tmp") {
				os.Remove(filepath.Join(dir, e.Name()))
			}
			continue
		}
		base := filepath.Join(dir, name)
		mi, err := loadTorrentFile(base + ".torrent")
		var info metainfo.Info
		if err == nil {
			info, err = bt.SingleFile(mi)
		}
		if err == nil && mi.HashInfoBytes().HexString() != name {
			err = os.ErrInvalid
		}
		if err == nil {
			err = bt.VerifyPieces(info, diskFile(base+".data"))
		}
		if err == nil && n.btFeed.reseeds.add(mi.HashInfoBytes()) {
			_, err = n.bt.Seed(mi, diskFile(base+".data"))
		}
		if err != nil {
			n.log.Warn("a kept feed file does not check; dropped", "file", base, "err", err)
			os.Remove(base + ".torrent")
			os.Remove(base + ".data")
		}
	}
}

// reseedLoop announces the files seeded again every FeedRepublish (the
// first time once the DHT is joined).
func (n *Node) reseedLoop() {
	tick := time.NewTicker(feedPoll)
	defer tick.Stop()
	var last time.Time
	for {
		if n.btFeed.dht.Nodes() > 0 && time.Since(last) > FeedRepublish {
			last = time.Now()
			for _, ih := range n.btFeed.reseeds.list() {
				ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
				n.btFeed.dht.Announce(ctx, ih, n.bt.Port())
				cancel()
			}
		}
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

package peer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/swarm"
	"github.com/cairn-nostr/cairn/swarm/sched"
)

// ErrTooLarge: a file does not fit in the blob quota.
var ErrTooLarge = errors.New("too large")

// Download is a running or finished fetch of one file.
type Download struct {
	File *File
	d    *swarm.Download

	done chan struct{} // closed once the download ended and was handled
	mu   sync.Mutex
	err  error // set before done closes: nil when complete
}

// Swarm is the underlying download (Need, Want, Progress).
func (dl *Download) Swarm() *swarm.Download { return dl.d }

// Progress is the swarm download's progress.
func (dl *Download) Progress() swarm.Progress { return dl.d.Progress() }

// Done is closed once the download has ended and, if it completed, the file
// was checked and announced.
func (dl *Download) Done() <-chan struct{} { return dl.done }

// Err is nil while the download runs and once it completed; otherwise why it
// failed (swarm.ErrClosed when it was stopped first).
func (dl *Download) Err() error {
	dl.mu.Lock()
	defer dl.mu.Unlock()
	return dl.err
}

// Finished reports whether the download has ended (Done is closed).
func (dl *Download) Finished() bool { return dl.finished() }

func (dl *Download) finished() bool {
	select {
	case <-dl.done:
		return true
	default:
		return false
	}
}

// Downloads lists the downloads of this run.
func (p *Peer) Downloads() []*Download {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*Download, 0, len(p.downloads))
	for _, dl := range p.downloads {
		out = append(out, dl)
	}
	return out
}

// DownloadOf is the download of root in this run, or nil.
func (p *Peer) DownloadOf(root [32]byte) *Download {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.downloads[root]
}

// Download starts the download of f, or returns the one running. A file
// larger than the room the blob quota leaves is ErrTooLarge (it would
// evict its own chunks while they arrive).
//
// Its chunks are asked for in file order where they are equally rare
// (sched.Config.InOrder): a file written to disk while it downloads
// (`cairn get -o`) is then written and hashed in order, from the chunks in
// memory.
func (p *Peer) Download(f *File) (*Download, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx == nil || p.ctx.Err() != nil {
		return nil, ErrStopped
	}
	if dl := p.downloads[f.Map.Root]; dl != nil && !dl.finished() {
		return dl, nil
	}
	if bs := p.cfg.Blobs.Stats(); bs.Quota > 0 && f.Map.Size > bs.Quota-bs.PinnedBytes {
		return nil, fmt.Errorf("%w: the file is %d bytes; the blob quota (%d bytes, %d of them pinned) cannot hold it: raise the quota or unpin files", ErrTooLarge, f.Map.Size, bs.Quota, bs.PinnedBytes)
	}
	d, err := swarm.NewDownload(swarm.Config{Map: f.Map, Blobs: p.cfg.Blobs, Now: p.now, Logger: p.cfg.Logger.With("part", "swarm"),
		Sched:     sched.Config{InOrder: true, Score: p.cfg.Score},
		OnRefused: func(swarm.PeerID) { p.signalDemand(f) }})
	if err != nil {
		return nil, err
	}
	dl := &Download{File: f, d: d, done: make(chan struct{})}
	p.downloads[f.Map.Root] = dl
	ctx, cancel := context.WithCancel(p.ctx)
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		p.findPeers(ctx, d, f)
	}()
	go func() {
		defer p.wg.Done()
		defer cancel()
		p.finish(ctx, dl)
	}()
	return dl, nil
}

// finish waits for dl, then checks the file and announces it.
func (p *Peer) finish(ctx context.Context, dl *Download) {
	err := dl.d.Wait(ctx)
	if err == nil && dl.File.SHA256 != "" && p.cfg.CheckFile != nil {
		err = p.cfg.CheckFile(ctx, dl.File)
	}
	if err != nil && ctx.Err() != nil {
		dl.d.Close()
		err = swarm.ErrClosed
	}
	dl.mu.Lock()
	dl.err = err
	dl.mu.Unlock()
	close(dl.done)
	if err != nil {
		return
	}
	p.announce(ctx, []*File{dl.File})
	if p.cfg.Completed != nil {
		p.cfg.Completed(dl.File)
	}
}

// lazyIdle is how long an on-demand fetch outlives its last user: a
// player's next Range request, or a browser's next chunk, finds its peers
// already connected.
const lazyIdle = 30 * time.Second

// lazyFetch is a Lazy swarm download of one root, fetching only the chunks
// asked for, shared by every reader of the root while no full download of
// it runs.
type lazyFetch struct {
	d      *swarm.Download
	stop   context.CancelFunc // ends its peer finding
	refs   int
	idle   *time.Timer
	closed bool
}

// Source returns what fetches the missing chunks of f on demand: the
// running download of its root, else the root's shared on-demand fetch.
// release must be called once the caller is done with it.
func (p *Peer) Source(f *File) (swarm.Source, func(), error) {
	root := f.Map.Root
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx == nil || p.ctx.Err() != nil {
		return nil, nil, ErrStopped
	}
	if dl := p.downloads[root]; dl != nil && !dl.finished() {
		return dl.d, func() {}, nil
	}
	lf := p.lazy[root]
	if lf == nil || isDone(lf.d) {
		if lf != nil { // it completed (every chunk asked for) or failed
			lf.closed = true
			if lf.idle != nil {
				lf.idle.Stop()
			}
			lf.stop()
		}
		d, err := swarm.NewDownload(swarm.Config{Map: f.Map, Blobs: p.cfg.Blobs, Lazy: true, Now: p.now, Logger: p.cfg.Logger.With("part", "swarm"),
			Sched:     sched.Config{Score: p.cfg.Score},
			OnRefused: func(swarm.PeerID) { p.signalDemand(f) }})
		if err != nil {
			return nil, nil, err
		}
		ctx, cancel := context.WithCancel(p.ctx)
		lf = &lazyFetch{d: d, stop: cancel}
		p.lazy[root] = lf
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.findPeers(ctx, d, f)
		}()
	}
	lf.refs++
	if lf.idle != nil {
		lf.idle.Stop()
		lf.idle = nil
	}
	var once bool
	release := func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if once {
			return
		}
		once = true
		lf.refs--
		if lf.refs > 0 || lf.closed {
			return
		}
		lf.idle = time.AfterFunc(lazyIdle, func() { p.endLazy(root, lf) })
	}
	return lf.d, release, nil
}

// OnDemand is the number of on-demand fetches open.
func (p *Peer) OnDemand() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lazy)
}

// endLazy closes lf if it is still the root's idle on-demand fetch.
func (p *Peer) endLazy(root [32]byte, lf *lazyFetch) {
	p.mu.Lock()
	if lf.refs > 0 || lf.closed || p.lazy[root] != lf {
		p.mu.Unlock()
		return
	}
	lf.closed = true
	delete(p.lazy, root)
	p.mu.Unlock()
	lf.stop()
	lf.d.Close()
}

// closeAll closes every download and on-demand fetch (Run's end): their
// chunks stay, so a later download resumes.
func (p *Peer) closeAll() {
	p.mu.Lock()
	var ds []*swarm.Download
	for _, dl := range p.downloads {
		ds = append(ds, dl.d)
	}
	for root, lf := range p.lazy {
		lf.closed = true
		if lf.idle != nil {
			lf.idle.Stop()
		}
		lf.stop()
		ds = append(ds, lf.d)
		delete(p.lazy, root)
	}
	p.mu.Unlock()
	for _, d := range ds {
		d.Close()
	}
}

func isDone(d *swarm.Download) bool {
	select {
	case <-d.Done():
		return true
	default:
		return false
	}
}

// Peer finding: how often, and how soon a seeder is tried again after it
// was added (adding again clears its failures).
const (
	findEvery   = 5 * time.Second
	retryRecord = 5 * time.Second // a libp2p peer: cheap to add again
	retryDirect = time.Minute     // a WebRTC peer: a new connection
)

// findPeers adds to d the peers that may have f: its author and
// gatekeepers, the seeders heard announcing it, Config.Seeds and
// Config.Providers; it looks again every few seconds until ctx ends or d
// does. It also watches home for the root's announcements meanwhile.
func (p *Peer) findPeers(ctx context.Context, d *swarm.Download, f *File) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-d.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	if p.cfg.Home != nil {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.watch(ctx, p.cfg.Home, "", f.Map.Root)
		}()
	}
	added := map[string]time.Time{}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Providers first: the tab's serving node over HTTP is there at
		// once, before the round trips of Seeds and record lookups.
		if p.cfg.Providers != nil {
			for _, c := range p.cfg.Providers(ctx, f.Map.Root) {
				d.AddPeer(c.ID, c.Transport, swarm.HasAll)
			}
		}
		cands := append([]string{f.Author()}, f.Map.Gatekeepers...)
		for _, s := range p.seeders.get(f.Map.Root, p.now()) {
			cands = append(cands, s.PubKey)
		}
		if p.cfg.Seeds != nil {
			cands = append(cands, p.cfg.Seeds(ctx, f.Map.Root)...)
		}
		p.addSeeders(ctx, d, cands, added)
		t.Reset(findEvery)
	}
}

// addSeeders reaches the pubkeys not tried recently (added says when each
// was) and adds them to d.
func (p *Peer) addSeeders(ctx context.Context, d *swarm.Download, pubkeys []string, added map[string]time.Time) {
	self := p.PubKey()
	seen := map[string]bool{self: true}
	var uniq []string
	for _, pk := range pubkeys {
		if !seen[pk] && event.IsHex(pk, 64) {
			seen[pk] = true
			uniq = append(uniq, pk)
		}
	}
	if len(uniq) == 0 {
		return
	}
	recs := p.Records(ctx, uniq)
	now := p.now()
	for _, pk := range uniq {
		rec, has := recs[pk]
		key, retry := pk, retryDirect
		var recp *AddressRecord
		if has {
			key, retry, recp = pk+" record", retryRecord, &rec
		}
		if t, ok := added[key]; ok && now.Sub(t) < retry {
			continue
		}
		added[key] = now
		c, err := p.cfg.Reach(ctx, pk, recp)
		if err != nil {
			p.cfg.Logger.Debug("seeder unreachable", "pubkey", pk[:16], "err", err)
			continue
		}
		d.AddPeer(c.ID, c.Transport, swarm.HasAll)
	}
}

// Bounds of announcement watching on relays a reference named.
const (
	maxWatches    = 16 // concurrent subscriptions on other relays
	watchSpan     = 2  // a watch lasts this many announce intervals
	minWatchSpan  = 10 * time.Second
	maxRecordAsks = 64 // addressing records asked of one relay per watch
)

// watchAnnouncements subscribes on a relay a reference named, for a while,
// to the announcements of root, in the background; at most maxWatches run
// at once, one per relay and root.
func (p *Peer) watchAnnouncements(rel Events, url string, root [32]byte) {
	key := url + " " + fmt.Sprintf("%x", root)
	p.mu.Lock()
	if p.watching[key] || len(p.watching) >= maxWatches {
		p.mu.Unlock()
		return
	}
	p.watching[key] = true
	p.mu.Unlock()
	err := p.spawn(func(ctx context.Context) {
		defer func() {
			p.mu.Lock()
			delete(p.watching, key)
			p.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(ctx, max(watchSpan*p.cfg.AnnounceInterval, minWatchSpan))
		defer cancel()
		p.watch(ctx, rel, url, root)
	})
	if err != nil {
		p.mu.Lock()
		delete(p.watching, key)
		p.mu.Unlock()
	}
}

// watch hears root's announcements on rel until ctx ends (resubscribing
// when the relay drops the subscription). On a relay other than home, the
// addressing record of each new seeder is asked of the same relay.
func (p *Peer) watch(ctx context.Context, rel Events, url string, root [32]byte) {
	f := nostr.Filter{Kinds: []int{KindAnnounce}, Tags: nostr.TagMap{"x": {fmt.Sprintf("%x", root)}}}
	asked := map[string]bool{}
	var mu sync.Mutex
	for ctx.Err() == nil {
		rel.Subscribe(ctx, f, func(ev *nostr.Event) {
			if url != "" && event.Verify(ev) == nil {
				mu.Lock()
				ask := !asked[ev.PubKey] && len(asked) < maxRecordAsks
				asked[ev.PubKey] = true
				mu.Unlock()
				if ask {
					p.spawn(func(ctx context.Context) { p.askRecord(ctx, rel, ev) })
					return
				}
			}
			p.Heard(ev)
		})
		select {
		case <-ctx.Done():
		case <-time.After(findEvery):
		}
	}
}

// askRecord fetches the addressing record of an announcement's author from
// the relay it was heard on, then takes the announcement.
func (p *Peer) askRecord(ctx context.Context, rel Events, ann *nostr.Event) {
	ctx, cancel := context.WithTimeout(ctx, relayTimeout)
	defer cancel()
	recs, _ := rel.Query(ctx, addressingFilter([]string{ann.PubKey}))
	for _, e := range recs {
		if e.PubKey == ann.PubKey && event.Verify(e) == nil {
			p.cfg.Library.Save(ctx, e)
		}
	}
	p.Heard(ann)
}

// Remove stops a root's download, deletes its chunks that no other stored
// map uses (pins and all), and forgets its chunk maps and file events.
func (p *Peer) Remove(ctx context.Context, f *File) error {
	root := f.Map.Root
	p.mu.Lock()
	dl := p.downloads[root]
	delete(p.downloads, root)
	p.mu.Unlock()
	if dl != nil {
		dl.d.Close()
	}
	others := map[[32]byte]bool{}
	var ids []string
	p.ChunkMaps(ctx, "", func(x *File) error {
		if x.Map.Root == root {
			return nil
		}
		for _, h := range x.Map.Chunks {
			others[h] = true
		}
		return nil
	})
	rootHex := f.Root()
	p.cfg.Library.Query(ctx, nostr.Filter{Kinds: []int{chunkmap.KindChunkMap, chunkmap.KindFileMetadata}}, rootHex, func(ev *nostr.Event) error {
		for _, t := range ev.Tags {
			if len(t) >= 2 && (t[0] == "x-hash" || t[0] == "x") && t[1] == rootHex {
				ids = append(ids, ev.ID)
				break
			}
		}
		return nil
	})
	for _, h := range f.Map.Chunks {
		if others[h] {
			continue
		}
		for _, r := range p.cfg.Blobs.Pins(h) {
			if err := p.cfg.Blobs.Unpin(h, r); err != nil {
				return err
			}
		}
		if err := p.cfg.Blobs.Delete(h); err != nil {
			return err
		}
	}
	for _, id := range ids {
		if err := p.cfg.Library.Delete(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

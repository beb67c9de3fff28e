package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/relay/client"
	"github.com/cairn-nostr/cairn/swarm"
)

// relayTimeout bounds one relay round trip (a query, a publish).
const relayTimeout = 15 * time.Second

// Config is what a Peer needs of its platform. Signer, Library, Blobs and
// Reach are required.
type Config struct {
	Signer  Signer
	Library Library
	Blobs   blobstore.Blobs
	// Home is the relay the peer publishes to and hears announcements on:
	// the node's own relay in process, the tab's relay over a websocket.
	// HomeIsLibrary says its store is the Library (the node's), so
	// nothing is fetched from it; HomeURL is its URL, not dialled again
	// when a reference names it.
	Home          Events
	HomeIsLibrary bool
	HomeURL       string
	// Dial reaches a relay a reference names (default: relay/client,
	// one connection per call).
	Dial func(ctx context.Context, url string) (Events, error)
	// Carry publishes to Home what a reference's relay returned, so a
	// node behind the home relay can serve the file too (the tab).
	Carry bool
	// Reach turns a seeder's pubkey into a peer of a download. rec is its
	// addressing record, nil when none is stored: the node dials it over
	// libp2p when it has one and over WebRTC when not; the tab always
	// over WebRTC.
	Reach func(ctx context.Context, pubkey string, rec *AddressRecord) (Contact, error)
	// Seeds, when set, names more pubkeys that may seed a root: the tab's
	// serving node and the seeders it heard (GET /api/seeders).
	Seeds func(ctx context.Context, root [32]byte) []string
	// Providers, when set, finds more peers of a root: the node's DHT.
	Providers func(ctx context.Context, root [32]byte) []Contact
	// CheckFile checks a completed file's sha256 against f.SHA256 (set
	// only then); nil: not checked.
	CheckFile func(ctx context.Context, f *File) error
	// Score, when set, scores a download's peer: the higher is asked
	// first among peers of equal rate (sched.Config.Score; the node's
	// peer reputation). Quick and non-blocking.
	Score func(swarm.PeerID) float64
	// Completed is called after a download completed and was announced
	// (the node provides the root on its DHT).
	Completed func(f *File)
	// Seeding says whether to announce what is held; nil: always.
	Seeding func() bool
	// AnnounceInterval defaults to DefaultAnnounceInterval; heard
	// announcements are kept for twice it.
	AnnounceInterval time.Duration
	Clock            Clock
	Logger           *slog.Logger
}

// Peer is one cairn peer's application: see the package doc.
type Peer struct {
	cfg     Config
	seeders *seeders
	demand  demandState // kind 20003 signals sent and heard (demand.go)

	mu        sync.Mutex
	ctx       context.Context // Run's; nil before Run, done after
	downloads map[[32]byte]*Download
	lazy      map[[32]byte]*lazyFetch
	watching  map[string]bool
	wg        sync.WaitGroup
	started   chan struct{}
}

// New checks cfg and returns a Peer; nothing runs until Run.
func New(cfg Config) (*Peer, error) {
	var errs []error
	if cfg.Signer == nil {
		errs = append(errs, errors.New("peer: Signer is required"))
	}
	if cfg.Library == nil {
		errs = append(errs, errors.New("peer: Library is required"))
	}
	if cfg.Blobs == nil {
		errs = append(errs, errors.New("peer: Blobs is required"))
	}
	if cfg.Reach == nil {
		errs = append(errs, errors.New("peer: Reach is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Dial == nil {
		cfg.Dial = DialRelay
	}
	if cfg.AnnounceInterval <= 0 {
		cfg.AnnounceInterval = DefaultAnnounceInterval
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Peer{
		cfg:       cfg,
		seeders:   newSeeders(2*cfg.AnnounceInterval, maxAnnouncedRoots, maxAnnouncersPerRoot),
		demand:    demandState{d: newDemand()},
		downloads: map[[32]byte]*Download{},
		lazy:      map[[32]byte]*lazyFetch{},
		watching:  map[string]bool{},
		started:   make(chan struct{}),
	}, nil
}

// PubKey is the peer's own pubkey (its signer's).
func (p *Peer) PubKey() string { return p.cfg.Signer.PubKey() }

func (p *Peer) now() time.Time { return p.cfg.Clock.Now() }

// ErrStopped: the peer is not running (Run has not started or has ended).
var ErrStopped = errors.New("peer: stopped")

// Run announces the roots held in full shortly after it starts and then
// every announce interval, and is the lifetime of everything the peer
// starts: downloads, on-demand fetches, announcement watches. It returns
// once ctx ends and they all have.
func (p *Peer) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.ctx != nil {
		p.mu.Unlock()
		return errors.New("peer: Run called twice")
	}
	p.ctx = ctx
	p.mu.Unlock()
	close(p.started)
	t := time.NewTimer(min(5*time.Second, p.cfg.AnnounceInterval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			p.closeAll()
			p.wg.Wait()
			return nil
		case <-t.C:
		}
		p.announce(ctx, p.SeededFiles(ctx))
		t.Reset(p.cfg.AnnounceInterval)
	}
}

// spawn runs fn on a goroutine that Run waits for, with a context ending
// at Run's end; ErrStopped when the peer is not running.
func (p *Peer) spawn(fn func(ctx context.Context)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx == nil || p.ctx.Err() != nil {
		return ErrStopped
	}
	ctx := p.ctx
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		fn(ctx)
	}()
	return nil
}

// Started is closed once Run has begun.
func (p *Peer) Started() <-chan struct{} { return p.started }

// Publish verifies a signed event and publishes it to home, then keeps it
// in the library. A kind 7001 whose chunks are all held is then seeded
// (announced now and every interval).
func (p *Peer) Publish(ctx context.Context, ev *nostr.Event) error {
	if err := event.Verify(ev); err != nil {
		return err
	}
	if p.cfg.Home != nil {
		if err := p.cfg.Home.Publish(ctx, ev); err != nil {
			return err
		}
	}
	if !p.cfg.HomeIsLibrary {
		if err := p.cfg.Library.Save(ctx, ev); err != nil {
			return fmt.Errorf("keeping event %.16s: %w", ev.ID, err)
		}
	}
	if ev.Kind == chunkmap.KindChunkMap {
		if m, err := chunkmap.Parse(ev); err == nil && p.Held(m) == len(m.Chunks) {
			p.Seed(&File{Map: m, Event: ev})
		}
	}
	return nil
}

// PublishOwn signs ev with the peer's signer and publishes it.
func (p *Peer) PublishOwn(ctx context.Context, ev *nostr.Event) error {
	if err := p.cfg.Signer.Sign(ev); err != nil {
		return fmt.Errorf("signing kind %d: %w", ev.Kind, err)
	}
	return p.Publish(ctx, ev)
}

// Held is how many chunks of m the blob store holds.
func (p *Peer) Held(m *chunkmap.Map) int {
	n := 0
	for _, h := range m.Chunks {
		if p.cfg.Blobs.Has(h) {
			n++
		}
	}
	return n
}

// SeededFiles lists the stored chunk maps whose chunks are all held.
func (p *Peer) SeededFiles(ctx context.Context) []*File {
	var out []*File
	p.ChunkMaps(ctx, "", func(f *File) error {
		if len(f.Map.Chunks) > 0 && p.Held(f.Map) == len(f.Map.Chunks) {
			out = append(out, f)
		}
		return nil
	})
	return out
}

// Seed announces f now, in the background, if it is held in full.
func (p *Peer) Seed(f *File) {
	if p.Held(f.Map) != len(f.Map.Chunks) {
		return
	}
	p.spawn(func(ctx context.Context) { p.announce(ctx, []*File{f}) })
}

// announce publishes a kind 20002 for each file, signed by the peer.
func (p *Peer) announce(ctx context.Context, files []*File) {
	if p.cfg.Home == nil || p.cfg.Seeding != nil && !p.cfg.Seeding() {
		return
	}
	for _, f := range files {
		actx, cancel := context.WithTimeout(ctx, relayTimeout)
		err := p.PublishOwn(actx, AnnouncementEvent(f.Map, p.now()))
		cancel()
		if err != nil {
			p.cfg.Logger.Debug("announcing a seeded root", "root", f.Root()[:16], "err", err)
			if ctx.Err() != nil {
				return
			}
		}
	}
}

// AnnounceAll announces every root held in full now (seeding switched
// back on).
func (p *Peer) AnnounceAll() {
	p.spawn(func(ctx context.Context) { p.announce(ctx, p.SeededFiles(ctx)) })
}

// Seeders are the live announcers of root heard by this peer.
func (p *Peer) Seeders(root [32]byte) []Seeder { return p.seeders.get(root, p.now()) }

// Heard takes a kind 20002 heard on any relay: verified, checked for
// shape and freshness, remembered; when a download of its root runs and
// the seeder is new to it, the seeder joins it at once. It reports why an
// announcement was refused.
func (p *Peer) Heard(ev *nostr.Event) error {
	if err := event.Verify(ev); err != nil {
		return err
	}
	if ev.PubKey == p.PubKey() {
		return nil
	}
	now := p.now()
	a, err := ParseAnnouncement(ev, now, 2*p.cfg.AnnounceInterval)
	if err != nil {
		return err
	}
	if !p.seeders.add(a, now) {
		return nil
	}
	p.mu.Lock()
	dl := p.downloads[a.Root]
	p.mu.Unlock()
	if dl != nil && !dl.finished() {
		p.spawn(func(ctx context.Context) {
			ctx, cancel := context.WithTimeout(ctx, relayTimeout)
			defer cancel()
			p.addSeeders(ctx, dl.d, []string{a.PubKey}, map[string]time.Time{})
		})
	}
	return nil
}

// DialRelay is the default Config.Dial: each call on its own connection.
func DialRelay(_ context.Context, url string) (Events, error) { return remote{url}, nil }

type remote struct{ url string }

func (r remote) Query(ctx context.Context, f nostr.Filter) ([]*nostr.Event, error) {
	c, err := client.Dial(ctx, r.url)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Query(ctx, f)
}

func (r remote) Publish(ctx context.Context, ev *nostr.Event) error {
	c, err := client.Dial(ctx, r.url)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Publish(ctx, "EVENT", ev)
}

func (r remote) Subscribe(ctx context.Context, f nostr.Filter, fn func(*nostr.Event)) error {
	c, err := client.Dial(ctx, r.url)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Subscribe(ctx, f, fn, nil)
}

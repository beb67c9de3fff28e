package swarm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/swarm/sched"
)

// DefaultMaxPeerErrors is how many transport failures in a row (broken
// connections, timeouts; not refusals) drop a peer from a download.
const DefaultMaxPeerErrors = 3

// Config configures a Download. Map and Blobs are required; the zero value
// of every other field means its default.
type Config struct {
	// Map is the content to fetch: its chunk hashes, Merkle root and
	// sizes.
	Map *chunkmap.Map
	// Blobs receives every verified chunk. Chunks already in it when the
	// download starts are never fetched (resume). A chunk the store
	// refuses (ErrQuota, a disk error) ends the download with that error.
	Blobs blobstore.Blobs
	// Sched tunes the scheduler. Sched.MaxRequests bounds the fetches in
	// flight (each is one goroutine blocked in Transport.Fetch).
	// Sched.RequestRate, when set, spaces the requests to every peer (in
	// the scheduler); when zero, the Download spaces each peer's requests
	// at its Transport's RequestRate (RequestRater), else at
	// sched.DefaultRequestRate.
	Sched sched.Config
	// Lazy fetches only the chunks asked for through Want and Need (and
	// so a Reader), not the whole file: for serving a range of a file the
	// node does not hold. Wait still waits for every chunk, so a lazy
	// download is ended by Close.
	Lazy bool
	// Pin, when set, pins every chunk of the content for this reason as it
	// is stored (and those already stored at the start), so the blob
	// store's LRU does not evict a file while it is being fetched.
	Pin string
	// MaxPeerErrors transport failures in a row drop a peer; default
	// DefaultMaxPeerErrors. AddPeer brings it back.
	MaxPeerErrors int
	// Now is the clock given to the scheduler; nil means time.Now.
	// Timers always run on the wall clock.
	Now func() time.Time
	// OnRefused, when set, is told of every answer BUSY or
	// INSUFFICIENT_CREDIT (the content is wanted more than it is served:
	// a demand signal's cue). It runs on the download's loop and must not
	// block.
	OnRefused func(PeerID)
	// Logger; nil discards.
	Logger *slog.Logger
}

// Has says which chunks of the content a peer has: HasAll (a seeder) or
// HasChunks(bitfield).
type Has struct {
	all bool
	set sched.Bitfield
}

// HasAll is a peer that has every chunk.
var HasAll = Has{all: true}

// HasChunks is a peer that has the chunks in b (indexes into Map.Chunks).
func HasChunks(b sched.Bitfield) Has { return Has{set: b.Clone()} }

func (h Has) has(i int) bool { return h.all || h.set.Has(i) }

// Download fetches one piece of content (a chunk map) from many peers at
// once into a blob store. It runs the scheduler (package swarm/sched) in
// one goroutine: fetches report to it over a channel, a timer wakes it at
// the scheduler's NextWake, and every call below is a message to it. Its
// methods are safe for concurrent use.
//
// A Download ends when every chunk is verified, when it fails (the blob
// store refused a chunk), or at Close; it then cancels its fetches and
// waits for them, so no goroutine outlives it.
type Download struct {
	cfg     Config
	rate    float64 // requests a second to a peer whose transport names none
	m       *chunkmap.Map
	lay     *layout
	blobs   blobstore.Blobs
	log     *slog.Logger
	now     func() time.Time
	started time.Time
	resumed int

	cmds     chan func()
	results  chan result
	quit     chan struct{} // closed by Close
	stopping chan struct{} // closed when the loop stops
	done     chan struct{} // closed once stopped and every fetch returned
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	closing  sync.Once

	received atomic.Int64 // bytes received by fetches, as they arrive
	tap      atomic.Pointer[func(int, []byte)]

	// Owned by the loop goroutine.
	s          *sched.Scheduler
	peers      map[PeerID]*peerState
	flights    map[flightKey]*flight
	want       sched.Bitfield // Lazy: the chunks asked for
	stored     sched.Bitfield // chunks durable in the blob store
	putting    int            // verified chunks whose Put has not returned
	complete   bool           // the scheduler said Done
	waiters    map[int][]chan error
	byName     map[string]int64 // verified bytes by transport name
	firstChunk time.Duration
	meter      rateMeter
	failure    error

	mu    sync.Mutex // guards err and final
	err   error
	final Progress

	changeMu sync.Mutex
	changed  chan struct{} // closed at the next stored chunk; nil until asked for
}

type peerState struct {
	tr   Transport
	has  Has
	errs int // transport failures in a row

	interval time.Duration // between two requests sent to it; 0: none
	next     time.Time     // wall clock: the earliest its next request may go
}

type flightKey struct {
	peer  PeerID
	chunk int
}

// flight is one outstanding fetch.
type flight struct {
	flightKey
	tr     Transport
	cancel context.CancelFunc
}

// result is what a fetch goroutine reports.
type result struct {
	f      *flight
	n      int
	err    error // from the transport
	putErr error // from the blob store
	// early: the transport verified the chunk and its Put is under way;
	// a second result with stored set follows once it returns.
	early, stored bool
}

// NewDownload starts downloading cfg.Map into cfg.Blobs. It fetches
// nothing until peers are added with AddPeer.
func NewDownload(cfg Config) (*Download, error) {
	if cfg.Blobs == nil {
		return nil, errors.New("swarm: Config.Blobs is required")
	}
	if err := cfg.Sched.Validate(); err != nil {
		return nil, err
	}
	lay, err := newLayout(cfg.Map)
	if err != nil {
		return nil, err
	}
	if cfg.MaxPeerErrors <= 0 {
		cfg.MaxPeerErrors = DefaultMaxPeerErrors
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	rate := cfg.Sched.RequestRate
	if rate == 0 {
		// The Download spaces requests peer by peer, at each transport's
		// rate; the scheduler's own spacing is out of the way.
		rate = sched.DefaultRequestRate
		cfg.Sched.RequestRate = unpaced
	}
	m := cfg.Map
	n := len(m.Chunks)
	have := sched.NewBitfield(n)
	for i, h := range m.Chunks {
		if !cfg.Blobs.Has(h) {
			continue
		}
		have.Set(i)
		if cfg.Pin != "" {
			if err := cfg.Blobs.Pin(h, cfg.Pin); err != nil {
				return nil, fmt.Errorf("swarm: pinning chunk %d: %w", i, err)
			}
		}
	}
	s, err := sched.New(cfg.Sched, lay.chunks(m), have)
	if err != nil {
		return nil, err
	}
	d := &Download{
		cfg:      cfg,
		rate:     rate,
		m:        m,
		lay:      lay,
		blobs:    cfg.Blobs,
		log:      cfg.Logger.With("root", fmt.Sprintf("%x", m.Root[:8])),
		now:      cfg.Now,
		started:  cfg.Now(),
		resumed:  have.Count(),
		cmds:     make(chan func(), 64),
		results:  make(chan result, 16),
		quit:     make(chan struct{}),
		stopping: make(chan struct{}),
		done:     make(chan struct{}),
		s:        s,
		stored:   have.Clone(),
		peers:    make(map[PeerID]*peerState),
		flights:  make(map[flightKey]*flight),
		waiters:  make(map[int][]chan error),
		byName:   make(map[string]int64),
	}
	if cfg.Lazy {
		d.want = sched.NewBitfield(n)
	}
	d.meter.add(d.started, 0)
	d.ctx, d.cancel = context.WithCancel(context.Background())
	go d.run()
	return d, nil
}

// run is the loop: it owns the scheduler.
func (d *Download) run() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var err error
loop:
	for {
		now := d.now()
		complete := false
		for _, a := range d.s.Tick(now) {
			if d.act(a) {
				complete = true
			}
		}
		if complete {
			d.complete = true
		}
		if d.failure != nil {
			err = d.failure
			break
		}
		if d.complete && d.putting == 0 {
			break
		}
		if w := d.s.NextWake(); w.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(max(w.Sub(d.now()), 0))
		}
		select {
		case r := <-d.results:
			d.handle(r)
		case f := <-d.cmds:
			f()
		case <-timer.C:
		case <-d.quit:
			err = ErrClosed
			break loop
		}
	}
	d.stop(err)
}

// act carries out one scheduler action; it reports Done.
func (d *Download) act(a sched.Action) bool {
	switch a := a.(type) {
	case sched.Request:
		d.start(a.Peer, a.Chunk)
	case sched.Cancel:
		k := flightKey{a.Peer, a.Chunk}
		if f := d.flights[k]; f != nil {
			f.cancel()
			delete(d.flights, k)
		}
	case sched.Ban:
		d.log.Info("banning peer for corrupt data", "peer", a.Peer, "until", a.Until)
		if ps := d.peers[a.Peer]; ps != nil {
			ps.tr.Ban(a.Peer, a.Until)
		}
	case sched.Done:
		return true
	}
	return false
}

// start launches the fetch of chunk i from p.
func (d *Download) start(p PeerID, i int) {
	ps := d.peers[p]
	if ps == nil { // cannot happen: the scheduler only asks present peers
		d.s.Failed(p, i, sched.ReasonDisconnected, d.now())
		return
	}
	ctx, cancel := context.WithCancel(d.ctx)
	f := &flight{flightKey: flightKey{p, i}, tr: ps.tr, cancel: cancel}
	if old := d.flights[f.flightKey]; old != nil {
		old.cancel()
	}
	d.flights[f.flightKey] = f
	hash := d.m.Chunks[i]
	wait := ps.pace(time.Now())
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer cancel()
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				select {
				case d.results <- result{f: f, err: ctx.Err()}:
				case <-d.stopping:
				}
				return
			}
		}
		var last int
		data, err := f.tr.Fetch(ctx, p, hash, d.m.Root, func(got, _ int) {
			if got > last {
				d.received.Add(int64(got - last))
				last = got
			}
		})
		r := result{f: f, n: last, err: err} // bytes received, even if bad
		if err == nil {
			r.n = len(data)
			if len(data) > last {
				d.received.Add(int64(len(data) - last))
			}
			tap := d.tap.Load()
			if r.early = d.early(f.tr); r.early {
				if tap != nil { // verified: no need to wait for the store
					(*tap)(f.chunk, data)
					tap = nil
				}
				// The scheduler hears of the chunk now, so the peer's
				// slot is free while the store makes it durable.
				select {
				case d.results <- r:
				case <-d.stopping:
					return
				}
				r.early, r.stored = false, true
			}
			if d.cfg.Pin != "" {
				r.putErr = d.blobs.Pin(hash, d.cfg.Pin)
			}
			if r.putErr == nil {
				r.putErr = d.put(f.tr, hash, data)
			}
			if tap != nil && r.putErr == nil {
				(*tap)(f.chunk, data)
			}
		}
		select {
		case d.results <- r:
		case <-d.stopping:
		}
	}()
}

// early reports whether a chunk fetched over tr is verified already, so
// the scheduler may count it before the blob store has made it durable:
// the transport hashed it as it arrived and the store will not hash it
// again (and so cannot refuse it as corrupt).
func (d *Download) early(tr Transport) bool {
	v, ok := tr.(Verifier)
	_, hp := d.blobs.(hashedPutter)
	return ok && hp && v.Verifies()
}

// put stores a fetched chunk, without hashing it again when the transport
// hashed it as it arrived and the store can take it so.
func (d *Download) put(tr Transport, hash [32]byte, data []byte) error {
	if v, ok := tr.(Verifier); ok && v.Verifies() {
		if hp, ok := d.blobs.(hashedPutter); ok {
			return hp.PutHashed(hash, data)
		}
	}
	return d.blobs.Put(hash, data)
}

// unpaced is the scheduler's request rate when the Download spaces
// requests itself: the highest sched.Config.Validate accepts.
const unpaced = 1e6

// pace reserves the next request slot of the peer and returns how long to
// wait for it: requests are spaced interval apart, and one that finds the
// peer idle goes at once.
func (ps *peerState) pace(now time.Time) time.Duration {
	if ps.interval <= 0 {
		return 0
	}
	var wait time.Duration
	if ps.next.After(now) {
		wait = ps.next.Sub(now)
	} else {
		ps.next = now
	}
	ps.next = ps.next.Add(ps.interval)
	return wait
}

// intervalOf is the spacing of requests to a peer reached over tr.
func (d *Download) intervalOf(tr Transport) time.Duration {
	if d.cfg.Sched.RequestRate != unpaced {
		return 0 // the scheduler spaces them
	}
	rate := d.rate
	if r, ok := tr.(RequestRater); ok {
		rate = r.RequestRate()
	}
	if rate <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / rate)
}

// handle turns a fetch's outcome into scheduler events.
func (d *Download) handle(r result) {
	f := r.f
	if r.stored { // the Put after an early result
		d.putting--
		if r.putErr != nil {
			d.failure = fmt.Errorf("swarm: storing chunk %d: %w", f.chunk, r.putErr)
			return
		}
		d.markStored(f.chunk)
		return
	}
	current := d.flights[f.flightKey] == f
	if current {
		delete(d.flights, f.flightKey)
	}
	now := d.now()
	ps := d.peers[f.peer]
	switch {
	case r.err == nil && r.putErr == nil:
		was := d.s.Verified(f.chunk)
		d.s.Received(f.peer, f.chunk, int64(r.n), true, now)
		if ps != nil {
			ps.errs = 0
		}
		if r.early {
			d.putting++
		}
		if !was && d.s.Verified(f.chunk) {
			d.byName[f.tr.Name()] += int64(r.n)
			if d.firstChunk == 0 {
				d.firstChunk = max(time.Since(d.started), 1)
			}
			d.meter.add(d.now(), d.received.Load())
		}
		if !r.early {
			d.markStored(f.chunk)
		}
	case errors.Is(r.err, ErrHashMismatch) || errors.Is(r.putErr, blobstore.ErrHashMismatch):
		d.log.Debug("corrupt chunk", "peer", f.peer, "chunk", f.chunk)
		d.s.Received(f.peer, f.chunk, int64(r.n), false, now)
	case r.putErr != nil:
		d.failure = fmt.Errorf("swarm: storing chunk %d: %w", f.chunk, r.putErr)
	case !current:
		// Cancelled (or superseded): the scheduler has forgotten it.
	default:
		if why, ok := reasonOf(r.err); ok {
			if ps != nil {
				ps.errs = 0
			}
			d.s.Failed(f.peer, f.chunk, why, now)
			if d.cfg.OnRefused != nil && (why == sched.ReasonBusy || why == sched.ReasonInsufficientCredit) {
				d.cfg.OnRefused(f.peer)
			}
			return
		}
		d.log.Debug("fetch failed", "peer", f.peer, "chunk", f.chunk, "err", r.err)
		if ps == nil {
			return
		}
		ps.errs++
		if ps.errs >= d.cfg.MaxPeerErrors {
			d.log.Info("dropping unreachable peer", "peer", f.peer, "err", r.err)
			d.removePeer(f.peer, now)
			return
		}
		// A broken connection backs the peer off like a timeout does.
		d.s.Failed(f.peer, f.chunk, sched.ReasonTimeout, now)
	}
}

// markStored records chunk i durable in the blob store and tells those
// waiting for it.
func (d *Download) markStored(i int) {
	if d.stored.Has(i) {
		return
	}
	d.stored.Set(i)
	d.release()
	d.notify()
}

// release answers the Need calls whose chunk is now stored.
func (d *Download) release() {
	for i, ws := range d.waiters {
		if !d.stored.Has(i) {
			continue
		}
		for _, w := range ws {
			w <- nil
		}
		delete(d.waiters, i)
	}
}

// stop ends the download: fetches are cancelled and waited for.
func (d *Download) stop(err error) {
	close(d.stopping)
	d.cancel()
	for i, ws := range d.waiters {
		werr := err
		if werr == nil && !d.stored.Has(i) {
			werr = ErrClosed
		}
		for _, w := range ws {
			w <- werr
		}
	}
	d.waiters = nil
	d.wg.Wait()
	p := d.snapshot()
	p.Err = err
	d.mu.Lock()
	d.err = err
	d.final = p
	d.mu.Unlock()
	if err == nil {
		d.log.Debug("download complete", "bytes", p.Bytes, "elapsed", p.Elapsed)
	}
	close(d.done)
	d.notify()
}

// do runs f on the loop; false once the loop has stopped.
func (d *Download) do(f func()) bool {
	select {
	case <-d.stopping:
		return false
	default:
	}
	select {
	case d.cmds <- f:
		return true
	case <-d.stopping:
		return false
	}
}

// AddPeer adds a peer reachable over tr that has the given chunks, or
// updates the transport and chunks of a known one. Call it whenever a peer
// turns up: a DHT provider, a gatekeeper of the map, a seeder's
// announcement.
func (d *Download) AddPeer(p PeerID, tr Transport, has Has) {
	if tr == nil {
		return
	}
	d.do(func() {
		now := d.now()
		ps := d.peers[p]
		if ps == nil {
			ps = &peerState{}
			d.peers[p] = ps
			d.s.AddPeer(p, now)
		}
		ps.tr, ps.has, ps.errs = tr, has, 0
		ps.interval = d.intervalOf(tr)
		d.announce(p, ps, now)
	})
}

// PeerHas replaces the chunks a known peer has.
func (d *Download) PeerHas(p PeerID, has Has) {
	d.do(func() {
		if ps := d.peers[p]; ps != nil {
			ps.has = has
			d.announce(p, ps, d.now())
		}
	})
}

// RemovePeer forgets a peer (it disconnected); its fetches are cancelled
// and their chunks asked of others. Its strikes and ban are kept.
func (d *Download) RemovePeer(p PeerID) {
	d.do(func() { d.removePeer(p, d.now()) })
}

func (d *Download) removePeer(p PeerID, now time.Time) {
	if d.peers[p] == nil {
		return
	}
	delete(d.peers, p)
	for k, f := range d.flights {
		if k.peer == p {
			f.cancel()
			delete(d.flights, k)
		}
	}
	d.s.RemovePeer(p, now)
}

// announce tells the scheduler what ps has, limited in Lazy mode to the
// chunks wanted.
func (d *Download) announce(p PeerID, ps *peerState, now time.Time) {
	if !d.cfg.Lazy {
		if ps.has.all {
			d.s.PeerHasAll(p, now)
		} else {
			d.s.PeerHas(p, ps.has.set, now)
		}
		return
	}
	n := len(d.m.Chunks)
	eff := sched.NewBitfield(n)
	for i := range n {
		if d.want.Has(i) && ps.has.has(i) {
			eff.Set(i)
		}
	}
	d.s.PeerHas(p, eff, now)
}

// wantRange marks chunks [first, end) wanted (Lazy mode).
func (d *Download) wantRange(first, end int, now time.Time) {
	if !d.cfg.Lazy {
		return
	}
	first, end = max(first, 0), min(end, len(d.m.Chunks))
	for i := first; i < end; i++ {
		if d.want.Has(i) {
			continue
		}
		d.want.Set(i)
		for p, ps := range d.peers {
			if ps.has.has(i) {
				d.s.PeerHasChunk(p, i, now)
			}
		}
	}
}

// SetPlayhead moves the playhead to chunk i: the scheduler's window from i
// on is fetched first, in order. A negative i stops streaming.
func (d *Download) SetPlayhead(i int) {
	d.do(func() { d.s.SetPlayhead(i, d.now()) })
}

// Want marks chunks [first, end) as wanted without waiting for them. A Lazy
// download fetches nothing else; for others it is a no-op.
func (d *Download) Want(first, end int) {
	d.do(func() { d.wantRange(first, end, d.now()) })
}

// Need returns once chunk i is verified and stored, fetching it first
// with priority (the playhead moves to it) if it is missing. It fails when
// ctx ends or the download stops without the chunk.
func (d *Download) Need(ctx context.Context, i int) error {
	if i < 0 || i >= len(d.m.Chunks) {
		return fmt.Errorf("swarm: chunk %d of %d", i, len(d.m.Chunks))
	}
	if d.blobs.Has(d.m.Chunks[i]) {
		return nil
	}
	reply := make(chan error, 1)
	ok := d.do(func() {
		if d.stored.Has(i) {
			reply <- nil
			return
		}
		now := d.now()
		d.wantRange(i, i+1, now)
		d.s.SetPlayhead(i, now)
		d.waiters[i] = append(d.waiters[i], reply)
	})
	if ok {
		select {
		case err := <-reply:
			if err != nil {
				return err
			}
		case <-d.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if d.blobs.Has(d.m.Chunks[i]) {
		return nil
	}
	if err := d.Err(); err != nil {
		return err
	}
	if ok && !d.stopped() {
		// Verified, then evicted from the store before we read it.
		return fmt.Errorf("swarm: chunk %d was evicted: %w", i, ErrMissing)
	}
	return ErrClosed
}

func (d *Download) stopped() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// Progress returns a snapshot of the download.
func (d *Download) Progress() Progress {
	reply := make(chan Progress, 1)
	if d.do(func() { reply <- d.snapshot() }) {
		select {
		case p := <-reply:
			return p
		case <-d.done:
		}
	}
	<-d.done
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.final
}

// Changed returns a channel closed the next time a chunk is verified and
// stored, or when the download ends (Done is closed before it). A
// FileWriter's Update is called on it.
func (d *Download) Changed() <-chan struct{} {
	d.changeMu.Lock()
	defer d.changeMu.Unlock()
	if d.changed == nil {
		d.changed = make(chan struct{})
	}
	return d.changed
}

func (d *Download) notify() {
	d.changeMu.Lock()
	defer d.changeMu.Unlock()
	if d.changed != nil {
		close(d.changed)
		d.changed = nil
	}
}

// SetTap has fn handed the bytes of every chunk this download fetches
// from now on, once verified (by the transport, or else by the store's
// Put), before Changed fires for it (a
// FileWriter's Offer): fn may keep data, which nothing changes. It runs on
// the fetch's goroutine, concurrently with others, and must not block. A
// chunk fetched twice (endgame) may be handed twice. nil stops it.
func (d *Download) SetTap(fn func(i int, data []byte)) {
	if fn == nil {
		d.tap.Store(nil)
		return
	}
	d.tap.Store(&fn)
}

// Done is closed once the download has ended: complete, failed or closed.
func (d *Download) Done() <-chan struct{} { return d.done }

// Err is nil while the download runs and once it completed; ErrClosed if it
// was closed first; otherwise why it failed.
func (d *Download) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// Wait waits until every chunk is verified and stored (nil), the download
// fails or is closed (its error), or ctx ends.
func (d *Download) Wait(ctx context.Context) error {
	select {
	case <-d.done:
		return d.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the download if it still runs, cancels its fetches and waits
// for them to return. Verified chunks stay in the blob store: a new
// Download over the same store resumes from them.
func (d *Download) Close() error {
	d.closing.Do(func() { close(d.quit) })
	<-d.done
	return nil
}

package swarm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/swarm/sched"
)

// fastSched lifts the per-peer request rate so in-memory tests take
// milliseconds.
var fastSched = sched.Config{RequestRate: 1000, RequestBurst: 4, Seed: 1}

func newDownload(t testing.TB, cfg Config) *Download {
	t.Helper()
	d, err := NewDownload(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestDownloadFake(t *testing.T) {
	c := newContent(t, 1, 2<<20+12345, 64<<10)
	net := newFakeNet()
	half := sched.NewBitfield(len(c.m.Chunks))
	for i := 0; i < len(c.m.Chunks); i += 2 {
		half.Set(i)
	}
	for _, p := range []PeerID{"a", "b", "c"} {
		net.add(p, c.blobs)
	}
	blobs := blobstore.NewMemory(0)
	d := newDownload(t, Config{Map: c.m, Blobs: blobs, Sched: fastSched, Pin: "fetching"})
	d.AddPeer("a", net, HasAll)
	d.AddPeer("b", net, HasChunks(half))
	d.AddPeer("c", net, HasAll)
	if err := d.Wait(ctxTimeout(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := assembled(t, c.m, blobs); !bytes.Equal(got, c.data) {
		t.Fatal("assembled file differs")
	}
	p := d.Progress()
	if !p.Done || p.ChunksDone != len(c.m.Chunks) || p.BytesDone != c.m.Size || p.Transports["fake"] != c.m.Size {
		t.Fatalf("progress %+v", p)
	}
	if p.Received < c.m.Size || p.FirstChunk <= 0 || p.Err != nil {
		t.Fatalf("received %d, first chunk %v, err %v", p.Received, p.FirstChunk, p.Err)
	}
	if pins := blobs.Pins(c.m.Chunks[0]); len(pins) != 1 || pins[0] != "fetching" {
		t.Fatalf("pins %v", pins)
	}
	// Calls after the end are harmless and answer from the final state.
	d.AddPeer("d", net, HasAll)
	d.SetPlayhead(3)
	if err := d.Need(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil || d.Err() != nil {
		t.Fatalf("close %v, err %v", err, d.Err())
	}
}

// TestDownloadFailures: a corrupting peer is banned through its transport,
// refusing and unreachable peers are backed off or dropped, and the
// download completes from the good one.
func TestDownloadFailures(t *testing.T) {
	c := newContent(t, 2, 1<<20, 32<<10)
	net := newFakeNet()
	for _, p := range []PeerID{"good", "liar", "busy", "gone", "empty"} {
		net.add(p, c.blobs)
	}
	net.add("empty", blobstore.NewMemory(0))
	// The good peer answers nothing until the download has dealt with
	// every other one, so that none of them is left untried when the
	// good one alone completes the download.
	release := make(chan struct{})
	net.hook = func(ctx context.Context, p PeerID, _ [32]byte) error {
		switch p {
		case "liar":
			return fmt.Errorf("test: %w", ErrHashMismatch)
		case "busy":
			return ErrBusy
		case "gone":
			return errors.New("connection reset")
		case "good":
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	blobs := blobstore.NewMemory(0)
	cfg := fastSched
	cfg.Backoff, cfg.MaxBackoff = time.Millisecond, 2*time.Millisecond
	var refusedMu sync.Mutex
	refused := map[PeerID]int{}
	onRefused := func(p PeerID) { refusedMu.Lock(); refused[p]++; refusedMu.Unlock() }
	d := newDownload(t, Config{Map: c.m, Blobs: blobs, Sched: cfg, OnRefused: onRefused})
	for _, p := range []PeerID{"liar", "busy", "gone", "empty", "good"} {
		d.AddPeer(p, net, HasAll)
	}
	// The download signals none of this; its scheduler's view is polled
	// (well within sched's 15 s request timeout of the good peer's
	// requests).
	waitFor(t, 10*time.Second, "the liar banned, the unreachable peer dropped, a BUSY and a NOT_FOUND handled", func() bool {
		stats := peerStats(d.Progress())
		_, gone := stats["gone"]
		return stats["liar"].Banned && !gone && stats["busy"].Busy > 0 && stats["empty"].NotFound > 0
	})
	close(release)
	if err := d.Wait(ctxTimeout(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := assembled(t, c.m, blobs); !bytes.Equal(got, c.data) {
		t.Fatal("assembled file differs")
	}
	net.mu.Lock()
	_, banned := net.bans["liar"]
	net.mu.Unlock()
	if !banned {
		t.Error("the corrupting peer was not banned through its transport")
	}
	refusedMu.Lock()
	if len(refused) != 1 || refused["busy"] == 0 { // BUSY is a refusal; NOT_FOUND, lies and resets are not
		t.Errorf("OnRefused told of %v", refused)
	}
	refusedMu.Unlock()
	stats := peerStats(d.Progress())
	if !stats["liar"].Banned || stats["liar"].Corrupt < 3 {
		t.Errorf("liar %+v", stats["liar"])
	}
	if _, ok := stats["gone"]; ok {
		t.Errorf("unreachable peer still present: %+v", stats["gone"])
	}
	if n := net.count("gone"); n != DefaultMaxPeerErrors {
		t.Errorf("unreachable peer asked %d times, want %d", n, DefaultMaxPeerErrors)
	}
	if stats["busy"].Busy == 0 || stats["empty"].NotFound == 0 {
		t.Errorf("busy %+v, empty %+v", stats["busy"], stats["empty"])
	}
}

// peerStats indexes p.PeerStats by peer.
func peerStats(p Progress) map[PeerID]sched.PeerStats {
	stats := make(map[PeerID]sched.PeerStats, len(p.PeerStats))
	for _, s := range p.PeerStats {
		stats[s.ID] = s
	}
	return stats
}

// TestDownloadResume: chunks already stored are never fetched.
func TestDownloadResume(t *testing.T) {
	c := newContent(t, 3, 1<<20, 64<<10)
	blobs := blobstore.NewMemory(0)
	for i := 0; i < len(c.m.Chunks); i += 3 {
		data, _ := c.blobs.Get(c.m.Chunks[i])
		if err := blobs.Put(c.m.Chunks[i], data); err != nil {
			t.Fatal(err)
		}
	}
	stored := len(blobs.List())
	net := newFakeNet()
	net.add("a", c.blobs)
	var mu sync.Mutex
	asked := map[[32]byte]int{}
	net.hook = func(_ context.Context, _ PeerID, h [32]byte) error {
		mu.Lock()
		asked[h]++
		mu.Unlock()
		return nil
	}
	d := newDownload(t, Config{Map: c.m, Blobs: blobs, Sched: fastSched})
	d.AddPeer("a", net, HasAll)
	if err := d.Wait(ctxTimeout(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if p := d.Progress(); p.ChunksResumed != stored {
		t.Errorf("resumed %d, want %d", p.ChunksResumed, stored)
	}
	for i := 0; i < len(c.m.Chunks); i += 3 {
		if asked[c.m.Chunks[i]] != 0 {
			t.Errorf("stored chunk %d fetched again", i)
		}
	}
	if len(asked) != len(c.m.Chunks)-stored {
		t.Errorf("fetched %d distinct chunks, want %d", len(asked), len(c.m.Chunks)-stored)
	}
}

// TestDownloadClose: closing a download with fetches blocked in its
// transport cancels them and leaves no goroutine behind.
func TestDownloadClose(t *testing.T) {
	c := newContent(t, 4, 256<<10, 32<<10)
	before := runtime.NumGoroutine()
	net := newFakeNet()
	net.add("a", c.blobs)
	net.add("b", c.blobs)
	blocked := make(chan PeerID, 64) // a fetch is in the transport
	net.hook = func(ctx context.Context, p PeerID, _ [32]byte) error {
		select {
		case blocked <- p:
		default:
		}
		<-ctx.Done()
		return ctx.Err()
	}
	d, err := NewDownload(Config{Map: c.m, Blobs: blobstore.NewMemory(0), Sched: fastSched})
	if err != nil {
		t.Fatal(err)
	}
	d.AddPeer("a", net, HasAll)
	d.AddPeer("b", net, HasAll)
	ctx := ctxTimeout(t, 5*time.Second)
	for range 2 {
		select {
		case <-blocked:
		case <-ctx.Done():
			t.Fatal("no fetches in flight")
		}
	}
	needErr := make(chan error, 1)
	go func() { needErr <- d.Need(context.Background(), 5) }()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Wait(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait after Close: %v", err)
	}
	if err := <-needErr; !errors.Is(err, ErrClosed) {
		t.Fatalf("Need across Close: %v", err)
	}
	if p := d.Progress(); p.Done || !errors.Is(p.Err, ErrClosed) {
		t.Fatalf("final progress %+v", p)
	}
	checkGoroutines(t, before)
}

// TestDownloadLazy: a lazy download fetches only what is asked for.
func TestDownloadLazy(t *testing.T) {
	c := newContent(t, 5, 1<<20, 64<<10)
	net := newFakeNet()
	net.add("a", c.blobs)
	net.add("b", c.blobs)
	var mu sync.Mutex
	asked := map[[32]byte]bool{}
	asked9 := make(chan struct{})
	net.hook = func(_ context.Context, _ PeerID, h [32]byte) error {
		mu.Lock()
		if h == c.m.Chunks[9] && !asked[h] {
			close(asked9)
		}
		asked[h] = true
		mu.Unlock()
		return nil
	}
	blobs := blobstore.NewMemory(0)
	d := newDownload(t, Config{Map: c.m, Blobs: blobs, Sched: fastSched, Lazy: true})
	d.AddPeer("a", net, HasAll)
	ctx := ctxTimeout(t, 10*time.Second)
	if err := d.Need(ctx, 7); err != nil {
		t.Fatal(err)
	}
	d.AddPeer("b", net, HasAll) // a late peer learns what is wanted
	d.Want(9, 11)
	if err := d.Need(ctx, 10); err != nil {
		t.Fatal(err)
	}
	// Chunk 9 is fetched for Want alone; once it is asked for, Need only
	// waits for it.
	select {
	case <-asked9:
	case <-ctx.Done():
		t.Fatal("chunk 9 was wanted but never asked for")
	}
	if err := d.Need(ctx, 9); err != nil {
		t.Fatal(err)
	}
	// Every wanted chunk is stored and nothing is in flight: peers have
	// been told of the wanted chunks only, so nothing else can follow.
	p := d.Progress()
	if p.ChunksDone != 3 || p.Outstanding != 0 || p.Done {
		t.Fatalf("%d chunks done, %d fetches in flight, done %v; want 3, 0, false", p.ChunksDone, p.Outstanding, p.Done)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 3 || !asked[c.m.Chunks[7]] || !asked[c.m.Chunks[9]] || !asked[c.m.Chunks[10]] {
		t.Fatalf("asked for %d chunks, want 7, 9 and 10", len(asked))
	}
}

func TestConfigErrors(t *testing.T) {
	c := newContent(t, 6, 1000, 100)
	for _, cfg := range []Config{
		{Blobs: blobstore.NewMemory(0)},
		{Map: c.m},
		{Map: c.m, Blobs: blobstore.NewMemory(0), Sched: sched.Config{MinDepth: -1}},
	} {
		if _, err := NewDownload(cfg); err == nil {
			t.Errorf("NewDownload(%+v) accepted", cfg)
		}
	}
}

// TestPace: requests to one peer are spaced interval apart; one that finds
// the peer idle goes at once.
func TestPace(t *testing.T) {
	ps := &peerState{interval: 100 * time.Millisecond}
	t0 := time.Unix(1000, 0)
	for i, c := range []struct {
		at   time.Duration
		wait time.Duration
	}{{0, 0}, {0, 100 * time.Millisecond}, {50 * time.Millisecond, 150 * time.Millisecond}, {time.Second, 0}} {
		if got := ps.pace(t0.Add(c.at)); got != c.wait {
			t.Errorf("request %d at %v: wait %v, want %v", i, c.at, got, c.wait)
		}
	}
	if (&peerState{}).pace(t0) != 0 {
		t.Error("an unpaced peer waits")
	}
}

// verifyingNet is a fakeNet that says it verifies what it fetches (its
// store only holds good chunks).
type verifyingNet struct{ *fakeNet }

func (verifyingNet) Verifies() bool { return true }

// gatedBlobs is a store whose PutHashed waits for gate: a slow disk.
type gatedBlobs struct {
	*blobstore.Memory
	gate   chan struct{}
	hashed atomic.Int32
}

func (g *gatedBlobs) PutHashed(hash [32]byte, data []byte) error {
	<-g.gate
	g.hashed.Add(1)
	return g.Memory.Put(hash, data)
}

// TestDownloadEarlyVerified: over a verifying transport the scheduler
// counts a chunk as soon as it arrives, while the store makes it durable;
// but Need, Changed and the end of the download wait for the store.
func TestDownloadEarlyVerified(t *testing.T) {
	c := newContent(t, 3, 1<<20, 64<<10)
	net := verifyingNet{newFakeNet()}
	net.add("a", c.blobs)
	blobs := &gatedBlobs{Memory: blobstore.NewMemory(0), gate: make(chan struct{})}
	d := newDownload(t, Config{Map: c.m, Blobs: blobs, Sched: fastSched})
	changed := d.Changed()
	d.AddPeer("a", net, HasAll)
	waitFor(t, 20*time.Second, "every chunk verified", func() bool { return d.Progress().ChunksDone == len(c.m.Chunks) })
	select {
	case <-d.Done():
		t.Fatal("the download ended before its chunks were stored")
	case <-changed:
		t.Fatal("Changed fired before a chunk was stored")
	default:
	}
	needed := make(chan error, 1)
	go func() { needed <- d.Need(ctxTimeout(t, 20*time.Second), 0) }()
	close(blobs.gate)
	if err := <-needed; err != nil {
		t.Fatal(err)
	}
	if err := d.Wait(ctxTimeout(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := assembled(t, c.m, blobs); !bytes.Equal(got, c.data) {
		t.Fatal("assembled file differs")
	}
	if int(blobs.hashed.Load()) < len(c.m.Chunks) {
		t.Fatalf("%d chunks stored through PutHashed, want %d", blobs.hashed.Load(), len(c.m.Chunks))
	}
}

// corruptNet is a fakeNet whose peer "liar" flips a byte of every chunk
// and does not say so: only the blob store's Put catches it.
type corruptNet struct{ *fakeNet }

func (n corruptNet) Fetch(ctx context.Context, p PeerID, hash, root [32]byte, progress func(got, total int)) ([]byte, error) {
	data, err := n.fakeNet.Fetch(ctx, p, hash, root, progress)
	if err == nil && p == "liar" {
		data = bytes.Clone(data)
		data[len(data)/2] ^= 1
	}
	return data, err
}

// TestDownloadTap: the tap is handed every chunk, each with the bytes its
// hash names (never a liar's, which the store refuses); over a verifying
// transport too.
func TestDownloadTap(t *testing.T) {
	c := newContent(t, 4, 1<<20, 64<<10)
	for _, verifying := range []bool{false, true} {
		t.Run(fmt.Sprintf("verifying %v", verifying), func(t *testing.T) {
			fn := newFakeNet()
			var tr Transport = corruptNet{fn}
			fn.add("good", c.blobs)
			if verifying {
				tr = verifyingNet{fn}
			} else {
				fn.add("liar", c.blobs)
			}
			var mu sync.Mutex
			tapped := map[int]int{}
			var bad []int
			blobs := blobstore.NewMemory(0)
			d := newDownload(t, Config{Map: c.m, Blobs: blobs, Sched: fastSched})
			d.SetTap(func(i int, data []byte) {
				mu.Lock()
				defer mu.Unlock()
				if sha256.Sum256(data) != c.m.Chunks[i] {
					bad = append(bad, i)
				}
				tapped[i]++
			})
			if !verifying {
				d.AddPeer("liar", tr, HasAll)
			}
			d.AddPeer("good", tr, HasAll)
			if err := d.Wait(ctxTimeout(t, 20*time.Second)); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(bad) > 0 {
				t.Errorf("chunks %v tapped with bytes that are not theirs", bad)
			}
			for i := range c.m.Chunks {
				if tapped[i] == 0 {
					t.Errorf("chunk %d never tapped", i)
				}
			}
			if !verifying && fn.count("liar") == 0 {
				t.Error("the liar was never asked: the test shows nothing")
			}
		})
	}
}

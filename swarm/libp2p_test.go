//go:build !js

package swarm

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/p2p"
	"github.com/cairn-nostr/cairn/swarm/sched"
)

// The tests below run real libp2p hosts on loopback (p2p.TestingConfig):
// seeders serve a 24 MiB random file cut into 1 MiB chunks.

const (
	testFileSize = 24 << 20
	testChunk    = 1 << 20
)

var (
	bigOnce    sync.Once
	bigContent *content
)

// big returns the shared 24 MiB test file, built once per test binary.
func big(t testing.TB) *content {
	bigOnce.Do(func() { bigContent = newContent(t, 42, testFileSize, testChunk) })
	return bigContent
}

type seeder struct {
	h     *p2p.Host
	blobs *countingBlobs
}

// newHost starts a loopback host without DHT serving blobs.
func newHost(t testing.TB, blobs blobstore.Blobs, mut func(*p2p.Config)) *p2p.Host {
	t.Helper()
	cfg := p2p.TestingConfig(t)
	cfg.DHT = false
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	if blobs != nil {
		cfg.Blobs = blobs
	}
	if mut != nil {
		mut(&cfg)
	}
	h, err := p2p.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// newSeeders starts n seeders of c, each uploading at most upload bytes/s
// (0: unlimited); the first corrupt ones corrupt every chunk they serve.
func newSeeders(t testing.TB, c *content, n, corrupt int, upload int64) []*seeder {
	t.Helper()
	var ss []*seeder
	for i := range n {
		cb := newCounting(c.blobs, i < corrupt)
		h := newHost(t, cb, func(cfg *p2p.Config) { cfg.Limits.UploadBytesPerSecond = upload })
		ss = append(ss, &seeder{h: h, blobs: cb})
	}
	return ss
}

// join connects fetcher to the seeders and adds them to d as seeders.
func join(t testing.TB, d *Download, fetcher *p2p.Host, tr Transport, ss []*seeder) {
	t.Helper()
	for _, s := range ss {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := fetcher.Connect(ctx, s.h.AddrInfo())
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		d.AddPeer(Libp2pPeer(s.h.ID()), tr, HasAll)
	}
}

// Must show 1: three seeders and one fetcher give a byte-identical file,
// and every seeder contributes.
func TestSwarmThreeSeeders(t *testing.T) {
	c := big(t)
	ss := newSeeders(t, c, 3, 0, 0)
	blobs := blobstore.NewMemory(0)
	fetcher := newHost(t, blobs, nil)
	d := newDownload(t, Config{Map: c.m, Blobs: blobs})
	join(t, d, fetcher, NewLibp2p(fetcher), ss)
	if err := d.Wait(ctxTimeout(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := assembled(t, c.m, blobs); !bytes.Equal(got, c.data) {
		t.Fatal("assembled file differs")
	}
	p := d.Progress()
	if p.Transports[TransportLibp2p] != c.m.Size {
		t.Errorf("libp2p bytes %d, want %d", p.Transports[TransportLibp2p], c.m.Size)
	}
	for i, s := range ss {
		if s.blobs.total() == 0 {
			t.Errorf("seeder %d served nothing", i)
		}
	}
	t.Logf("%d MiB in %v (%.1f MiB/s), first chunk after %v, wasted %d bytes",
		c.m.Size>>20, p.Elapsed, float64(c.m.Size)/p.Elapsed.Seconds()/(1<<20), p.FirstChunk, p.Wasted)
}

// Must show 2: a seeder serving corrupted bytes under the right hash is
// detected, banned (the Ban action reaches the transport and the host),
// and the others complete the download.
func TestSwarmCorruptSeeder(t *testing.T) {
	c := big(t)
	ss := newSeeders(t, c, 3, 1, 0)
	liar := Libp2pPeer(ss[0].h.ID())
	blobs := blobstore.NewMemory(0)
	fetcher := newHost(t, blobs, nil)
	tr := &recordingTransport{Transport: NewLibp2p(fetcher)}
	d := newDownload(t, Config{Map: c.m, Blobs: blobs})
	join(t, d, fetcher, tr, ss)
	if err := d.Wait(ctxTimeout(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := assembled(t, c.m, blobs); !bytes.Equal(got, c.data) {
		t.Fatal("assembled file differs")
	}
	if !tr.banned(liar) {
		t.Fatal("the corrupting seeder was not banned through the transport")
	}
	if !fetcher.Banned(ss[0].h.ID()) {
		t.Fatal("the host does not hold the ban")
	}
	p := d.Progress()
	if p.Banned != 1 {
		t.Errorf("%d banned peers, want 1", p.Banned)
	}
	for _, st := range p.PeerStats {
		if st.ID == liar && (st.Corrupt < sched.DefaultMaxStrikes || st.Chunks != 0) {
			t.Errorf("liar %+v", st)
		}
	}
	t.Logf("liar asked %d times before its ban; wasted %d bytes", ss[0].blobs.total(), p.Wasted)
}

// Must show 3: a seeder killed mid-transfer does not stop the download.
func TestSwarmSeederKilled(t *testing.T) {
	c := big(t)
	ss := newSeeders(t, c, 3, 0, 6<<20) // 18 MiB/s together: the transfer lasts over a second
	blobs := blobstore.NewMemory(0)
	fetcher := newHost(t, blobs, nil)
	d := newDownload(t, Config{Map: c.m, Blobs: blobs})
	join(t, d, fetcher, NewLibp2p(fetcher), ss)
	waitFor(t, 30*time.Second, "a quarter of the chunks", func() bool { return d.Progress().ChunksDone >= len(c.m.Chunks)/4 })
	ss[0].h.Close()
	killedAt := d.Progress().ChunksDone
	if err := d.Wait(ctxTimeout(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := assembled(t, c.m, blobs); !bytes.Equal(got, c.data) {
		t.Fatal("assembled file differs")
	}
	served := ss[0].blobs.total()
	if served == 0 || served >= len(c.m.Chunks) {
		t.Errorf("killed seeder served %d requests", served)
	}
	t.Logf("seeder killed at %d/%d chunks, after serving %d requests; done in %v", killedAt, len(c.m.Chunks), served, d.Progress().Elapsed)
}

// Must show 4: a fetcher stopped after half the chunks, and restarted with
// a new host over the same blob store directory, fetches only the rest:
// no verified chunk is asked of any seeder again.
func TestSwarmResume(t *testing.T) {
	c := big(t)
	ss := newSeeders(t, c, 3, 0, 4<<20) // 12 MiB/s together: two seconds for the file
	dir := t.TempDir()

	store, err := blobstore.Open(dir, blobstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fetcher := newHost(t, store, nil)
	d, err := NewDownload(Config{Map: c.m, Blobs: store})
	if err != nil {
		t.Fatal(err)
	}
	join(t, d, fetcher, NewLibp2p(fetcher), ss)
	waitFor(t, 30*time.Second, "half the chunks", func() bool { return d.Progress().ChunksDone >= len(c.m.Chunks)/2 })
	d.Close()
	fetcher.Close()
	store.Close()

	store, err = blobstore.Open(dir, blobstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	verified := map[[32]byte]bool{}
	for _, h := range store.List() {
		verified[h] = true
	}
	if len(verified) < len(c.m.Chunks)/2 || len(verified) == len(c.m.Chunks) {
		t.Fatalf("%d of %d chunks stored after the stop", len(verified), len(c.m.Chunks))
	}
	before := make([]map[[32]byte]int, len(ss))
	for i, s := range ss {
		before[i] = s.blobs.snapshot()
	}

	fetcher = newHost(t, store, nil)
	d = newDownload(t, Config{Map: c.m, Blobs: store})
	join(t, d, fetcher, NewLibp2p(fetcher), ss)
	if err := d.Wait(ctxTimeout(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := assembled(t, c.m, store); !bytes.Equal(got, c.data) {
		t.Fatal("assembled file differs")
	}
	p := d.Progress()
	if p.ChunksResumed != len(verified) {
		t.Errorf("resumed %d chunks, %d were stored", p.ChunksResumed, len(verified))
	}
	refetched, fetched := 0, 0
	for i, s := range ss {
		for h, n := range s.blobs.snapshot() {
			if n > before[i][h] {
				fetched++
				if verified[h] {
					refetched++
				}
			}
		}
	}
	if refetched != 0 {
		t.Fatalf("%d verified chunks were asked for again after the restart", refetched)
	}
	if fetched == 0 {
		t.Fatal("nothing fetched after the restart")
	}
	t.Logf("stopped with %d/%d chunks stored; the restart fetched %d chunks", len(verified), len(c.m.Chunks), fetched)
}

// Must show 5: a ranged read in the middle of a file the node does not hold
// returns the right bytes and fetches only the chunks covering it.
func TestSwarmRangeRead(t *testing.T) {
	c := big(t)
	ss := newSeeders(t, c, 3, 0, 0)
	blobs := blobstore.NewMemory(0)
	fetcher := newHost(t, blobs, nil)
	d := newDownload(t, Config{Map: c.m, Blobs: blobs, Lazy: true})
	join(t, d, fetcher, NewLibp2p(fetcher), ss)
	r, err := NewReader(ctxTimeout(t, 30*time.Second), c.m, blobs, d)
	if err != nil {
		t.Fatal(err)
	}
	off, n := int64(10*testChunk+300_000), int64(2*testChunk+200_000) // chunks 10, 11 and 12
	buf := make([]byte, n)
	if got, err := r.ReadAt(buf, off); err != nil || int64(got) != n {
		t.Fatalf("ReadAt: %d bytes, %v", got, err)
	}
	if !bytes.Equal(buf, c.data[off:off+n]) {
		t.Fatal("ranged read returned the wrong bytes")
	}
	covering := map[[32]byte]bool{c.m.Chunks[10]: true, c.m.Chunks[11]: true, c.m.Chunks[12]: true}
	for i, s := range ss {
		for h := range s.blobs.snapshot() {
			if !covering[h] {
				t.Errorf("seeder %d was asked for a chunk outside the range", i)
			}
		}
	}
	if got := blobs.List(); len(got) != 3 {
		t.Errorf("%d chunks stored, want the 3 covering the range", len(got))
	}
	if p := d.Progress(); p.Done || p.ChunksDone != 3 {
		t.Errorf("progress %d/%d chunks, done %v", p.ChunksDone, p.Chunks, p.Done)
	}
}

package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/media"
	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/swarm"
	"github.com/cairn-nostr/cairn/swarm/sched"
)

// The tests below run swarm downloads over SwarmTransport between real
// hosts on loopback: seeders serve a 24 MiB random file cut into 1 MiB
// chunks.

const (
	testFileSize = 24 << 20
	testChunk    = 1 << 20
)

// content is a file shared by the seeders: its bytes, its chunk map and a
// store holding every chunk.
type content struct {
	data  []byte
	m     *chunkmap.Map
	blobs *blobstore.Memory
}

var (
	bigOnce    sync.Once
	bigContent *content
)

// big returns the shared 24 MiB test file, cut into fixed-size chunks,
// built once per test binary.
func big(t testing.TB) *content {
	bigOnce.Do(func() {
		data, _ := chunk(42, testFileSize)
		plan, err := media.SplitFixed(bytes.NewReader(data), testFileSize, media.Chunker{TargetSize: testChunk})
		if err != nil {
			t.Fatal(err)
		}
		blobs := blobstore.NewMemory(0)
		for _, c := range plan.Chunks {
			if err := blobs.Put(c.Hash, data[c.Offset:c.Offset+c.Length]); err != nil {
				t.Fatal(err)
			}
		}
		bigContent = &content{data: data, m: plan.Map(), blobs: blobs}
	})
	return bigContent
}

// countingBlobs counts, per chunk, the requests a server answered from it
// (the server calls Size once per request it serves). Embedding the
// interface hides Memory.Open, so the server reads through Size and
// ReadAt.
type countingBlobs struct {
	blobstore.Blobs

	mu     sync.Mutex
	counts map[[32]byte]int
}

func newCounting(b blobstore.Blobs) *countingBlobs {
	return &countingBlobs{Blobs: b, counts: make(map[[32]byte]int)}
}

func (c *countingBlobs) Size(h [32]byte) (int64, error) {
	c.mu.Lock()
	c.counts[h]++
	c.mu.Unlock()
	return c.Blobs.Size(h)
}

func (c *countingBlobs) snapshot() map[[32]byte]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[[32]byte]int, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

func (c *countingBlobs) total() int {
	n := 0
	for _, v := range c.snapshot() {
		n += v
	}
	return n
}

// recordingTransport wraps a swarm.Transport and records its bans.
type recordingTransport struct {
	swarm.Transport
	mu   sync.Mutex
	bans map[swarm.PeerID]time.Time
}

func (r *recordingTransport) Ban(p swarm.PeerID, until time.Time) {
	r.mu.Lock()
	if r.bans == nil {
		r.bans = make(map[swarm.PeerID]time.Time)
	}
	r.bans[p] = until
	r.mu.Unlock()
	r.Transport.Ban(p, until)
}

func (r *recordingTransport) banned(p swarm.PeerID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.bans[p]
	return ok
}

type seeder struct {
	h     *Host
	blobs *countingBlobs
}

// swarmHost starts a loopback host without DHT, on TCP only, serving
// blobs (nil: an empty store) and uploading at most upload bytes/s (0:
// unlimited).
func swarmHost(t testing.TB, blobs blobstore.Blobs, upload int64) *Host {
	t.Helper()
	return newHost(t, func(c *Config) {
		c.DHT = false
		c.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
		if blobs != nil {
			c.Blobs = blobs
		}
		c.Limits.UploadBytesPerSecond = upload
	})
}

// newSeeders starts n seeders of c, each uploading at most upload bytes/s
// (0: unlimited); the first corrupt ones flip a byte of every chunk they
// serve.
func newSeeders(t testing.TB, c *content, n, corrupt int, upload int64) []*seeder {
	t.Helper()
	var ss []*seeder
	for i := range n {
		var b blobstore.Blobs = c.blobs
		if i < corrupt {
			b = lyingBlobs{b}
		}
		cb := newCounting(b)
		ss = append(ss, &seeder{h: swarmHost(t, cb, upload), blobs: cb})
	}
	return ss
}

// newDownload starts a swarm download closed at the end of the test.
func newDownload(t testing.TB, cfg swarm.Config) *swarm.Download {
	t.Helper()
	d, err := swarm.NewDownload(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// join connects fetcher to the seeders and adds them to d as seeders.
func join(t testing.TB, d *swarm.Download, fetcher *Host, tr swarm.Transport, ss []*seeder) {
	t.Helper()
	for _, s := range ss {
		connect(t, fetcher, s.h, "")
		d.AddPeer(SwarmPeer(s.h.ID()), tr, swarm.HasAll)
	}
}

// complete waits for d to end and checks that blobs hold c's file.
func complete(t *testing.T, d *swarm.Download, c *content, blobs blobstore.Blobs) {
	t.Helper()
	if err := d.Wait(ctxTimeout(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := swarm.Assemble(context.Background(), &b, c.m, blobs); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), c.data) {
		t.Fatal("assembled file differs")
	}
}

// Must show 1: three seeders and one fetcher give a byte-identical file,
// and every seeder contributes.
func TestSwarmThreeSeeders(t *testing.T) {
	c := big(t)
	ss := newSeeders(t, c, 3, 0, 0)
	blobs := blobstore.NewMemory(0)
	fetcher := swarmHost(t, blobs, 0)
	d := newDownload(t, swarm.Config{Map: c.m, Blobs: blobs})
	join(t, d, fetcher, fetcher.SwarmTransport(), ss)
	complete(t, d, c, blobs)
	p := d.Progress()
	if p.Transports[TransportAll] != c.m.Size {
		t.Errorf("libp2p bytes %d, want %d", p.Transports[TransportAll], c.m.Size)
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
	liar := SwarmPeer(ss[0].h.ID())
	blobs := blobstore.NewMemory(0)
	fetcher := swarmHost(t, blobs, 0)
	tr := &recordingTransport{Transport: fetcher.SwarmTransport()}
	d := newDownload(t, swarm.Config{Map: c.m, Blobs: blobs})
	join(t, d, fetcher, tr, ss)
	complete(t, d, c, blobs)
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
	fetcher := swarmHost(t, blobs, 0)
	d := newDownload(t, swarm.Config{Map: c.m, Blobs: blobs})
	join(t, d, fetcher, fetcher.SwarmTransport(), ss)
	waitFor(t, func() bool { return d.Progress().ChunksDone >= len(c.m.Chunks)/4 }, "a quarter of the chunks")
	ss[0].h.Close()
	killedAt := d.Progress().ChunksDone
	complete(t, d, c, blobs)
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
	fetcher := swarmHost(t, store, 0)
	d := newDownload(t, swarm.Config{Map: c.m, Blobs: store})
	join(t, d, fetcher, fetcher.SwarmTransport(), ss)
	waitFor(t, func() bool { return d.Progress().ChunksDone >= len(c.m.Chunks)/2 }, "half the chunks")
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

	fetcher = swarmHost(t, store, 0)
	d = newDownload(t, swarm.Config{Map: c.m, Blobs: store})
	join(t, d, fetcher, fetcher.SwarmTransport(), ss)
	complete(t, d, c, store)
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
	fetcher := swarmHost(t, blobs, 0)
	d := newDownload(t, swarm.Config{Map: c.m, Blobs: blobs, Lazy: true})
	join(t, d, fetcher, fetcher.SwarmTransport(), ss)
	r, err := swarm.NewReader(ctxTimeout(t, 30*time.Second), c.m, blobs, d)
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

// TestSwarmErrors: SwarmTransport's refusals and bad data match swarm's
// sentinels as well as this package's, so a Download tells them apart;
// other failures match none of swarm's.
func TestSwarmErrors(t *testing.T) {
	swarmErrs := []error{swarm.ErrHashMismatch, swarm.ErrNotFound, swarm.ErrBusy, swarm.ErrInsufficientCredit}
	check := func(err, own, want error) {
		t.Helper()
		if !errors.Is(err, own) {
			t.Errorf("%v does not match %v", err, own)
		}
		for _, e := range swarmErrs {
			if got := errors.Is(err, e); got != (e == want) {
				t.Errorf("errors.Is(%v, %v) = %v", err, e, got)
			}
		}
	}
	for _, tc := range []struct{ own, want error }{
		{ErrHashMismatch, swarm.ErrHashMismatch},
		{ErrNotFound, swarm.ErrNotFound},
		{ErrBusy, swarm.ErrBusy},
		{ErrInsufficientCredit, swarm.ErrInsufficientCredit},
		{ErrBanned, nil},
		{ErrProtocol, nil},
		{ErrClosed, nil},
	} {
		check(swarmError(fmt.Errorf("fetching chunk: %w", tc.own)), tc.own, tc.want)
	}

	// Through a real fetch: a chunk the peer does not have.
	srv, cli := swarmHost(t, nil, 0), swarmHost(t, nil, 0)
	connect(t, cli, srv, "")
	tr := cli.SwarmTransport()
	if tr.Name() != "libp2p" {
		t.Errorf("name %q", tr.Name())
	}
	_, missing := chunk(1, 10)
	_, err := tr.Fetch(ctxTimeout(t, 10*time.Second), SwarmPeer(srv.ID()), missing, missing, nil)
	check(err, ErrNotFound, swarm.ErrNotFound)
	if _, err := tr.Fetch(ctxTimeout(t, 10*time.Second), "not a peer ID", missing, missing, nil); err == nil {
		t.Error("fetched from a PeerID that is not a libp2p peer ID")
	}
}

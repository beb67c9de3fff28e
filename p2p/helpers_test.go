package p2p

import (
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/cairn-nostr/cairn/blobstore"
)

// newHost starts a host from TestingConfig, adjusted by mut, closed at the
// end of the test.
func newHost(t testing.TB, mut func(*Config)) *Host {
	t.Helper()
	cfg := TestingConfig(t)
	if mut != nil {
		mut(&cfg)
	}
	h, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// noDHT is a mut for hosts of tests that do not need the DHT.
func noDHT(c *Config) { c.DHT = false }

// connect connects a to b over one transport ("tcp", "quic"), or any when
// transport is "".
func connect(t testing.TB, a, b *Host, transport string) {
	t.Helper()
	ai := peer.AddrInfo{ID: b.ID()}
	for _, addr := range b.Libp2p().Addrs() {
		if transport == "" || addrTransport(addr) == transport {
			ai.Addrs = append(ai.Addrs, addr)
		}
	}
	if len(ai.Addrs) == 0 {
		t.Fatalf("%s has no %s address: %v", b.ID(), transport, b.Libp2p().Addrs())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, ai); err != nil {
		t.Fatal(err)
	}
}

func addrTransport(addr ma.Multiaddr) string {
	for _, c := range addr {
		switch c.Protocol().Code {
		case ma.P_QUIC_V1:
			return TransportQUIC
		case ma.P_TCP:
			return TransportTCP
		}
	}
	return TransportOther
}

// chunk returns n deterministic pseudo-random bytes and their hash.
func chunk(seed uint64, n int) ([]byte, [32]byte) {
	r := rand.New(rand.NewPCG(seed, 0x63616972))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b, sha256.Sum256(b)
}

// put stores a chunk in h's blobs and returns its hash.
func put(t testing.TB, h *Host, data []byte) [32]byte {
	t.Helper()
	hash := sha256.Sum256(data)
	if err := h.cfg.Blobs.Put(hash, data); err != nil {
		t.Fatal(err)
	}
	return hash
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// lyingBlobs serves bytes with one flipped under the right hash. Embedding
// the interface (not *Memory) hides Memory.Open, so the server reads
// through ReadAt.
type lyingBlobs struct{ blobstore.Blobs }

func (l lyingBlobs) ReadAt(hash [32]byte, p []byte, off int64) (int, error) {
	n, err := l.Blobs.ReadAt(hash, p, off)
	if off <= 100 && 100 < off+int64(n) {
		p[100-off] ^= 0xff
	}
	return n, err
}

// gatedBlobs serves reads below an offset at once and holds every read at
// or past it until release: a server that stalls partway through a chunk.
type gatedBlobs struct {
	blobstore.Blobs
	limit int64
	open  chan struct{}
	once  sync.Once
}

func newGatedBlobs(b blobstore.Blobs, limit int64) *gatedBlobs {
	return &gatedBlobs{Blobs: b, limit: limit, open: make(chan struct{})}
}

func (g *gatedBlobs) ReadAt(hash [32]byte, p []byte, off int64) (int, error) {
	if off >= g.limit {
		<-g.open
	}
	return g.Blobs.ReadAt(hash, p, off)
}

// release lets every read through, now and from now on.
func (g *gatedBlobs) release() { g.once.Do(func() { close(g.open) }) }

// fakeClock is a settable clock for the rate windows.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

package swarm

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/media"
	"github.com/cairn-nostr/cairn/media/chunkmap"
)

// content is a shared random file: its bytes, its chunk map and a store
// holding every chunk.
type content struct {
	data  []byte
	m     *chunkmap.Map
	plan  media.Plan
	blobs *blobstore.Memory
}

// newContent writes size random bytes (seeded) to a file, shares it with
// chunks of target bytes and returns it.
func newContent(t testing.TB, seed uint64, size int, target int64) *content {
	t.Helper()
	data := randomBytes(seed, size)
	path := filepath.Join(t.TempDir(), "file.bin")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	blobs := blobstore.NewMemory(0)
	plan, shared, err := Share(context.Background(), path, blobs, media.Chunker{TargetSize: target}, "")
	if err != nil {
		t.Fatal(err)
	}
	if shared != path {
		t.Fatalf("shared %s, want %s", shared, path)
	}
	return &content{data: data, m: plan.Map(), plan: plan, blobs: blobs}
}

func randomBytes(seed uint64, n int) []byte {
	var key [32]byte
	key[0] = byte(seed)
	key[1] = byte(seed >> 8)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// fakeNet is an in-memory Transport: each peer serves a blob store. hook,
// when set, runs before every fetch and may fail it or block.
type fakeNet struct {
	mu      sync.Mutex
	peers   map[PeerID]blobstore.Blobs
	fetches map[PeerID]int
	bans    map[PeerID]time.Time
	hook    func(ctx context.Context, p PeerID, hash [32]byte) error
}

func newFakeNet() *fakeNet {
	return &fakeNet{peers: make(map[PeerID]blobstore.Blobs), fetches: make(map[PeerID]int), bans: make(map[PeerID]time.Time)}
}

func (n *fakeNet) add(p PeerID, b blobstore.Blobs) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.peers[p] = b
}

func (n *fakeNet) Name() string { return "fake" }

func (n *fakeNet) Fetch(ctx context.Context, p PeerID, hash, _ [32]byte, progress func(got, total int)) ([]byte, error) {
	n.mu.Lock()
	b := n.peers[p]
	n.fetches[p]++
	hook := n.hook
	n.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, p, hash); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if b == nil {
		return nil, context.DeadlineExceeded // unreachable
	}
	data, err := b.Get(hash)
	if err != nil {
		return nil, ErrNotFound
	}
	if progress != nil {
		progress(len(data)/2, len(data))
		progress(len(data), len(data))
	}
	return data, nil
}

func (n *fakeNet) Ban(p PeerID, until time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.bans[p] = until
}

func (n *fakeNet) count(p PeerID) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.fetches[p]
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkGoroutines fails if, after a grace period, more goroutines run than
// before.
func checkGoroutines(t testing.TB, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, %d before:\n%s", n, before, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// assembled returns the file assembled from blobs.
func assembled(t testing.TB, m *chunkmap.Map, blobs blobstore.Blobs) []byte {
	t.Helper()
	var w sliceWriter
	if err := Assemble(context.Background(), &w, m, blobs); err != nil {
		t.Fatal(err)
	}
	return w.b
}

type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

//go:build !js

package webrtc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/relay"
	"github.com/cairn-nostr/cairn/store"
	"github.com/cairn-nostr/cairn/swarm"
)

// testRelay runs a cairn relay over a memory store on 127.0.0.1.
func testRelay(t testing.TB) string {
	t.Helper()
	st := store.NewMemory()
	r, err := relay.New(relay.DefaultConfig(), st, relay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		r.Close()
		srv.Close()
		st.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// testNode starts a loopback node signaling through the relay at url.
func testNode(t testing.TB, url string, blobs blobstore.Blobs, mod func(*Config)) *Node {
	t.Helper()
	rc := &RelayClient{URL: url}
	cfg := DefaultConfig()
	cfg.SecretKey = nostr.GeneratePrivateKey()
	cfg.Signal = rc
	cfg.Loopback = true
	cfg.Blobs = blobs
	if mod != nil {
		mod(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.Close()
		rc.Close()
	})
	return n
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// spy collects the kind 20001 events the relay carries to pubkeys.
func spy(t *testing.T, url string, pubkeys ...string) func() []*nostr.Event {
	t.Helper()
	rc := &RelayClient{URL: url}
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var evs []*nostr.Event
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		f := nostr.Filter{Kinds: []int{KindSignal}, Tags: nostr.TagMap{"p": pubkeys}}
		rc.Subscribe(ctx, f, func(ev *nostr.Event) {
			mu.Lock()
			evs = append(evs, ev)
			mu.Unlock()
		}, func() { close(ready) })
	}()
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		t.Fatal("spy subscription not live")
	}
	t.Cleanup(func() {
		cancel()
		<-done
		rc.Close()
	})
	return func() []*nostr.Event {
		mu.Lock()
		defer mu.Unlock()
		return append([]*nostr.Event(nil), evs...)
	}
}

func TestTransferOverRelay(t *testing.T) {
	url := testRelay(t)
	blobs := blobstore.NewMemory(64 << 20)
	sizes := []int{1000, 64 << 10, 64<<10 + 1, 5 << 20}
	var hashes [][32]byte
	for i, n := range sizes {
		b := randBytes(uint64(i+1), n)
		h := sha256.Sum256(b)
		if err := blobs.Put(h, b); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
	}
	seeder := testNode(t, url, blobs, nil)
	leecher := testNode(t, url, nil, nil)
	events := spy(t, url, seeder.PubKey(), leecher.PubKey())
	root := sha256.Sum256([]byte("root"))
	tr := leecher.Transport()
	if tr.Name() != "webrtc" {
		t.Fatalf("name %q", tr.Name())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	peer := swarm.PeerID(seeder.PubKey())
	for i, h := range hashes {
		var last, calls int
		got, err := tr.Fetch(ctx, peer, h, root, func(g, total int) {
			if total != sizes[i] || g < last {
				t.Errorf("progress %d/%d after %d", g, total, last)
			}
			last = g
			calls++
		})
		if err != nil {
			t.Fatalf("chunk %d (%d bytes): %v", i, sizes[i], err)
		}
		want, _ := blobs.Get(h)
		if !bytes.Equal(got, want) || last != sizes[i] {
			t.Fatalf("chunk %d: got %d bytes, progress %d", i, len(got), last)
		}
	}
	if _, err := tr.Fetch(ctx, peer, sha256.Sum256([]byte("absent")), root, nil); !errors.Is(err, swarm.ErrNotFound) {
		t.Fatalf("absent chunk: %v", err)
	}
	st := leecher.Stats()
	total := 0
	for _, n := range sizes {
		total += n
	}
	if st.BytesDown < int64(total) || seeder.Stats().BytesUp < int64(total) || st.Conns != 1 {
		t.Fatalf("stats: leecher %+v seeder %+v, want >= %d bytes", st, seeder.Stats(), total)
	}

	// The signaling the relay carried: Entropy's tags, NIP-44 content,
	// nothing of the SDP in clear.
	evs := events()
	types := map[string]int{}
	for _, ev := range evs {
		if ok, _ := ev.CheckSignature(); !ok {
			t.Errorf("event %s: bad signature", ev.ID)
		}
		p, x, typ, enc := ev.Tags.GetFirst([]string{"p", ""}), ev.Tags.GetFirst([]string{"x", ""}), ev.Tags.GetFirst([]string{"type", ""}), ev.Tags.GetFirst([]string{"enc", ""})
		if p == nil || x == nil || typ == nil || enc == nil || (*enc)[1] != "nip44" || (*x)[1] != hex.EncodeToString(root[:]) {
			t.Errorf("event %s: tags %v", ev.ID, ev.Tags)
			continue
		}
		types[(*typ)[1]]++
		for _, clear := range []string{"v=0", "a=candidate", "sdp", "offer", "answer"} {
			if strings.Contains(ev.Content, clear) {
				t.Errorf("event %s: %q in clear", ev.ID, clear)
			}
		}
		if _, err := hex.DecodeString(ev.Content); err == nil || len(ev.Content) < 100 {
			t.Errorf("event %s: content is not NIP-44 base64", ev.ID)
		}
	}
	if types[TypeOffer] != 1 || types[TypeAnswer] != 1 || types[TypeCandidate] == 0 {
		t.Errorf("signal types %v, want one offer and one answer, and candidates trickled after them", types)
	}
}

func TestBusy(t *testing.T) {
	url := testRelay(t)
	seeder := testNode(t, url, blobstore.NewMemory(1<<20), nil)
	leecher := testNode(t, url, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tr := leecher.Transport()
	busy := 0
	for i := range 15 {
		_, err := tr.Fetch(ctx, swarm.PeerID(seeder.PubKey()), sha256.Sum256([]byte{byte(i)}), [32]byte{}, nil)
		switch {
		case errors.Is(err, swarm.ErrBusy):
			busy++
		case !errors.Is(err, swarm.ErrNotFound):
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if busy == 0 {
		t.Fatal("15 requests at once, none BUSY")
	}
}

// corrupt serves every chunk with one byte flipped.
type corrupt struct{ blobstore.Blobs }

func (c corrupt) Get(h [32]byte) ([]byte, error) {
	b, err := c.Blobs.Get(h)
	if err == nil {
		b[len(b)/2] ^= 1
	}
	return b, err
}

func TestCorruptChunk(t *testing.T) {
	url := testRelay(t)
	blobs := blobstore.NewMemory(8 << 20)
	data := randBytes(9, 200<<10)
	h := sha256.Sum256(data)
	blobs.Put(h, data)
	seeder := testNode(t, url, corrupt{blobs}, nil)
	leecher := testNode(t, url, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := leecher.Transport().Fetch(ctx, swarm.PeerID(seeder.PubKey()), h, [32]byte{}, nil)
	if !errors.Is(err, swarm.ErrHashMismatch) {
		t.Fatalf("corrupt chunk: %v", err)
	}
}

// fakeSignal drops what is published.
type fakeSignal struct{}

func (fakeSignal) Publish(context.Context, *nostr.Event) error { return nil }
func (fakeSignal) Subscribe(ctx context.Context, _ nostr.Filter, _ func(*nostr.Event), ready func()) error {
	ready()
	<-ctx.Done()
	return ctx.Err()
}

func TestDuplicateOfferDropped(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SecretKey = nostr.GeneratePrivateKey()
	cfg.Signal = fakeSignal{}
	cfg.Loopback = true
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	dups := 0
	n.onDupOffer = func() { dups++ }
	sk := nostr.GeneratePrivateKey()
	root := [32]byte{1}
	offer := func() *nostr.Event {
		ev, err := BuildSignal(sk, n.PubKey(), root, TypeOffer, `{"type":"offer","sdp":"not an sdp"}`, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	n.handle(offer())
	n.handle(offer())
	n.handle(offer())
	if dups != 2 {
		t.Fatalf("%d duplicate offers dropped, want 2", dups)
	}
}

// TestPipelinedFetch: concurrent Fetches from one peer share the channel,
// each gets its own chunk, and one abandoned before its answer leaves the
// channel open for the others.
func TestPipelinedFetch(t *testing.T) {
	url := testRelay(t)
	blobs := blobstore.NewMemory(64 << 20)
	var hashes [][32]byte
	for i := range 6 {
		data := randBytes(uint64(i+100), 1<<20+i*70000)
		h := sha256.Sum256(data)
		if err := blobs.Put(h, data); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
	}
	seeder := testNode(t, url, blobs, nil)
	leecher := testNode(t, url, nil, nil)
	root := sha256.Sum256([]byte("root"))
	tr := leecher.Transport()
	peer := swarm.PeerID(seeder.PubKey())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := tr.Fetch(ctx, peer, hashes[0], root, nil); err != nil { // dial
		t.Fatal(err)
	}
	gone, drop := context.WithCancel(ctx)
	drop()
	if _, err := tr.Fetch(gone, peer, hashes[1], root, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned fetch: %v", err)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(hashes))
	for i, h := range hashes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := tr.Fetch(ctx, peer, h, root, nil)
			if err == nil && sha256.Sum256(got) != h {
				err = errors.New("got other bytes")
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("chunk %d: %v", i, err)
		}
	}
	if st := leecher.Stats(); st.Conns != 1 {
		t.Errorf("stats %+v, want one channel", st)
	}
}

// Warm starts the dial at once and returns; the first Fetch then uses the
// channel it opened (no second dial). A banned peer is not dialed.
func TestWarm(t *testing.T) {
	url := testRelay(t)
	blobs := blobstore.NewMemory(1 << 20)
	data := randBytes(7, 100000)
	h := sha256.Sum256(data)
	if err := blobs.Put(h, data); err != nil {
		t.Fatal(err)
	}
	seeder := testNode(t, url, blobs, nil)
	leecher := testNode(t, url, nil, nil)
	root := sha256.Sum256([]byte("root"))
	tr := leecher.Transport()
	tr.Warm(swarm.PeerID(seeder.PubKey()), root)
	leecher.mu.Lock()
	d := leecher.dials[seeder.PubKey()]
	leecher.mu.Unlock()
	if d == nil {
		t.Fatal("Warm started no dial")
	}
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the warm dial did not end")
	}
	if d.err != nil {
		t.Fatalf("warm dial: %v", d.err)
	}
	warmed := leecher.openConn(seeder.PubKey())
	if warmed == nil || warmed != d.c {
		t.Fatal("no open channel after the warm dial")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := tr.Fetch(ctx, swarm.PeerID(seeder.PubKey()), h, root, nil)
	if err != nil || sha256.Sum256(got) != h {
		t.Fatalf("fetch after Warm: %v", err)
	}
	if c := leecher.openConn(seeder.PubKey()); c != warmed || leecher.Stats().Conns != 1 {
		t.Fatalf("the fetch did not use the warmed channel (%d channels)", leecher.Stats().Conns)
	}
	banned := strings.Repeat("ab", 32)
	leecher.Ban(banned, time.Now().Add(time.Hour))
	tr.Warm(swarm.PeerID(banned), root)
	leecher.mu.Lock()
	started := leecher.dials[banned] != nil
	leecher.mu.Unlock()
	if started {
		t.Fatal("Warm dialed a banned peer")
	}
}

package peer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/media"
	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/swarm"
)

// These tests run natively and under GOOS=js (make test-wasm): the same
// core decides on both platforms.

// fakeRelay is a relay in memory. substitute, when set, answers every query
// by ids with that event instead.
type fakeRelay struct {
	mu         sync.Mutex
	events     []*nostr.Event
	subs       map[*fakeSub]bool
	substitute *nostr.Event
}

type fakeSub struct {
	f  nostr.Filter
	fn func(*nostr.Event)
}

func newFakeRelay() *fakeRelay { return &fakeRelay{subs: map[*fakeSub]bool{}} }

func (r *fakeRelay) Query(_ context.Context, f nostr.Filter) ([]*nostr.Event, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.substitute != nil && len(f.IDs) > 0 {
		return []*nostr.Event{r.substitute}, nil
	}
	var out []*nostr.Event
	for i := len(r.events) - 1; i >= 0; i-- {
		if f.Matches(r.events[i]) {
			out = append(out, r.events[i])
		}
	}
	return out, nil
}

func (r *fakeRelay) Publish(_ context.Context, ev *nostr.Event) error {
	r.mu.Lock()
	if !nostr.IsEphemeralKind(ev.Kind) {
		r.events = append(r.events, ev)
	}
	var fns []func(*nostr.Event)
	for s := range r.subs {
		if s.f.Matches(ev) {
			fns = append(fns, s.fn)
		}
	}
	r.mu.Unlock()
	for _, fn := range fns {
		fn(ev)
	}
	return nil
}

func (r *fakeRelay) Subscribe(ctx context.Context, f nostr.Filter, fn func(*nostr.Event)) error {
	s := &fakeSub{f: f, fn: fn}
	r.mu.Lock()
	r.subs[s] = true
	r.mu.Unlock()
	<-ctx.Done()
	r.mu.Lock()
	delete(r.subs, s)
	r.mu.Unlock()
	return ctx.Err()
}

func (r *fakeRelay) published(kind int) []*nostr.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*nostr.Event
	for _, ev := range r.events {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

// blobTransport serves chunks from another peer's blob store.
type blobTransport struct{ from blobstore.Blobs }

func (blobTransport) Name() string { return "test" }
func (t blobTransport) Fetch(_ context.Context, _ swarm.PeerID, hash, _ [32]byte, _ func(int, int)) ([]byte, error) {
	b, err := t.from.Get(hash)
	if err != nil {
		return nil, swarm.ErrNotFound
	}
	return b, nil
}
func (blobTransport) Ban(swarm.PeerID, time.Time) {}

func key(t testing.TB, n byte) KeySigner {
	t.Helper()
	k, err := NewKeySigner(strings.Repeat(fmt.Sprintf("%02x", n), 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type rig struct {
	p     *Peer
	home  *fakeRelay
	lib   *MemoryLibrary
	blobs *blobstore.Memory
}

// newRig runs a peer whose every seeder is reached over a transport
// reading seeders' blob store.
func newRig(t *testing.T, signer KeySigner, home *fakeRelay, seeders blobstore.Blobs, clock Clock) *rig {
	t.Helper()
	r := &rig{home: home, lib: NewMemoryLibrary(0, nil), blobs: blobstore.NewMemory(0)}
	p, err := New(Config{
		Signer: signer, Library: r.lib, Blobs: r.blobs, Home: home, Clock: clock,
		Dial: func(context.Context, string) (Events, error) { return nil, errors.New("no other relays in this test") },
		Reach: func(_ context.Context, pk string, _ *AddressRecord) (Contact, error) {
			if seeders == nil {
				return Contact{}, errors.New("unreachable")
			}
			return Contact{Transport: blobTransport{seeders}, ID: swarm.PeerID(pk)}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	<-p.Started()
	r.p = p
	return r
}

// share cuts data into an author's blob store and publishes its map and
// file event to home.
func share(t *testing.T, author KeySigner, home *fakeRelay, data []byte) (*nostr.Event, *nostr.Event, blobstore.Blobs) {
	t.Helper()
	blobs := blobstore.NewMemory(0)
	plan, err := media.SplitFixed(bytes.NewReader(data), int64(len(data)), media.Chunker{TargetSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range plan.Chunks {
		if err := blobs.Put(c.Hash, data[c.Offset:c.Offset+c.Length]); err != nil {
			t.Fatal(err)
		}
	}
	m := plan.Map()
	m.MIME = "application/octet-stream"
	m.Gatekeepers = []string{author.PubKey()}
	mapEv := m.Event()
	mapEv.CreatedAt = nostr.Now()
	if err := author.Sign(&mapEv); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	fileEv := m.FileMetadata("http://127.0.0.1/x", sum).Event()
	fileEv.CreatedAt = nostr.Now()
	author.Sign(&fileEv)
	home.Publish(context.Background(), &mapEv)
	home.Publish(context.Background(), &fileEv)
	return &mapEv, &fileEv, blobs
}

func testData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7 / 3)
	}
	return b
}

// TestRefusesSubstitutedEvent: a relay asked for one id that returns
// another, validly signed, event is not believed, on every platform.
func TestRefusesSubstitutedEvent(t *testing.T) {
	author := key(t, 1)
	home := newFakeRelay()
	mapEv, _, _ := share(t, author, home, testData(200<<10))
	other := &nostr.Event{Kind: chunkmap.KindChunkMap, CreatedAt: nostr.Now(), Tags: nostr.Tags{}, Content: "not the map"}
	author.Sign(other)
	home.substitute = other
	r := newRig(t, key(t, 2), home, nil, SystemClock{})
	_, err := r.p.Resolve(context.Background(), mapEv.ID)
	if !errors.Is(err, event.ErrNotAsked) {
		t.Fatalf("Resolve with a substituted event: %v, want ErrNotAsked", err)
	}
	if r.lib.Len() != 0 {
		t.Errorf("the library kept %d events from a lying relay", r.lib.Len())
	}
	// A tampered copy of the right id is refused too.
	bad := *mapEv
	bad.Content = "changed"
	home.substitute = &bad
	if _, err := r.p.Resolve(context.Background(), mapEv.ID); !errors.Is(err, event.ErrID) {
		t.Fatalf("Resolve with a tampered event: %v, want ErrID", err)
	}
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// TestHeardRefuses: stale, future-dated, malformed and forged kind 20002s
// name no seeder.
func TestHeardRefuses(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	r := newRig(t, key(t, 2), newFakeRelay(), nil, fixedClock{now})
	seeder := key(t, 3)
	root := strings.Repeat("ab", 32)
	mk := func(at time.Time, tags nostr.Tags) *nostr.Event {
		ev := &nostr.Event{Kind: KindAnnounce, CreatedAt: nostr.Timestamp(at.Unix()), Tags: tags}
		seeder.Sign(ev)
		return ev
	}
	good := nostr.Tags{{"t", "entropy"}, {"x", root}, {"chunks", "3"}}
	bad := map[string]*nostr.Event{
		"stale":          mk(now.Add(-2*DefaultAnnounceInterval-time.Minute), good),
		"future":         mk(now.Add(5*time.Minute), good),
		"no chunks":      mk(now, nostr.Tags{{"x", root}}),
		"two roots":      mk(now, nostr.Tags{{"x", root}, {"x", root}, {"chunks", "3"}}),
		"upper-case hex": mk(now, nostr.Tags{{"x", strings.ToUpper(root)}, {"chunks", "3"}}),
		"zero chunks":    mk(now, nostr.Tags{{"x", root}, {"chunks", "0"}}),
	}
	forged := mk(now, good)
	forged.Sig = strings.Repeat("00", 64)
	bad["forged"] = forged
	wrongID := mk(now, good)
	wrongID.ID = strings.Repeat("11", 32)
	bad["wrong id"] = wrongID
	for name, ev := range bad {
		if err := r.p.Heard(ev); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	var h [32]byte
	copy(h[:], bytes.Repeat([]byte{0xab}, 32))
	if s := r.p.Seeders(h); len(s) != 0 {
		t.Fatalf("seeders after bad announcements: %v", s)
	}
	if err := r.p.Heard(mk(now.Add(-time.Minute), good)); err != nil {
		t.Fatalf("a fresh announcement: %v", err)
	}
	if s := r.p.Seeders(h); len(s) != 1 || s[0].PubKey != seeder.PubKey() || s[0].Chunks != 3 {
		t.Fatalf("seeders = %+v", s)
	}
}

// TestResolveDownloadAnnounce: a reference resolved through home is
// fetched from its author, checked, and announced.
func TestResolveDownloadAnnounce(t *testing.T) {
	author := key(t, 1)
	home := newFakeRelay()
	data := testData(300 << 10)
	_, fileEv, seederBlobs := share(t, author, home, data)
	r := newRig(t, key(t, 2), home, seederBlobs, SystemClock{})
	checked := make(chan string, 1)
	r.p.cfg.CheckFile = func(_ context.Context, f *File) error { checked <- f.SHA256; return nil }
	f, err := r.p.Resolve(context.Background(), fileEv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%x", sha256.Sum256(data)); f.SHA256 != want {
		t.Fatalf("sha256 %s, want %s", f.SHA256, want)
	}
	dl, err := r.p.Download(f)
	if err != nil {
		t.Fatal(err)
	}
	<-dl.Done()
	if err := dl.Err(); err != nil {
		t.Fatal(err)
	}
	if got := <-checked; got != f.SHA256 {
		t.Errorf("checked %s", got)
	}
	var out bytes.Buffer
	if err := swarm.Assemble(context.Background(), &out, f.Map, r.blobs); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("assembled %d bytes, err %v", out.Len(), err)
	}
	// Announced on home (ephemeral: heard by a subscriber).
	heard := make(chan *nostr.Event, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go home.Subscribe(ctx, nostr.Filter{Kinds: []int{KindAnnounce}}, func(ev *nostr.Event) { heard <- ev })
	r.p.Seed(f)
	ev := <-heard
	a, err := ParseAnnouncement(ev, time.Now(), time.Minute)
	if err != nil || a.Root != f.Map.Root || a.PubKey != r.p.PubKey() || a.Chunks != len(f.Map.Chunks) {
		t.Fatalf("announcement %+v, %v", a, err)
	}
}

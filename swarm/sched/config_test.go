package sched

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/swarm/wire"
)

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	d := Config{}.withDefaults()
	if d.Window != 3 || d.MinDepth != 2 || d.MaxDepth != 4 || d.RequestRate != 10 || d.Timeout != 15*time.Second ||
		d.MaxStrikes != 3 || d.BanDuration != 30*time.Minute || d.EndgameCopies != 2 {
		t.Errorf("defaults: %+v", d)
	}
	if d := (Config{MinDepth: 6}).withDefaults(); d.MaxDepth != 6 {
		t.Errorf("MaxDepth follows a large MinDepth: got %d", d.MaxDepth)
	}
	for _, c := range []Config{
		{MinDepth: -1},
		{MinDepth: 3, MaxDepth: 2},
		{MaxRequests: -1},
		{RequestRate: -1},
		{RequestBurst: -2},
		{Timeout: -time.Second},
		{MinTimeout: 10 * time.Second, MaxTimeout: 5 * time.Second},
		{MaxStrikes: -1},
		{RateAlpha: 1.5},
		{EndgameCopies: -1},
		{Backoff: time.Minute, MaxBackoff: time.Second},
	} {
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: got %v, want ErrConfig", c, err)
		}
		if _, err := New(c, nil, Bitfield{}); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v): got %v, want ErrConfig", c, err)
		}
	}
	if _, err := New(Config{}, []Chunk{{Size: 0}}, Bitfield{}); !errors.Is(err, ErrConfig) {
		t.Errorf("zero-size chunk: got %v", err)
	}
}

func TestReasonFromWire(t *testing.T) {
	for in, want := range map[wire.Reason]Reason{
		wire.ReasonNotFound:           ReasonNotFound,
		wire.ReasonInsufficientCredit: ReasonInsufficientCredit,
		wire.ReasonBusy:               ReasonBusy,
		wire.Reason(9):                ReasonBusy,
	} {
		if got := ReasonFromWire(in); got != want {
			t.Errorf("ReasonFromWire(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestBitfield(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 65, 130} {
		f := FullBitfield(n)
		if f.Count() != n || f.Len() != n {
			t.Errorf("FullBitfield(%d): count %d len %d", n, f.Count(), f.Len())
		}
		if f.Has(n) || f.Has(-1) {
			t.Errorf("FullBitfield(%d) has out-of-range bits", n)
		}
		b := BitfieldOf(n, 0, n-1, n, -5)
		want := min(n, 2)
		if b.Count() != want {
			t.Errorf("BitfieldOf(%d): count %d, want %d", n, b.Count(), want)
		}
		c := b.Clone()
		c.Clear(0)
		if n > 0 && (!b.Has(0) || c.Has(0)) {
			t.Errorf("Clone is not independent")
		}
	}
}

// TestIndex: the edge maps a wire hash back to a chunk index; chunks with
// the same hash map to the first.
func TestIndex(t *testing.T) {
	chunks := []Chunk{{chunkHash(0), 10}, {chunkHash(1), 10}, {chunkHash(0), 10}}
	s, err := New(Config{}, chunks, BitfieldOf(3, 2))
	if err != nil {
		t.Fatal(err)
	}
	if i, ok := s.Index(chunkHash(0)); !ok || i != 0 {
		t.Errorf("Index(h0) = %d, %v", i, ok)
	}
	if _, ok := s.Index(chunkHash(7)); ok {
		t.Error("Index of an unknown hash")
	}
	// Chunk 2 was verified at New, so chunk 0 (same bytes) is too.
	if !s.Verified(0) || s.Verified(1) || s.Progress().ChunksDone != 2 {
		t.Errorf("resume with a duplicate: %+v", s.Progress())
	}
}

// TestInOrder: with InOrder and no window, equally rare chunks are asked
// for in file order, peer after peer; without it, in the seeded order.
func TestInOrder(t *testing.T) {
	const n = 40
	chunks := make([]Chunk, n)
	for i := range chunks {
		chunks[i] = Chunk{chunkHash(i), 1 << 20}
	}
	requested := func(cfg Config) []int {
		s, err := New(cfg, chunks, Bitfield{})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Unix(1e9, 0)
		for _, p := range []PeerID{"a", "b", "c"} {
			s.AddPeer(p, now)
			s.PeerHasAll(p, now)
		}
		var got []int
		for _, a := range s.Tick(now) {
			if r, ok := a.(Request); ok {
				got = append(got, r.Chunk)
			}
		}
		return got
	}
	got := requested(Config{InOrder: true, Window: -1, RequestRate: 1e6, RequestBurst: 4})
	if len(got) < 6 {
		t.Fatalf("%d requests at the first tick: %v", len(got), got)
	}
	for k, c := range got {
		if c != k {
			t.Fatalf("InOrder requested %v, want 0, 1, 2, ...", got)
		}
	}
	seeded := requested(Config{Window: -1, RequestRate: 1e6, RequestBurst: 4})
	if slices.Equal(seeded, got) {
		t.Errorf("without InOrder the requests came in file order too: %v", seeded)
	}
}

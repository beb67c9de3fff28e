package sched

import (
	"errors"
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

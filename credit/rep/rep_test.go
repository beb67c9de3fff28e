package rep

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

var t0 = time.Unix(1_800_000_000, 0)

const (
	good   = "aa00000000000000000000000000000000000000000000000000000000000000"
	struck = "bb00000000000000000000000000000000000000000000000000000000000000"
	fresh  = "cc00000000000000000000000000000000000000000000000000000000000000"
)

func TestScoreOrder(t *testing.T) {
	b := New(Config{})
	b.Served(good, 8<<20, t0)    // 8 MiB: log2(9)
	b.Served(struck, 64<<20, t0) // more bytes, but a bad chunk
	b.Strike(struck, BadChunk, t0)
	b.Custody("libp2p:12D3KooWcustody", true, t0)
	if s := b.Score(fresh, t0); s != 0 {
		t.Fatalf("an unknown peer scores %v, want 0", s)
	}
	if s, w := b.Score(good, t0), math.Log2(9); math.Abs(s-w) > 1e-9 {
		t.Fatalf("good scores %v, want %v", s, w)
	}
	if s := b.Score(struck, t0); s >= 0 {
		t.Fatalf("a struck peer scores %v >= 0 (an unknown peer's)", s)
	}
	var names []string
	for _, p := range b.Peers(t0) {
		names = append(names, p.Peer)
	}
	want := []string{good, "libp2p:12D3KooWcustody", struck}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("order %v, want %v", names, want)
	}
	b.Custody(good, false, t0)
	if s := b.Score(good, t0); s >= b.Score("libp2p:12D3KooWcustody", t0) {
		t.Fatalf("a failed custody proof left good at %v", s)
	}
}

func TestDecay(t *testing.T) {
	b := New(Config{HalfLife: time.Hour})
	b.Strike(struck, BadHello, t0)
	b.Strike(struck, BadChunk, t0)
	r, _ := b.Get(struck, t0.Add(time.Hour))
	if math.Abs(r.Strikes-1) > 1e-9 {
		t.Fatalf("two strikes one half-life later: %v, want 1", r.Strikes)
	}
	// A strike a day old weighs almost nothing: the peer is forgiven.
	if s := b.Score(struck, t0.Add(24*time.Hour)); s < -1e-3 {
		t.Fatalf("score a day (24 half-lives) later %v", s)
	}
	// Time going back never grows a count.
	if r, _ := b.Get(struck, t0.Add(-time.Hour)); r.Strikes != 2 {
		t.Fatalf("strikes read before they were made: %v", r.Strikes)
	}
}

func TestEvict(t *testing.T) {
	b := New(Config{MaxPeers: 2})
	b.Served("p1", 1, t0)
	b.Served("p2", 1, t0.Add(time.Second))
	b.Served("p1", 1, t0.Add(2*time.Second)) // p1 is now the newer
	b.Served("p3", 1, t0.Add(3*time.Second))
	if b.Len() != 2 {
		t.Fatalf("%d peers kept, want 2", b.Len())
	}
	if _, ok := b.Get("p2", t0); ok {
		t.Fatal("p2, updated longest ago, was kept")
	}
	b.Served("", 5, t0)
	b.Served("p1", 0, t0)
	if b.Len() != 2 {
		t.Fatal("an empty name or zero bytes made a record")
	}
}

func TestRoundTrip(t *testing.T) {
	b := New(Config{HalfLife: time.Hour})
	b.Served(good, 3<<20, t0)
	b.Strike(struck, BadChunk, t0)
	b.Custody(struck, false, t0)
	b.Custody(good, true, t0)
	later := t0.Add(time.Hour)
	got, err := Decode(Config{HalfLife: time.Hour}, b.Encode(later))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{good, struck} {
		if a, c := b.Score(p, later.Add(time.Hour)), got.Score(p, later.Add(time.Hour)); math.Abs(a-c) > 1e-9 {
			t.Fatalf("%s scores %v after a round trip, %v before", p[:2], c, a)
		}
	}
	if got.Len() != 2 {
		t.Fatalf("%d peers read back", got.Len())
	}
}

func TestDecodeRefuses(t *testing.T) {
	long := strings.Repeat("a", 129)
	for name, data := range map[string]string{
		"empty":          ``,
		"not JSON":       `{"version":1,`,
		"array":          `[]`,
		"unknown field":  `{"version":1,"at":5,"peers":{},"extra":1}`,
		"unknown in rec": `{"version":1,"at":5,"peers":{"p":{"bytes":1,"score":9}}}`,
		"version 2":      `{"version":2,"at":5,"peers":{}}`,
		"no version":     `{"at":5,"peers":{}}`,
		"no time":        `{"version":1,"peers":{}}`,
		"negative":       `{"version":1,"at":5,"peers":{"p":{"strikes":-1}}}`,
		"huge":           `{"version":1,"at":5,"peers":{"p":{"bytes":1e308}}}`,
		"string count":   `{"version":1,"at":5,"peers":{"p":{"bytes":"1"}}}`,
		"empty name":     `{"version":1,"at":5,"peers":{"":{"bytes":1}}}`,
		"long name":      `{"version":1,"at":5,"peers":{"` + long + `":{"bytes":1}}}`,
		"space in name":  `{"version":1,"at":5,"peers":{"a b":{"bytes":1}}}`,
		"trailing":       `{"version":1,"at":5,"peers":{}} {}`,
		"too many":       `{"version":1,"at":5,"peers":{"a":{},"b":{},"c":{}}}`,
	} {
		b, err := Decode(Config{MaxPeers: 2}, []byte(data))
		if !errors.Is(err, ErrFile) || b != nil {
			t.Errorf("%s: got %v, %v; want ErrFile", name, b, err)
		}
	}
	if _, err := Decode(Config{}, []byte(`{"version":1,"at":5,"peers":{}}`)); err != nil {
		t.Fatalf("an empty book refused: %v", err)
	}
}

// FuzzDecode: whatever Decode accepts encodes and decodes again to the
// same scores, and no input makes it panic.
func FuzzDecode(f *testing.F) {
	b := New(Config{})
	b.Served(good, 1<<20, t0)
	b.Strike(struck, BadChunk, t0)
	f.Add(b.Encode(t0))
	f.Add([]byte(`{"version":1,"at":5,"peers":{"p":{"bytes":1e300}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Decode(Config{}, data)
		if err != nil {
			return
		}
		now := t0
		again, err := Decode(Config{}, b.Encode(now))
		if err != nil {
			t.Fatalf("re-reading what Encode wrote: %v", err)
		}
		for _, p := range b.Peers(now) {
			if s := again.Score(p.Peer, now); math.Abs(s-p.Score) > 1e-6*max(1, math.Abs(s)) || math.IsNaN(s) {
				t.Fatalf("%q: %v then %v", p.Peer, p.Score, s)
			}
		}
	})
}

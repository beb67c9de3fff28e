package media

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cairn-nostr/cairn/media/chunkmap"
)

// units builds contiguous units after an init segment of initLen bytes from
// a compact description: "K100" is a 100-byte unit starting with a
// keyframe, "d50" a 50-byte one starting mid-GOP. Each unit lasts 1 s at
// timescale 1000.
func units(initLen int64, desc string) (*layout, int64) {
	l := &layout{container: FragmentedMP4, initLen: initLen, timescale: 1000}
	off := initLen
	for i, f := range strings.Fields(desc) {
		var n int64
		fmt.Sscanf(f[1:], "%d", &n)
		l.units = append(l.units, unit{off: off, n: n, key: f[0] == 'K', time: int64(i) * 1000})
		off += n
	}
	l.end = int64(len(l.units)) * 1000
	return l, off
}

// describe renders spans after the init chunk as "K300 d120 ..." with the
// chunk length and whether it starts with a keyframe.
func describe(spans []span) string {
	var parts []string
	for _, s := range spans[1:] {
		k := "d"
		if s.key {
			k = "K"
		}
		parts = append(parts, fmt.Sprintf("%s%d", k, s.n))
	}
	return strings.Join(parts, " ")
}

func TestCutMedia(t *testing.T) {
	// Target 100: natural cuts at keyframes once a chunk holds >= 80
	// bytes; forced before a unit that would take it past 120.
	tests := []struct {
		name  string
		units string
		want  string
	}{
		{"one unit", "K10", "K10"},
		{"keyframe at exactly 0.8x", "K80 K30", "K80 K30"},
		{"keyframe below 0.8x is skipped", "K40 K39 K30 K10", "K109 K10"},
		{"keyframe units merged until 0.8x", "K30 K30 K30 K30 K30", "K90 K60"},
		{"non-keyframe units never cut below 1.2x", "K50 d30 d40 K20", "K120 K20"},
		{"forced cut before 1.2x, next chunk mid-GOP", "K50 d30 d40 d10 K20", "K120 d30"},
		{"forced cut lands on a keyframe", "K70 K60", "K70 K60"},
		{"exactly 1.2x is allowed", "K60 d60 K10", "K120 K10"},
		{"unit larger than 1.2x is its own chunk", "K10 d200 d10 K90", "K10 d200 d100"},
		{"stream starting mid-GOP", "d90 K10", "d90 K10"},
		{"long GOP split repeatedly", "K40 d40 d40 d40 d40 d40 d40 K40", "K120 d120 d80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, size := units(7, tt.units)
			spans, err := cutMedia(l, size, 100, 100)
			if err != nil {
				t.Fatal(err)
			}
			if spans[0] != (span{off: 0, n: 7}) {
				t.Errorf("init chunk %+v", spans[0])
			}
			if got := describe(spans); got != tt.want {
				t.Errorf("chunks %q, want %q", got, tt.want)
			}
			next := int64(0)
			for _, s := range spans {
				if s.off != next {
					t.Fatalf("span at %d, want %d", s.off, next)
				}
				next += s.n
			}
			if next != size {
				t.Fatalf("spans end at %d, want %d", next, size)
			}
		})
	}
}

// TestCutMediaFirstChunk: the first media chunk ends at the first keyframe
// past 0.8 x first; later chunks follow the target, and the forced cut stays
// at 1.2 x target.
func TestCutMediaFirstChunk(t *testing.T) {
	for _, tt := range []struct{ name, units, want string }{
		{"first GOP alone", "K40 K40 K40 K40 K40", "K40 K80 K80"},
		{"small fragments gather to 0.8 x first", "K10 K10 K10 K10 K10 K60 K60", "K40 K70 K60"},
		{"a long first GOP is cut at 1.2 x target", "K50 d50 d50 K10", "K100 d60"},
		{"no keyframe after the first: one chunk", "K30 d30 d30", "K90"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l, size := units(7, tt.units)
			spans, err := cutMedia(l, size, 100, 40)
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(spans); got != tt.want {
				t.Errorf("chunks %q, want %q", got, tt.want)
			}
		})
	}
	l, size := units(7, "K10")
	for _, first := range []int64{0, 101} {
		if _, err := cutMedia(l, size, 100, first); !errors.Is(err, ErrConfig) {
			t.Errorf("first target %d: err %v, want ErrConfig", first, err)
		}
	}
}

func TestCutMediaDurations(t *testing.T) {
	// Units of 1/3 s at timescale 3: rounded positions make the durations
	// add up to the rounded total (0, 333, 667, 1000 ms...).
	l := &layout{initLen: 1, timescale: 3, end: 7}
	for i := range 7 {
		l.units = append(l.units, unit{off: 1 + int64(i)*10, n: 10, key: true, time: int64(i)})
	}
	spans, err := cutMedia(l, 71, 10, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	var sum int64
	for _, s := range spans {
		got = append(got, s.durMs)
		sum += s.durMs
	}
	want := []int64{0, 333, 334, 333, 333, 334, 333, 333}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("durations %v, want %v", got, want)
	}
	if sum != 2333 {
		t.Errorf("durations add up to %d, want 2333", sum)
	}
}

func TestCutMediaErrors(t *testing.T) {
	tests := []struct {
		name string
		l    *layout
		size int64
		want error
	}{
		{"unit too large", &layout{initLen: 1, units: []unit{{off: 1, n: chunkmap.MaxChunkLen + 1}}}, chunkmap.MaxChunkLen + 2, ErrTooLarge},
		{"gap between units", &layout{initLen: 1, units: []unit{{off: 1, n: 5}, {off: 7, n: 5}}}, 12, ErrMalformed},
		{"units short of the end", &layout{initLen: 1, units: []unit{{off: 1, n: 5}}}, 9, ErrMalformed},
		{"unit past the end", &layout{initLen: 1, units: []unit{{off: 1, n: 50}}}, 9, ErrMalformed},
		{"empty unit", &layout{initLen: 1, units: []unit{{off: 1, n: 0}, {off: 1, n: 8}}}, 9, ErrMalformed},
		{"no init", &layout{initLen: 0}, 9, ErrMalformed},
		{"init only but bytes left", &layout{initLen: 5}, 9, ErrMalformed},
		{"init too large", &layout{initLen: chunkmap.MaxChunkLen + 1}, chunkmap.MaxChunkLen + 1, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := cutMedia(tt.l, tt.size, 100, 100); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCutFixed(t *testing.T) {
	for _, tt := range []struct {
		size, target int64
		want         []int64
	}{
		{0, 10, nil},
		{1, 10, []int64{1}},
		{10, 10, []int64{10}},
		{25, 10, []int64{10, 10, 5}},
	} {
		spans, err := cutFixed(tt.size, tt.target)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for i, s := range spans {
			if s.off != int64(i)*tt.target || s.key || s.durMs != 0 {
				t.Errorf("size %d: span %d = %+v", tt.size, i, s)
			}
			got = append(got, s.n)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("size %d target %d: %v, want %v", tt.size, tt.target, got, tt.want)
		}
	}
	if _, err := cutFixed(int64(chunkmap.MaxChunks)*2+1, 2); !errors.Is(err, ErrTooLarge) {
		t.Errorf("too many chunks: err %v", err)
	}
}

func TestToMs(t *testing.T) {
	for _, tt := range []struct{ t, ts, want int64 }{
		{0, 90000, 0},
		{90000, 90000, 1000},
		{45, 90000, 1},          // 0.5 ms rounds up
		{44, 90000, 0},          // 0.49 ms rounds down
		{1 << 62, 1, 1<<63 - 1}, // saturates
		{1 << 62, 1e9, 4611686018427},
	} {
		if got := toMs(tt.t, tt.ts); got != tt.want {
			t.Errorf("toMs(%d, %d) = %d, want %d", tt.t, tt.ts, got, tt.want)
		}
	}
}

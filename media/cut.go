package media

import (
	"fmt"
	"math/bits"

	"github.com/cairn-nostr/cairn/media/chunkmap"
)

// unit is the smallest run of bytes a media chunk boundary may fall
// between: one MP4 fragment (any styp/sidx/prft/emsg boxes, the moof, its
// mdat and any boxes up to the next fragment) or one WebM cluster (with any
// elements up to the next cluster).
type unit struct {
	off, n int64
	// key: the unit's first video sample (of every video track it
	// carries) is a sync sample / keyframe.
	key bool
	// time is the unit's start time in layout.timescale ticks, counted from
	// any origin.
	time int64
}

// layout is what a container parser finds: the init segment [0, initLen)
// followed by contiguous units that end at the end of the file.
type layout struct {
	container Container
	initLen   int64
	units     []unit
	// timescale is the ticks per second of unit times and end.
	timescale int64
	// end is the end time of the last unit.
	end  int64
	mime string
}

// span is a chunk before it is hashed.
type span struct {
	off, n int64
	durMs  int64
	key    bool
}

// FirstTargetSize is the target of the first media chunk (chunk 1, after
// the init segment) when the chunk target is larger: a player can start
// after fetching about one keyframe interval, not a whole 5 MiB chunk.
const FirstTargetSize = 1 << 20

// cutMedia places chunk boundaries over a media layout. It is pure: the
// whole rule is here.
//
// Chunk 0 is the init segment. Then units are added to the current chunk one
// by one; before adding unit u to a non-empty chunk of length L:
//
//   - natural cut: u starts with a keyframe and L >= 0.8 x target, or, for
//     the first media chunk, L >= 0.8 x first (first <= target: callers
//     pass min(target, FirstTargetSize));
//   - forced cut: L + len(u) > 1.2 x target. If u starts with a keyframe the
//     cut is still keyframe-aligned; if not, the next chunk starts mid-GOP
//     and its Keyframe is false, so a player knows it cannot start there
//     (it needs the previous chunk, or skips to the next keyframe chunk).
//
// So a chunk never exceeds 1.2 x target unless one unit alone does; a unit
// longer than chunkmap.MaxChunkLen is an ErrTooLarge error (no peer would
// accept the chunk).
func cutMedia(l *layout, size, target, first int64) ([]span, error) {
	if target < 1 || first < 1 || first > target {
		return nil, fmt.Errorf("target size %d, first chunk target %d: %w", target, first, ErrConfig)
	}
	if l.initLen < 1 || l.initLen > size {
		return nil, fmt.Errorf("init segment of %d bytes in a %d-byte file: %w", l.initLen, size, ErrMalformed)
	}
	if l.initLen > chunkmap.MaxChunkLen {
		return nil, fmt.Errorf("init segment of %d bytes (max %d): %w", l.initLen, chunkmap.MaxChunkLen, ErrTooLarge)
	}
	spans := []span{{off: 0, n: l.initLen}}
	if len(l.units) == 0 {
		if l.initLen != size {
			return nil, fmt.Errorf("%d bytes after the init segment and no fragments: %w", size-l.initLen, ErrMalformed)
		}
		return spans, nil
	}
	lo, hi := 4*first, 6*target // compared against 5 x lengths: no rounding
	var (
		cur   = span{off: l.initLen, key: l.units[0].key}
		start = 0 // index of cur's first unit
		next  = l.initLen
	)
	t0 := l.units[0].time
	finish := func(endTime int64) {
		cur.durMs = durMs(l.units[start].time-t0, endTime-t0, l.timescale)
		spans = append(spans, cur)
	}
	for i, u := range l.units {
		if u.off != next || u.n < 1 || u.n > size-u.off {
			return nil, fmt.Errorf("unit %d at %d+%d, want offset %d in a %d-byte file: %w", i, u.off, u.n, next, size, ErrMalformed)
		}
		if u.n > chunkmap.MaxChunkLen {
			return nil, fmt.Errorf("fragment or cluster at offset %d is %d bytes, more than a chunk may hold (%d): %w",
				u.off, u.n, chunkmap.MaxChunkLen, ErrTooLarge)
		}
		next = u.off + u.n
		if cur.n > 0 && ((u.key && 5*cur.n >= lo) || 5*(cur.n+u.n) > hi) {
			finish(u.time)
			cur, start = span{off: u.off, key: u.key}, i
			lo = 4 * target
		}
		cur.n += u.n
	}
	if next != size {
		return nil, fmt.Errorf("units end at %d in a %d-byte file: %w", next, size, ErrMalformed)
	}
	finish(l.end)
	if len(spans) > chunkmap.MaxChunks {
		return nil, fmt.Errorf("%d chunks (max %d): %w", len(spans), chunkmap.MaxChunks, ErrTooLarge)
	}
	return spans, nil
}

// cutFixed cuts size bytes into chunks of exactly target bytes, the last one
// shorter.
func cutFixed(size, target int64) ([]span, error) {
	if target < 1 {
		return nil, fmt.Errorf("target size %d: %w", target, ErrConfig)
	}
	n := (size + target - 1) / target
	if n > chunkmap.MaxChunks {
		return nil, fmt.Errorf("%d bytes in chunks of %d is %d chunks (max %d): %w", size, target, n, chunkmap.MaxChunks, ErrTooLarge)
	}
	spans := make([]span, 0, n)
	for off := int64(0); off < size; off += target {
		spans = append(spans, span{off: off, n: min(target, size-off)})
	}
	return spans, nil
}

// durMs is the length in milliseconds of [start, end) given in ticks of
// timescale per second, from the rounded millisecond positions of both ends
// so that consecutive durations add up to the rounded total. Backwards or
// unknown time gives 0.
func durMs(start, end, timescale int64) int64 {
	if timescale <= 0 || start < 0 || end <= start {
		return 0
	}
	return toMs(end, timescale) - toMs(start, timescale)
}

// toMs rounds t ticks to milliseconds without overflow.
func toMs(t, timescale int64) int64 {
	hi, lo := bits.Mul64(uint64(t), 1000)
	lo, carry := bits.Add64(lo, uint64(timescale)/2, 0)
	hi += carry
	if hi >= uint64(timescale) {
		return 1<<63 - 1
	}
	q, _ := bits.Div64(hi, lo, uint64(timescale))
	if q > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(q)
}

package swarm

import (
	"fmt"
	"sort"

	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/swarm/sched"
)

// layout says where each chunk of a chunk map lies in the file.
//
// With chunk-info the map says so exactly. Without it (Entropy's maps),
// the chunks are taken to be of exactly the chunk size, the last one
// shorter, which is how Entropy cuts any file that is not video; exact is
// then false, and a stored chunk whose length contradicts it is ErrLayout
// rather than misplaced bytes. When even the sizes cannot be of that shape,
// offs is nil: such a file can be fetched and assembled, not read at an
// offset.
type layout struct {
	size  int64
	sizes []int64 // lengths; estimates when offs is nil
	offs  []int64 // offs[i] is chunk i's offset, offs[n] the size; nil if unknown
	exact bool    // from chunk-info
}

func newLayout(m *chunkmap.Map) (*layout, error) {
	if m == nil {
		return nil, fmt.Errorf("swarm: no chunk map")
	}
	n := len(m.Chunks)
	l := &layout{size: m.Size, sizes: make([]int64, n)}
	switch {
	case n == 0:
		l.offs = []int64{0}
	case m.ChunkInfo != nil:
		if len(m.ChunkInfo) != n {
			return nil, fmt.Errorf("swarm: chunk map has chunk-info for %d of %d chunks: %w", len(m.ChunkInfo), n, ErrLayout)
		}
		l.exact = true
		l.offs = make([]int64, n+1)
		for i, ci := range m.ChunkInfo {
			if ci.Offset != l.offs[i] || ci.Length < 1 {
				return nil, fmt.Errorf("swarm: chunk %d at %d+%d: %w", i, ci.Offset, ci.Length, ErrLayout)
			}
			l.sizes[i] = ci.Length
			l.offs[i+1] = ci.Offset + ci.Length
		}
		if l.offs[n] != m.Size {
			return nil, fmt.Errorf("swarm: chunk-info adds up to %d bytes, size is %d: %w", l.offs[n], m.Size, ErrLayout)
		}
	case n > 0 && m.ChunkSize > 0 && int64(n-1)*m.ChunkSize < m.Size && m.Size <= int64(n)*m.ChunkSize:
		l.offs = make([]int64, n+1)
		for i := range n {
			l.sizes[i] = min(m.ChunkSize, m.Size-int64(i)*m.ChunkSize)
			l.offs[i+1] = l.offs[i] + l.sizes[i]
		}
	case n > 0:
		// Variable sizes we do not know: the mean is the scheduler's
		// estimate.
		mean := max(m.Size/int64(n), 1)
		for i := range l.sizes {
			l.sizes[i] = mean
		}
	}
	return l, nil
}

// chunks returns the scheduler's view of the chunks.
func (l *layout) chunks(m *chunkmap.Map) []sched.Chunk {
	cs := make([]sched.Chunk, len(m.Chunks))
	for i, h := range m.Chunks {
		cs[i] = sched.Chunk{Hash: h, Size: l.sizes[i]}
	}
	return cs
}

// locate returns the chunks covering [off, off+n) of the file: first and
// end (exclusive). ok is false when the layout is unknown.
func (l *layout) locate(off, n int64) (first, end int, ok bool) {
	if l.offs == nil {
		return 0, 0, false
	}
	last := len(l.sizes)
	// The first chunk whose end is past off.
	first = sort.Search(last, func(i int) bool { return l.offs[i+1] > off })
	end = sort.Search(last, func(i int) bool { return l.offs[i] >= off+n })
	return first, end, true
}

package swarm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/media/chunkmap"
)

// Source gets the chunks a Reader lacks. A *Download is one; a Lazy
// download fetches nothing else.
type Source interface {
	// Want says chunks [first, end) will be needed soon.
	Want(first, end int)
	// Need returns once chunk i is in the blob store, fetching it with
	// priority if it is missing.
	Need(ctx context.Context, i int) error
}

// Reader reads the file a chunk map describes, chunk by chunk from a blob
// store, fetching missing chunks from a Source on demand. It is an
// io.ReaderAt (safe for concurrent use) and an io.ReadSeeker (not: one
// reader per sequential consumer), which is what http.ServeContent needs to
// answer Range requests for a file the node does not hold.
//
// A read finds the chunks covering its byte range from the map's
// chunk-info or, without it, from the chunk size (ErrLayout if a chunk
// turns out not to be of that size), asks the Source for all of them at
// once, then waits for and copies each in order.
type Reader struct {
	ctx   context.Context
	m     *chunkmap.Map
	lay   *layout
	blobs blobstore.Blobs
	src   Source

	// ReadAhead is how many chunks past those a Read covers are asked
	// of the Source too (Want), so that a sequential reader (an HTTP
	// response being streamed) does not wait at every chunk boundary.
	// ReadAt never reads ahead. Default 0.
	ReadAhead int

	mu  sync.Mutex // guards pos
	pos int64
}

// NewReader returns a Reader of the file described by m. Its reads block
// while chunks are fetched, until ctx ends (io.ReaderAt has no context of
// its own: pass the HTTP request's). src may be nil: missing chunks are
// then ErrMissing.
func NewReader(ctx context.Context, m *chunkmap.Map, blobs blobstore.Blobs, src Source) (*Reader, error) {
	lay, err := newLayout(m)
	if err != nil {
		return nil, err
	}
	if lay.offs == nil {
		return nil, fmt.Errorf("swarm: no chunk-info and chunks of unknown sizes: %w", ErrLayout)
	}
	return &Reader{ctx: ctx, m: m, lay: lay, blobs: blobs, src: src}, nil
}

// Size is the file's size.
func (r *Reader) Size() int64 { return r.m.Size }

// ReadAt reads len(p) bytes at off, fetching the chunks that cover them.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	return r.readAt(p, off, 0)
}

func (r *Reader) readAt(p []byte, off int64, ahead int) (int, error) {
	if off < 0 {
		return 0, errors.New("swarm: negative offset")
	}
	if off >= r.m.Size {
		return 0, io.EOF
	}
	want := min(int64(len(p)), r.m.Size-off)
	first, end, _ := r.lay.locate(off, want)
	if r.src != nil {
		r.src.Want(first, end+ahead)
	}
	n := 0
	for i := first; i < end && int64(n) < want; i++ {
		if err := r.need(i); err != nil {
			return n, err
		}
		start := off + int64(n) - r.lay.offs[i]
		q := p[n:min(want, r.lay.offs[i+1]-off)]
		got, err := r.read(i, q, start)
		n += got
		if err != nil {
			return n, err
		}
	}
	if int64(n) < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}

// need makes sure chunk i is stored and of the length the layout says.
func (r *Reader) need(i int) error {
	h := r.m.Chunks[i]
	if !r.blobs.Has(h) {
		if r.src == nil {
			return fmt.Errorf("chunk %d: %w", i, ErrMissing)
		}
		if err := r.src.Need(r.ctx, i); err != nil {
			return fmt.Errorf("swarm: fetching chunk %d: %w", i, err)
		}
	}
	size, err := r.blobs.Size(h)
	if err != nil {
		return fmt.Errorf("chunk %d: %w (%w)", i, ErrMissing, err)
	}
	if want := r.lay.sizes[i]; size != want {
		return fmt.Errorf("swarm: chunk %d holds %d bytes, the map places %d: %w", i, size, want, ErrLayout)
	}
	return nil
}

// read copies len(q) bytes of chunk i from off, asking the Source once
// more if the chunk was evicted meanwhile.
func (r *Reader) read(i int, q []byte, off int64) (int, error) {
	h := r.m.Chunks[i]
	for attempt := 0; ; attempt++ {
		n, err := r.blobs.ReadAt(h, q, off)
		if n == len(q) {
			return n, nil
		}
		if errors.Is(err, blobstore.ErrNotFound) && attempt == 0 && r.src != nil {
			if err := r.src.Need(r.ctx, i); err != nil {
				return 0, fmt.Errorf("swarm: fetching chunk %d: %w", i, err)
			}
			continue
		}
		if err == nil || err == io.EOF {
			err = fmt.Errorf("chunk %d: short read: %w", i, ErrLayout)
		}
		return n, fmt.Errorf("swarm: reading chunk %d: %w", i, err)
	}
}

// Read reads from the current offset.
func (r *Reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.readAt(p, r.pos, r.ReadAhead)
	r.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Seek sets the offset of the next Read.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.m.Size
	default:
		return 0, errors.New("swarm: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("swarm: seek before the start")
	}
	r.pos = offset
	return offset, nil
}

// Assemble writes the whole file described by m to w, from chunks in
// blobs. Every chunk is read whole and checked against its hash (the
// store's Get does) and against the map's length for it; a missing one is
// ErrMissing. Memory use is one chunk.
func Assemble(ctx context.Context, w io.Writer, m *chunkmap.Map, blobs blobstore.Blobs) error {
	lay, err := newLayout(m)
	if err != nil {
		return err
	}
	var written int64
	for i, h := range m.Chunks {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := blobs.Get(h)
		if errors.Is(err, blobstore.ErrNotFound) {
			return fmt.Errorf("swarm: assembling: chunk %d: %w (%w)", i, ErrMissing, err)
		}
		if err != nil {
			return fmt.Errorf("swarm: assembling: chunk %d: %w", i, err)
		}
		if lay.exact && int64(len(data)) != lay.sizes[i] {
			return fmt.Errorf("swarm: assembling: chunk %d holds %d bytes, the map says %d: %w", i, len(data), lay.sizes[i], ErrLayout)
		}
		if _, err := w.Write(data); err != nil {
			return fmt.Errorf("swarm: assembling: writing chunk %d: %w", i, err)
		}
		written += int64(len(data))
	}
	if written != m.Size {
		return fmt.Errorf("swarm: assembling: chunks hold %d bytes, the map says %d: %w", written, m.Size, ErrLayout)
	}
	return nil
}

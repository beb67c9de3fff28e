package media

import (
	"errors"
	"fmt"
	"io"
)

// windowSize is how much source reads ahead for header parsing: box and
// element headers are small and close together inside a cluster or between
// fragments, so one read usually serves many of them.
const windowSize = 64 << 10

// source is a bounds-checked view of the input with a small read-ahead
// window. It is the only place the parsers touch the io.ReaderAt.
type source struct {
	r    io.ReaderAt
	size int64

	win    []byte // cached bytes of [winOff, winOff+len(win))
	winOff int64
	buf    []byte // backing store for win
}

func newSource(r io.ReaderAt, size int64) *source {
	return &source{r: r, size: size}
}

// peek returns the n bytes at off. The slice is valid until the next call;
// callers that keep bytes copy them. Reading past the end of the file gives
// ErrTruncated.
func (s *source) peek(off int64, n int) ([]byte, error) {
	if n < 0 || off < 0 || off > s.size || int64(n) > s.size-off {
		return nil, fmt.Errorf("reading %d bytes at offset %d of a %d-byte file: %w", n, off, s.size, ErrTruncated)
	}
	if off >= s.winOff && off+int64(n) <= s.winOff+int64(len(s.win)) {
		i := off - s.winOff
		return s.win[i : i+int64(n)], nil
	}
	if n > windowSize {
		b := make([]byte, n)
		if err := s.readFull(b, off); err != nil {
			return nil, err
		}
		return b, nil
	}
	if s.buf == nil {
		s.buf = make([]byte, windowSize)
	}
	m := int64(windowSize)
	if rest := s.size - off; rest < m {
		m = rest
	}
	s.win = nil
	if err := s.readFull(s.buf[:m], off); err != nil {
		return nil, err
	}
	s.win, s.winOff = s.buf[:m], off
	return s.win[:n], nil
}

// read returns a fresh copy of the n bytes at off.
func (s *source) read(off int64, n int) ([]byte, error) {
	b, err := s.peek(off, n)
	if err != nil {
		return nil, err
	}
	if n > windowSize {
		return b, nil // already a fresh slice
	}
	return append([]byte(nil), b...), nil
}

// readFull fills b from off, turning a short read into ErrTruncated (the
// file is shorter than the size the caller claimed).
func (s *source) readFull(b []byte, off int64) error {
	n, err := s.r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return fmt.Errorf("reading %d bytes at offset %d: got %d: %w", len(b), off, n, ErrTruncated)
	}
	return fmt.Errorf("reading %d bytes at offset %d: %w", len(b), off, err)
}

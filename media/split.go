package media

import (
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/merkle"
)

// hashBufSize is the read size of the hashing pass: the only buffer whose
// size matters, so Split's memory does not grow with the file.
const hashBufSize = 512 << 10

// Detect reports the container of the file of size bytes in r from its
// first bytes and, for an MP4, its moov (whether it has an mvex box). It
// reads box and element headers only.
func Detect(r io.ReaderAt, size int64) (Container, error) {
	s, err := open(r, size)
	if err != nil {
		return Other, err
	}
	magic, err := s.peek(0, int(min(size, 8)))
	if err != nil {
		return Other, err
	}
	switch {
	case isMP4Magic(magic):
		info, err := findMoov(s)
		if err != nil {
			return Other, err
		}
		if info.fragmented {
			return FragmentedMP4, nil
		}
		return ProgressiveMP4, nil
	case isWebMMagic(magic):
		return WebM, nil
	}
	return Other, nil
}

// Split cuts the file of size bytes in r into chunks and hashes them.
//
// The container is detected by magic bytes: a fragmented MP4 or a WebM is
// cut at fragment or cluster boundaries, keyframe-aligned (see Chunker and
// Plan); a progressive MP4 is refused with ErrNeedsRemux; anything else is
// cut into fixed-size chunks. A malformed media file is an error (wrapping
// ErrTruncated, ErrMalformed, ErrUnsupported or ErrTooLarge), never a silent
// fallback; a caller that wants to share it anyway uses SplitFixed.
//
// Split reads box and element headers (and each moof) first, then every
// byte exactly once to hash it, in order, through one fixed buffer.
func Split(r io.ReaderAt, size int64, c Chunker) (Plan, error) {
	if err := c.Validate(); err != nil {
		return Plan{}, err
	}
	s, err := open(r, size)
	if err != nil {
		return Plan{}, err
	}
	target := c.target()
	magic, err := s.peek(0, int(min(size, 8)))
	if err != nil {
		return Plan{}, err
	}
	var l *layout
	switch {
	case isMP4Magic(magic):
		if l, err = scanMP4(s); err != nil {
			return Plan{}, fmt.Errorf("splitting mp4: %w", err)
		}
		if l.container == ProgressiveMP4 {
			return Plan{}, fmt.Errorf("splitting mp4: %w", ErrNeedsRemux)
		}
	case isWebMMagic(magic):
		if l, err = scanWebM(s); err != nil {
			return Plan{}, fmt.Errorf("splitting webm: %w", err)
		}
	default:
		return splitFixed(r, size, target)
	}
	spans, err := cutMedia(l, size, target, min(target, FirstTargetSize))
	if err != nil {
		return Plan{}, fmt.Errorf("splitting %s: %w", l.container, err)
	}
	p := Plan{
		Container:  l.container,
		Size:       size,
		TargetSize: target,
		Init:       &chunkmap.ByteRange{Offset: 0, Length: l.initLen},
		MIME:       l.mime,
	}
	if err := p.hash(r, spans); err != nil {
		return Plan{}, err
	}
	return p, nil
}

// SplitFixed cuts any file into chunks of exactly the target size (the last
// one shorter) and hashes them, ignoring its format.
func SplitFixed(r io.ReaderAt, size int64, c Chunker) (Plan, error) {
	if err := c.Validate(); err != nil {
		return Plan{}, err
	}
	if _, err := open(r, size); err != nil {
		return Plan{}, err
	}
	return splitFixed(r, size, c.target())
}

func splitFixed(r io.ReaderAt, size, target int64) (Plan, error) {
	spans, err := cutFixed(size, target)
	if err != nil {
		return Plan{}, err
	}
	p := Plan{Container: Other, Size: size, TargetSize: target}
	if err := p.hash(r, spans); err != nil {
		return Plan{}, err
	}
	return p, nil
}

func open(r io.ReaderAt, size int64) (*source, error) {
	if err := checkSize(size); err != nil {
		return nil, err
	}
	return newSource(r, size), nil
}

func checkSize(size int64) error {
	if size < 0 {
		return fmt.Errorf("file size %d: %w", size, ErrConfig)
	}
	if size > MaxFileSize {
		return fmt.Errorf("file of %d bytes (max %d): %w", size, MaxFileSize, ErrTooLarge)
	}
	return nil
}

// CutFixed returns the byte ranges SplitFixed would hash for a file of size
// bytes, and the target size used, without reading the file: for a caller
// that hashes elsewhere (the browser, with WebCrypto).
func CutFixed(size int64, c Chunker) (target int64, ranges []chunkmap.ByteRange, err error) {
	if err := c.Validate(); err != nil {
		return 0, nil, err
	}
	if err := checkSize(size); err != nil {
		return 0, nil, err
	}
	target = c.target()
	spans, err := cutFixed(size, target)
	if err != nil {
		return 0, nil, err
	}
	ranges = make([]chunkmap.ByteRange, len(spans))
	for i, sp := range spans {
		ranges[i] = chunkmap.ByteRange{Offset: sp.off, Length: sp.n}
	}
	return target, ranges, nil
}

// hash reads every span in order and fills p.Chunks and p.Root.
func (p *Plan) hash(r io.ReaderAt, spans []span) error {
	buf := make([]byte, min(hashBufSize, p.Size))
	h := sha256.New()
	p.Chunks = make([]Chunk, len(spans))
	for i, sp := range spans {
		h.Reset()
		for off, end := sp.off, sp.off+sp.n; off < end; {
			b := buf[:min(int64(len(buf)), end-off)]
			n, err := r.ReadAt(b, off)
			if n < len(b) {
				if err == nil || err == io.EOF {
					err = ErrTruncated
				}
				return fmt.Errorf("hashing chunk %d: reading %d bytes at offset %d: %w", i, len(b), off, err)
			}
			h.Write(b)
			off += int64(n)
		}
		c := &p.Chunks[i]
		c.Offset, c.Length, c.DurationMs, c.Keyframe = sp.off, sp.n, sp.durMs, sp.key
		h.Sum(c.Hash[:0])
	}
	p.Root = merkle.Root(p.Hashes())
	return nil
}

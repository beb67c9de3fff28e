package blobstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ScrubReport says what a Scrub found.
type ScrubReport struct {
	Checked int        // blobs re-hashed
	Bytes   int64      // bytes read
	Corrupt [][32]byte // blobs whose content no longer matched: removed
	Missing [][32]byte // blobs indexed but gone from disk: forgotten
}

// Scrub re-hashes every stored blob and removes those that no longer match
// their hash (bit rot, a truncated file, someone editing the directory), so
// that they are fetched again. Their pins stay. progress, if not nil, is
// called after each blob with the number done and the total. Scrub stops
// when ctx is done and returns the partial report with ctx's error. Blobs
// stored after Scrub starts are not checked.
func (s *Store) Scrub(ctx context.Context, progress func(done, total int)) (ScrubReport, error) {
	var rep ScrubReport
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return rep, ErrClosed
	}
	hashes := s.ix.List()
	s.mu.Unlock()

	buf := make([]byte, 1<<20)
	for i, h := range hashes {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if err := s.scrubOne(h, buf, &rep); err != nil {
			return rep, err
		}
		if progress != nil {
			progress(i+1, len(hashes))
		}
	}
	return rep, nil
}

func (s *Store) scrubOne(h [32]byte, buf []byte, rep *ScrubReport) error {
	f, err := os.Open(s.path(h))
	if errors.Is(err, fs.ErrNotExist) {
		if s.forgetMissing(h) {
			rep.Missing = append(rep.Missing, h)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("blobstore: scrubbing blob %s: %w", hexHash(h), err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("blobstore: scrubbing blob %s: %w", hexHash(h), err)
	}
	sum := sha256.New()
	n, err := io.CopyBuffer(sum, f, buf)
	if err != nil {
		return fmt.Errorf("blobstore: scrubbing blob %s: %w", hexHash(h), err)
	}
	rep.Checked++
	rep.Bytes += n
	if [32]byte(sum.Sum(nil)) != h {
		if s.removeIfSame(h, info) {
			rep.Corrupt = append(rep.Corrupt, h)
		}
	}
	return nil
}

package swarm

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/media/chunkmap"
)

// File is what a FileWriter writes into: an *os.File.
type File interface {
	io.WriterAt
	io.ReaderAt
}

// FileWriter writes a downloading file as its chunks are stored, instead
// of assembling it from the blob store once the download is complete:
// each stored chunk is copied to its place in the file (once the map
// locates it; without chunk-info or a fixed chunk size, in file order),
// and the file's SHA-256 is computed over the prefix written so far. What
// is left after the last chunk is the hash of the chunks after the prefix.
//
// Call Update whenever chunks may have been stored (Download.Changed);
// Next is the first chunk not yet hashed, the playhead that keeps the
// download close to file order. A FileWriter is not safe for concurrent
// use, except for Offer.
//
// A chunk handed over with Offer (Download.SetTap) is written from memory
// and hashed from memory, instead of copied from the blob store and read
// back from the file for the hash: one pass over the disk's cache less.
type FileWriter struct {
	m       *chunkmap.Map
	lay     *layout
	blobs   blobstore.Blobs
	f       File
	written []bool
	next    int   // chunks before next are written and hashed
	off     int64 // offset of chunk next
	h       hash.Hash
	buf     []byte

	mu      sync.Mutex // guards the rest
	hashed  int        // next, for Offer
	offered map[int][]byte
	held    int64 // bytes in offered
	maxHeld int64
}

// MaxOffered is the most bytes of offered chunks a FileWriter keeps in
// memory while they wait to be written or hashed. Past it, the chunks
// farthest from the hashed prefix are let go (copied from the blob store
// and hashed back from the file instead).
const MaxOffered = 128 << 20

// NewFileWriter returns a writer of m's file into f, from blobs.
func NewFileWriter(m *chunkmap.Map, blobs blobstore.Blobs, f File) (*FileWriter, error) {
	lay, err := newLayout(m)
	if err != nil {
		return nil, err
	}
	return &FileWriter{m: m, lay: lay, blobs: blobs, f: f, written: make([]bool, len(m.Chunks)), h: sha256.New(),
		offered: make(map[int][]byte), maxHeld: MaxOffered}, nil
}

// Offer hands w the verified bytes of chunk i, stored in the blob store
// (a Download's tap): Update writes and hashes them from memory. w keeps
// data until then, so the caller must not change it. Offer is safe to
// call concurrently with Update; a chunk already hashed or offered twice
// is ignored. Past MaxOffered, the chunks farthest from the hashed prefix
// are let go first.
func (w *FileWriter) Offer(i int, data []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.offered[i]; ok || i < w.hashed || i >= len(w.m.Chunks) || int64(len(data)) > w.maxHeld {
		return
	}
	for w.held+int64(len(data)) > w.maxHeld {
		// Full: the chunk farthest from the prefix makes room for a
		// nearer one (it will be hashed back from the file), or i waits
		// in the store.
		far := -1
		for k := range w.offered {
			far = max(far, k)
		}
		if far < i {
			return
		}
		w.held -= int64(len(w.offered[far]))
		delete(w.offered, far)
	}
	w.offered[i] = data
	w.held += int64(len(data))
}

// offer returns the offered bytes of chunk i, or nil.
func (w *FileWriter) offer(i int) []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.offered[i]
}

// drop forgets the offered bytes of chunk i.
func (w *FileWriter) drop(i int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if b, ok := w.offered[i]; ok {
		w.held -= int64(len(b))
		delete(w.offered, i)
	}
}

// Next is the first chunk not yet written and hashed; len(Chunks) once the
// file is complete.
func (w *FileWriter) Next() int { return w.next }

// Complete reports whether every chunk is written and hashed.
func (w *FileWriter) Complete() bool { return w.next == len(w.m.Chunks) }

// Sum is the SHA-256 of the file; valid once Complete.
func (w *FileWriter) Sum() [32]byte { return [32]byte(w.h.Sum(nil)) }

// Update writes every stored chunk not written yet and hashes the prefix
// as far as it goes. It reports whether the file is complete. A chunk
// whose stored length contradicts the map is ErrLayout; a file that does
// not add up to the map's size, too.
func (w *FileWriter) Update(ctx context.Context) (bool, error) {
	if w.lay.offs != nil {
		for i, h := range w.m.Chunks {
			if w.written[i] || i < w.next {
				continue
			}
			if data := w.offer(i); data != nil {
				if err := w.writeOffered(i, w.lay.offs[i], data); err != nil {
					return false, err
				}
				if i == w.next {
					w.h.Write(data)
					w.drop(i)
					w.advance(i)
				}
				continue
			}
			if !w.blobs.Has(h) {
				continue
			}
			if err := ctx.Err(); err != nil {
				return false, err
			}
			hashed, err := w.copy(i, w.lay.offs[i], i == w.next)
			if err != nil {
				return false, err
			}
			if hashed {
				w.advance(i)
			}
		}
	}
	for w.next < len(w.m.Chunks) {
		i := w.next
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if data := w.offer(i); data != nil {
			if !w.written[i] {
				if err := w.writeOffered(i, w.off, data); err != nil {
					return false, err
				}
			}
			w.h.Write(data)
			w.drop(i)
		} else if w.written[i] {
			if err := w.rehash(i); err != nil {
				return false, err
			}
		} else {
			if !w.blobs.Has(w.m.Chunks[i]) {
				break
			}
			hashed, err := w.copy(i, w.off, true)
			if err != nil {
				return false, err
			}
			if !hashed {
				continue // written; hashed back from the file next turn
			}
		}
		w.advance(i)
	}
	if !w.Complete() {
		return false, nil
	}
	if w.off != w.m.Size {
		return false, fmt.Errorf("swarm: writing the file: chunks hold %d bytes, the map says %d: %w", w.off, w.m.Size, ErrLayout)
	}
	return true, nil
}

func (w *FileWriter) advance(i int) {
	w.off += w.lay.sizes[i]
	w.next++
	w.mu.Lock()
	defer w.mu.Unlock()
	w.hashed = w.next
	if b, ok := w.offered[i]; ok { // offered while it was hashed from the file
		w.held -= int64(len(b))
		delete(w.offered, i)
	}
}

// writeOffered writes the offered bytes of chunk i at off.
func (w *FileWriter) writeOffered(i int, off int64, data []byte) error {
	if err := w.checkSize(i, int64(len(data))); err != nil {
		return err
	}
	if _, err := w.f.WriteAt(data, off); err != nil {
		return fmt.Errorf("swarm: writing the file: chunk %d: %w", i, err)
	}
	w.written[i] = true
	return nil
}

// copy writes chunk i at off. When the store and the file are both files
// it is copied by the kernel (copy_file_range on Linux) and hashed later,
// from the file; otherwise it passes through memory and, when hashIt, is
// hashed on the way (hashed reports it).
func (w *FileWriter) copy(i int, off int64, hashIt bool) (hashed bool, err error) {
	if ok, err := w.copyFiles(i, off); ok || err != nil {
		return false, err
	}
	data, err := w.read(i)
	if err != nil {
		return false, err
	}
	if err := w.checkSize(i, int64(len(data))); err != nil {
		return false, err
	}
	if _, err := w.f.WriteAt(data, off); err != nil {
		return false, fmt.Errorf("swarm: writing the file: chunk %d: %w", i, err)
	}
	w.written[i] = true
	if hashIt {
		w.h.Write(data)
	}
	return hashIt, nil
}

// checkSize checks a stored chunk's length against the map, or learns it
// when the map only estimates it.
func (w *FileWriter) checkSize(i int, n int64) error {
	if w.lay.offs == nil {
		w.lay.sizes[i] = n
		return nil
	}
	if n != w.lay.sizes[i] {
		return fmt.Errorf("swarm: writing the file: chunk %d holds %d bytes, the map says %d: %w", i, n, w.lay.sizes[i], ErrLayout)
	}
	return nil
}

// copyFiles copies chunk i from the store's file into w's file at off
// without bringing it into memory; ok is false when either is not a file.
func (w *FileWriter) copyFiles(i int, off int64) (ok bool, err error) {
	dst, isFile := w.f.(*os.File)
	o, isOpener := w.blobs.(interface {
		Open(hash [32]byte) (blobstore.Reader, int64, error)
	})
	if !isFile || !isOpener {
		return false, nil
	}
	r, size, err := o.Open(w.m.Chunks[i])
	if errors.Is(err, blobstore.ErrNotFound) {
		return true, fmt.Errorf("swarm: writing the file: chunk %d: %w (%w)", i, ErrMissing, err)
	}
	if err != nil {
		return true, fmt.Errorf("swarm: writing the file: chunk %d: %w", i, err)
	}
	defer r.Close()
	src, isFile := r.(*os.File)
	if !isFile {
		return false, nil
	}
	if err := w.checkSize(i, size); err != nil {
		return true, err
	}
	if _, err := dst.Seek(off, io.SeekStart); err != nil {
		return true, fmt.Errorf("swarm: writing the file: %w", err)
	}
	n, err := dst.ReadFrom(io.LimitReader(src, size))
	if err == nil && n != size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return true, fmt.Errorf("swarm: writing the file: chunk %d: %w", i, err)
	}
	w.written[i] = true
	return true, nil
}

// read reads stored chunk i into w.buf.
func (w *FileWriter) read(i int) ([]byte, error) {
	h := w.m.Chunks[i]
	size, err := w.blobs.Size(h)
	if err == nil {
		if int64(cap(w.buf)) < size {
			w.buf = make([]byte, size)
		}
		var n int
		n, err = w.blobs.ReadAt(h, w.buf[:size], 0)
		if n == int(size) {
			err = nil
		} else if err == nil {
			err = io.ErrUnexpectedEOF
		}
	}
	if errors.Is(err, blobstore.ErrNotFound) {
		return nil, fmt.Errorf("swarm: writing the file: chunk %d: %w (%w)", i, ErrMissing, err)
	}
	if err != nil {
		return nil, fmt.Errorf("swarm: writing the file: chunk %d: %w", i, err)
	}
	return w.buf[:size], nil
}

// rehash hashes chunk i, already written, back from the file.
func (w *FileWriter) rehash(i int) error {
	n := w.lay.sizes[i]
	if int64(cap(w.buf)) < n {
		w.buf = make([]byte, n)
	}
	b := w.buf[:n]
	if _, err := w.f.ReadAt(b, w.off); err != nil {
		return fmt.Errorf("swarm: reading back chunk %d of the file: %w", i, err)
	}
	w.h.Write(b)
	return nil
}

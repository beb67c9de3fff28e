package swarm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/media"
)

// PinShared is the pin reason of the chunks of the user's own shared
// files.
const PinShared = "shared"

// putReader is the streaming Put of blobstore.Store and blobstore.Memory.
type putReader interface {
	PutReader(hash [32]byte, r io.Reader, size int64) error
}

// Share cuts the file at path into chunks (media.Split with chunker c),
// stores every chunk in blobs and pins it PinShared, and returns the plan
// (plan.Map() is the chunk map to publish) and the path of the file the
// plan describes.
//
// A progressive MP4 cannot be streamed as it is: it is first rewritten as
// a fragmented MP4 (media.Remux) at remuxPath, or, when remuxPath is empty,
// next to the original as <name>.frag.mp4; that file is then cut, and its
// path returned. A media file of a layout the chunker does not handle
// (media.ErrUnsupported) is cut into fixed-size chunks instead; a malformed
// one is an error.
//
// Chunks are streamed from the file to the store (PutReader when the store
// has it, else one chunk at a time through one buffer): memory does not
// grow with the file. ctx aborts between reads.
func Share(ctx context.Context, path string, blobs blobstore.Blobs, c media.Chunker, remuxPath string) (plan media.Plan, sharedPath string, err error) {
	f, size, err := openSized(path)
	if err != nil {
		return media.Plan{}, "", err
	}
	defer func() { f.Close() }()
	sharedPath = path
	r := ctxReaderAt{ctx, f}
	plan, err = media.Split(r, size, c)
	if errors.Is(err, media.ErrNeedsRemux) {
		if remuxPath == "" {
			remuxPath = strings.TrimSuffix(path, filepath.Ext(path)) + ".frag.mp4"
		}
		if err := remux(r, size, remuxPath); err != nil {
			return media.Plan{}, "", err
		}
		f.Close()
		if f, size, err = openSized(remuxPath); err != nil {
			return media.Plan{}, "", err
		}
		sharedPath = remuxPath
		r = ctxReaderAt{ctx, f}
		plan, err = media.Split(r, size, c)
	}
	if errors.Is(err, media.ErrUnsupported) {
		plan, err = media.SplitFixed(r, size, c)
	}
	if err != nil {
		return media.Plan{}, "", fmt.Errorf("swarm: sharing %s: %w", sharedPath, err)
	}
	if err := store(ctx, f, plan, blobs, PinShared); err != nil {
		return media.Plan{}, "", fmt.Errorf("swarm: sharing %s: %w", sharedPath, err)
	}
	return plan, sharedPath, nil
}

// ShareExact is Share for a file whose bytes must stay as they are (a
// Blossom blob, whose sha256 its uploader computed): a progressive MP4 is
// not remuxed but, like a layout the chunker does not handle, cut into
// fixed-size chunks, and so is a malformed media file (a blob is any
// bytes). Every chunk is pinned for reason.
func ShareExact(ctx context.Context, path string, blobs blobstore.Blobs, c media.Chunker, reason string) (media.Plan, error) {
	f, size, err := openSized(path)
	if err != nil {
		return media.Plan{}, err
	}
	defer f.Close()
	r := ctxReaderAt{ctx, f}
	plan, err := media.Split(r, size, c)
	if err != nil && ctx.Err() == nil {
		plan, err = media.SplitFixed(r, size, c)
	}
	if err == nil {
		err = store(ctx, f, plan, blobs, reason)
	}
	if err != nil {
		return media.Plan{}, fmt.Errorf("swarm: sharing %s: %w", path, err)
	}
	return plan, nil
}

// ShareRendition makes the streaming rendition of a progressive MP4 (the
// file ShareExact cuts into fixed-size chunks, as it must keep its bytes):
// it is remuxed to a fragmented MP4 at remuxPath, cut at keyframes, and
// its chunks stored and pinned for reason. ok is false, with nothing
// written, when the file is not a progressive MP4 (it streams as it is,
// or is no media, or its headers do not parse: media.Detect reads only
// those); a progressive MP4 that does not remux is an error.
func ShareRendition(ctx context.Context, path string, blobs blobstore.Blobs, c media.Chunker, remuxPath, reason string) (plan media.Plan, ok bool, err error) {
	f, size, err := openSized(path)
	if err != nil {
		return media.Plan{}, false, err
	}
	r := ctxReaderAt{ctx, f}
	// Headers only: a blob of another kind costs no pass over its bytes.
	if ct, err := media.Detect(r, size); err != nil || ct != media.ProgressiveMP4 {
		f.Close()
		return media.Plan{}, false, ctx.Err()
	}
	err = remux(r, size, remuxPath)
	f.Close()
	if err != nil {
		return media.Plan{}, false, err
	}
	if f, size, err = openSized(remuxPath); err != nil {
		return media.Plan{}, false, err
	}
	defer f.Close()
	if plan, err = media.Split(ctxReaderAt{ctx, f}, size, c); err == nil {
		err = store(ctx, f, plan, blobs, reason)
	}
	if err != nil {
		return media.Plan{}, false, fmt.Errorf("swarm: sharing the remux of %s: %w", path, err)
	}
	return plan, true, nil
}

func openSized(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("swarm: sharing: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("swarm: sharing: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("swarm: sharing %s: not a regular file", path)
	}
	return f, st.Size(), nil
}

// remux writes the fragmented MP4 of the progressive one in r to out,
// through a temporary file renamed into place once complete.
func remux(r io.ReaderAt, size int64, out string) error {
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.tmp")
	if err != nil {
		return fmt.Errorf("swarm: remuxing: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	bw := bufio.NewWriterSize(tmp, 1<<20)
	err = media.Remux(r, size, bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), out)
	}
	if err != nil {
		return fmt.Errorf("swarm: remuxing to %s: %w", out, err)
	}
	return nil
}

// store puts and pins (for reason) every chunk of plan, read from f.
func store(ctx context.Context, f *os.File, plan media.Plan, blobs blobstore.Blobs, reason string) error {
	pr, streaming := blobs.(putReader)
	var buf []byte
	for i, c := range plan.Chunks {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Pin first, so that the quota never evicts a chunk between its
		// Put and its pin.
		if err := blobs.Pin(c.Hash, reason); err != nil {
			return fmt.Errorf("pinning chunk %d: %w", i, err)
		}
		sec := io.NewSectionReader(ctxReaderAt{ctx, f}, c.Offset, c.Length)
		var err error
		if streaming {
			err = pr.PutReader(c.Hash, sec, c.Length)
		} else {
			if int64(cap(buf)) < c.Length {
				buf = make([]byte, c.Length)
			}
			b := buf[:c.Length]
			if _, err = io.ReadFull(sec, b); err == nil {
				err = blobs.Put(c.Hash, b)
			}
		}
		if errors.Is(err, blobstore.ErrHashMismatch) {
			return fmt.Errorf("chunk %d changed since it was hashed (was the file modified?): %w", i, err)
		}
		if err != nil {
			return fmt.Errorf("storing chunk %d: %w", i, err)
		}
	}
	return nil
}

// ctxReaderAt fails reads once ctx ends, so that long passes over a file
// (hashing, remuxing) can be aborted.
type ctxReaderAt struct {
	ctx context.Context
	r   io.ReaderAt
}

func (c ctxReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.ReadAt(p, off)
}

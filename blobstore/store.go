package blobstore

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/cairn-nostr/cairn/blobstore/index"
)

const (
	tmpDirName   = "tmp"
	pinsFileName = "pins.log"
)

// Store is a Blobs kept as files under a directory (see the package doc for
// the layout). Safe for concurrent use; one process per directory.
type Store struct {
	dir     string
	tmp     string
	maxBlob int64
	now     func() time.Time

	mu     sync.Mutex // guards everything below and renames/removals of blob files
	ix     *index.Index
	fanout [256]bool // fan-out directories known to exist
	closed bool

	pinMu    sync.Mutex // serializes pin changes: log append, then index
	pinLog   *os.File
	pinLines int
}

var _ Blobs = (*Store)(nil)

// Open opens (creating if needed) the store in dir: it empties dir/tmp
// (writes a crash interrupted), indexes the blobs present, loads the pins
// and evicts down to the quota if the directory holds more.
func Open(dir string, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	s := &Store{
		dir:     dir,
		tmp:     filepath.Join(dir, tmpDirName),
		maxBlob: opts.maxBlobSize(),
		now:     opts.Now,
		ix:      index.New(opts.Quota),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blobstore: creating %s: %w", dir, err)
	}
	if err := os.RemoveAll(s.tmp); err != nil {
		return nil, fmt.Errorf("blobstore: cleaning %s: %w", s.tmp, err)
	}
	if err := os.Mkdir(s.tmp, 0o700); err != nil {
		return nil, fmt.Errorf("blobstore: creating %s: %w", s.tmp, err)
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	if err := s.loadPins(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.evictLocked(s.ix.Excess()) // what pins keep over the quota stays; Put will say ErrQuota
	s.mu.Unlock()
	return s, nil
}

// load indexes the blob files, their mtimes as the persisted access times.
func (s *Store) load() error {
	top, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("blobstore: reading %s: %w", s.dir, err)
	}
	var all []index.Record
	for _, d := range top {
		var b [1]byte
		if !d.IsDir() || len(d.Name()) != 2 || !isLowerHex(d.Name()) {
			continue
		}
		hex.Decode(b[:], []byte(d.Name()))
		s.fanout[b[0]] = true
		sub := filepath.Join(s.dir, d.Name())
		files, err := os.ReadDir(sub)
		if err != nil {
			return fmt.Errorf("blobstore: reading %s: %w", sub, err)
		}
		for _, f := range files {
			name := d.Name() + f.Name()
			if !f.Type().IsRegular() || len(name) != 64 || !isLowerHex(name) {
				continue // not ours; leave it alone
			}
			info, err := f.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return fmt.Errorf("blobstore: stat %s: %w", filepath.Join(sub, f.Name()), err)
			}
			var h [32]byte
			hex.Decode(h[:], []byte(name))
			all = append(all, index.Record{Hash: h, Size: info.Size(), Used: info.ModTime()})
		}
	}
	s.ix.Load(all)
	return nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Close releases the pins log. Later calls fail with ErrClosed (Has: false).
func (s *Store) Close() error {
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.pinLog.Close()
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(h [32]byte) string {
	x := hexHash(h)
	return filepath.Join(s.dir, x[:2], x[2:])
}

// Has reports whether the blob is stored. It does not count as a use.
func (s *Store) Has(hash [32]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closed && s.ix.Has(hash)
}

// Size returns the blob's length, or ErrNotFound.
func (s *Store) Size(hash [32]byte) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	if n, ok := s.ix.Size(hash); ok {
		return n, nil
	}
	return 0, ErrNotFound
}

// access marks the blob used (see touchLocked).
func (s *Store) access(hash [32]byte) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if !s.ix.Has(hash) {
		s.mu.Unlock()
		return ErrNotFound
	}
	persist := s.touchLocked(hash)
	s.mu.Unlock()
	persist()
	return nil
}

// touchLocked marks the blob used. At most once per index.PersistEvery it
// also records the time as the file's mtime, by the function it returns,
// to be called after unlocking (best effort: a failure costs only recency
// after a restart).
func (s *Store) touchLocked(hash [32]byte) (persist func()) {
	now := s.now()
	if !s.ix.Touch(hash, now) {
		return func() {}
	}
	p := s.path(hash)
	return func() { _ = os.Chtimes(p, now, now) }
}

// openFile opens the blob's file; a file that vanished since the index said
// it exists (evicted or deleted meanwhile, or removed behind the store's
// back, which forgets it) is ErrNotFound.
func (s *Store) openFile(hash [32]byte) (*os.File, os.FileInfo, error) {
	f, err := os.Open(s.path(hash))
	if errors.Is(err, fs.ErrNotExist) {
		s.forgetMissing(hash)
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("blobstore: opening blob %s: %w", hexHash(hash), err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("blobstore: stat blob %s: %w", hexHash(hash), err)
	}
	return f, info, nil
}

// Get reads the whole blob and checks it against its hash. A blob that fails
// the check is removed and reported as ErrCorrupt (which also matches
// ErrNotFound): it is never handed out.
func (s *Store) Get(hash [32]byte) ([]byte, error) {
	if err := s.access(hash); err != nil {
		return nil, err
	}
	f, info, err := s.openFile(hash)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if info.Size() > s.maxBlob { // not written by Put; do not allocate it
		return nil, fmt.Errorf("%w: blob %s has %d bytes on disk", ErrTooLarge, hexHash(hash), info.Size())
	}
	data := make([]byte, info.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("blobstore: reading blob %s: %w", hexHash(hash), err)
	}
	if sha256.Sum256(data) != hash {
		s.removeIfSame(hash, info)
		return nil, corrupt(hash)
	}
	return data, nil
}

// Open returns the blob's file, positioned at its start, and its size, for
// streaming and Range requests (http.ServeContent). The hash is not checked
// (Scrub does that); the caller closes the file. An open file stays readable
// even if the blob is evicted meanwhile.
func (s *Store) Open(hash [32]byte) (Reader, int64, error) {
	if err := s.access(hash); err != nil {
		return nil, 0, err
	}
	f, info, err := s.openFile(hash)
	if err != nil {
		return nil, 0, err
	}
	return f, info.Size(), nil
}

// ReadAt reads from the blob at off with io.ReaderAt semantics. For many
// reads of one blob, Open it once instead.
func (s *Store) ReadAt(hash [32]byte, p []byte, off int64) (int, error) {
	if err := s.access(hash); err != nil {
		return 0, err
	}
	f, err := os.Open(s.path(hash))
	if errors.Is(err, fs.ErrNotExist) {
		s.forgetMissing(hash)
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("blobstore: opening blob %s: %w", hexHash(hash), err)
	}
	defer f.Close()
	return f.ReadAt(p, off)
}

// Put verifies data against hash and stores it durably: written to a temp
// file, fsync'd, renamed into place, directory fsync'd. Nothing is written
// when the hash does not match. Storing a blob already present only marks it
// used.
func (s *Store) Put(hash [32]byte, data []byte) error {
	size := int64(len(data))
	if err := checkSize(size, s.maxBlob); err != nil {
		return err
	}
	if sha256.Sum256(data) != hash {
		return fmt.Errorf("%w: %s", ErrHashMismatch, hexHash(hash))
	}
	if done, err := s.precheck(hash, size); done || err != nil {
		return err
	}
	return s.write(hash, size, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// PutHashed is Put for bytes whose SHA-256 the caller has just computed
// and found equal to hash (a chunk transport hashes a chunk while it
// arrives): the same durable write, without hashing the bytes a second
// time. A caller that has not hashed them must use Put; Scrub still
// checks every stored blob.
func (s *Store) PutHashed(hash [32]byte, data []byte) error {
	size := int64(len(data))
	if err := checkSize(size, s.maxBlob); err != nil {
		return err
	}
	if done, err := s.precheck(hash, size); done || err != nil {
		return err
	}
	return s.write(hash, size, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// PutReader stores exactly size bytes read from r, hashing them as they are
// written; on a mismatch the temp file is deleted and ErrHashMismatch
// returned. It reads no further than size bytes.
func (s *Store) PutReader(hash [32]byte, r io.Reader, size int64) error {
	if err := checkSize(size, s.maxBlob); err != nil {
		return err
	}
	if done, err := s.precheck(hash, size); done || err != nil {
		return err
	}
	return s.write(hash, size, func(f *os.File) error {
		h := sha256.New()
		buf := make([]byte, 256<<10)
		n, err := io.CopyBuffer(io.MultiWriter(f, h), io.LimitReader(r, size), buf)
		if err != nil {
			return fmt.Errorf("blobstore: reading blob %s: %w", hexHash(hash), err)
		}
		if n != size {
			return fmt.Errorf("blobstore: reading blob %s: got %d of %d bytes: %w", hexHash(hash), n, size, io.ErrUnexpectedEOF)
		}
		if [32]byte(h.Sum(nil)) != hash {
			return fmt.Errorf("%w: %s", ErrHashMismatch, hexHash(hash))
		}
		return nil
	})
}

// precheck answers the cheap cases before any byte is written: the blob is
// already stored (done; it counts as a use), or it can never fit (ErrQuota).
func (s *Store) precheck(hash [32]byte, size int64) (done bool, err error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false, ErrClosed
	}
	if s.ix.Has(hash) {
		persist := s.touchLocked(hash)
		s.mu.Unlock()
		persist()
		return true, nil
	}
	_, err = s.ix.Victims(size)
	s.mu.Unlock()
	return false, err
}

// write fills a temp file, makes it durable and renames it into place,
// evicting what the quota requires at the moment of the rename. The temp
// file is removed on every failure.
func (s *Store) write(hash [32]byte, size int64, fill func(*os.File) error) (err error) {
	f, err := os.CreateTemp(s.tmp, "put-*")
	if err != nil {
		return fmt.Errorf("blobstore: creating temp file: %w", err)
	}
	name := f.Name()
	closed, renamed := false, false
	defer func() {
		if !closed {
			f.Close()
		}
		if !renamed {
			os.Remove(name)
		}
	}()
	if err := fill(f); err != nil {
		return err
	}
	// The mtime records the access time for the LRU across restarts; set
	// before the fsync so that it is durable with the data.
	now := s.now()
	if err := os.Chtimes(name, now, now); err != nil {
		return fmt.Errorf("blobstore: stamping blob %s: %w", hexHash(hash), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("blobstore: syncing blob %s: %w", hexHash(hash), err)
	}
	closed = true
	if err := f.Close(); err != nil {
		return fmt.Errorf("blobstore: closing blob %s: %w", hexHash(hash), err)
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.ix.Has(hash) { // a concurrent Put of the same blob won
		persist := s.touchLocked(hash)
		s.mu.Unlock()
		persist()
		return nil
	}
	victims, err := s.ix.Victims(size)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	s.evictLocked(victims)
	newDir, err := s.fanoutLocked(hash[0])
	if err != nil {
		s.mu.Unlock()
		return err
	}
	final := s.path(hash)
	if err := os.Rename(name, final); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("blobstore: renaming blob %s into place: %w", hexHash(hash), err)
	}
	renamed = true
	s.ix.Add(hash, size, now)
	s.mu.Unlock()

	if err := syncDir(filepath.Dir(final)); err != nil {
		return fmt.Errorf("blobstore: syncing directory of blob %s: %w", hexHash(hash), err)
	}
	if newDir {
		if err := syncDir(s.dir); err != nil {
			return fmt.Errorf("blobstore: syncing %s: %w", s.dir, err)
		}
	}
	return nil
}

// fanoutLocked makes sure dir/xx exists; it reports whether it was created
// (then the parent directory must be synced too).
func (s *Store) fanoutLocked(b byte) (bool, error) {
	if s.fanout[b] {
		return false, nil
	}
	dir := filepath.Join(s.dir, hex.EncodeToString([]byte{b}))
	err := os.Mkdir(dir, 0o700)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return false, fmt.Errorf("blobstore: creating %s: %w", dir, err)
	}
	s.fanout[b] = true
	return err == nil, nil
}

// evictLocked removes the victims from the index and the disk. A file that
// cannot be removed is forgotten anyway: Open will index it again.
func (s *Store) evictLocked(victims [][32]byte) {
	s.ix.Evict(victims)
	for _, v := range victims {
		_ = os.Remove(s.path(v))
	}
}

// removeIfSame removes a blob found corrupt, unless the file was replaced
// since it was read (a concurrent Delete and Put of the same hash).
func (s *Store) removeIfSame(hash [32]byte, seen os.FileInfo) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !s.ix.Has(hash) {
		return false
	}
	p := s.path(hash)
	cur, err := os.Stat(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err == nil && !os.SameFile(cur, seen) {
		return false
	}
	s.ix.Remove(hash)
	_ = os.Remove(p)
	return true
}

// forgetMissing drops the index entry of a blob whose file is gone, if it is
// still indexed and still gone under the lock (not evicted, or deleted and
// stored again, meanwhile). It reports whether it dropped it.
func (s *Store) forgetMissing(hash [32]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !s.ix.Has(hash) {
		return false
	}
	if _, err := os.Lstat(s.path(hash)); !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	s.ix.Remove(hash)
	return true
}

// Delete removes the blob if present; its pins stay.
func (s *Store) Delete(hash [32]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if !s.ix.Remove(hash) {
		return nil
	}
	if err := os.Remove(s.path(hash)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blobstore: deleting blob %s: %w", hexHash(hash), err)
	}
	return nil
}

// List returns the stored hashes in ascending order.
func (s *Store) List() [][32]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ix.List()
}

// Stats reports counts and sizes.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ix.Stats()
}

// syncDir fsyncs a directory so that a rename or removal in it is durable.
// Windows cannot open directories for syncing and does not need it.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

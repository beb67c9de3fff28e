//go:build js && wasm

package idb

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"syscall/js"
	"time"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/blobstore/index"
	"github.com/cairn-nostr/cairn/sha"
)

// Object store names and the schema version.
const (
	storeBlobs = "blobs"
	storeMeta  = "meta"
	storePins  = "pins"
	storeFiles = "files"
	version    = 2
)

// Options configures a Store. The zero value is valid: no quota, blobs up
// to blobstore.DefaultMaxBlobSize, WebCrypto hashing, the wall clock.
type Options struct {
	// Quota is the most bytes of chunks kept; 0 means unlimited.
	Quota int64
	// MaxBlobSize bounds one chunk; 0 means blobstore.DefaultMaxBlobSize.
	MaxBlobSize int64
	// Hasher verifies chunks on Put; nil means sha.Default() (WebCrypto).
	Hasher sha.Hasher
	// Now stamps accesses for the LRU order; nil means time.Now.
	Now func() time.Time
}

// Store is a blobstore.Blobs over one IndexedDB database. Its methods are
// safe for concurrent use; those that touch IndexedDB wait for it, so call
// them from goroutines, never inside a js.Func callback.
type Store struct {
	db      js.Value
	name    string
	maxBlob int64
	hasher  sha.Hasher
	now     func() time.Time
	// closeOnVersionChange closes the connection when another page
	// upgrades the database; released by Close.
	closeOnVersionChange js.Func

	wmu sync.Mutex // one write transaction at a time: eviction choices stay true

	mu     sync.Mutex
	ix     *index.Index
	closed bool
	last   struct { // the last chunk read, for runs of ReadAt
		hash [32]byte
		data []byte
	}
}

var _ blobstore.Blobs = (*Store)(nil)

// blockedTimeout bounds the wait for other connections to close when an
// upgrade is blocked.
const blockedTimeout = 10 * time.Second

// Open opens (creating it if needed) the IndexedDB database name and loads
// its index. Over the quota (it was lowered), the least recently used
// unpinned chunks are evicted first.
func Open(name string, opts Options) (*Store, error) {
	if name == "" {
		return nil, errors.New("idb: empty database name")
	}
	if opts.Quota < 0 {
		return nil, fmt.Errorf("idb: quota %d is negative (0 means unlimited)", opts.Quota)
	}
	factory := js.Global().Get("indexedDB")
	if factory.IsUndefined() || factory.IsNull() {
		return nil, errors.New("idb: this environment has no IndexedDB (under Node, run tests through wasm/exec.sh after `make deps-npm`)")
	}
	s := &Store{name: name, maxBlob: opts.MaxBlobSize, hasher: opts.Hasher, now: opts.Now, ix: index.New(opts.Quota)}
	if s.maxBlob <= 0 {
		s.maxBlob = blobstore.DefaultMaxBlobSize
	}
	if s.hasher == nil {
		s.hasher = sha.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}

	req := factory.Call("open", name, version)
	upgrade := js.FuncOf(func(js.Value, []js.Value) any {
		db := req.Get("result")
		names := db.Get("objectStoreNames")
		for _, n := range []string{storeBlobs, storeMeta, storePins, storeFiles} {
			if !names.Call("contains", n).Bool() {
				db.Call("createObjectStore", n)
			}
		}
		return nil
	})
	defer upgrade.Release()
	req.Set("onupgradeneeded", upgrade)
	// A page that still holds the database open (one being navigated away
	// from, or in the back/forward cache) blocks an upgrade until it closes
	// it; every Store closes its connection when asked (below), so a block
	// that lasts is another program's, and is reported rather than waited
	// on forever.
	blocked := make(chan struct{}, 1)
	onBlocked := js.FuncOf(func(js.Value, []js.Value) any {
		select {
		case blocked <- struct{}{}:
		default:
		}
		return nil
	})
	defer onBlocked.Release()
	req.Set("onblocked", onBlocked)
	type opened struct {
		db  js.Value
		err error
	}
	done := make(chan opened, 1)
	go func() {
		db, err := await(req)
		done <- opened{db, err}
	}()
	var o opened
	select {
	case o = <-done:
	case <-blocked:
		select {
		case o = <-done:
		case <-time.After(blockedTimeout):
			return nil, fmt.Errorf("idb: database %q is held open by another page with an older version of cairn: close its other tabs and reload", name)
		}
	}
	if o.err != nil {
		return nil, fmt.Errorf("idb: opening database %q: %w", name, o.err)
	}
	db := o.db
	s.closeOnVersionChange = js.FuncOf(func(js.Value, []js.Value) any {
		db.Call("close")
		return nil
	})
	db.Set("onversionchange", s.closeOnVersionChange)
	s.db = db
	if err := s.load(); err != nil {
		db.Call("close")
		return nil, err
	}
	if err := s.evictOver(); err != nil {
		db.Call("close")
		return nil, err
	}
	return s, nil
}

// load reads the meta and pins stores into the index.
func (s *Store) load() error {
	tx := s.db.Call("transaction", []any{storeMeta, storePins}, "readonly")
	meta, pins := tx.Call("objectStore", storeMeta), tx.Call("objectStore", storePins)
	reqs := []js.Value{meta.Call("getAllKeys"), meta.Call("getAll"), pins.Call("getAllKeys"), pins.Call("getAll")}
	res := make([]js.Value, len(reqs))
	for i, r := range reqs {
		v, err := await(r)
		if err != nil {
			return fmt.Errorf("idb: reading the index of %q: %w", s.name, err)
		}
		res[i] = v
	}
	var recs []index.Record
	for i := 0; i < res[0].Length() && i < res[1].Length(); i++ {
		h, ok := keyHash(res[0].Index(i))
		v := res[1].Index(i)
		if !ok || v.Type() != js.TypeObject || v.Get("size").Type() != js.TypeNumber {
			continue // not ours; ignored
		}
		used := int64(0)
		if u := v.Get("used"); u.Type() == js.TypeNumber {
			used = int64(u.Float())
		}
		recs = append(recs, index.Record{Hash: h, Size: int64(v.Get("size").Float()), Used: time.UnixMilli(used)})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ix.Load(recs)
	for i := 0; i < res[2].Length() && i < res[3].Length(); i++ {
		h, ok := keyHash(res[2].Index(i))
		v := res[3].Index(i)
		if !ok || v.Type() != js.TypeObject || v.Get("length").Type() != js.TypeNumber {
			continue
		}
		for j := 0; j < v.Length(); j++ {
			if r := v.Index(j); r.Type() == js.TypeString && index.CheckReason(r.String()) == nil {
				s.ix.Pin(h, r.String())
			}
		}
	}
	return nil
}

func keyHash(k js.Value) ([32]byte, bool) {
	var h [32]byte
	if k.Type() != js.TypeString || len(k.String()) != 64 {
		return h, false
	}
	_, err := hex.Decode(h[:], []byte(k.String()))
	return h, err == nil
}

func key(h [32]byte) string { return hex.EncodeToString(h[:]) }

// Name returns the database name.
func (s *Store) Name() string { return s.name }

// Close closes the database; later calls fail with blobstore.ErrClosed.
func (s *Store) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.db.Call("close")
		s.db.Set("onversionchange", js.Null())
		s.closeOnVersionChange.Release()
	}
	return nil
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Has reports whether the chunk is stored.
func (s *Store) Has(hash [32]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closed && s.ix.Has(hash)
}

// Size returns the chunk's length, or blobstore.ErrNotFound.
func (s *Store) Size(hash [32]byte) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.ix.Size(hash); ok && !s.closed {
		return n, nil
	}
	return 0, blobstore.ErrNotFound
}

// read returns the chunk's bytes (shared with the one-chunk cache: not to
// be modified) and counts the access.
func (s *Store) read(hash [32]byte) ([]byte, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, blobstore.ErrClosed
	}
	if !s.touchLocked(hash) {
		s.mu.Unlock()
		return nil, blobstore.ErrNotFound
	}
	if s.last.data != nil && s.last.hash == hash {
		data := s.last.data
		s.mu.Unlock()
		return data, nil
	}
	s.mu.Unlock()
	tx := s.db.Call("transaction", storeBlobs, "readonly")
	v, err := await(tx.Call("objectStore", storeBlobs).Call("get", key(hash)))
	if err != nil {
		return nil, fmt.Errorf("idb: reading chunk %x: %w", hash[:4], err)
	}
	if !v.InstanceOf(js.Global().Get("Uint8Array")) {
		// Gone under us (deleted or evicted meanwhile).
		return nil, blobstore.ErrNotFound
	}
	data := make([]byte, v.Length())
	js.CopyBytesToGo(data, v)
	s.mu.Lock()
	s.last.hash, s.last.data = hash, data
	s.mu.Unlock()
	return data, nil
}

// touchLocked marks the chunk used, if held (it reports whether). At most
// once per index.PersistEvery it also persists the access time, on a
// goroutine of its own.
func (s *Store) touchLocked(hash [32]byte) bool {
	size, ok := s.ix.Size(hash)
	if !ok {
		return false
	}
	if now := s.now(); s.ix.Touch(hash, now) {
		go s.stamp(hash, size, now.UnixMilli())
	}
	return true
}

// stamp persists a chunk's access time; a failure only costs LRU accuracy
// after a reload.
func (s *Store) stamp(hash [32]byte, size, used int64) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.isClosed() || !s.Has(hash) {
		return
	}
	tx := s.db.Call("transaction", storeMeta, "readwrite")
	tx.Call("objectStore", storeMeta).Call("put", metaValue(size, used), key(hash))
	awaitTx(tx)
}

func metaValue(size, used int64) js.Value {
	return js.ValueOf(map[string]any{"size": float64(size), "used": float64(used)})
}

// Get returns a copy of the chunk, or blobstore.ErrNotFound.
func (s *Store) Get(hash [32]byte) ([]byte, error) {
	data, err := s.read(hash)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(data), nil
}

// GetJS returns a held chunk as a JavaScript Uint8Array, read from
// IndexedDB and never copied through Go's memory (the player appends it to
// a SourceBuffer as it is). A chunk not held is blobstore.ErrNotFound.
func (s *Store) GetJS(hash [32]byte) (js.Value, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return js.Undefined(), blobstore.ErrClosed
	}
	if !s.touchLocked(hash) {
		s.mu.Unlock()
		return js.Undefined(), blobstore.ErrNotFound
	}
	s.mu.Unlock()
	tx := s.db.Call("transaction", storeBlobs, "readonly")
	v, err := await(tx.Call("objectStore", storeBlobs).Call("get", key(hash)))
	if err != nil {
		return js.Undefined(), fmt.Errorf("idb: reading chunk %x: %w", hash[:4], err)
	}
	if !v.InstanceOf(js.Global().Get("Uint8Array")) {
		return js.Undefined(), blobstore.ErrNotFound // deleted or evicted meanwhile
	}
	return v, nil
}

// Concat returns the chunks named by hashes, in that order, joined in one
// JavaScript Uint8Array. They are read in one transaction, every get in
// flight at once, and copied within JavaScript, never through Go's memory:
// it is for hashing a whole file with WebCrypto. A chunk not held is
// blobstore.ErrNotFound. It counts no access for the LRU order.
func (s *Store) Concat(hashes [][32]byte) (js.Value, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return js.Undefined(), blobstore.ErrClosed
	}
	offs := make([]int64, len(hashes))
	total := int64(0)
	for i, h := range hashes {
		size, ok := s.ix.Size(h)
		if !ok {
			s.mu.Unlock()
			return js.Undefined(), fmt.Errorf("idb: chunk %d (%x): %w", i, h[:4], blobstore.ErrNotFound)
		}
		offs[i] = total
		total += size
	}
	s.mu.Unlock()
	out := js.Global().Get("Uint8Array").New(total)
	u8 := js.Global().Get("Uint8Array")
	var bad error // set by the callbacks, read after the transaction ends
	tx := s.db.Call("transaction", storeBlobs, "readonly")
	blobs := tx.Call("objectStore", storeBlobs)
	funcs := make([]js.Func, 0, len(hashes))
	defer func() {
		for _, f := range funcs {
			f.Release()
		}
	}()
	for i, h := range hashes {
		req := blobs.Call("get", key(h))
		want := offs[i]
		size := total - want
		if i+1 < len(hashes) {
			size = offs[i+1] - want
		}
		f := js.FuncOf(func(js.Value, []js.Value) any {
			v := req.Get("result")
			switch {
			case bad != nil:
			case !v.InstanceOf(u8): // gone under us
				bad = fmt.Errorf("idb: chunk %d (%x): %w", i, h[:4], blobstore.ErrNotFound)
			case int64(v.Length()) != size:
				bad = fmt.Errorf("idb: chunk %d (%x) holds %d bytes, the index says %d", i, h[:4], v.Length(), size)
			default:
				out.Call("set", v, want)
			}
			return nil
		})
		funcs = append(funcs, f)
		req.Set("onsuccess", f)
	}
	if err := awaitTx(tx); err != nil {
		return js.Undefined(), fmt.Errorf("idb: reading chunks: %w", err)
	}
	if bad != nil {
		return js.Undefined(), bad
	}
	return out, nil
}

// ReadAt reads from the chunk at off with io.ReaderAt semantics.
func (s *Store) ReadAt(hash [32]byte, p []byte, off int64) (int, error) {
	data, err := s.read(hash)
	if err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, fmt.Errorf("idb: negative offset %d", off)
	}
	return bytes.NewReader(data).ReadAt(p, off)
}

// Put checks sha256(data) == hash and stores the chunk, evicting least
// recently used unpinned chunks to stay under the quota.
func (s *Store) Put(hash [32]byte, data []byte) error {
	return s.put(hash, data, true)
}

// PutVerified stores a chunk whose sha256 the caller has already checked
// against hash, without hashing it again. It is for the download path
// alone, whose transport verified every chunk it returns (a 5 MiB chunk
// costs a copy into JavaScript and a digest each time it is hashed); a
// caller that has not verified data must use Put.
func (s *Store) PutVerified(hash [32]byte, data []byte) error {
	return s.put(hash, data, false)
}

// PutVerifiedJS is PutVerified of bytes that are in JavaScript already
// (a Uint8Array a transport verified there): they are stored without a
// copy through Go's memory.
func (s *Store) PutVerifiedJS(hash [32]byte, u js.Value) error {
	if !u.InstanceOf(js.Global().Get("Uint8Array")) {
		return errors.New("idb: PutVerifiedJS wants a Uint8Array")
	}
	return s.putJS(hash, int64(u.Length()), func() js.Value { return u })
}

func (s *Store) put(hash [32]byte, data []byte, verify bool) error {
	if int64(len(data)) > s.maxBlob {
		return fmt.Errorf("%w: %d bytes, limit %d", blobstore.ErrTooLarge, len(data), s.maxBlob)
	}
	s.mu.Lock()
	held := !s.closed && s.touchLocked(hash)
	s.mu.Unlock()
	if held {
		return nil
	}
	if verify {
		sum, err := s.hasher.Sum256(data)
		if err != nil {
			return fmt.Errorf("idb: hashing chunk %x: %w", hash[:4], err)
		}
		if sum != hash {
			return fmt.Errorf("%w: %x", blobstore.ErrHashMismatch, hash)
		}
	}
	return s.putJS(hash, int64(len(data)), func() js.Value {
		u := js.Global().Get("Uint8Array").New(len(data))
		js.CopyBytesToJS(u, data)
		return u
	})
}

// putJS stores size bytes under hash, made into a Uint8Array by bytes only
// once the store knows it will write them.
func (s *Store) putJS(hash [32]byte, size int64, bytes func() js.Value) error {
	if size > s.maxBlob {
		return fmt.Errorf("%w: %d bytes, limit %d", blobstore.ErrTooLarge, size, s.maxBlob)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return blobstore.ErrClosed
	}
	if s.ix.Has(hash) {
		s.mu.Unlock()
		return nil
	}
	victims, err := s.ix.Victims(size)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	u := bytes()
	now := s.now()
	tx := s.db.Call("transaction", []any{storeBlobs, storeMeta}, "readwrite")
	blobs, meta := tx.Call("objectStore", storeBlobs), tx.Call("objectStore", storeMeta)
	for _, v := range victims {
		blobs.Call("delete", key(v))
		meta.Call("delete", key(v))
	}
	blobs.Call("put", u, key(hash))
	meta.Call("put", metaValue(size, now.UnixMilli()), key(hash))
	if err := awaitTx(tx); err != nil {
		return fmt.Errorf("idb: storing chunk %x: %w", hash[:4], err)
	}
	s.mu.Lock()
	s.evictLocked(victims)
	s.ix.Add(hash, size, now)
	s.mu.Unlock()
	return nil
}

func (s *Store) forgetLocked(h [32]byte) {
	if s.last.hash == h {
		s.last.data = nil
	}
}

// evictLocked drops from the index (and the one-chunk cache) victims whose
// deletion from IndexedDB has committed.
func (s *Store) evictLocked(victims [][32]byte) {
	s.ix.Evict(victims)
	for _, v := range victims {
		s.forgetLocked(v)
	}
}

// Delete removes the chunk if present; its pins stay.
func (s *Store) Delete(hash [32]byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.isClosed() {
		return blobstore.ErrClosed
	}
	if err := s.deleteTx(hash); err != nil {
		return err
	}
	s.mu.Lock()
	s.ix.Remove(hash)
	s.forgetLocked(hash)
	s.mu.Unlock()
	return nil
}

func (s *Store) deleteTx(hs ...[32]byte) error {
	if len(hs) == 0 {
		return nil
	}
	tx := s.db.Call("transaction", []any{storeBlobs, storeMeta}, "readwrite")
	blobs, meta := tx.Call("objectStore", storeBlobs), tx.Call("objectStore", storeMeta)
	for _, h := range hs {
		blobs.Call("delete", key(h))
		meta.Call("delete", key(h))
	}
	if err := awaitTx(tx); err != nil {
		return fmt.Errorf("idb: deleting %d chunk(s): %w", len(hs), err)
	}
	return nil
}

// Pin protects the chunk from eviction for reason; the hash may be pinned
// before the chunk is stored.
func (s *Store) Pin(hash [32]byte, reason string) error {
	return s.changePin(hash, reason, true)
}

// Unpin drops one reason; the chunk is evictable once none remains.
func (s *Store) Unpin(hash [32]byte, reason string) error {
	return s.changePin(hash, reason, false)
}

// changePin adds (pin) or drops one reason in the index, saves the hash's
// reasons, and undoes the index change if saving fails.
func (s *Store) changePin(hash [32]byte, reason string, pin bool) error {
	if err := index.CheckReason(reason); err != nil {
		return err
	}
	apply := func(pin bool) bool {
		if pin {
			return s.ix.Pin(hash, reason)
		}
		return s.ix.Unpin(hash, reason)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return blobstore.ErrClosed
	}
	changed := apply(pin)
	rs := s.ix.Pins(hash)
	s.mu.Unlock()
	if !changed {
		return nil
	}
	if err := s.savePins(hash, rs); err != nil {
		s.mu.Lock()
		apply(!pin)
		s.mu.Unlock()
		return err
	}
	return nil
}

func (s *Store) savePins(hash [32]byte, rs []string) error {
	tx := s.db.Call("transaction", storePins, "readwrite")
	pins := tx.Call("objectStore", storePins)
	if len(rs) == 0 {
		pins.Call("delete", key(hash))
	} else {
		arr := make([]any, len(rs))
		for i, r := range rs {
			arr[i] = r
		}
		pins.Call("put", arr, key(hash))
	}
	if err := awaitTx(tx); err != nil {
		return fmt.Errorf("idb: saving pins of %x: %w", hash[:4], err)
	}
	return nil
}

// Pins returns the reasons the hash is pinned for, sorted; nil if none.
func (s *Store) Pins(hash [32]byte) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ix.Pins(hash)
}

// List returns the stored hashes in ascending order.
func (s *Store) List() [][32]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ix.List()
}

// Stats reports counts and sizes.
func (s *Store) Stats() blobstore.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ix.Stats()
}

// SetQuota changes the quota (0 means unlimited) and evicts least recently
// used unpinned chunks down to it.
func (s *Store) SetQuota(quota int64) error {
	if quota < 0 {
		return fmt.Errorf("idb: quota %d is negative (0 means unlimited)", quota)
	}
	s.mu.Lock()
	s.ix.SetQuota(quota)
	s.mu.Unlock()
	return s.evictOver()
}

func (s *Store) evictOver() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return blobstore.ErrClosed
	}
	victims := s.ix.Excess()
	s.mu.Unlock()
	if err := s.deleteTx(victims...); err != nil {
		return err
	}
	s.mu.Lock()
	s.evictLocked(victims)
	s.mu.Unlock()
	return nil
}

// Destroy deletes the database name and everything in it. Close every
// Store on it first.
func Destroy(name string) error {
	factory := js.Global().Get("indexedDB")
	if factory.IsUndefined() {
		return errors.New("idb: this environment has no IndexedDB")
	}
	_, err := await(factory.Call("deleteDatabase", name))
	return err
}

// await waits for an IDBRequest's success (its result) or error.
func await(req js.Value) (js.Value, error) {
	type outcome struct {
		v   js.Value
		err error
	}
	ch := make(chan outcome, 1)
	ok := js.FuncOf(func(js.Value, []js.Value) any {
		ch <- outcome{v: req.Get("result")}
		return nil
	})
	fail := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- outcome{err: domError(req.Get("error"))}
		if len(args) > 0 && args[0].Type() == js.TypeObject {
			args[0].Call("preventDefault") // handled here: do not abort the transaction twice
		}
		return nil
	})
	req.Set("onsuccess", ok)
	req.Set("onerror", fail)
	o := <-ch
	req.Set("onsuccess", js.Null())
	req.Set("onerror", js.Null())
	ok.Release()
	fail.Release()
	return o.v, o.err
}

// awaitTx waits for a transaction to commit, or for its error or abort.
func awaitTx(tx js.Value) error {
	ch := make(chan error, 1)
	done := js.FuncOf(func(js.Value, []js.Value) any {
		select {
		case ch <- nil:
		default:
		}
		return nil
	})
	fail := js.FuncOf(func(js.Value, []js.Value) any {
		err := domError(tx.Get("error"))
		select {
		case ch <- err:
		default:
		}
		return nil
	})
	tx.Set("oncomplete", done)
	tx.Set("onerror", fail)
	tx.Set("onabort", fail)
	err := <-ch
	for _, n := range []string{"oncomplete", "onerror", "onabort"} {
		tx.Set(n, js.Null())
	}
	done.Release()
	fail.Release()
	return err
}

// domError turns a DOMException into an error; a quota refusal by the
// browser wraps blobstore.ErrQuota.
func domError(e js.Value) error {
	if e.IsNull() || e.IsUndefined() {
		return errors.New("IndexedDB request failed (aborted)")
	}
	name, msg := e.Get("name").String(), e.Get("message").String()
	if name == "QuotaExceededError" {
		return fmt.Errorf("%w (the browser refused more storage: %s)", blobstore.ErrQuota, msg)
	}
	return fmt.Errorf("IndexedDB %s: %s", name, msg)
}

// PutFile saves a small record about a file (the wasm API keeps each
// file's chunk map and name there) under key, replacing any.
func (s *Store) PutFile(key, value string) error {
	return s.fileTx(func(files js.Value) { files.Call("put", value, key) })
}

// DeleteFile removes the record under key, if any.
func (s *Store) DeleteFile(key string) error {
	return s.fileTx(func(files js.Value) { files.Call("delete", key) })
}

func (s *Store) fileTx(op func(files js.Value)) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.isClosed() {
		return blobstore.ErrClosed
	}
	tx := s.db.Call("transaction", storeFiles, "readwrite")
	op(tx.Call("objectStore", storeFiles))
	if err := awaitTx(tx); err != nil {
		return fmt.Errorf("idb: saving a file record: %w", err)
	}
	return nil
}

// Files returns every file record by key.
func (s *Store) Files() (map[string]string, error) {
	if s.isClosed() {
		return nil, blobstore.ErrClosed
	}
	tx := s.db.Call("transaction", storeFiles, "readonly")
	files := tx.Call("objectStore", storeFiles)
	kr, vr := files.Call("getAllKeys"), files.Call("getAll")
	keys, err := await(kr)
	if err != nil {
		return nil, fmt.Errorf("idb: reading file records: %w", err)
	}
	vals, err := await(vr)
	if err != nil {
		return nil, fmt.Errorf("idb: reading file records: %w", err)
	}
	out := make(map[string]string, keys.Length())
	for i := 0; i < keys.Length() && i < vals.Length(); i++ {
		if k, v := keys.Index(i), vals.Index(i); k.Type() == js.TypeString && v.Type() == js.TypeString {
			out[k.String()] = v.String()
		}
	}
	return out, nil
}

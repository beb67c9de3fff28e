//go:build js && wasm

package idb

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"syscall/js"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/blobstore"
)

var dbSeq atomic.Int64

// open opens a fresh database (or name again) with a clock that moves one
// minute per reading, so every access is persisted and ordered.
func open(t *testing.T, name string, quota int64) *Store {
	t.Helper()
	if name == "" {
		name = fmt.Sprintf("test-%s-%d", t.Name(), dbSeq.Add(1))
		t.Cleanup(func() { Destroy(name) })
	}
	var mu sync.Mutex
	clock := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := Open(name, Options{Quota: quota, Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Minute)
		return clock
	}})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func chunk(i, size int) ([]byte, [32]byte) {
	data := bytes.Repeat([]byte{byte(i), byte(i >> 8), 'c'}, size/3+1)[:size]
	return data, sha256.Sum256(data)
}

func put(t *testing.T, s *Store, i, size int) [32]byte {
	t.Helper()
	data, h := chunk(i, size)
	if err := s.Put(h, data); err != nil {
		t.Fatalf("Put %d: %v", i, err)
	}
	return h
}

func TestPutGet(t *testing.T) {
	s := open(t, "", 0)
	data, h := chunk(1, 1000)
	if s.Has(h) {
		t.Fatal("Has before Put")
	}
	if _, err := s.Get(h); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("Get of an absent chunk: %v", err)
	}
	if err := s.Put(h, data); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(h, data); err != nil {
		t.Fatalf("second Put: %v", err)
	}
	got, err := s.Get(h)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get: %v", err)
	}
	got[0] ^= 1 // the caller owns its copy
	if again, _ := s.Get(h); !bytes.Equal(again, data) {
		t.Fatal("Get returned shared bytes")
	}
	if n, err := s.Size(h); n != 1000 || err != nil {
		t.Errorf("Size = %d, %v", n, err)
	}
	p := make([]byte, 100)
	if n, err := s.ReadAt(h, p, 950); n != 50 || err != io.EOF || !bytes.Equal(p[:50], data[950:]) {
		t.Errorf("ReadAt at the end: %d, %v", n, err)
	}
	if n, err := s.ReadAt(h, p, 10); n != 100 || err != nil || !bytes.Equal(p, data[10:110]) {
		t.Errorf("ReadAt: %d, %v", n, err)
	}
	if l := s.List(); !slices.Equal(l, [][32]byte{h}) {
		t.Errorf("List = %x", l)
	}
	if err := s.Delete(h); err != nil || s.Has(h) {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get(h); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	if err := s.Delete(h); err != nil {
		t.Errorf("Delete of an absent chunk: %v", err)
	}
}

func TestPutRefusesBadData(t *testing.T) {
	s := open(t, "", 0)
	data, h := chunk(2, 500)
	bad := bytes.Clone(data)
	bad[7] ^= 0x80
	if err := s.Put(h, bad); !errors.Is(err, blobstore.ErrHashMismatch) {
		t.Fatalf("Put of corrupt data: %v", err)
	}
	if s.Has(h) || s.Stats().Count != 0 {
		t.Fatal("corrupt data was stored")
	}
	big := make([]byte, 2000)
	small, err := Open(s.Name(), Options{MaxBlobSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	if err := small.Put(sha256.Sum256(big), big); !errors.Is(err, blobstore.ErrTooLarge) {
		t.Errorf("Put over MaxBlobSize: %v", err)
	}
}

func TestQuotaEvictsLRU(t *testing.T) {
	s := open(t, "", 3000)
	a, b, c := put(t, s, 1, 1000), put(t, s, 2, 1000), put(t, s, 3, 1000)
	if _, err := s.Get(a); err != nil { // a is now more recent than b
		t.Fatal(err)
	}
	d := put(t, s, 4, 1000)
	if s.Has(b) || !s.Has(a) || !s.Has(c) || !s.Has(d) {
		t.Fatalf("after eviction: a %v b %v c %v d %v; want b gone", s.Has(a), s.Has(b), s.Has(c), s.Has(d))
	}
	if _, err := s.Get(b); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("evicted chunk: %v", err)
	}
	st := s.Stats()
	if st.Count != 3 || st.Bytes != 3000 || st.Evicted != 1 || st.Quota != 3000 {
		t.Errorf("stats %+v", st)
	}
	data, h := chunk(5, 3001)
	if err := s.Put(h, data); !errors.Is(err, blobstore.ErrQuota) {
		t.Errorf("a chunk over the whole quota: %v", err)
	}
}

func TestPinsProtect(t *testing.T) {
	s := open(t, "", 2000)
	data, a := chunk(1, 1000)
	if err := s.Pin(a, "shared"); err != nil { // before the chunk exists
		t.Fatal(err)
	}
	if err := s.Put(a, data); err != nil {
		t.Fatal(err)
	}
	b := put(t, s, 2, 1000)
	if err := s.Pin(b, "user"); err != nil {
		t.Fatal(err)
	}
	data3, c := chunk(3, 1000)
	if err := s.Put(c, data3); !errors.Is(err, blobstore.ErrQuota) {
		t.Fatalf("Put with everything pinned: %v", err)
	}
	if st := s.Stats(); st.Pinned != 2 || st.PinnedBytes != 2000 {
		t.Errorf("stats %+v", st)
	}
	if err := s.Pin(a, "bad reason"); err == nil {
		t.Error("a reason with a space was accepted")
	}
	if err := s.Unpin(b, "user"); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(c, data3); err != nil {
		t.Fatalf("Put after unpin: %v", err)
	}
	if s.Has(b) || !s.Has(a) {
		t.Error("the unpinned chunk should have gone, the pinned one stayed")
	}
	if got := s.Pins(a); !slices.Equal(got, []string{"shared"}) {
		t.Errorf("Pins = %v", got)
	}
	// Deleting keeps the pins.
	if err := s.Delete(a); err != nil {
		t.Fatal(err)
	}
	if got := s.Pins(a); !slices.Equal(got, []string{"shared"}) {
		t.Errorf("Pins after Delete = %v", got)
	}
}

func TestPersistsAcrossReopen(t *testing.T) {
	name := fmt.Sprintf("test-reopen-%d", dbSeq.Add(1))
	t.Cleanup(func() { Destroy(name) })
	s := open(t, name, 3000)
	a, b, c := put(t, s, 1, 1000), put(t, s, 2, 1000), put(t, s, 3, 1000)
	if err := s.Pin(c, "shared"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(a); err != nil { // order now: b (oldest), c, a
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Get(a); !errors.Is(err, blobstore.ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}

	s2 := open(t, name, 3000)
	if st := s2.Stats(); st.Count != 3 || st.Bytes != 3000 || st.Pinned != 1 {
		t.Fatalf("reopened stats %+v", st)
	}
	want, _ := chunk(1, 1000)
	if got, err := s2.Get(a); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Get after reopen: %v", err)
	}
	put(t, s2, 4, 1000) // evicts b, the least recently used and unpinned
	if s2.Has(b) || !s2.Has(a) || !s2.Has(c) {
		t.Errorf("after reopen, eviction took the wrong chunk: a %v b %v c %v", s2.Has(a), s2.Has(b), s2.Has(c))
	}
	s2.Close()

	// Lowering the quota at Open evicts the unpinned down to it.
	s3 := open(t, name, 1000)
	if !s3.Has(c) || s3.Stats().Count != 1 {
		t.Errorf("quota lowered: %+v, pinned kept %v", s3.Stats(), s3.Has(c))
	}
	if err := s3.SetQuota(0); err != nil {
		t.Fatal(err)
	}
	put(t, s3, 5, 5000)
	if s3.Stats().Count != 2 {
		t.Errorf("unlimited: %+v", s3.Stats())
	}
}

// TestPutAgainPersistsUse: putting a chunk already held is a use, and its
// access time is persisted as a read's is, so it survives a reload.
func TestPutAgainPersistsUse(t *testing.T) {
	name := fmt.Sprintf("test-putagain-%d", dbSeq.Add(1))
	t.Cleanup(func() { Destroy(name) })
	s := open(t, name, 3000)
	a, b, c := put(t, s, 1, 1000), put(t, s, 2, 1000), put(t, s, 3, 1000)
	put(t, s, 1, 1000) // order now: b (oldest), c, a
	// The access time is written on a goroutine of its own; a read of
	// IndexedDB lets it start before Close.
	if _, err := s.Files(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := open(t, name, 3000)
	put(t, s2, 4, 1000)
	if s2.Has(b) || !s2.Has(a) || !s2.Has(c) {
		t.Errorf("after reopen, eviction took the wrong chunk: a %v b %v c %v", s2.Has(a), s2.Has(b), s2.Has(c))
	}
}

func TestConcurrentPuts(t *testing.T) {
	s := open(t, "", 20*500)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data, h := chunk(100+i, 500)
			if err := s.Put(h, data); err != nil {
				errs <- err
				return
			}
			if _, err := s.Get(h); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := s.Stats(); st.Count != 20 || st.Bytes != 10000 || st.Evicted != 20 {
		t.Errorf("stats %+v", st)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open("", Options{}); err == nil {
		t.Error("empty name accepted")
	}
	if _, err := Open("x", Options{Quota: -1}); err == nil {
		t.Error("negative quota accepted")
	}
}

func TestFileRecords(t *testing.T) {
	name := fmt.Sprintf("test-files-%d", dbSeq.Add(1))
	t.Cleanup(func() { Destroy(name) })
	s := open(t, name, 0)
	if err := s.PutFile("a", `{"x":1}`); err != nil {
		t.Fatal(err)
	}
	if err := s.PutFile("b", "two"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteFile("b"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, name, 0)
	got, err := s.Files()
	if err != nil || len(got) != 1 || got["a"] != `{"x":1}` {
		t.Errorf("Files = %v, %v", got, err)
	}
}

// TestPutVerifiedConcat: PutVerified stores without hashing (so it trusts
// its caller), and Concat joins chunks in the order asked in JavaScript.
func TestPutVerifiedConcat(t *testing.T) {
	s := open(t, "", 0)
	a, b := put(t, s, 1, 70000), put(t, s, 2, 1000)
	data, h := chunk(3, 5000)
	if err := s.PutVerified(h, data); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(h); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get after PutVerified: %v", err)
	}
	all, err := s.Concat([][32]byte{b, h, a, b})
	if err != nil {
		t.Fatal(err)
	}
	da, _ := chunk(1, 70000)
	db, _ := chunk(2, 1000)
	want := slices.Concat(db, data, da, db)
	got := make([]byte, all.Length())
	js.CopyBytesToGo(got, all)
	if !bytes.Equal(got, want) {
		t.Fatalf("Concat: %d bytes, want %d", len(got), len(want))
	}
	if _, err := s.Concat([][32]byte{a, sha256.Sum256([]byte("absent"))}); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("Concat with a missing chunk: %v", err)
	}
}

// PutVerifiedJS stores a Uint8Array as it is and GetJS reads one back,
// neither through Go's memory; both keep the index (size, count) as Put
// and Get do, within the quota.
func TestJSBytes(t *testing.T) {
	s := open(t, "", 10000)
	data, h := chunk(4, 6000)
	u := js.Global().Get("Uint8Array").New(len(data))
	js.CopyBytesToJS(u, data)
	if err := s.PutVerifiedJS(h, u); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Size(h); err != nil || n != 6000 {
		t.Fatalf("Size after PutVerifiedJS: %d, %v", n, err)
	}
	v, err := s.GetJS(h)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, v.Length())
	js.CopyBytesToGo(got, v)
	if !bytes.Equal(got, data) {
		t.Fatal("GetJS returned other bytes")
	}
	if b, err := s.Get(h); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("Get after PutVerifiedJS: %v", err)
	}
	// A second chunk over the quota evicts the first.
	data2, h2 := chunk(5, 6000)
	u2 := js.Global().Get("Uint8Array").New(len(data2))
	js.CopyBytesToJS(u2, data2)
	if err := s.PutVerifiedJS(h2, u2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetJS(h); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("GetJS of the evicted chunk: %v", err)
	}
	if err := s.PutVerifiedJS(h, js.ValueOf("not bytes")); err == nil {
		t.Fatal("PutVerifiedJS took a string")
	}
}

package blobstore

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The behavioural suite: every Blobs implementation must pass it.

type impl struct {
	name string
	open func(t *testing.T, quota int64) Blobs
}

func impls() []impl {
	return []impl{
		{"memory", func(t *testing.T, quota int64) Blobs { return NewMemory(quota) }},
		{"store", func(t *testing.T, quota int64) Blobs {
			s, err := Open(t.TempDir(), Options{Quota: quota, Now: newClock().Now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}},
	}
}

// clock is a fake clock that moves one hour forward at every reading, so
// every access has its own time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Hour)
	return c.t
}

// blob returns deterministic content number i of the given size, and its hash.
func blob(i int, size int) ([]byte, [32]byte) {
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{byte(i), byte(i >> 8), 'c', 'a', 'i', 'r', 'n'}).Read(data)
	return data, sha256.Sum256(data)
}

func mustPut(t *testing.T, b Blobs, data []byte, h [32]byte) {
	t.Helper()
	if err := b.Put(h, data); err != nil {
		t.Fatalf("Put %x: %v", h[:4], err)
	}
}

// present returns which of hs are stored, as their positions in hs.
func present(b Blobs, hs ...[32]byte) []int {
	var out []int
	for i, h := range hs {
		if b.Has(h) {
			out = append(out, i)
		}
	}
	return out
}

func TestBlobs(t *testing.T) {
	for _, im := range impls() {
		t.Run(im.name, func(t *testing.T) {
			t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, im.open(t, 0)) })
			t.Run("NotFound", func(t *testing.T) { testNotFound(t, im.open(t, 0)) })
			t.Run("HashMismatch", func(t *testing.T) { testHashMismatch(t, im.open(t, 0)) })
			t.Run("Idempotent", func(t *testing.T) { testIdempotent(t, im.open(t, 0)) })
			t.Run("ReadAt", func(t *testing.T) { testReadAt(t, im.open(t, 0)) })
			t.Run("Delete", func(t *testing.T) { testDelete(t, im.open(t, 0)) })
			t.Run("TooLarge", func(t *testing.T) { testTooLarge(t, im.open(t, 0)) })
			t.Run("LRUOrder", func(t *testing.T) { testLRUOrder(t, im.open(t, 3*1000)) })
			t.Run("PinnedNeverEvicted", func(t *testing.T) { testPinnedNeverEvicted(t, im.open(t, 3*1000)) })
			t.Run("QuotaAllPinned", func(t *testing.T) { testQuotaAllPinned(t, im.open(t, 2*1000)) })
			t.Run("BlobLargerThanQuota", func(t *testing.T) { testBlobLargerThanQuota(t, im.open(t, 1000)) })
			t.Run("PinBeforePut", func(t *testing.T) { testPinBeforePut(t, im.open(t, 2*1000)) })
			t.Run("PinReasons", func(t *testing.T) { testPinReasons(t, im.open(t, 2*1000)) })
			t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, im.open(t, 20*1024)) })
		})
	}
}

func testRoundTrip(t *testing.T, b Blobs) {
	data, h := blob(1, 5000)
	mustPut(t, b, data, h)
	if !b.Has(h) {
		t.Fatal("Has = false after Put")
	}
	got, err := b.Get(h)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get = %d bytes, %v; want the %d bytes put", len(got), err, len(data))
	}
	got[0] ^= 0xff // the caller owns the copy
	if again, _ := b.Get(h); !bytes.Equal(again, data) {
		t.Fatal("modifying Get's result changed the stored blob")
	}
	if n, err := b.Size(h); n != 5000 || err != nil {
		t.Fatalf("Size = %d, %v", n, err)
	}
	empty, eh := blob(2, 0)
	mustPut(t, b, empty, eh)
	if got, err := b.Get(eh); err != nil || len(got) != 0 {
		t.Fatalf("Get(empty) = %d bytes, %v", len(got), err)
	}
	want := [][32]byte{h, eh}
	slices.SortFunc(want, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	if got := b.List(); !slices.Equal(got, want) {
		t.Fatalf("List = %x, want %x", got, want)
	}
	if st := b.Stats(); st.Count != 2 || st.Bytes != 5000 || st.Pinned != 0 {
		t.Fatalf("Stats = %+v", st)
	}
}

func testNotFound(t *testing.T, b Blobs) {
	_, h := blob(1, 10)
	if b.Has(h) {
		t.Fatal("Has on an empty store")
	}
	if _, err := b.Get(h); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get: %v, want ErrNotFound", err)
	}
	if _, err := b.Size(h); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Size: %v, want ErrNotFound", err)
	}
	if _, err := b.ReadAt(h, make([]byte, 4), 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ReadAt: %v, want ErrNotFound", err)
	}
	if err := b.Delete(h); err != nil {
		t.Fatalf("Delete of an absent blob: %v", err)
	}
}

func testHashMismatch(t *testing.T, b Blobs) {
	data, h := blob(1, 1000)
	_, other := blob(2, 1000)
	if err := b.Put(other, data); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("Put under the wrong hash: %v, want ErrHashMismatch", err)
	}
	if b.Has(other) || b.Has(h) {
		t.Fatal("a mismatched Put stored something")
	}
	if st := b.Stats(); st.Count != 0 || st.Bytes != 0 {
		t.Fatalf("Stats after a mismatched Put = %+v", st)
	}
	if pr, ok := b.(interface {
		PutReader([32]byte, io.Reader, int64) error
	}); ok {
		if err := pr.PutReader(other, bytes.NewReader(data), int64(len(data))); !errors.Is(err, ErrHashMismatch) {
			t.Fatalf("PutReader under the wrong hash: %v, want ErrHashMismatch", err)
		}
		if err := pr.PutReader(h, bytes.NewReader(data[:10]), int64(len(data))); err == nil {
			t.Fatal("PutReader of a short reader succeeded")
		}
		if b.Has(other) || b.Has(h) {
			t.Fatal("a failed PutReader stored something")
		}
		r := bytes.NewReader(append(slices.Clone(data), "trailing"...))
		if err := pr.PutReader(h, r, int64(len(data))); err != nil {
			t.Fatalf("PutReader: %v", err)
		}
		if r.Len() != len("trailing") {
			t.Fatalf("PutReader read %d bytes past the blob", len("trailing")-r.Len())
		}
	}
}

func testIdempotent(t *testing.T, b Blobs) {
	data, h := blob(1, 1000)
	mustPut(t, b, data, h)
	mustPut(t, b, data, h)
	if st := b.Stats(); st.Count != 1 || st.Bytes != 1000 {
		t.Fatalf("Stats after two Puts of one blob = %+v", st)
	}
	if err := b.Put(h, data[:999]); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("Put of bad data under a stored hash: %v, want ErrHashMismatch", err)
	}
}

func testReadAt(t *testing.T, b Blobs) {
	data, h := blob(1, 1000)
	mustPut(t, b, data, h)
	tests := []struct {
		off, n  int
		want    int
		wantEOF bool
	}{
		{0, 10, 10, false},
		{500, 100, 100, false},
		{990, 10, 10, false},
		{990, 20, 10, true},
		{1000, 1, 0, true},
		{2000, 1, 0, true},
	}
	for _, tc := range tests {
		p := make([]byte, tc.n)
		n, err := b.ReadAt(h, p, int64(tc.off))
		if n != tc.want || (err == io.EOF) != tc.wantEOF || (err != nil && err != io.EOF) {
			t.Errorf("ReadAt(off %d, len %d) = %d, %v; want %d, EOF %v", tc.off, tc.n, n, err, tc.want, tc.wantEOF)
			continue
		}
		if n > 0 && !bytes.Equal(p[:n], data[tc.off:tc.off+n]) {
			t.Errorf("ReadAt(off %d, len %d): wrong bytes", tc.off, tc.n)
		}
	}
	if op, ok := b.(interface {
		Open([32]byte) (Reader, int64, error)
	}); ok {
		r, size, err := op.Open(h)
		if err != nil || size != 1000 {
			t.Fatalf("Open = %d, %v", size, err)
		}
		defer r.Close()
		if _, err := r.Seek(600, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		rest, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(rest, data[600:]) {
			t.Fatalf("Open, Seek(600), ReadAll = %d bytes, %v", len(rest), err)
		}
	}
}

type pinner interface{ Pins([32]byte) []string }

func testDelete(t *testing.T, b Blobs) {
	data, h := blob(1, 1000)
	mustPut(t, b, data, h)
	if err := b.Pin(h, "user"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(h); err != nil {
		t.Fatal(err)
	}
	if b.Has(h) {
		t.Fatal("Has after Delete")
	}
	if st := b.Stats(); st.Count != 0 || st.Bytes != 0 || st.Pinned != 0 || st.PinnedBytes != 0 {
		t.Fatalf("Stats after Delete = %+v", st)
	}
	if p, ok := b.(pinner); ok && !slices.Equal(p.Pins(h), []string{"user"}) {
		t.Fatalf("Pins after Delete = %q; pins are kept", p.Pins(h))
	}
	mustPut(t, b, data, h) // pinned again as soon as it is back
	if st := b.Stats(); st.Pinned != 1 || st.PinnedBytes != 1000 {
		t.Fatalf("Stats after Put again = %+v", st)
	}
}

func testTooLarge(t *testing.T, b Blobs) {
	big := make([]byte, DefaultMaxBlobSize+1)
	if err := b.Put(sha256.Sum256(big), big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Put of %d bytes: %v, want ErrTooLarge", len(big), err)
	}
}

// testLRUOrder: quota of three 1000-byte blobs.
func testLRUOrder(t *testing.T, b Blobs) {
	var d [6][]byte
	var h [6][32]byte
	for i := range d {
		d[i], h[i] = blob(i, 1000)
	}
	mustPut(t, b, d[0], h[0])
	mustPut(t, b, d[1], h[1])
	mustPut(t, b, d[2], h[2])
	if _, err := b.Get(h[0]); err != nil { // 0 is now the most recent
		t.Fatal(err)
	}
	b.Has(h[1]) // Has is not a use
	mustPut(t, b, d[3], h[3])
	if got := present(b, h[:]...); !slices.Equal(got, []int{0, 2, 3}) {
		t.Fatalf("after Get(0), Put(3): present %v, want [0 2 3] (1 is the least recently used)", got)
	}
	if _, err := b.ReadAt(h[2], make([]byte, 1), 0); err != nil { // ReadAt is a use
		t.Fatal(err)
	}
	mustPut(t, b, d[4], h[4])
	if got := present(b, h[:]...); !slices.Equal(got, []int{2, 3, 4}) {
		t.Fatalf("after ReadAt(2), Put(4): present %v, want [2 3 4]", got)
	}
	mustPut(t, b, d[2], h[2]) // putting a stored blob again is a use
	mustPut(t, b, d[5], h[5])
	if got := present(b, h[:]...); !slices.Equal(got, []int{2, 4, 5}) {
		t.Fatalf("after Put(2) again, Put(5): present %v, want [2 4 5]", got)
	}
	if st := b.Stats(); st.Count != 3 || st.Bytes != 3000 || st.Evicted != 3 || st.Quota != 3000 {
		t.Fatalf("Stats = %+v", st)
	}
}

func testPinnedNeverEvicted(t *testing.T, b Blobs) {
	d0, h0 := blob(0, 1000)
	mustPut(t, b, d0, h0)
	if err := b.Pin(h0, "shared"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 20; i++ {
		d, h := blob(i, 1000)
		mustPut(t, b, d, h)
		if !b.Has(h0) {
			t.Fatalf("pinned blob evicted by Put %d", i)
		}
	}
	_, h18 := blob(18, 1000)
	_, h19 := blob(19, 1000)
	if got := present(b, h0, h18, h19); len(got) != 3 {
		t.Fatalf("present %v: want the pinned blob and the two most recent", got)
	}
	if st := b.Stats(); st.Pinned != 1 || st.PinnedBytes != 1000 || st.Bytes != 3000 {
		t.Fatalf("Stats = %+v", st)
	}
}

// testQuotaAllPinned: quota of two 1000-byte blobs, both pinned.
func testQuotaAllPinned(t *testing.T, b Blobs) {
	d0, h0 := blob(0, 1000)
	d1, h1 := blob(1, 1000)
	d2, h2 := blob(2, 1000)
	mustPut(t, b, d0, h0)
	mustPut(t, b, d1, h1)
	for _, h := range [][32]byte{h0, h1} {
		if err := b.Pin(h, "user"); err != nil {
			t.Fatal(err)
		}
	}
	err := b.Put(h2, d2)
	if !errors.Is(err, ErrQuota) {
		t.Fatalf("Put with everything pinned: %v, want ErrQuota", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "raise the quota") || !strings.Contains(msg, "unpin") {
		t.Errorf("ErrQuota message %q does not say what to do", msg)
	}
	if got := present(b, h0, h1, h2); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("after a refused Put: present %v, want [0 1]", got)
	}
	if err := b.Unpin(h0, "user"); err != nil {
		t.Fatal(err)
	}
	mustPut(t, b, d2, h2)
	if got := present(b, h0, h1, h2); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("after Unpin(0), Put(2): present %v, want [1 2]", got)
	}
}

func testBlobLargerThanQuota(t *testing.T, b Blobs) {
	d, h := blob(0, 1001)
	if err := b.Put(h, d); !errors.Is(err, ErrQuota) {
		t.Fatalf("Put of a blob larger than the quota: %v, want ErrQuota", err)
	}
}

func testPinBeforePut(t *testing.T, b Blobs) {
	d0, h0 := blob(0, 1000)
	if err := b.Pin(h0, "user"); err != nil {
		t.Fatal(err)
	}
	if st := b.Stats(); st.Pinned != 0 || st.PinnedBytes != 0 {
		t.Fatalf("Stats with a pin on an absent blob = %+v", st)
	}
	mustPut(t, b, d0, h0)
	for i := 1; i < 5; i++ {
		d, h := blob(i, 1000)
		mustPut(t, b, d, h)
	}
	if !b.Has(h0) {
		t.Fatal("blob pinned before it was stored was evicted")
	}
	if st := b.Stats(); st.Pinned != 1 || st.PinnedBytes != 1000 {
		t.Fatalf("Stats = %+v", st)
	}
}

func testPinReasons(t *testing.T, b Blobs) {
	d0, h0 := blob(0, 1000)
	mustPut(t, b, d0, h0)
	for _, r := range []string{"shared", "user", "user"} {
		if err := b.Pin(h0, r); err != nil {
			t.Fatal(err)
		}
	}
	if p, ok := b.(pinner); ok && !slices.Equal(p.Pins(h0), []string{"shared", "user"}) {
		t.Fatalf("Pins = %q", p.Pins(h0))
	}
	for _, bad := range []string{"", "two words", "new\nline", strings.Repeat("x", MaxReasonLen+1)} {
		if err := b.Pin(h0, bad); err == nil {
			t.Errorf("Pin with reason %q succeeded", bad)
		}
	}
	if err := b.Unpin(h0, "user"); err != nil {
		t.Fatal(err)
	}
	if err := b.Unpin(h0, "never-pinned"); err != nil {
		t.Fatal(err)
	}
	fill := func(from int) {
		for i := from; i < from+3; i++ {
			d, h := blob(i, 1000)
			mustPut(t, b, d, h)
		}
	}
	fill(1)
	if !b.Has(h0) {
		t.Fatal(`evicted while still pinned for "shared"`)
	}
	if err := b.Unpin(h0, "shared"); err != nil {
		t.Fatal(err)
	}
	if st := b.Stats(); st.Pinned != 0 || st.PinnedBytes != 0 {
		t.Fatalf("Stats after the last Unpin = %+v", st)
	}
	fill(10)
	if b.Has(h0) {
		t.Fatal("not evicted after its last pin was dropped")
	}
}

// testConcurrent runs Puts, Gets, ReadAts, Deletes and pins from several
// goroutines over a store with a small quota (20 KiB, blobs of 1-4 KiB), then
// checks the books balance.
func testConcurrent(t *testing.T, b Blobs) {
	const workers, ops, nblobs = 8, 150, 40
	type item struct {
		data []byte
		hash [32]byte
	}
	items := make([]item, nblobs)
	for i := range items {
		items[i].data, items[i].hash = blob(i, 1024*(1+i%4))
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range ops {
				it := items[rng.IntN(nblobs)]
				var err error
				switch op := rng.IntN(10); {
				case op < 4:
					err = b.Put(it.hash, it.data)
					if errors.Is(err, ErrQuota) { // possible while others hold pins
						err = nil
					}
				case op < 7:
					var got []byte
					got, err = b.Get(it.hash)
					if err == nil && !bytes.Equal(got, it.data) {
						err = fmt.Errorf("Get returned wrong bytes")
					}
				case op < 8:
					p := make([]byte, 100)
					var n int
					n, err = b.ReadAt(it.hash, p, 10)
					if err == nil && !bytes.Equal(p[:n], it.data[10:10+n]) {
						err = fmt.Errorf("ReadAt returned wrong bytes")
					}
				case op < 9:
					err = b.Delete(it.hash)
				default:
					if err = b.Pin(it.hash, "user"); err == nil {
						b.Has(it.hash)
						err = b.Unpin(it.hash, "user")
					}
				}
				if errors.Is(err, ErrNotFound) {
					err = nil
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := b.Stats()
	var sum int64
	for _, h := range b.List() {
		n, err := b.Size(h)
		if err != nil {
			t.Fatal(err)
		}
		sum += n
	}
	if st.Bytes != sum || st.Count != len(b.List()) || st.Bytes > 20*1024 || st.Pinned != 0 {
		t.Fatalf("Stats = %+v, listed bytes %d, quota %d", st, sum, 20*1024)
	}
	if st.Evicted == 0 {
		t.Error("no evictions: the test did not exercise the quota")
	}
}

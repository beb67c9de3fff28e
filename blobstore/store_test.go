package blobstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/blobstore/index"
)

func openStore(t *testing.T, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// files lists the regular files under dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLayout(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	data, h := blob(1, 1000)
	mustPut(t, s, data, h)
	x := hexHash(h)
	want := []string{x[:2] + "/" + x[2:], pinsFileName}
	slices.Sort(want)
	if got := files(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files = %q, want %q", got, want)
	}
	onDisk, err := os.ReadFile(filepath.Join(dir, x[:2], x[2:]))
	if err != nil || !bytes.Equal(onDisk, data) {
		t.Fatalf("file content: %d bytes, %v", len(onDisk), err)
	}
}

func TestHashMismatchWritesNothing(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	data, _ := blob(1, 1000)
	_, wrong := blob(2, 1000)
	if err := s.Put(wrong, data); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("Put: %v", err)
	}
	// PutReader writes before it knows: its temp file must be gone.
	if err := s.PutReader(wrong, bytes.NewReader(data), int64(len(data))); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("PutReader: %v", err)
	}
	if err := s.PutReader(wrong, iotestErrReader{}, 100); err == nil || errors.Is(err, ErrHashMismatch) {
		t.Fatalf("PutReader of a failing reader: %v", err)
	}
	if got := files(t, dir); !slices.Equal(got, []string{pinsFileName}) {
		t.Fatalf("files after refused Puts = %q, want only the pins log", got)
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// TestCrashBeforeRename simulates a crash between writing a blob's temp file
// and renaming it into place: the temp file is invisible, and Open removes it.
func TestCrashBeforeRename(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	kept, hk := blob(1, 1000)
	mustPut(t, s, kept, hk)
	s.Close()

	data, h := blob(2, 1000)
	for _, name := range []string{"put-123456", "put-torn", "pins-99"} {
		if err := os.WriteFile(filepath.Join(dir, tmpDirName, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s = openStore(t, dir, Options{})
	if s.Has(h) {
		t.Fatal("a blob left in tmp/ by a crash is visible")
	}
	if !s.Has(hk) {
		t.Fatal("the blob stored before the crash is gone")
	}
	left, err := os.ReadDir(filepath.Join(dir, tmpDirName))
	if err != nil || len(left) != 0 {
		t.Fatalf("tmp/ after Open: %d entries, %v", len(left), err)
	}
	if st := s.Stats(); st.Count != 1 || st.Bytes != 1000 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestOpenIgnoresStrayFiles(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"README", "zz/" + strings.Repeat("0", 62), "ab/short", "ab/" + strings.Repeat("G", 62)} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o700)
		if err := os.WriteFile(filepath.Join(dir, p), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := openStore(t, dir, Options{})
	if st := s.Stats(); st.Count != 0 {
		t.Fatalf("stray files indexed: %+v", st)
	}
}

func flipByte(t *testing.T, s *Store, h [32]byte, off int64) {
	t.Helper()
	f, err := os.OpenFile(s.path(h), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x01
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestScrub(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	var hs [4][32]byte
	for i := range hs {
		var d []byte
		d, hs[i] = blob(i, 3000)
		mustPut(t, s, d, hs[i])
	}
	if err := s.Pin(hs[1], "user"); err != nil {
		t.Fatal(err)
	}
	flipByte(t, s, hs[1], 1234)
	if err := os.Remove(s.path(hs[3])); err != nil { // gone behind our back
		t.Fatal(err)
	}
	var calls [][2]int
	rep, err := s.Scrub(t.Context(), func(done, total int) { calls = append(calls, [2]int{done, total}) })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Corrupt, [][32]byte{hs[1]}) || !slices.Equal(rep.Missing, [][32]byte{hs[3]}) {
		t.Fatalf("Scrub report: corrupt %x, missing %x", rep.Corrupt, rep.Missing)
	}
	if rep.Checked != 3 || rep.Bytes != 9000 {
		t.Fatalf("Scrub checked %d blobs, %d bytes; want 3, 9000", rep.Checked, rep.Bytes)
	}
	if len(calls) != 4 || calls[3] != [2]int{4, 4} {
		t.Fatalf("progress calls = %v", calls)
	}
	if got := present(s, hs[:]...); !slices.Equal(got, []int{0, 2}) {
		t.Fatalf("present after Scrub = %v, want [0 2]", got)
	}
	if _, err := os.Stat(s.path(hs[1])); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("corrupt file still on disk: %v", err)
	}
	if !slices.Equal(s.Pins(hs[1]), []string{"user"}) {
		t.Fatal("Scrub dropped the pins of the blob it removed")
	}
	if rep, err := s.Scrub(t.Context(), nil); err != nil || len(rep.Corrupt)+len(rep.Missing) != 0 || rep.Checked != 2 {
		t.Fatalf("second Scrub: %+v, %v", rep, err)
	}
}

func TestScrubCancelled(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	for i := range 3 {
		d, h := blob(i, 100)
		mustPut(t, s, d, h)
	}
	ctx, cancel := context.WithCancel(t.Context())
	rep, err := s.Scrub(ctx, func(done, total int) {
		if done == 1 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || rep.Checked != 1 {
		t.Fatalf("Scrub cancelled after one blob: checked %d, %v", rep.Checked, err)
	}
}

func TestGetDetectsCorruption(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	d, h := blob(1, 5000)
	mustPut(t, s, d, h)
	flipByte(t, s, h, 0)
	_, err := s.Get(h)
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a corrupt blob: %v, want ErrCorrupt and ErrNotFound", err)
	}
	if s.Has(h) {
		t.Fatal("corrupt blob still indexed")
	}
	mustPut(t, s, d, h) // fetched again
	if got, err := s.Get(h); err != nil || !bytes.Equal(got, d) {
		t.Fatalf("Get after re-Put: %v", err)
	}
}

func TestPinsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	opts := Options{Quota: 3000, Now: clk.Now}
	s := openStore(t, dir, opts)
	var d [3][]byte
	var h [3][32]byte
	for i := range d {
		d[i], h[i] = blob(i, 1000)
	}
	mustPut(t, s, d[0], h[0])
	mustPut(t, s, d[1], h[1])
	for _, p := range []struct {
		h      [32]byte
		reason string
		pin    bool
	}{
		{h[0], "shared", true},
		{h[0], "user", true},
		{h[1], "user", true},
		{h[1], "user", false},
		{h[2], "user", true}, // not stored yet
	} {
		var err error
		if p.pin {
			err = s.Pin(p.h, p.reason)
		} else {
			err = s.Unpin(p.h, p.reason)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	s = openStore(t, dir, opts)
	if got := s.Pins(h[0]); !slices.Equal(got, []string{"shared", "user"}) {
		t.Fatalf("Pins(0) after reopen = %q", got)
	}
	if got := s.Pins(h[1]); got != nil {
		t.Fatalf("Pins(1) after reopen = %q, want none", got)
	}
	if got := s.Pins(h[2]); !slices.Equal(got, []string{"user"}) {
		t.Fatalf("Pins(2) after reopen = %q", got)
	}
	if st := s.Stats(); st.Pinned != 1 || st.PinnedBytes != 1000 {
		t.Fatalf("Stats after reopen = %+v", st)
	}
	mustPut(t, s, d[2], h[2])
	for i := 10; i < 15; i++ {
		dd, hh := blob(i, 1000)
		mustPut(t, s, dd, hh)
	}
	if !s.Has(h[0]) || !s.Has(h[2]) || s.Has(h[1]) {
		t.Fatalf("after filling: present %v, want the pinned 0 and 2 only", present(s, h[:]...))
	}
	// The log was compacted at Open: only live pins, no history.
	log, err := os.ReadFile(filepath.Join(dir, pinsFileName))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(log), "\n- "); n != 0 {
		t.Fatalf("pins log holds %d unpin lines after compaction:\n%s", n, log)
	}
}

func TestPinsLogTornTail(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	_, h := blob(1, 10)
	_, h2 := blob(2, 10)
	if err := s.Pin(h, "user"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	f, err := os.OpenFile(filepath.Join(dir, pinsFileName), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of appending a pin of h2.
	f.WriteString("+ " + hexHash(h2)[:40])
	f.Close()
	s = openStore(t, dir, Options{})
	if !slices.Equal(s.Pins(h), []string{"user"}) || s.Pins(h2) != nil {
		t.Fatalf("pins after a torn tail: %q, %q", s.Pins(h), s.Pins(h2))
	}
	if err := s.Pin(h2, "user"); err != nil { // appends start on a clean line
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, dir, Options{})
	if !slices.Equal(s.Pins(h2), []string{"user"}) {
		t.Fatalf("pin after a torn tail lost: %q", s.Pins(h2))
	}
}

func TestPinsLogCompacts(t *testing.T) {
	old := compactMinLines
	compactMinLines = 8
	defer func() { compactMinLines = old }()
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	_, h := blob(1, 10)
	for range 30 {
		if err := s.Pin(h, "user"); err != nil {
			t.Fatal(err)
		}
		if err := s.Unpin(h, "user"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Pin(h, "shared"); err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(filepath.Join(dir, pinsFileName))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(log), "\n"); lines > 4+8+1 {
		t.Fatalf("pins log has %d lines after 61 changes with 1 live pin", lines)
	}
	s.Close()
	s = openStore(t, dir, Options{})
	if !slices.Equal(s.Pins(h), []string{"shared"}) {
		t.Fatalf("pins after compactions: %q", s.Pins(h))
	}
}

// TestRecencySurvivesReopen: access times are persisted as mtimes, so the
// eviction order after a restart is the one before it.
func TestRecencySurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	clk := newClock() // each reading is an hour later: every access persists
	s := openStore(t, dir, Options{Now: clk.Now})
	var d [5][]byte
	var h [5][32]byte
	for i := range d {
		d[i], h[i] = blob(i, 1000)
	}
	for i := range 4 {
		mustPut(t, s, d[i], h[i])
	}
	if _, err := s.Get(h[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadAt(h[1], make([]byte, 10), 0); err != nil {
		t.Fatal(err)
	}
	// Recency order now, oldest first: 2, 3, 0, 1.
	s.Close()

	// Reopened with a quota of three blobs: Open evicts the oldest (2).
	s = openStore(t, dir, Options{Quota: 3000, Now: clk.Now})
	if got := present(s, h[:]...); !slices.Equal(got, []int{0, 1, 3}) {
		t.Fatalf("after reopen under quota: present %v, want [0 1 3]", got)
	}
	if st := s.Stats(); st.Evicted != 1 {
		t.Fatalf("Stats = %+v", st)
	}
	mustPut(t, s, d[4], h[4]) // evicts 3
	if got := present(s, h[:]...); !slices.Equal(got, []int{0, 1, 4}) {
		t.Fatalf("after Put(4): present %v, want [0 1 4]", got)
	}
}

// TestRecencyPersistThrottled: accesses within index.PersistEvery of the last
// persisted one do not rewrite the mtime.
func TestRecencyPersistThrottled(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := openStore(t, t.TempDir(), Options{Now: func() time.Time { return now }})
	d, h := blob(1, 100)
	mustPut(t, s, d, h)
	mtime := func() time.Time {
		fi, err := os.Stat(s.path(h))
		if err != nil {
			t.Fatal(err)
		}
		return fi.ModTime().UTC()
	}
	if !mtime().Equal(now) {
		t.Fatalf("mtime after Put = %v, want the injected %v", mtime(), now)
	}
	written := now
	now = now.Add(index.PersistEvery / 2)
	s.Get(h)
	if !mtime().Equal(written) {
		t.Fatal("mtime rewritten within PersistEvery")
	}
	now = now.Add(index.PersistEvery)
	s.Get(h)
	if !mtime().Equal(now) {
		t.Fatalf("mtime = %v after an access past PersistEvery, want %v", mtime(), now)
	}
}

// TestQuotaAtOpenKeepsPinned: Open under a quota the pinned blobs alone
// exceed keeps them and evicts every unpinned one.
func TestQuotaAtOpenKeepsPinned(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{Now: newClock().Now})
	var h [4][32]byte
	for i := range h {
		var d []byte
		d, h[i] = blob(i, 1000)
		mustPut(t, s, d, h[i])
		if i == 3 {
			break // the most recent, and unpinned
		}
		if err := s.Pin(h[i], "shared"); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = openStore(t, dir, Options{Quota: 1000})
	if got := present(s, h[:]...); !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("Open under a lower quota: present %v, want the three pinned blobs", got)
	}
	if st := s.Stats(); st.Evicted != 1 || st.Bytes != 3000 || st.PinnedBytes != 3000 {
		t.Fatalf("Stats = %+v", st)
	}
	d, hh := blob(9, 10)
	if err := s.Put(hh, d); !errors.Is(err, ErrQuota) {
		t.Fatalf("Put over quota with everything pinned: %v", err)
	}
}

func TestClosed(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, h := blob(1, 10)
	mustPut(t, s, d, h)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if s.Has(h) {
		t.Error("Has after Close")
	}
	if _, err := s.Get(h); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	if err := s.Put(h, d); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close: %v", err)
	}
	if err := s.Pin(h, "user"); !errors.Is(err, ErrClosed) {
		t.Errorf("Pin after Close: %v", err)
	}
	if _, err := s.Scrub(t.Context(), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Scrub after Close: %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{{Quota: -1}, {MaxBlobSize: -1}} {
		if _, err := Open(t.TempDir(), o); err == nil {
			t.Errorf("Open with %+v succeeded", o)
		}
	}
	if DefaultOptions().Quota != 2<<30 {
		t.Error("default quota is not 2 GiB")
	}
	s := openStore(t, t.TempDir(), Options{MaxBlobSize: 100})
	d, h := blob(1, 101)
	if err := s.Put(h, d); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Put over MaxBlobSize: %v", err)
	}
	if err := s.PutReader(h, bytes.NewReader(d), 101); !errors.Is(err, ErrTooLarge) {
		t.Errorf("PutReader over MaxBlobSize: %v", err)
	}
}

// TestServeRange: Open's reader serves HTTP Range requests through
// http.ServeContent.
func TestServeRange(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	d, h := blob(1, 100_000)
	mustPut(t, s, d, h)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, _, err := s.Open(h)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		defer f.Close()
		http.ServeContent(w, r, "", time.Time{}, f)
	}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Range", "bytes=65536-65635")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, d[65536:65636]) {
		t.Fatalf("Range request: %s, %d bytes", resp.Status, len(body))
	}
}

// TestConcurrentReopen: after concurrent use, what the store reports is what
// a fresh Open finds on disk.
func TestConcurrentReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{Quota: 20 * 1024, Now: newClock().Now})
	testConcurrent(t, s)
	before := s.List()
	s.Close()
	s = openStore(t, dir, Options{Quota: 20 * 1024})
	if got := s.List(); !slices.Equal(got, before) {
		t.Fatalf("after reopen: %d blobs, before close %d", len(got), len(before))
	}
	if rep, err := s.Scrub(t.Context(), nil); err != nil || len(rep.Corrupt)+len(rep.Missing) != 0 {
		t.Fatalf("Scrub after concurrent use: %+v, %v", rep, err)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, tmpDirName)); len(left) != 0 {
		t.Fatalf("%d temp files left", len(left))
	}
}

// TestMissingFileForgotten: a blob file removed behind the store's back is
// reported as not found and dropped from the index on first read.
func TestMissingFileForgotten(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	d, h := blob(1, 100)
	mustPut(t, s, d, h)
	if err := os.Remove(s.path(h)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(h); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a removed file: %v", err)
	}
	if s.Has(h) || s.Stats().Count != 0 {
		t.Fatal("removed file still indexed after Get")
	}
	mustPut(t, s, d, h)
	if got, err := s.Get(h); err != nil || !bytes.Equal(got, d) {
		t.Fatalf("Get after Put again: %v", err)
	}
}

// TestPutHashed stores bytes without hashing them again: durable and
// readable after a reopen like Put's, a second copy only marks a use.
func TestPutHashed(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	data := []byte("hashed while it arrived")
	h := sha256.Sum256(data)
	if err := s.PutHashed(h, data); err != nil {
		t.Fatal(err)
	}
	if err := s.PutHashed(h, data); err != nil {
		t.Fatal(err)
	}
	if n := len(s.List()); n != 1 {
		t.Fatalf("%d blobs, want 1", n)
	}
	s.Close()
	s = openStore(t, dir, Options{})
	got, err := s.Get(h)
	if err != nil || string(got) != string(data) {
		t.Fatalf("after reopen: %q, %v", got, err)
	}
}

package index

import (
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func h(i int) [32]byte { return sha256.Sum256([]byte{byte(i), byte(i >> 8)}) }

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// at is the time i minutes after t0.
func at(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }

// build returns an index with quota holding blobs 0..len(sizes)-1 added in
// that order (without evicting: it may start over its quota), then the
// touches (in order), then the pins ("shared").
func build(quota int64, sizes []int64, touch, pins []int) *Index {
	ix := New(quota)
	for i, s := range sizes {
		ix.Add(h(i), s, at(i))
	}
	for k, i := range touch {
		ix.Touch(h(i), at(len(sizes)+k))
	}
	for _, i := range pins {
		ix.Pin(h(i), "shared")
	}
	return ix
}

// order returns the blobs held by their number (out of n), least recently
// used first.
func order(ix *Index, n int) []int {
	var out []int
	for el := ix.lru.Back(); el != nil; el = el.Prev() {
		out = append(out, num(el.Value.(*entry).hash, n))
	}
	return out
}

func num(x [32]byte, n int) int {
	for i := range n {
		if h(i) == x {
			return i
		}
	}
	return -1
}

func nums(hs [][32]byte, n int) []int {
	out := []int{}
	for _, x := range hs {
		out = append(out, num(x, n))
	}
	return out
}

func TestVictims(t *testing.T) {
	tests := []struct {
		name        string
		quota       int64
		sizes       []int64
		touch, pins []int
		size        int64
		want        []int
		wantErr     bool
	}{
		{"unlimited", 0, []int64{10, 10, 10}, nil, nil, 1 << 40, []int{}, false},
		{"fits", 40, []int64{10, 10, 10}, nil, nil, 10, []int{}, false},
		{"fits exactly", 30, []int64{10, 10}, nil, nil, 10, []int{}, false},
		{"zero bytes at the quota", 30, []int64{10, 10, 10}, nil, nil, 0, []int{}, false},
		{"oldest first", 30, []int64{10, 10, 10}, nil, nil, 10, []int{0}, false},
		{"a touch makes it recent", 30, []int64{10, 10, 10}, []int{0}, nil, 10, []int{1}, false},
		{"as few as make room", 30, []int64{10, 10, 10}, []int{0}, nil, 25, []int{1, 2, 0}, false},
		{"a large old blob is enough", 30, []int64{25, 1, 1}, nil, nil, 20, []int{0}, false},
		{"small ones add up", 30, []int64{5, 5, 20}, nil, nil, 8, []int{0, 1}, false},
		{"pinned skipped", 30, []int64{10, 10, 10}, nil, []int{0, 1}, 10, []int{2}, false},
		{"pinned keep no room", 30, []int64{10, 10, 10}, nil, []int{0, 1}, 20, nil, true},
		{"everything pinned", 20, []int64{10, 10}, nil, []int{0, 1}, 1, nil, true},
		{"larger than the quota", 30, nil, nil, nil, 31, nil, true},
		{"the whole quota", 30, []int64{10, 10, 10}, nil, nil, 30, []int{0, 1, 2}, false},
		{"over the quota already", 20, []int64{10, 10, 10}, nil, []int{2}, 10, []int{0, 1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ix := build(tc.quota, tc.sizes, tc.touch, tc.pins)
			before := ix.Stats()
			v, err := ix.Victims(tc.size)
			if tc.wantErr {
				if !errors.Is(err, ErrQuota) || v != nil {
					t.Fatalf("Victims(%d) = %v, %v; want ErrQuota", tc.size, nums(v, len(tc.sizes)), err)
				}
			} else if err != nil || !slices.Equal(nums(v, len(tc.sizes)), tc.want) {
				t.Fatalf("Victims(%d) = %v, %v; want %v", tc.size, nums(v, len(tc.sizes)), err, tc.want)
			}
			if ix.Stats() != before {
				t.Errorf("Victims changed the index: %+v, was %+v", ix.Stats(), before)
			}
		})
	}
}

func TestQuotaErrorSaysWhatToDo(t *testing.T) {
	ix := build(20, []int64{10, 10}, nil, []int{0, 1})
	_, err := ix.Victims(5)
	for _, want := range []string{"raise the quota", "unpin", "need 5 bytes: 20 of 20 used, 20 pinned"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

func TestExcess(t *testing.T) {
	tests := []struct {
		name        string
		quota       int64
		sizes       []int64
		touch, pins []int
		want        []int
	}{
		{"unlimited", 0, []int64{10, 10}, nil, nil, []int{}},
		{"under", 30, []int64{10, 10}, nil, nil, []int{}},
		{"at", 20, []int64{10, 10}, nil, nil, []int{}},
		{"oldest first", 15, []int64{10, 10, 10}, []int{0}, nil, []int{1, 2}},
		{"pinned stay", 15, []int64{10, 10, 10, 10}, nil, []int{0}, []int{1, 2, 3}},
		{"pinned alone over it: every unpinned goes", 5, []int64{10, 10, 10}, nil, []int{0, 2}, []int{1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ix := build(tc.quota, tc.sizes, tc.touch, tc.pins)
			if got := nums(ix.Excess(), len(tc.sizes)); !slices.Equal(got, tc.want) {
				t.Errorf("Excess = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEvictAndRemove(t *testing.T) {
	ix := build(30, []int64{10, 10, 10}, nil, []int{1})
	ix.Evict([][32]byte{h(0), h(1), h(7)}) // 7 is not held: not counted
	if st := ix.Stats(); st != (Stats{Count: 1, Bytes: 10, Quota: 30, Evicted: 2}) {
		t.Errorf("after Evict: %+v", st)
	}
	if !slices.Equal(ix.Pins(h(1)), []string{"shared"}) {
		t.Error("eviction dropped a pin")
	}
	if !ix.Remove(h(2)) || ix.Remove(h(2)) || ix.Has(h(2)) {
		t.Error("Remove")
	}
	if st := ix.Stats(); st.Evicted != 2 || st.Count != 0 || st.Bytes != 0 {
		t.Errorf("Remove counted as an eviction: %+v", st)
	}
	if !ix.Add(h(1), 10, t0) || ix.Add(h(1), 99, t0) {
		t.Error("Add of a blob held must do nothing")
	}
	if st := ix.Stats(); st.Pinned != 1 || st.PinnedBytes != 10 || st.Bytes != 10 {
		t.Errorf("a pinned hash stored again is pinned: %+v", st)
	}
	if n, ok := ix.Size(h(1)); n != 10 || !ok {
		t.Errorf("Size = %d, %v", n, ok)
	}
	if _, ok := ix.Size(h(2)); ok {
		t.Error("Size of an absent blob")
	}
}

func TestPins(t *testing.T) {
	type op struct {
		pin    bool
		i      int
		reason string
		change bool
	}
	tests := []struct {
		name    string
		ops     []op
		pins    map[int][]string
		pinned  int   // Stats.Pinned (blobs 0 and 1 are held, 10 bytes each)
		pcount  int   // PinCount
		phashes []int // PinnedHashes, by number
	}{
		{"none", nil, map[int][]string{0: nil}, 0, 0, []int{}},
		{"one", []op{{true, 0, "shared", true}}, map[int][]string{0: {"shared"}}, 1, 1, []int{0}},
		{"twice is once", []op{{true, 0, "user", true}, {true, 0, "user", false}}, map[int][]string{0: {"user"}}, 1, 1, []int{0}},
		{"reasons sorted", []op{{true, 0, "user", true}, {true, 0, "a", true}, {true, 0, "shared", true}}, map[int][]string{0: {"a", "shared", "user"}}, 1, 3, []int{0}},
		{"unpin one of two", []op{{true, 0, "user", true}, {true, 0, "shared", true}, {false, 0, "user", true}}, map[int][]string{0: {"shared"}}, 1, 1, []int{0}},
		{"unpin the last", []op{{true, 0, "user", true}, {false, 0, "user", true}}, map[int][]string{0: nil}, 0, 0, []int{}},
		{"unpin absent", []op{{true, 0, "user", true}, {false, 0, "shared", false}, {false, 1, "user", false}}, map[int][]string{0: {"user"}, 1: nil}, 1, 1, []int{0}},
		{"a hash not held", []op{{true, 5, "shared", true}, {true, 1, "shared", true}}, map[int][]string{5: {"shared"}, 1: {"shared"}}, 1, 2, []int{1, 5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ix := build(0, []int64{10, 10}, nil, nil)
			for _, o := range tc.ops {
				var got bool
				if o.pin {
					got = ix.Pin(h(o.i), o.reason)
				} else {
					got = ix.Unpin(h(o.i), o.reason)
				}
				if got != o.change {
					t.Fatalf("%+v changed %v", o, got)
				}
				if ix.HasPin(h(o.i), o.reason) != o.pin {
					t.Fatalf("HasPin after %+v", o)
				}
			}
			for i, want := range tc.pins {
				if got := ix.Pins(h(i)); !slices.Equal(got, want) || (want == nil) != (got == nil) {
					t.Errorf("Pins(%d) = %#v, want %#v", i, got, want)
				}
			}
			st := ix.Stats()
			if st.Pinned != tc.pinned || st.PinnedBytes != int64(10*tc.pinned) || ix.PinCount() != tc.pcount {
				t.Errorf("Stats %+v, PinCount %d; want %d pinned, %d pins", st, ix.PinCount(), tc.pinned, tc.pcount)
			}
			if got := nums(ix.PinnedHashes(), 6); !slices.Equal(got, sortedBy(tc.phashes)) {
				t.Errorf("PinnedHashes = %v, want %v", got, tc.phashes)
			}
		})
	}
}

// sortedBy returns the blob numbers ordered as their hashes sort.
func sortedBy(is []int) []int {
	out := slices.Clone(is)
	slices.SortFunc(out, func(a, b int) int { return compareHash(h(a), h(b)) })
	return out
}

func TestPinsCopied(t *testing.T) {
	ix := New(0)
	ix.Pin(h(0), "a")
	ix.Pin(h(0), "b")
	rs := ix.Pins(h(0))
	rs[0] = "z"
	if got := ix.Pins(h(0)); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Pins returned the index's own slice: %v", got)
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name  string
		held  []int64 // added before Load, by number 10, 11, ...
		recs  []Record
		order []int // least recently used first
		bytes int64
	}{
		{"by access time", nil, []Record{{h(0), 10, at(5)}, {h(1), 10, at(1)}, {h(2), 10, at(9)}}, []int{1, 0, 2}, 30},
		{"ties by ascending hash", nil, []Record{{h(2), 1, t0}, {h(0), 1, t0}, {h(1), 1, t0}}, sortedBy([]int{0, 1, 2}), 3},
		{"the most recent record wins", nil, []Record{{h(0), 10, at(5)}, {h(1), 10, at(3)}, {h(1), 99, at(1)}}, []int{1, 0}, 20},
		{"negative size skipped", nil, []Record{{h(0), -1, at(5)}, {h(1), 10, at(3)}}, []int{1}, 10},
		{"older than what is held", []int64{7}, []Record{{h(0), 10, at(99)}, {h(10), 10, at(100)}}, []int{0, 10}, 17},
		{"nothing", nil, nil, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ix := New(0)
			for i, s := range tc.held {
				ix.Add(h(10+i), s, t0)
			}
			ix.Pin(h(0), "shared")
			recs := slices.Clone(tc.recs)
			ix.Load(recs)
			if !slices.Equal(recs, tc.recs) {
				t.Error("Load reordered its argument")
			}
			if got := order(ix, 20); !slices.Equal(got, tc.order) {
				t.Errorf("order = %v, want %v", got, tc.order)
			}
			st := ix.Stats()
			if st.Bytes != tc.bytes || st.Count != len(tc.order) {
				t.Errorf("Stats %+v, want %d bytes in %d", st, tc.bytes, len(tc.order))
			}
			wantPinned := int64(0)
			if n, ok := ix.Size(h(0)); ok {
				wantPinned = n
			}
			if st.PinnedBytes != wantPinned {
				t.Errorf("a pin made before Load: PinnedBytes %d, want %d", st.PinnedBytes, wantPinned)
			}
		})
	}
}

func TestTouch(t *testing.T) {
	tests := []struct {
		name      string
		since     time.Duration // now minus the persisted access time
		persist   bool
		absent    bool
		zeroClock bool
	}{
		{"just stored", 0, false, false, false},
		{"within PersistEvery", PersistEvery - 1, false, false, false},
		{"PersistEvery on", PersistEvery, true, false, false},
		{"much later", 24 * time.Hour, true, false, false},
		{"the clock went back", -time.Hour, false, false, false},
		{"absent", PersistEvery, false, true, false},
		{"an owner without a clock", 0, false, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ix := New(0)
			stored := t0
			if tc.zeroClock {
				stored = time.Time{}
			}
			ix.Add(h(0), 1, stored)
			ix.Add(h(1), 1, stored)
			x := h(0)
			if tc.absent {
				x = h(9)
			}
			if got := ix.Touch(x, stored.Add(tc.since)); got != tc.persist {
				t.Fatalf("Touch = %v, want %v", got, tc.persist)
			}
			if tc.absent {
				return
			}
			if got := order(ix, 2); !slices.Equal(got, []int{1, 0}) {
				t.Errorf("after Touch: order %v, want the touched blob most recent", got)
			}
			// Once persisted, the next stamp is due PersistEvery after it.
			again := ix.Touch(x, stored.Add(tc.since+PersistEvery-1))
			if tc.persist && again {
				t.Error("persisted twice within PersistEvery")
			}
		})
	}
}

func TestSetQuota(t *testing.T) {
	for _, q := range []int64{-5, 0} {
		ix := New(q)
		if ix.Stats().Quota != 0 {
			t.Errorf("New(%d): quota %d, want unlimited", q, ix.Stats().Quota)
		}
		ix.SetQuota(q)
		if ix.Stats().Quota != 0 {
			t.Errorf("SetQuota(%d): quota %d", q, ix.Stats().Quota)
		}
	}
	ix := New(10)
	ix.SetQuota(7)
	if ix.Stats().Quota != 7 {
		t.Errorf("SetQuota(7): %+v", ix.Stats())
	}
}

func TestList(t *testing.T) {
	ix := build(0, []int64{1, 2, 3, 4, 5}, []int{3, 1}, []int{2})
	ix.Pin(h(9), "shared")
	got := ix.List()
	if len(got) != 5 || !slices.IsSortedFunc(got, compareHash) {
		t.Errorf("List = %x", got)
	}
	if New(0).List() == nil {
		t.Error("List of an empty index is nil, want empty")
	}
}

// TestStatsAgree runs random operations and checks after each that the
// running figures agree with a count from scratch.
func TestStatsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ix := New(200)
	reasons := []string{"shared", "user"}
	for step := range 5000 {
		x := h(rng.IntN(30))
		now := at(step)
		switch rng.IntN(7) {
		case 0, 1:
			if ix.Has(x) {
				ix.Touch(x, now)
				break
			}
			size := int64(rng.IntN(40))
			if v, err := ix.Victims(size); err == nil {
				ix.Evict(v)
				ix.Add(x, size, now)
				if st := ix.Stats(); st.Quota > 0 && st.Bytes > st.Quota {
					t.Fatalf("step %d: %d bytes held after a Put, quota %d", step, st.Bytes, st.Quota)
				}
			} else if !errors.Is(err, ErrQuota) {
				t.Fatal(err)
			}
		case 2:
			ix.Touch(x, now)
		case 3:
			ix.Pin(x, reasons[rng.IntN(2)])
		case 4:
			ix.Unpin(x, reasons[rng.IntN(2)])
		case 5:
			ix.Remove(x)
		case 6:
			if rng.IntN(20) == 0 {
				ix.SetQuota(int64(rng.IntN(300)))
				ix.Evict(ix.Excess())
				if st := ix.Stats(); st.Quota > 0 && st.Bytes > max(st.Quota, st.PinnedBytes) {
					t.Fatalf("step %d: Excess left %d bytes, quota %d, %d pinned", step, st.Bytes, st.Quota, st.PinnedBytes)
				}
			}
		}
		var want Stats
		want.Quota, want.Evicted = ix.quota, ix.evicted
		for el := ix.lru.Front(); el != nil; el = el.Next() {
			e := el.Value.(*entry)
			want.Count++
			want.Bytes += e.size
			if len(ix.pins[e.hash]) > 0 {
				want.Pinned++
				want.PinnedBytes += e.size
			}
		}
		pins := 0
		for _, rs := range ix.pins {
			pins += len(rs)
		}
		if st := ix.Stats(); st != want || len(ix.entries) != want.Count || ix.PinCount() != pins {
			t.Fatalf("step %d: Stats %+v, counted %+v; PinCount %d, counted %d", step, st, want, ix.PinCount(), pins)
		}
	}
}

func TestCheckReason(t *testing.T) {
	tests := []struct {
		reason string
		ok     bool
	}{
		{"shared", true},
		{"user", true},
		{"a", true},
		{"~!#", true},
		{strings.Repeat("x", MaxReasonLen), true},
		{"", false},
		{strings.Repeat("x", MaxReasonLen+1), false},
		{"two words", false},
		{"new\nline", false},
		{"tab\t", false},
		{"é", false},
		{"del\x7f", false},
	}
	for _, tc := range tests {
		if err := CheckReason(tc.reason); (err == nil) != tc.ok {
			t.Errorf("CheckReason(%q) = %v, want ok %v", tc.reason, err, tc.ok)
		}
	}
}

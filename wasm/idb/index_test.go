package idb

import (
	"crypto/sha256"
	"errors"
	"slices"
	"testing"

	"github.com/cairn-nostr/cairn/blobstore"
)

func h(i int) [32]byte { return sha256.Sum256([]byte{byte(i), byte(i >> 8)}) }

func TestIndexVictimsLRU(t *testing.T) {
	ix := newIndex(30)
	for i := range 3 {
		ix.add(h(i), 10, int64(i))
	}
	ix.touch(h(0), 100) // 1 is now the least recently used
	v, err := ix.victims(10)
	if err != nil || !slices.Equal(v, [][32]byte{h(1)}) {
		t.Fatalf("victims = %x, %v; want chunk 1", v, err)
	}
	v, err = ix.victims(25)
	if err != nil || !slices.Equal(v, [][32]byte{h(1), h(2), h(0)}) {
		t.Fatalf("victims(25) = %d, %v; want 1, 2, 0", len(v), err)
	}
	if _, err := ix.victims(31); !errors.Is(err, blobstore.ErrQuota) {
		t.Errorf("a chunk over the whole quota: %v", err)
	}
	if v, err := ix.victims(0); err != nil || v != nil {
		t.Errorf("room already: %v %v", v, err)
	}
}

func TestIndexPinsProtect(t *testing.T) {
	ix := newIndex(30)
	for i := range 3 {
		ix.add(h(i), 10, int64(i))
	}
	ix.pin(h(0), "shared")
	ix.pin(h(1), "user")
	v, err := ix.victims(10)
	if err != nil || !slices.Equal(v, [][32]byte{h(2)}) {
		t.Fatalf("victims = %d, %v; want chunk 2 only", len(v), err)
	}
	if _, err := ix.victims(20); !errors.Is(err, blobstore.ErrQuota) {
		t.Errorf("two pinned of three: %v", err)
	}
	st := ix.stats()
	if st.Count != 3 || st.Bytes != 30 || st.Pinned != 2 || st.PinnedBytes != 20 || st.Quota != 30 {
		t.Errorf("stats %+v", st)
	}
	if rs := ix.pin(h(0), "shared"); rs != nil {
		t.Errorf("pinning twice changed %v", rs)
	}
	if rs := ix.pin(h(0), "a"); !slices.Equal(rs, []string{"a", "shared"}) {
		t.Errorf("reasons %v", rs)
	}
	if rs, ok := ix.unpin(h(0), "shared"); !ok || !slices.Equal(rs, []string{"a"}) {
		t.Errorf("unpin: %v %v", rs, ok)
	}
	if rs, ok := ix.unpin(h(0), "a"); !ok || rs == nil || len(rs) != 0 || ix.pinned(h(0)) {
		t.Errorf("last unpin: %v %v", rs, ok)
	}
	if _, ok := ix.unpin(h(0), "a"); ok {
		t.Error("unpinning an absent reason changed something")
	}
	// Pins outlive the chunk.
	ix.remove(h(1))
	if !ix.pinned(h(1)) || ix.has(h(1)) {
		t.Error("removing a chunk dropped its pin")
	}
}

func TestIndexOverQuota(t *testing.T) {
	ix := newIndex(0)
	for i := range 4 {
		ix.add(h(i), 10, int64(i))
	}
	ix.pin(h(0), "shared")
	if v := ix.overQuota(); v != nil {
		t.Errorf("unlimited: %v", v)
	}
	ix.quota = 15
	if v := ix.overQuota(); !slices.Equal(v, [][32]byte{h(1), h(2), h(3)}) {
		t.Errorf("overQuota = %d chunks", len(v))
	}
}

func TestIndexLoadOrder(t *testing.T) {
	ix := newIndex(20)
	ix.load([]record{{h(0), 10, 500}, {h(1), 10, 100}, {h(2), 10, 900}, {h(2), 10, 1}, {h(3), -1, 0}})
	if ix.stats().Count != 3 || ix.bytes != 30 {
		t.Fatalf("loaded %+v", ix.stats())
	}
	v, err := ix.victims(0)
	if err != nil || !slices.Equal(v, [][32]byte{h(1)}) {
		t.Errorf("oldest after load: %d %v", len(v), err)
	}
	if !slices.IsSortedFunc(ix.list(), func(a, b [32]byte) int { return slices.Compare(a[:], b[:]) }) {
		t.Error("list not sorted")
	}
}

func TestIndexTouchPersists(t *testing.T) {
	ix := newIndex(0)
	ix.add(h(0), 1, 1000)
	if ix.touch(h(0), 1000+persistEvery-1) {
		t.Error("persisted within a minute")
	}
	if !ix.touch(h(0), 1000+persistEvery) {
		t.Error("not persisted after a minute")
	}
	if ix.touch(h(9), 0) {
		t.Error("touch of an absent chunk")
	}
}

func TestCheckReason(t *testing.T) {
	for _, r := range []string{"", "a b", "é", string(make([]byte, blobstore.MaxReasonLen+1))} {
		if checkReason(r) == nil {
			t.Errorf("reason %q accepted", r)
		}
	}
	if err := checkReason("shared"); err != nil {
		t.Error(err)
	}
}

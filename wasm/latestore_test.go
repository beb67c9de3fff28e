//go:build js && wasm

package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"syscall/js"
	"testing"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/credit"
	"github.com/cairn-nostr/cairn/wasm/idb"
)

func jsBytes(b []byte) js.Value {
	u := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(u, b)
	return u
}

// TestLateStoreKeepsUntilOpen: a verified chunk kept while IndexedDB
// opens is served from memory, never reported held, and written when the
// store opens; the memory it may take is bounded.
func TestLateStoreKeepsUntilOpen(t *testing.T) {
	l := newLateStore()
	data := bytes.Repeat([]byte("x"), 1000)
	h := sha256.Sum256(data)
	if !l.room(1000) || l.room(maxPending+1) {
		t.Fatal("room: want 1000 bytes allowed, more than maxPending refused")
	}
	l.keep(h, jsBytes(data), func(err error) { t.Error(err) })
	if l.Has(h) {
		t.Fatal("a chunk kept in memory is reported held before the store has it")
	}
	if _, err := l.Size(h); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("Size before open: %v, want ErrNotFound", err)
	}
	if got, err := l.Get(h); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get from memory: %v", err)
	}
	if l.now() != nil || l.Stats() != (blobstore.Stats{}) {
		t.Fatal("a store before open")
	}
	st, err := idb.Open("latestore-keep", idb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l.opened(st, nil, func(err error) { t.Error(err) })
	if !st.Has(h) || !l.Has(h) {
		t.Fatal("the kept chunk was not written when the store opened")
	}
	if _, ok := l.kept(h); ok || l.bytes != 0 {
		t.Fatalf("still kept in memory after the write: %d bytes", l.bytes)
	}
	u, err := l.GetJS(h)
	if err != nil || u.Length() != len(data) {
		t.Fatalf("GetJS after open: %v", err)
	}
}

// TestLateStoreOpenFails: when IndexedDB does not open, every call that
// needs it says so, and the kept chunks are dropped, not kept forever.
func TestLateStoreOpenFails(t *testing.T) {
	l := newLateStore()
	data := []byte("chunk")
	h := sha256.Sum256(data)
	l.keep(h, jsBytes(data), func(error) {})
	l.opened(nil, errors.New("blocked"), func(error) {})
	if _, err := l.Get(sha256.Sum256([]byte("other"))); err == nil || !strings.Contains(err.Error(), "IndexedDB did not open") {
		t.Fatalf("Get: %v", err)
	}
	if err := l.Put(h, data); err == nil {
		t.Fatal("Put without a store succeeded")
	}
	if _, ok := l.kept(h); ok || l.bytes != 0 {
		t.Fatal("a kept chunk outlived the failed open")
	}
}

// TestLatePersistOrder: the library's writes made before the store opens
// reach it in order once it does (a put then a delete leaves nothing).
func TestLatePersistOrder(t *testing.T) {
	l := newLateStore()
	p := &latePersist{l: l}
	p.Put("a", `{"id":"a"}`)
	p.Put("b", `{"id":"b"}`)
	p.Delete("a")
	st, err := idb.Open("latestore-persist", idb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l.opened(st, nil, func(err error) { t.Error(err) })
	p.flush(st, func(err error) { t.Error(err) })
	p.Put("c", `{"id":"c"}`) // straight to the store now
	files, err := st.Files()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := files[recEvent+"a"]; ok || files[recEvent+"b"] == "" || files[recEvent+"c"] == "" {
		t.Fatalf("stored: %v", files)
	}
}

// TestCreditsLoadMerges: receipts counted while IndexedDB opened follow
// the stored ledger, re-chained, and are queued for writing.
func TestCreditsLoadMerges(t *testing.T) {
	entry := func(id string) credit.Entry {
		return credit.Entry{ID: id, Peer: strings.Repeat("ab", 32), Direction: credit.Up, Bytes: 100, Chunk: strings.Repeat("cd", 32), Timestamp: 1}
	}
	old := newCredits()
	old.add(entry("a"))
	old.add(entry("b"))
	recs := map[string]string{}
	for i := 0; i < len(old.queue); i += 2 {
		recs[old.queue[i]] = old.queue[i+1]
	}
	c := newCredits()
	c.add(entry("c")) // before the store opened
	if broken := c.load(recs); broken != nil {
		t.Fatalf("broken: %v", broken)
	}
	es := c.ledger.Entries()
	if len(es) != 3 || es[0].ID != "a" || es[2].ID != "c" || c.seq != 3 {
		t.Fatalf("merged: %+v seq %d", es, c.seq)
	}
	if _, err := credit.Load(es); err != nil {
		t.Fatalf("chain: %v", err)
	}
	if len(c.queue) != 2 || c.queue[0] != ledgerKey(2) {
		t.Fatalf("queue: %v", c.queue)
	}
}

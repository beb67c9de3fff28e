//go:build js && wasm

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"syscall/js"
	"testing"

	"github.com/cairn-nostr/cairn/media"
	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/merkle"
	"github.com/nbd-wtf/go-nostr"
)

// cairn is the API as a page sees it.
var cairn = func() js.Value {
	js.Global().Set("cairn", api())
	return js.Global().Get("cairn")
}()

func call(name string, args ...any) js.Value { return cairn.Call(name, args...) }

func wantError(t *testing.T, v js.Value, substr string) {
	t.Helper()
	e := v.Get("error")
	if e.Type() != js.TypeString {
		t.Fatalf("want {error}, got %s", js.Global().Get("JSON").Call("stringify", v).String())
	}
	if !strings.Contains(e.String(), substr) {
		t.Errorf("error %q, want it to mention %q", e.String(), substr)
	}
}

func TestVersion(t *testing.T) {
	if got := call("version").String(); got != version {
		t.Errorf("version() = %q, want %q", got, version)
	}
}

func TestMerkleRoot(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 64, 65} {
		leaves := make([][32]byte, n)
		hexes := make([]any, n)
		for i := range leaves {
			leaves[i] = sha256.Sum256([]byte{byte(i)})
			hexes[i] = hex.EncodeToString(leaves[i][:])
		}
		want := merkle.Root(leaves)
		got := call("merkleRoot", hexes).Get("root")
		if got.Type() != js.TypeString || got.String() != hex.EncodeToString(want[:]) {
			t.Errorf("%d leaves: root %v, want %x", n, got, want)
		}
	}
	wantError(t, call("merkleRoot", []any{}), "no hashes")
	wantError(t, call("merkleRoot", "ab"), "array")
	wantError(t, call("merkleRoot", []any{strings.Repeat("A", 64)}), "lowercase hex")
	wantError(t, call("merkleRoot", []any{"abcd"}), "64 hex")
	wantError(t, call("merkleRoot", []any{1}), "not a string")
}

// signedMap returns a signed kind 7001 event for a small media map.
func signedMap(t *testing.T, edit func(*chunkmap.Map)) nostr.Event {
	t.Helper()
	hs := [][32]byte{sha256.Sum256([]byte("init")), sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))}
	m := chunkmap.New(hs, 300)
	m.ChunkSize = 100
	m.MIME = "video/mp4"
	m.Title = "clip"
	m.Init = &chunkmap.ByteRange{Offset: 0, Length: 100}
	m.ChunkInfo = []chunkmap.ChunkInfo{{Offset: 0, Length: 100}, {Offset: 100, Length: 100, DurationMs: 1000}, {Offset: 200, Length: 100, DurationMs: 1000}}
	if edit != nil {
		edit(m)
	}
	ev := m.Event()
	ev.CreatedAt = 1700000000
	if err := ev.Sign(nostr.GeneratePrivateKey()); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestParseChunkMap(t *testing.T) {
	ev := signedMap(t, nil)
	raw, _ := json.Marshal(ev)
	r := call("parseChunkMap", string(raw))
	if e := r.Get("error"); !e.IsUndefined() {
		t.Fatalf("parseChunkMap: %v", e)
	}
	want, err := chunkmap.Parse(&ev)
	if err != nil {
		t.Fatal(err)
	}
	m := r.Get("map")
	if got := m.Get("root").String(); got != hex.EncodeToString(want.Root[:]) {
		t.Errorf("root %s, want %x", got, want.Root)
	}
	if m.Get("size").Int() != 300 || m.Get("chunkSize").Int() != 100 || m.Get("mime").String() != "video/mp4" || m.Get("title").String() != "clip" {
		t.Errorf("map fields: %s", js.Global().Get("JSON").Call("stringify", m))
	}
	if n := m.Get("chunks").Length(); n != 3 {
		t.Fatalf("%d chunks", n)
	}
	if got := m.Get("chunks").Index(2).String(); got != hex.EncodeToString(want.Chunks[2][:]) {
		t.Errorf("chunk 2 %s", got)
	}
	if m.Get("init").Get("length").Int() != 100 || m.Get("chunkInfo").Index(1).Get("durationMs").Int() != 1000 {
		t.Errorf("init/chunkInfo: %s", js.Global().Get("JSON").Call("stringify", m))
	}
	if r.Get("id").String() != ev.ID || r.Get("pubkey").String() != ev.PubKey {
		t.Error("id or pubkey not returned")
	}

	// A map without init has null init and chunkInfo.
	plain := signedMap(t, func(m *chunkmap.Map) { m.Init, m.ChunkInfo, m.MIME = nil, nil, "" })
	raw, _ = json.Marshal(plain)
	if m := call("parseChunkMap", string(raw)).Get("map"); !m.Get("init").IsNull() || !m.Get("chunkInfo").IsNull() {
		t.Errorf("plain map: %s", js.Global().Get("JSON").Call("stringify", m))
	}
}

func TestParseChunkMapStrict(t *testing.T) {
	ev := signedMap(t, nil)
	raw, _ := json.Marshal(ev)
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	with := func(k string, v any) string {
		o := map[string]any{}
		for kk, vv := range obj {
			o[kk] = vv
		}
		if v == nil {
			delete(o, k)
		} else {
			o[k] = v
		}
		b, _ := json.Marshal(o)
		return string(b)
	}
	wantError(t, call("parseChunkMap", 7), "JSON string")
	wantError(t, call("parseChunkMap", "{"), "event JSON")
	wantError(t, call("parseChunkMap", string(raw)+" {}"), "trailing")
	wantError(t, call("parseChunkMap", with("extra", 1)), "unknown field")
	wantError(t, call("parseChunkMap", with("sig", nil)), "want id")
	wantError(t, call("parseChunkMap", with("content", "changed")), "id does not match")
	// A valid id with a bad signature.
	bad := ev
	bad.Sig = strings.Repeat("0", 128)
	b, _ := json.Marshal(bad)
	wantError(t, call("parseChunkMap", string(b)), "signature")
	// Signed, but not a valid chunk map: chunkmap.Parse's error comes back.
	kind1 := signedMap(t, nil)
	kind1.Kind = 1
	if err := kind1.Sign(nostr.GeneratePrivateKey()); err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(kind1)
	wantError(t, call("parseChunkMap", string(b)), "kind 1")
	dup := signedMap(t, func(m *chunkmap.Map) { m.Title = "" })
	dup.Tags = append(dup.Tags, dup.Tags[len(dup.Tags)-1])
	if err := dup.Sign(nostr.GeneratePrivateKey()); err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(dup)
	if e := call("parseChunkMap", string(b)).Get("error"); e.Type() != js.TypeString {
		t.Error("a duplicated tag was accepted")
	}
}

// TestPlanFixed: planFixed cuts exactly as media.SplitFixed does, and its
// ranges hashed and rooted give SplitFixed's root.
func TestPlanFixed(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct{ size, cs int64 }{{0, 10}, {1, 10}, {9, 10}, {10, 10}, {11, 10}, {35, 10}, {1000, 1}, {12345, 0}} {
		data := make([]byte, tc.size)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		want, err := media.SplitFixed(bytes.NewReader(data), tc.size, media.Chunker{TargetSize: tc.cs})
		if err != nil {
			t.Fatal(err)
		}
		res := call("planFixed", tc.size, tc.cs)
		if e := res.Get("error"); !e.IsUndefined() {
			t.Fatalf("planFixed(%d, %d): %v", tc.size, tc.cs, e)
		}
		if got := int64(res.Get("chunkSize").Int()); got != want.TargetSize {
			t.Errorf("planFixed(%d, %d): chunkSize %d, want %d", tc.size, tc.cs, got, want.TargetSize)
		}
		chunks := res.Get("chunks")
		if chunks.Length() != len(want.Chunks) {
			t.Fatalf("planFixed(%d, %d): %d chunks, want %d", tc.size, tc.cs, chunks.Length(), len(want.Chunks))
		}
		hs := make([][32]byte, chunks.Length())
		for i, c := range want.Chunks {
			off, n := int64(chunks.Index(i).Get("offset").Int()), int64(chunks.Index(i).Get("length").Int())
			if off != c.Offset || n != c.Length {
				t.Errorf("planFixed(%d, %d) chunk %d: %d+%d, want %d+%d", tc.size, tc.cs, i, off, n, c.Offset, c.Length)
			}
			hs[i] = sha256.Sum256(data[off : off+n])
		}
		if len(hs) > 0 && merkle.Root(hs) != want.Root {
			t.Errorf("planFixed(%d, %d): root differs from SplitFixed's", tc.size, tc.cs)
		}
	}
	// The same limits and errors as SplitFixed.
	for _, tc := range []struct{ size, cs int64 }{{10, media.MaxTargetSize + 1}, {media.MaxFileSize + 1, 0}, {int64(chunkmap.MaxChunks) + 1, 1}} {
		_, werr := media.SplitFixed(bytes.NewReader(nil), tc.size, media.Chunker{TargetSize: tc.cs})
		_, _, err := planFixed(tc.size, tc.cs)
		if werr == nil || err == nil || err.Error() != werr.Error() {
			t.Errorf("planFixed(%d, %d): error %v, SplitFixed's %v", tc.size, tc.cs, err, werr)
		}
		if !errors.Is(err, media.ErrConfig) && !errors.Is(err, media.ErrTooLarge) {
			t.Errorf("planFixed(%d, %d): %v is neither ErrConfig nor ErrTooLarge", tc.size, tc.cs, err)
		}
	}
	wantError(t, call("planFixed", -1, 10), "whole number")
	wantError(t, call("planFixed", 1.5, 10), "whole number")
	wantError(t, call("planFixed", "10", 10), "number")
	wantError(t, call("planFixed", 10), "want (size, chunkSize)")
}

// await waits for a promise from a test goroutine.
func await(p js.Value) (js.Value, error) {
	type res struct {
		v   js.Value
		err error
	}
	ch := make(chan res, 1)
	ok := js.FuncOf(func(_ js.Value, a []js.Value) any { ch <- res{v: a[0]}; return nil })
	defer ok.Release()
	fail := js.FuncOf(func(_ js.Value, a []js.Value) any {
		ch <- res{err: errors.New(a[0].Call("toString").String())}
		return nil
	})
	defer fail.Release()
	p.Call("then", ok, fail)
	r := <-ch
	return r.v, r.err
}

func TestSHA256(t *testing.T) {
	data := []byte("hello, cairn")
	u := js.Global().Get("Uint8Array").New(len(data))
	js.CopyBytesToJS(u, data)
	v, err := await(call("sha256", u))
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(data); v.String() != hex.EncodeToString(want[:]) {
		t.Errorf("sha256 = %s, want %x", v.String(), want)
	}
	if _, err := await(call("sha256", "text")); err == nil || !strings.Contains(err.Error(), "Uint8Array") {
		t.Errorf("sha256 of a string: %v", err)
	}
}

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
	"sync"
	"syscall/js"
	"testing"

	"github.com/cairn-nostr/cairn/media"
	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/merkle"
	"github.com/cairn-nostr/cairn/nostr"
)

// testTab is the tab behind cairn, the API as a page sees it.
var testTab = newTab()

var cairn = func() js.Value {
	js.Global().Set("cairn", testTab.api())
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
	wantError(t, call("parseChunkMap", string(raw)+" {}"), "data after the event")
	// Unknown fields are ignored, as the relay does (package event): the
	// id covers only the canonical fields.
	if e := call("parseChunkMap", with("extra", 1)).Get("error"); e.Type() == js.TypeString {
		t.Errorf("an unknown field was refused: %s", e.String())
	}
	wantError(t, call("parseChunkMap", with("sig", nil)), "no sig")
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
func await(p js.Value) (js.Value, error) { return awaitPromise(p) }

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

func TestKeys(t *testing.T) {
	k := call("generateKey")
	sk, pub := k.Get("secretKey").String(), k.Get("pubkey").String()
	if want, _ := nostr.GetPublicKey(sk); want != pub {
		t.Fatalf("generateKey: pubkey %s, want %s", pub, want)
	}
	again := call("keyInfo", k.Get("nsec"))
	if again.Get("secretKey").String() != sk || again.Get("npub").String() != k.Get("npub").String() {
		t.Errorf("keyInfo(nsec) = %s", js.Global().Get("JSON").Call("stringify", again))
	}
	if got := call("npub", pub).String(); got != k.Get("npub").String() {
		t.Errorf("npub = %s", got)
	}
	d := call("decode", k.Get("npub"))
	if d.Get("type").String() != "npub" || d.Get("data").String() != pub {
		t.Errorf("decode(npub) = %s", js.Global().Get("JSON").Call("stringify", d))
	}
	if d := call("decode", k.Get("nsec")); d.Get("type").String() != "nsec" || d.Get("data").Length() != 32 {
		t.Errorf("decode(nsec): want 32 bytes")
	}
	wantError(t, call("keyInfo", "zz"), "64 hex")
	wantError(t, call("npub", 5), "string")
	wantError(t, call("decode", "npub1xyz"), "decode")
}

// startLocal starts the core's storage without a relay, as start does
// before connecting.
var startLocal = sync.OnceValue(func() error {
	return testTab.openLocal(startOptions{Relay: "ws://127.0.0.1:1", SecretKey: nostr.GeneratePrivateKey(), DB: "cairn-api-test"})
})

func TestShareListRemove(t *testing.T) {
	if err := startLocal(); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 5<<20+1234) // two fixed-size chunks
	for i := range data {
		data[i] = byte(i * 7)
	}
	var calls int
	progress := js.FuncOf(func(_ js.Value, a []js.Value) any { calls++; return nil })
	defer progress.Release()
	opts := js.ValueOf(map[string]any{"name": "a.bin", "title": "A file", "mime": "application/x-test"})
	opts.Set("onProgress", progress)
	v, err := await(call("share", uint8Array(data), opts))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if v.Get("sha256").String() != hex.EncodeToString(sum[:]) || v.Get("chunks").Int() != 2 || v.Get("size").Int() != len(data) || calls != 2 {
		t.Fatalf("share = %s (%d progress calls)", js.Global().Get("JSON").Call("stringify", v), calls)
	}
	root := v.Get("root").String()
	tmpl := v.Get("events").Index(0)
	if tmpl.Get("kind").Int() != 7001 || v.Get("events").Index(1).Get("kind").Int() != 1063 {
		t.Fatal("want kind 7001 and 1063 templates")
	}
	// The template signs into a map parseChunkMap accepts, with the root.
	signed, err := await(call("sign", tmpl))
	if err != nil {
		t.Fatal(err)
	}
	pm := call("parseChunkMap", js.Global().Get("JSON").Call("stringify", signed))
	if pm.Get("map").Get("root").String() != root || pm.Get("map").Get("mime").String() != "application/x-test" {
		t.Fatalf("signed map: %s", js.Global().Get("JSON").Call("stringify", pm))
	}
	l, err := await(call("list"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for i := 0; i < l.Length(); i++ {
		e := l.Index(i)
		if e.Get("root").String() == root {
			found = e.Get("have").Int() == 2 && e.Get("pinned").Bool() && e.Get("name").String() == "a.bin"
		}
	}
	if !found {
		t.Fatalf("list = %s", js.Global().Get("JSON").Call("stringify", l))
	}
	// Shared chunks are readable through chunk and read.
	c1, err := await(call("chunk", root, 1))
	if err != nil || c1.Length() != 1234 {
		t.Fatalf("chunk 1: %v", err)
	}
	r, err := await(call("read", root, 5<<20-10, 20))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, r.Length())
	js.CopyBytesToGo(got, r)
	if !bytes.Equal(got, data[5<<20-10:5<<20+10]) {
		t.Error("read across the chunk boundary returned other bytes")
	}
	if p := call("progress", root); !p.Get("done").Bool() || p.Get("have").Int() != 2 {
		t.Errorf("progress = %s", js.Global().Get("JSON").Call("stringify", p))
	}
	if st := call("status"); st.Get("blobs").Get("count").Int() < 2 || st.Get("pubkey").String() == "" {
		t.Errorf("status = %s", js.Global().Get("JSON").Call("stringify", st))
	}
	if _, err := await(call("remove", root)); err != nil {
		t.Fatal(err)
	}
	if _, err := await(call("chunk", root, 0)); err == nil || !strings.Contains(err.Error(), "open") {
		t.Errorf("chunk after remove: %v", err)
	}
	if testTab.store.Stats().Count != 0 {
		t.Errorf("chunks left after remove: %+v", testTab.store.Stats())
	}
	if _, err := await(call("share", "text")); err == nil {
		t.Error("share of a string accepted")
	}
}

func TestStartNeedsRelay(t *testing.T) {
	if _, err := await(call("start", map[string]any{"secretKey": nostr.GeneratePrivateKey()})); err == nil || !strings.Contains(err.Error(), "relay") {
		t.Errorf("start without relay: %v", err)
	}
	if _, err := await(call("open", "zz")); err == nil {
		t.Error("open of a bad reference accepted")
	}
	bad := map[string]any{"relay": "ws://127.0.0.1:1", "secretKey": nostr.GeneratePrivateKey(), "iceTransportPolicy": "direct"}
	if _, err := await(call("start", bad)); err == nil || !strings.Contains(err.Error(), "iceTransportPolicy") {
		t.Errorf("start with iceTransportPolicy direct: %v", err)
	}
}

// TestOpenLocalKey: without a secret key the core makes one (start returns
// it for the page to save); a malformed one is refused and leaves the tab
// startable, its IndexedDB (opened meanwhile) closed.
func TestOpenLocalKey(t *testing.T) {
	bad := newTab()
	if err := bad.openLocal(startOptions{Relay: "ws://127.0.0.1:1", SecretKey: "zz", DB: "cairn-key-test"}); err == nil || !strings.Contains(err.Error(), "secret key") {
		t.Fatalf("openLocal with a malformed key: %v", err)
	}
	if bad.started || bad.store != nil {
		t.Fatal("a refused key left the tab started")
	}
	if err := bad.openLocal(startOptions{Relay: "ws://127.0.0.1:1", DB: "cairn-key-test"}); err != nil {
		t.Fatalf("openLocal after a refused key: %v", err)
	}
	defer bad.cancel()
	if !nostr.IsValid32ByteHex(bad.sk) || !nostr.IsValidPublicKey(bad.pub) {
		t.Fatalf("made key %q / %q", bad.sk, bad.pub)
	}
	if pub, _ := nostr.GetPublicKey(bad.sk); pub != bad.pub {
		t.Errorf("pubkey %s is not the made key's (%s)", bad.pub, pub)
	}
}

package chunkmap

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/merkle"
)

const (
	pk1 = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798" // x(G)
	pk2 = "c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5" // x(2G)
)

func hashes(n int) [][32]byte {
	out := make([][32]byte, n)
	for i := range out {
		out[i] = sha256.Sum256([]byte(fmt.Sprintf("chunk %d", i)))
	}
	return out
}

func hx(h [32]byte) string { return hex.EncodeToString(h[:]) }

// baseMap is a valid three-chunk map: two full chunks and 100 bytes.
func baseMap() *Map {
	m := New(hashes(3), 2*DefaultChunkSize+100)
	m.MIME = "video/mp4"
	m.Title = "A film"
	m.Description = "about things"
	m.Gatekeepers = []string{pk1, pk2}
	return m
}

// streamMap is a valid map with cairn's streaming tags.
func streamMap() *Map {
	m := New(hashes(3), 6_000_000+4_000_000+1_234)
	m.MIME = `video/mp4; codecs="avc1.64001f, mp4a.40.2"`
	m.ExtraNets = []string{"cairn"}
	m.Init = &ByteRange{Offset: 0, Length: 1200}
	m.ChunkInfo = []ChunkInfo{
		{Offset: 0, Length: 6_000_000, DurationMs: 10_000},
		{Offset: 6_000_000, Length: 4_000_000, DurationMs: 8_000},
		{Offset: 10_000_000, Length: 1_234, DurationMs: 0},
	}
	return m
}

func TestEventLayout(t *testing.T) {
	m := baseMap()
	h := hashes(3)
	want := nostr.Tags{
		{"t", "entropy"},
		{"x-hash", hx(merkle.Root(h))},
		{"size", "10485860"},
		{"chunk-size", "5242880"},
		{"mime", "video/mp4"},
		{"title", "A film"},
		{"chunk", hx(h[0]), "0"},
		{"chunk", hx(h[1]), "1"},
		{"chunk", hx(h[2]), "2"},
		{"gatekeeper", pk1},
		{"gatekeeper", pk2},
	}
	ev := m.Event()
	if ev.Kind != 7001 || ev.Content != "about things" || ev.PubKey != "" || ev.Sig != "" || ev.CreatedAt != 0 {
		t.Fatalf("event header = %+v", ev)
	}
	if !reflect.DeepEqual(ev.Tags, want) {
		t.Fatalf("tags =\n%v\nwant\n%v", ev.Tags, want)
	}

	s := streamMap().Event()
	extra := s.Tags[len(s.Tags)-4:]
	wantExtra := nostr.Tags{
		{"init", "0", "1200"},
		{"chunk-info", "0", "0", "6000000", "10000"},
		{"chunk-info", "1", "6000000", "4000000", "8000"},
		{"chunk-info", "2", "10000000", "1234", "0"},
	}
	if !reflect.DeepEqual(extra, wantExtra) {
		t.Fatalf("streaming tags = %v", extra)
	}
	if !reflect.DeepEqual(s.Tags[:2], nostr.Tags{{"t", "entropy"}, {"t", "cairn"}}) {
		t.Fatalf("network tags = %v", s.Tags[:2])
	}
}

func TestRoundTrip(t *testing.T) {
	empty := New(nil, 0)
	oneByte := New(hashes(1), 1)
	for name, m := range map[string]*Map{"base": baseMap(), "stream": streamMap(), "empty": empty, "one byte": oneByte} {
		ev := m.Event()
		got, err := Parse(&ev)
		if err != nil {
			t.Fatalf("%s: Parse: %v", name, err)
		}
		if got.Chunks == nil {
			got.Chunks = [][32]byte{}
		}
		if m.Chunks == nil {
			m.Chunks = [][32]byte{}
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("%s: Parse(Event(m)) =\n%+v\nwant\n%+v", name, got, m)
		}
	}
}

// TestParseEntropyEvent parses an event shaped exactly as Entropy's builder
// writes it, with the tags cairn ignores.
func TestParseEntropyEvent(t *testing.T) {
	h := hashes(2)
	ev := &nostr.Event{
		Kind:    7001,
		Content: "",
		Tags: nostr.Tags{
			{"t", "entropy"},
			{"t", "private-net"},
			{"x-hash", hx(merkle.Root(h))},
			{"size", "6000000"},
			{"chunk-size", "5242880"},
			{"mime", "video/mp4"},
			{"chunk", hx(h[0]), "0"},
			{"chunk", hx(h[1]), "1"},
			{"gatekeeper", pk1},
			{"entropy-tag", "music", "3", "1700000000"},
			{"client", "entropy"},
			{},
		},
	}
	m, err := Parse(ev)
	if err != nil {
		t.Fatal(err)
	}
	want := &Map{
		Root: merkle.Root(h), Size: 6000000, ChunkSize: 5242880, MIME: "video/mp4",
		Chunks: h, Gatekeepers: []string{pk1}, Net: "entropy", ExtraNets: []string{"private-net"},
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("Parse = %+v", m)
	}
}

func TestParseUnorderedChunksAndDefaults(t *testing.T) {
	h := hashes(3)
	ev := &nostr.Event{Kind: 7001, Tags: nostr.Tags{
		{"chunk", hx(h[2]), "2"},
		{"chunk", hx(h[0]), "0"},
		{"chunk", hx(h[1]), "1"},
		{"chunk-size", "5242880"},
		{"size", "10485861"},
		{"x-hash", hx(merkle.Root(h))},
	}}
	m, err := Parse(ev)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Chunks, h) || m.Net != DefaultNet {
		t.Fatalf("Parse = %+v", m)
	}
}

// edit returns the base event with its tags changed by fn.
func edit(m *Map, fn func(tags nostr.Tags) nostr.Tags) *nostr.Event {
	ev := m.Event()
	ev.Tags = fn(ev.Tags)
	return &ev
}

func setTag(name string, vals ...string) func(nostr.Tags) nostr.Tags {
	return func(tags nostr.Tags) nostr.Tags {
		for i, tag := range tags {
			if tag[0] == name {
				tags[i] = append(nostr.Tag{name}, vals...)
				return tags
			}
		}
		return append(tags, append(nostr.Tag{name}, vals...))
	}
}

func dropTag(name string) func(nostr.Tags) nostr.Tags {
	return func(tags nostr.Tags) nostr.Tags {
		out := tags[:0]
		for _, tag := range tags {
			if tag[0] != name {
				out = append(out, tag)
			}
		}
		return out
	}
}

func addTag(tag ...string) func(nostr.Tags) nostr.Tags {
	return func(tags nostr.Tags) nostr.Tags { return append(tags, tag) }
}

// chunkTags replaces the chunk tags with the given (hash, index) pairs.
func chunkTags(pairs ...string) func(nostr.Tags) nostr.Tags {
	return func(tags nostr.Tags) nostr.Tags {
		tags = dropTag("chunk")(tags)
		for i := 0; i < len(pairs); i += 2 {
			tags = append(tags, nostr.Tag{"chunk", pairs[i], pairs[i+1]})
		}
		return tags
	}
}

func TestParseRefusals(t *testing.T) {
	h := hashes(4)
	root3 := hx(merkle.Root(h[:3]))
	cases := []struct {
		name string
		ev   *nostr.Event
		want error
	}{
		{"nil event", nil, ErrKind},
		{"wrong kind", func() *nostr.Event { e := baseMap().Event(); e.Kind = 1063; return &e }(), ErrKind},

		{"missing x-hash", edit(baseMap(), dropTag("x-hash")), ErrMissingTag},
		{"duplicate x-hash", edit(baseMap(), addTag("x-hash", root3)), ErrDuplicateTag},
		{"missing size", edit(baseMap(), dropTag("size")), ErrMissingTag},
		{"duplicate size", edit(baseMap(), addTag("size", "10485860")), ErrDuplicateTag},
		{"missing chunk-size", edit(baseMap(), dropTag("chunk-size")), ErrMissingTag},
		{"duplicate chunk-size", edit(baseMap(), addTag("chunk-size", "5242880")), ErrDuplicateTag},
		{"duplicate mime", edit(baseMap(), addTag("mime", "video/mp4")), ErrDuplicateTag},
		{"duplicate title", edit(baseMap(), addTag("title", "x")), ErrDuplicateTag},

		{"x-hash not hex", edit(baseMap(), setTag("x-hash", strings.Repeat("zz", 32))), ErrHex},
		{"x-hash upper case", edit(baseMap(), setTag("x-hash", strings.ToUpper(root3))), ErrHex},
		{"x-hash short", edit(baseMap(), setTag("x-hash", root3[:62])), ErrHex},
		{"x-hash long", edit(baseMap(), setTag("x-hash", root3+"00")), ErrHex},
		{"chunk hash not hex", edit(baseMap(), chunkTags(hx(h[0]), "0", hx(h[1]), "1", "x"+hx(h[2])[1:], "2")), ErrHex},
		{"chunk hash short", edit(baseMap(), chunkTags(hx(h[0]), "0", hx(h[1]), "1", hx(h[2])[:40], "2")), ErrHex},

		{"chunk index out of range", edit(baseMap(), chunkTags(hx(h[0]), "0", hx(h[1]), "1", hx(h[2]), "3")), ErrChunkIndex},
		{"chunk index duplicated", edit(baseMap(), chunkTags(hx(h[0]), "0", hx(h[1]), "1", hx(h[2]), "1")), ErrChunkIndex},
		{"chunk index leading zero", edit(baseMap(), chunkTags(hx(h[0]), "0", hx(h[1]), "01", hx(h[2]), "2")), ErrNumber},
		{"chunk index negative", edit(baseMap(), chunkTags(hx(h[0]), "0", hx(h[1]), "-1", hx(h[2]), "2")), ErrNumber},
		{"chunk index not a number", edit(baseMap(), chunkTags(hx(h[0]), "0", hx(h[1]), "one", hx(h[2]), "2")), ErrNumber},
		{"chunk index missing", edit(baseMap(), func(tags nostr.Tags) nostr.Tags {
			tags = chunkTags(hx(h[0]), "0", hx(h[1]), "1")(tags)
			return append(tags, nostr.Tag{"chunk", hx(h[2])})
		}), ErrTagArity},

		{"root mismatch (order)", edit(baseMap(), chunkTags(hx(h[1]), "0", hx(h[0]), "1", hx(h[2]), "2")), ErrRoot},
		{"root mismatch (value)", edit(baseMap(), setTag("x-hash", hx(h[0]))), ErrRoot},
		// [a b c c] has the root of [a b c]: only the size gives it away.
		{"duplicated last chunk", edit(baseMap(), addTag("chunk", hx(h[2]), "3")), ErrSize},

		{"size negative", edit(baseMap(), setTag("size", "-5")), ErrNumber},
		{"size not a number", edit(baseMap(), setTag("size", "1e6")), ErrNumber},
		{"size leading zero", edit(baseMap(), setTag("size", "010485860")), ErrNumber},
		{"size with space", edit(baseMap(), setTag("size", " 10485860")), ErrNumber},
		{"size too small for chunk count", edit(baseMap(), setTag("size", "3000")), ErrSize},
		{"size too large for chunk count", edit(baseMap(), setTag("size", strconv.Itoa(3*MaxChunkLen+1))), ErrSize},
		{"size zero with chunks", edit(baseMap(), setTag("size", "0")), ErrSize},
		{"size without chunks", edit(New(nil, 0), setTag("size", "10")), ErrSize},
		{"size 19 digits", edit(baseMap(), setTag("size", "1000000000000000000")), ErrNumber},

		{"chunk-size zero", edit(baseMap(), setTag("chunk-size", "0")), ErrChunkSize},
		{"chunk-size over 7 MiB", edit(baseMap(), setTag("chunk-size", strconv.Itoa(MaxChunkLen+1))), ErrChunkSize},
		{"chunk-size not a number", edit(baseMap(), setTag("chunk-size", "5MiB")), ErrNumber},

		{"too many chunks", &nostr.Event{Kind: 7001, Tags: func() nostr.Tags {
			tags := make(nostr.Tags, MaxChunks+1)
			for i := range tags {
				tags[i] = nostr.Tag{"chunk"}
			}
			return tags
		}()}, ErrTooManyChunks},

		{"gatekeeper not hex", edit(baseMap(), addTag("gatekeeper", "npub1xyz")), ErrGatekeeper},
		{"gatekeeper upper case", edit(baseMap(), setTag("gatekeeper", strings.ToUpper(pk1))), ErrGatekeeper},
		{"gatekeeper short", edit(baseMap(), setTag("gatekeeper", pk1[:62])), ErrGatekeeper},
		{"gatekeeper not on curve", edit(baseMap(), setTag("gatekeeper", strings.Repeat("ff", 32))), ErrGatekeeper},
		{"gatekeeper duplicated", edit(baseMap(), addTag("gatekeeper", pk1)), ErrGatekeeper},

		{"x-hash arity", edit(baseMap(), setTag("x-hash")), ErrTagArity},
		{"size arity", edit(baseMap(), setTag("size", "10485860", "bytes")), ErrTagArity},
		{"chunk arity", edit(baseMap(), addTag("chunk", hx(h[3]), "3", "extra")), ErrTagArity},
		{"gatekeeper arity", edit(baseMap(), addTag("gatekeeper", pk1, "wss://relay")), ErrTagArity},

		{"mime invalid", edit(baseMap(), setTag("mime", "not a mime")), ErrMIME},
		{"mime without subtype", edit(baseMap(), setTag("mime", "video")), ErrMIME},
		{"network empty", edit(baseMap(), setTag("t", "")), ErrNet},
		{"network duplicated", edit(baseMap(), addTag("t", "entropy")), ErrNet},

		{"init beyond size", edit(streamMap(), setTag("init", "10000000", "1235")), ErrInit},
		{"init zero length", edit(streamMap(), setTag("init", "0", "0")), ErrInit},
		{"init offset beyond size", edit(streamMap(), setTag("init", "99999999", "1")), ErrInit},
		{"init duplicated", edit(streamMap(), addTag("init", "0", "10")), ErrDuplicateTag},
		{"init arity", edit(streamMap(), setTag("init", "0")), ErrTagArity},

		{"chunk-info partial", edit(streamMap(), func(tags nostr.Tags) nostr.Tags { return tags[:len(tags)-1] }), ErrChunkInfo},
		{"chunk-info index duplicated", edit(streamMap(), func(tags nostr.Tags) nostr.Tags {
			tags[len(tags)-1] = nostr.Tag{"chunk-info", "1", "10000000", "1234", "0"}
			return tags
		}), ErrChunkIndex},
		{"chunk-info gap", edit(streamMap(), func(tags nostr.Tags) nostr.Tags {
			tags[len(tags)-1] = nostr.Tag{"chunk-info", "2", "10000001", "1233", "0"}
			return tags
		}), ErrChunkInfo},
		{"chunk-info sum not size", edit(streamMap(), func(tags nostr.Tags) nostr.Tags {
			tags[len(tags)-1] = nostr.Tag{"chunk-info", "2", "10000000", "1235", "0"}
			return tags
		}), ErrSize},
		{"chunk-info length zero", edit(streamMap(), func(tags nostr.Tags) nostr.Tags {
			tags[len(tags)-1] = nostr.Tag{"chunk-info", "2", "10000000", "0", "0"}
			return tags
		}), ErrChunkInfo},
		{"chunk-info length over 7 MiB", edit(New(hashes(1), MaxChunkLen+1), addTag("chunk-info", "0", "0", strconv.Itoa(MaxChunkLen+1), "0")), ErrChunkInfo},
		{"chunk-info bad duration", edit(streamMap(), func(tags nostr.Tags) nostr.Tags {
			tags[len(tags)-1] = nostr.Tag{"chunk-info", "2", "10000000", "1234", "-1"}
			return tags
		}), ErrNumber},
		{"chunk-info arity", edit(streamMap(), func(tags nostr.Tags) nostr.Tags {
			tags[len(tags)-1] = nostr.Tag{"chunk-info", "2", "10000000", "1234"}
			return tags
		}), ErrTagArity},
		{"chunk-info without chunks", edit(New(nil, 0), addTag("chunk-info", "0", "0", "1", "0")), ErrChunkInfo},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse(tc.ev)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse error = %v, want %v", err, tc.want)
			}
			if m != nil {
				t.Fatal("Parse returned a map with an error")
			}
			if !strings.HasPrefix(err.Error(), "parsing chunk map") {
				t.Fatalf("error lacks context: %v", err)
			}
		})
	}
}

func TestSizeBounds(t *testing.T) {
	cs := int64(DefaultChunkSize)
	for _, tc := range []struct {
		n    int
		size int64
		ok   bool
	}{
		{1, 1, true},
		{1, MaxChunkLen, true},
		{1, MaxChunkLen + 1, false},
		{2, cs*4/5 + 1, true}, // first chunk at 0.8 x chunk-size, last 1 byte
		{2, cs * 4 / 5, false},
		{3, 2*cs + 1, true},
		{3, 2 * cs * 4 / 5, false},
	} {
		m := New(hashes(tc.n), tc.size)
		err := m.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%d chunks, size %d: Validate = %v, want ok %v", tc.n, tc.size, err, tc.ok)
		}
	}
}

func TestValidateBuiltMaps(t *testing.T) {
	if err := baseMap().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := streamMap().Validate(); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		m    *Map
		want error
	}{
		"negative size":       {&Map{Root: merkle.Root(nil), Size: -1, ChunkSize: 1}, ErrSize},
		"too many chunks":     {&Map{Chunks: make([][32]byte, MaxChunks+1), ChunkSize: 1}, ErrTooManyChunks},
		"extras without net":  {&Map{Root: merkle.Root(nil), ChunkSize: 1, ExtraNets: []string{"x"}}, ErrNet},
		"empty extra net":     {&Map{Root: merkle.Root(nil), ChunkSize: 1, Net: "a", ExtraNets: []string{""}}, ErrNet},
		"too many gatekeeper": {&Map{Root: merkle.Root(nil), ChunkSize: 1, Gatekeepers: make([]string, MaxGatekeepers+1)}, ErrGatekeeper},
		"negative init":       {&Map{Root: merkle.Root(hashes(1)), Chunks: hashes(1), Size: 10, ChunkSize: 10, Init: &ByteRange{Offset: -1, Length: 2}}, ErrInit},
		"chunk-info count":    {&Map{Root: merkle.Root(hashes(1)), Chunks: hashes(1), Size: 10, ChunkSize: 10, ChunkInfo: []ChunkInfo{}}, ErrChunkInfo},
		"negative duration":   {&Map{Root: merkle.Root(hashes(1)), Chunks: hashes(1), Size: 10, ChunkSize: 10, ChunkInfo: []ChunkInfo{{Length: 10, DurationMs: -1}}}, ErrChunkInfo},
	}
	for name, tc := range cases {
		if err := tc.m.Validate(); !errors.Is(err, tc.want) {
			t.Errorf("%s: Validate = %v, want %v", name, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, m := range []*Map{baseMap(), streamMap(), New(nil, 0), New(hashes(1), 1)} {
		ev := m.Event()
		tags, err := json.Marshal(ev.Tags)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ev.Kind, tags, ev.Content)
	}
	f.Add(7001, []byte(`[["x-hash","e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],["size","0"],["chunk-size","1"]]`), "")
	f.Fuzz(func(t *testing.T, kind int, tagsJSON []byte, content string) {
		var tags nostr.Tags
		if json.Unmarshal(tagsJSON, &tags) != nil {
			return
		}
		ev := &nostr.Event{Kind: kind, Tags: tags, Content: content}
		m, err := Parse(ev)
		if err != nil {
			if m != nil {
				t.Fatal("map and error")
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("parsed map does not validate: %v", err)
		}
		ev2 := m.Event()
		m2, err := Parse(&ev2)
		if err != nil {
			t.Fatalf("Parse(Event(m)): %v", err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed the map:\n%+v\n%+v", m, m2)
		}
		ev3 := m2.Event()
		if !reflect.DeepEqual(ev2, ev3) {
			t.Fatal("Event is not deterministic")
		}
	})
}

package chunkmap

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cairn-nostr/cairn/nostr"
)

func baseFile() *FileMetadata {
	m := baseMap()
	f := m.FileMetadata("https://node.example/media/film.mp4", sha256.Sum256([]byte("whole file")))
	f.Dim = "1920x1080"
	return f
}

func TestFileMetadataLayout(t *testing.T) {
	f := baseFile()
	ev := f.Event()
	fileHash := sha256.Sum256([]byte("whole file"))
	want := nostr.Tags{
		{"url", "https://node.example/media/film.mp4"},
		{"m", "video/mp4"},
		{"x", hx(fileHash)},
		{"size", "10485860"},
		{"dim", "1920x1080"},
		{"alt", "A film"},
		{"x-hash", hx(baseMap().Root)},
	}
	if ev.Kind != 1063 || ev.Content != "about things" {
		t.Fatalf("event = %+v", ev)
	}
	if !reflect.DeepEqual(ev.Tags, want) {
		t.Fatalf("tags = %v\nwant %v", ev.Tags, want)
	}

	// Optional tags are left out when empty.
	minimal := &FileMetadata{URL: "https://x.example/f", MIME: "application/octet-stream", SHA256: fileHash}
	if got := minimal.Event().Tags; len(got) != 3 {
		t.Fatalf("minimal tags = %v", got)
	}
	if m := (&Map{}).FileMetadata("https://x.example/f", fileHash); m.MIME != "application/octet-stream" {
		t.Fatalf("default MIME = %q", m.MIME)
	}
}

func TestFileMetadataRoundTrip(t *testing.T) {
	for _, f := range []*FileMetadata{
		baseFile(),
		{URL: "magnet:?xt=urn:btih:abc", MIME: "image/png", SHA256: sha256.Sum256(nil)},
	} {
		ev := f.Event()
		got, err := ParseFileMetadata(&ev)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, f) {
			t.Fatalf("round trip = %+v, want %+v", got, f)
		}
	}
}

func TestParseFileMetadataForeign(t *testing.T) {
	// A NIP-94 event from another client, with tags cairn ignores.
	x := hx(sha256.Sum256([]byte("pic")))
	ev := &nostr.Event{Kind: 1063, Content: "my cat", Tags: nostr.Tags{
		{"url", "https://cdn.example/cat.jpg"},
		{"m", "image/jpeg"},
		{"x", x},
		{"ox", x},
		{"size", "12345"},
		{"dim", "800x600"},
		{"blurhash", "LEHV6nWB2yk8pyo0adR*.7kCMdnj"},
		{"fallback", "https://other.example/cat.jpg"},
	}}
	f, err := ParseFileMetadata(ev)
	if err != nil {
		t.Fatal(err)
	}
	if f.URL != "https://cdn.example/cat.jpg" || f.Size != 12345 || f.Dim != "800x600" || f.Root != ([32]byte{}) || f.Description != "my cat" {
		t.Fatalf("parsed %+v", f)
	}
}

func TestParseFileMetadataRefusals(t *testing.T) {
	fe := func(fn func(nostr.Tags) nostr.Tags) *nostr.Event {
		ev := baseFile().Event()
		ev.Tags = fn(ev.Tags)
		return &ev
	}
	cases := []struct {
		name string
		ev   *nostr.Event
		want error
	}{
		{"nil", nil, ErrKind},
		{"wrong kind", func() *nostr.Event { e := baseFile().Event(); e.Kind = 7001; return &e }(), ErrKind},
		{"missing url", fe(dropTag("url")), ErrMissingTag},
		{"missing m", fe(dropTag("m")), ErrMissingTag},
		{"missing x", fe(dropTag("x")), ErrMissingTag},
		{"duplicate url", fe(addTag("url", "https://b.example/")), ErrDuplicateTag},
		{"duplicate x", fe(addTag("x", hx(sha256.Sum256(nil)))), ErrDuplicateTag},
		{"duplicate x-hash", fe(addTag("x-hash", hx(sha256.Sum256(nil)))), ErrDuplicateTag},
		{"url relative", fe(setTag("url", "/media/film.mp4")), ErrURL},
		{"url empty", fe(setTag("url", "")), ErrURL},
		{"url with space", fe(setTag("url", "https://a.example/my film.mp4")), ErrURL},
		{"url no host", fe(setTag("url", "https://")), ErrURL},
		{"mime invalid", fe(setTag("m", "mp4")), ErrMIME},
		{"mime empty", fe(setTag("m", "")), ErrMIME},
		{"x not hex", fe(setTag("x", strings.Repeat("g", 64))), ErrHex},
		{"x upper case", fe(setTag("x", strings.Repeat("A", 64))), ErrHex},
		{"x short", fe(setTag("x", "abcd")), ErrHex},
		{"x-hash not hex", fe(setTag("x-hash", "root")), ErrHex},
		{"size negative", fe(setTag("size", "-1")), ErrNumber},
		{"size not a number", fe(setTag("size", "12kB")), ErrNumber},
		{"dim no x", fe(setTag("dim", "1920")), ErrDim},
		{"dim zero", fe(setTag("dim", "0x1080")), ErrDim},
		{"dim leading zero", fe(setTag("dim", "01920x1080")), ErrDim},
		{"dim letters", fe(setTag("dim", "wide x tall")), ErrDim},
		{"dim too big", fe(setTag("dim", "1234567x1")), ErrDim},
		{"dim upper X", fe(setTag("dim", "1920X1080")), ErrDim},
		{"url arity", fe(setTag("url", "https://a.example/", "extra")), ErrTagArity},
		{"m arity", fe(setTag("m")), ErrTagArity},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseFileMetadata(tc.ev)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			if f != nil {
				t.Fatal("metadata returned with error")
			}
			if !strings.HasPrefix(err.Error(), "parsing file metadata") {
				t.Fatalf("error lacks context: %v", err)
			}
		})
	}
	if err := (&FileMetadata{URL: "https://a.example/", MIME: "a/b", Size: -1}).Validate(); !errors.Is(err, ErrSize) {
		t.Fatalf("Validate(negative size) = %v", err)
	}
}

func FuzzParseFileMetadata(f *testing.F) {
	for _, fm := range []*FileMetadata{baseFile(), {URL: "magnet:?xt=urn:btih:abc", MIME: "image/png"}} {
		ev := fm.Event()
		tags, err := json.Marshal(ev.Tags)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ev.Kind, tags, ev.Content)
	}
	f.Fuzz(func(t *testing.T, kind int, tagsJSON []byte, content string) {
		var tags nostr.Tags
		if json.Unmarshal(tagsJSON, &tags) != nil {
			return
		}
		fm, err := ParseFileMetadata(&nostr.Event{Kind: kind, Tags: tags, Content: content})
		if err != nil {
			return
		}
		ev := fm.Event()
		fm2, err := ParseFileMetadata(&ev)
		if err != nil {
			t.Fatalf("Parse(Event(f)): %v", err)
		}
		if !reflect.DeepEqual(fm, fm2) {
			t.Fatalf("round trip changed metadata:\n%+v\n%+v", fm, fm2)
		}
	})
}

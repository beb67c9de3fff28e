package chunkmap

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cairn-nostr/cairn/nostr"
)

const testIH = "0123456789abcdef0123456789abcdef01234567"

// magnetFor is a magnet as the node writes it, for a file of size bytes.
func magnetFor(size string) string {
	return "magnet:?xt=urn:btih:" + testIH + "&dn=film.mp4&ws=http%3A%2F%2F127.0.0.1%3A7447%2Fabc&xl=" + size + "&xs=http%3A%2F%2F127.0.0.1%3A7447%2Fbt%2Fabc.torrent"
}

func TestParseMagnet(t *testing.T) {
	m, err := ParseMagnet(magnetFor("42"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Magnet{Name: "film.mp4", Length: 42, WebSeeds: []string{"http://127.0.0.1:7447/abc"}, Source: "http://127.0.0.1:7447/bt/abc.torrent"}
	copy(want.InfoHash[:], []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67})
	if !reflect.DeepEqual(m, want) || m.InfoHashHex() != testIH {
		t.Fatalf("got %+v\nwant %+v", m, want)
	}
	// Parameters cairn does not read are allowed.
	if _, err := ParseMagnet("magnet:?xt=urn:btih:" + testIH + "&tr=udp%3A%2F%2F127.0.0.1%3A1&x.pe=127.0.0.1:6881"); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{
		"not a magnet":     "https://x.example/?xt=urn:btih:" + testIH,
		"no xt":            "magnet:?dn=x",
		"two xt":           "magnet:?xt=urn:btih:" + testIH + "&xt=urn:btih:" + testIH,
		"v2 only":          "magnet:?xt=urn:btmh:1220" + strings.Repeat("ab", 32),
		"upper-case hash":  "magnet:?xt=urn:btih:" + strings.ToUpper(testIH),
		"base32 hash":      "magnet:?xt=urn:btih:" + strings.Repeat("A", 32),
		"short hash":       "magnet:?xt=urn:btih:abcd",
		"not hex":          "magnet:?xt=urn:btih:" + strings.Repeat("zz", 20),
		"xl not canonical": "magnet:?xt=urn:btih:" + testIH + "&xl=042",
		"xl negative":      "magnet:?xt=urn:btih:" + testIH + "&xl=-1",
		"two xl":           "magnet:?xt=urn:btih:" + testIH + "&xl=1&xl=1",
		"ws relative":      "magnet:?xt=urn:btih:" + testIH + "&ws=%2Fabc",
		"ws not http":      "magnet:?xt=urn:btih:" + testIH + "&ws=ftp%3A%2F%2Fa.example%2Fx",
		"xs not http":      "magnet:?xt=urn:btih:" + testIH + "&xs=file%3A%2F%2F%2Fetc%2Fpasswd",
		"bad escape":       "magnet:?xt=urn:btih:" + testIH + "&dn=%zz",
		"too long":         "magnet:?xt=urn:btih:" + testIH + "&dn=" + strings.Repeat("a", MaxMagnetLen),
	} {
		if _, err := ParseMagnet(s); !errors.Is(err, ErrMagnet) {
			t.Errorf("%s: got %v, want ErrMagnet", name, err)
		}
	}
}

func TestMapMagnet(t *testing.T) {
	m := baseMap()
	m.Magnet = magnetFor("10485860")
	ev := m.Event()
	if last := ev.Tags[len(ev.Tags)-1]; !reflect.DeepEqual(last, nostr.Tag{"magnet", m.Magnet}) {
		t.Fatalf("last tag %v", last)
	}
	got, err := Parse(&ev)
	if err != nil || got.Magnet != m.Magnet {
		t.Fatalf("round trip: %v %q", err, got.Magnet)
	}
	for name, c := range map[string]struct {
		ev   *nostr.Event
		want error
	}{
		"two magnets":    {edit(m, addTag("magnet", m.Magnet)), ErrDuplicateTag},
		"arity":          {edit(m, setTag("magnet", m.Magnet, "x")), ErrTagArity},
		"xl is not size": {edit(m, setTag("magnet", magnetFor("10485861"))), ErrMagnet},
		"no xl":          {edit(m, setTag("magnet", "magnet:?xt=urn:btih:"+testIH)), ErrMagnet},
		"bad infohash":   {edit(m, setTag("magnet", "magnet:?xt=urn:btih:abc&xl=10485860")), ErrMagnet},
		"not a magnet":   {edit(m, setTag("magnet", "http://a.example/x")), ErrMagnet},
	} {
		if _, err := Parse(c.ev); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
}

func TestFileMetadataMagnet(t *testing.T) {
	f := baseFile()
	f.Magnet = magnetFor("10485860")
	ev := f.Event()
	n := len(ev.Tags)
	if !reflect.DeepEqual(ev.Tags[n-2:], nostr.Tags{{"magnet", f.Magnet}, {"i", testIH}}) {
		t.Fatalf("tags %v", ev.Tags[n-2:])
	}
	got, err := ParseFileMetadata(&ev)
	if err != nil || got.Magnet != f.Magnet || got.InfoHash != testIH {
		t.Fatalf("round trip: %v %+v", err, got)
	}
	fe := func(fn func(nostr.Tags) nostr.Tags) *nostr.Event {
		ev := f.Event()
		ev.Tags = fn(ev.Tags)
		return &ev
	}
	other := strings.Repeat("ab", 20)
	for name, c := range map[string]struct {
		ev   *nostr.Event
		want error
	}{
		"two magnets":         {fe(addTag("magnet", f.Magnet)), ErrDuplicateTag},
		"i is not the magnet": {fe(setTag("i", other)), ErrMagnet},
		"i not hex":           {fe(setTag("i", strings.Repeat("zz", 20))), ErrMagnet},
		"i upper case":        {fe(setTag("i", strings.ToUpper(testIH))), ErrMagnet},
		"xl is not size":      {fe(setTag("magnet", magnetFor("7"))), ErrMagnet},
		"bad magnet":          {fe(setTag("magnet", "magnet:?xt=urn:btih:zz")), ErrMagnet},
	} {
		if _, err := ParseFileMetadata(c.ev); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	// An i tag alone (another client's torrent) is read.
	ev = baseFile().Event()
	ev.Tags = append(ev.Tags, nostr.Tag{"i", other})
	if got, err := ParseFileMetadata(&ev); err != nil || got.InfoHash != other {
		t.Fatalf("i alone: %v", err)
	}
}

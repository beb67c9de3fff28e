package event

import (
	"errors"
	"strings"
	"testing"

	"github.com/cairn-nostr/cairn/nostr"
)

func signed(t *testing.T, content string) *nostr.Event {
	t.Helper()
	ev := &nostr.Event{Kind: 1, CreatedAt: 1700000000, Tags: nostr.Tags{{"t", "x"}}, Content: content}
	if err := ev.Sign(strings.Repeat("01", 32)); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestDecodeAndVerify(t *testing.T) {
	ev := signed(t, "hello")
	raw, _ := ev.MarshalJSON()
	for name, dec := range map[string]func([]byte) (*nostr.Event, error){"Decode": Decode, "DecodeStrict": DecodeStrict} {
		got, err := dec(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := Check(got, ev.ID); err != nil {
			t.Fatalf("%s: Check: %v", name, err)
		}
	}
	bad := map[string]string{
		"trailing":  string(raw) + `{}`,
		"no sig":    strings.Replace(string(raw), `"sig"`, `"sog"`, 1),
		"kind type": strings.Replace(string(raw), `"kind":1`, `"kind":"1"`, 1),
		"upper hex": strings.Replace(string(raw), ev.ID, strings.ToUpper(ev.ID), 1),
		"empty":     ``,
		"empty tag": strings.Replace(string(raw), `[["t","x"]]`, `[[]]`, 1),
	}
	for name, s := range bad {
		if _, err := Decode([]byte(s)); err == nil {
			t.Errorf("Decode accepted %s", name)
		}
		if _, err := DecodeStrict([]byte(s)); err == nil {
			t.Errorf("DecodeStrict accepted %s", name)
		}
	}
}

func TestCheckRefuses(t *testing.T) {
	a, b := signed(t, "a"), signed(t, "b")
	if err := Check(b, a.ID); !errors.Is(err, ErrNotAsked) {
		t.Errorf("another validly signed event: %v, want ErrNotAsked", err)
	}
	tampered := *a
	tampered.Content = "changed"
	if err := Check(&tampered, a.ID); !errors.Is(err, ErrID) {
		t.Errorf("changed content: %v, want ErrID", err)
	}
	forged := *a
	forged.Sig = strings.Repeat("ab", 64)
	if err := Verify(&forged); !errors.Is(err, ErrSignature) {
		t.Errorf("forged sig: %v, want ErrSignature", err)
	}
}

func TestParseHex32(t *testing.T) {
	if _, err := ParseHex32(strings.Repeat("a", 64)); err != nil {
		t.Error(err)
	}
	for _, s := range []string{"", strings.Repeat("A", 64), strings.Repeat("a", 63), strings.Repeat("g", 64)} {
		if _, err := ParseHex32(s); err == nil {
			t.Errorf("ParseHex32(%q) accepted", s)
		}
	}
}

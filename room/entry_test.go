package room

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cairn-nostr/cairn/nostr"
)

func TestRoomID(t *testing.T) {
	var creator [32]byte
	var nonce [16]byte
	for i := range creator {
		creator[i] = byte(i)
	}
	nonce[15] = 1
	// Computed outside Go:
	//   { printf 'cairn-room-v1\x00'; python3 -c 'import sys; sys.stdout.buffer.write(
	//     bytes(range(32)) + b"\x00\x04test" + bytes(15) + b"\x01")'; } | sha256sum
	got := RoomID(creator, "test", nonce)
	if len(got) != 64 || got == RoomID(creator, "tes", nonce) || got == RoomID(creator, "test", [16]byte{}) {
		t.Fatalf("room id %s", got)
	}
	if want := "f851b9fbc09f26fb38ada65834d2a12de8f24461e2181881dd18ee112577076f"; got != want {
		t.Errorf("room id %s, want %s (the byte layout changed)", got, want)
	}
}

// signed is an entry of tags in room r, signed by A.
func signed(t testing.TB, kind int, tags ...nostr.Tag) []byte {
	ev := &nostr.Event{Kind: kind, CreatedAt: nostr.Timestamp(testBase.Unix()), Tags: tags, Content: ""}
	if err := ev.Sign(key("A")); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(ev)
	return raw
}

func TestDecodeEntry(t *testing.T) {
	room := strings.Repeat("ab", 32)
	prev := strings.Repeat("cd", 32)
	b := pub("B")
	link := []nostr.Tag{{"h", room}, {"prev", prev}, {"seq", "3"}, {"lamport", "9"}}
	with := func(extra ...nostr.Tag) []nostr.Tag { return append(append([]nostr.Tag{}, link...), extra...) }
	ok := func(kind int, tags ...nostr.Tag) []byte { return signed(t, kind, tags...) }
	for _, tc := range []struct {
		name string
		raw  []byte
		want error // nil: decodes
	}{
		{"grant", ok(9000, with(nostr.Tag{"p", b, "mod"})...), nil},
		{"revoke", ok(9001, with(nostr.Tag{"p", b})...), nil},
		{"ban with reason", ok(9001, with(nostr.Tag{"p", b}, nostr.Tag{"ban"}, nostr.Tag{"reason", "spam"})...), nil},
		{"unknown tags skipped", ok(9001, with(nostr.Tag{"p", b}, nostr.Tag{"x-later", "1"}, nostr.Tag{"previous", "abcd1234"})...), nil},
		{"role", ok(9002, with(nostr.Tag{"role", "helper", "ban,delete", "200"})...), nil},
		{"policy", ok(9002, with(nostr.Tag{"name", "lobby"}, nostr.Tag{"unrestricted"}, nostr.Tag{"private"})...), nil},
		{"not an entry kind", ok(9, with()...), ErrMalformed},
		{"too large", ok(9002, with(nostr.Tag{"about", strings.Repeat("x", MaxEntryJSON)})...), ErrTooLarge},
		{"not json", []byte(`{"id":`), ErrMalformed},
		{"no h", ok(9001, nostr.Tag{"prev", prev}, nostr.Tag{"seq", "1"}, nostr.Tag{"lamport", "1"}, nostr.Tag{"p", b}), ErrMalformed},
		{"two h", ok(9001, with(nostr.Tag{"h", room}, nostr.Tag{"p", b})...), ErrMalformed},
		{"no prev", ok(9001, nostr.Tag{"h", room}, nostr.Tag{"seq", "1"}, nostr.Tag{"lamport", "1"}, nostr.Tag{"p", b}), ErrMalformed},
		{"seq 0", ok(9001, nostr.Tag{"h", room}, nostr.Tag{"prev", prev}, nostr.Tag{"seq", "0"}, nostr.Tag{"lamport", "1"}, nostr.Tag{"p", b}), ErrMalformed},
		{"leading zero", ok(9001, nostr.Tag{"h", room}, nostr.Tag{"prev", prev}, nostr.Tag{"seq", "01"}, nostr.Tag{"lamport", "1"}, nostr.Tag{"p", b}), ErrMalformed},
		{"prev not hex", ok(9001, nostr.Tag{"h", room}, nostr.Tag{"prev", "xyz"}, nostr.Tag{"seq", "1"}, nostr.Tag{"lamport", "1"}, nostr.Tag{"p", b}), ErrMalformed},
		{"p not hex", ok(9001, with(nostr.Tag{"p", "B"})...), ErrMalformed},
		{"no p", ok(9001, with()...), ErrMalformed},
		{"two roles", ok(9000, with(nostr.Tag{"p", b, "mod", "member"})...), ErrMalformed},
		{"no role", ok(9000, with(nostr.Tag{"p", b})...), ErrMalformed},
		{"banned as a role", ok(9000, with(nostr.Tag{"p", b, "banned"})...), ErrMalformed},
		{"role name", ok(9000, with(nostr.Tag{"p", b, "Mod"})...), ErrMalformed},
		{"ban on put-user", ok(9000, with(nostr.Tag{"p", b, "mod"}, nostr.Tag{"ban"})...), ErrMalformed},
		{"ban and unban", ok(9001, with(nostr.Tag{"p", b}, nostr.Tag{"ban"}, nostr.Tag{"unban"})...), ErrMalformed},
		{"ban with a value", ok(9001, with(nostr.Tag{"p", b}, nostr.Tag{"ban", "spam"})...), ErrMalformed},
		{"unknown capability", ok(9002, with(nostr.Tag{"role", "helper", "ban,fly", "200"})...), ErrMalformed},
		{"rank of an owner", ok(9002, with(nostr.Tag{"role", "helper", "ban", "1000"})...), ErrMalformed},
		{"role arity", ok(9002, with(nostr.Tag{"role", "helper", "ban"})...), ErrMalformed},
		{"role and policy", ok(9002, with(nostr.Tag{"role", "helper", "ban", "5"}, nostr.Tag{"name", "x"})...), ErrMalformed},
		{"nothing to edit", ok(9002, with()...), ErrMalformed},
		{"contradicting flags", ok(9002, with(nostr.Tag{"open"}, nostr.Tag{"closed"})...), ErrMalformed},
		{"flag with a value", ok(9002, with(nostr.Tag{"open", "yes"})...), ErrMalformed},
		{"name too long", ok(9002, with(nostr.Tag{"name", strings.Repeat("n", MaxName+1)})...), ErrMalformed},
		{"too many tags", ok(9002, append(with(), make([]nostr.Tag, MaxTags)...)...), ErrMalformed},
		{"role tag on put-user", ok(9000, with(nostr.Tag{"p", b, "mod"}, nostr.Tag{"role", "helper", "ban", "5"})...), ErrMalformed},
		{"genesis with p", genesisWith(t, nostr.Tag{"p", b}), ErrMalformed},
		{"genesis", genesisWith(t), nil},
		{"genesis with prev", ok(9007, with(nostr.Tag{"name", "x"}, nostr.Tag{"nonce", strings.Repeat("0", 32)})...), ErrMalformed},
		{"genesis of another id", ok(9007, nostr.Tag{"h", room}, nostr.Tag{"name", "x"}, nostr.Tag{"nonce", strings.Repeat("0", 32)}), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "too many tags" {
				var ev nostr.Event
				json.Unmarshal(tc.raw, &ev)
				for i := range ev.Tags {
					if len(ev.Tags[i]) == 0 {
						ev.Tags[i] = nostr.Tag{"t", "x"}
					}
				}
				ev.Sign(key("A"))
				tc.raw, _ = json.Marshal(ev)
			}
			_, err := DecodeEntry(tc.raw)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
		})
	}
	// A bad signature.
	raw := ok(9001, with(nostr.Tag{"p", b})...)
	raw = []byte(strings.Replace(string(raw), `"content":""`, `"content":"x"`, 1))
	if _, err := DecodeEntry(raw); !errors.Is(err, ErrForged) {
		t.Fatalf("altered: %v", err)
	}
}

// TestEntryRoundTrip: what NewEntry builds, ParseEntry reads back.
func TestEntryRoundTrip(t *testing.T) {
	yes, no, name := true, false, "lobby"
	room := strings.Repeat("ab", 32)
	p := Point{Prev: strings.Repeat("cd", 32), Seq: 4, Lamport: 11}
	for _, a := range []Action{
		Grant(pub("B"), RoleMod), Revoke(pub("B")), Ban(pub("C")), Unban(pub("C")),
		{Op: OpBan, Target: pub("C"), Reason: "spam"},
		DefineRole("helper", CanBan|CanPin|CanManageChannels, 300),
		DefineRole("quiet", 0, 1),
		SetPolicy(PolicyChange{Name: &name, Open: &yes, Public: &no, JoinOpen: &yes}),
	} {
		ev := NewEntry(room, p, a, testBase)
		ev.Sign(key("A"))
		raw, _ := json.Marshal(ev)
		e, err := DecodeEntry(raw)
		if err != nil {
			t.Fatalf("%s: %v", a.Op, err)
		}
		if !reflect.DeepEqual(e.Action, a) || e.Room != room || e.Prev != p.Prev || e.Seq != p.Seq || e.Lamport != p.Lamport {
			t.Errorf("%s: read back %+v", a.Op, e.Action)
		}
	}
}

func TestCaps(t *testing.T) {
	for c := Caps(0); c <= AllCaps; c++ {
		got, err := ParseCaps(c.String())
		if err != nil || got != c {
			t.Fatalf("%d: %q read as %d, %v", c, c.String(), got, err)
		}
	}
	for _, bad := range []string{"ban,ban", ",", "ban,", "BAN", "fly"} {
		if _, err := ParseCaps(bad); err == nil {
			t.Errorf("%q read", bad)
		}
	}
}

// genesisWith is A's genesis of room "x", nonce 0, with extra tags.
func genesisWith(t testing.TB, extra ...nostr.Tag) []byte {
	g := Genesis(pub("A"), "x", [16]byte{}, testBase)
	g.Tags = append(g.Tags, extra...)
	g.Sign(key("A"))
	raw, _ := json.Marshal(g)
	return raw
}

package room

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cairn-nostr/cairn/nostr"
)

// Channels: holders of manage-channels define, rename and archive them;
// a message names its channel in a channel tag (none: general) and is
// refused in a channel that does not exist or is archived.
func TestChannels(t *testing.T) {
	c := buildChain(t, "G -> grant(mod:B) -> role(chan:manage-channels:300) -> grant(chan:C) -> grant(member:D) -> "+
		"channel(dev:Development) -> B:channel(x:X)!denied -> D:channel(y:Y)!denied -> C:channel(ops:Operations) -> "+
		"C:channel(dev:Dev talk) -> C:channel(ops:Operations:archived) -> C:channel(general:General) -> C:channel(general:General:archived)!denied", 1)
	l := c.replay(t)
	want := map[string]Channel{GeneralChannel: {Name: "General"}, "dev": {Name: "Dev talk"}, "ops": {Name: "Operations", Archived: true}}
	if len(l.State.Channels) != len(want) {
		t.Fatalf("channels %v", l.State.Channels)
	}
	for id, ch := range want {
		if l.State.Channels[id] != ch {
			t.Errorf("channel %s: %+v, want %+v", id, l.State.Channels[id], ch)
		}
	}
	v := l.View()
	var ids []string
	for _, ch := range v.Channels {
		ids = append(ids, ch.ID)
	}
	if !slices.Equal(ids, []string{"general", "dev", "ops"}) || !v.Channels[2].Archived {
		t.Errorf("view channels %+v", v.Channels)
	}
	msg := func(tags ...nostr.Tag) *nostr.Event {
		ev := &nostr.Event{Kind: KindChat, CreatedAt: nostr.Timestamp(testBase.Unix()), Tags: append(nostr.Tags{{"h", c.room}}, tags...), Content: "hi"}
		ev.Sign(key("D"))
		return ev
	}
	for name, tc := range map[string]struct {
		ev   *nostr.Event
		want error
	}{
		"no channel: general": {msg(), nil},
		"general":             {msg(nostr.Tag{"channel", "general"}), nil},
		"dev":                 {msg(nostr.Tag{"channel", "dev"}), nil},
		"archived":            {msg(nostr.Tag{"channel", "ops"}), ErrNoChannel},
		"unknown":             {msg(nostr.Tag{"channel", "x"}), ErrNoChannel},
	} {
		if err := l.State.MayPost(tc.ev); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func TestDecodeChannel(t *testing.T) {
	room := strings.Repeat("ab", 32)
	id := strings.Repeat("cd", 32)
	chain := []nostr.Tag{{"h", room}, {"prev", id}, {"seq", "1"}, {"lamport", "1"}}
	with := func(kind int, extra ...nostr.Tag) []byte {
		return signed(t, kind, append(slices.Clone(chain), extra...)...)
	}
	e, err := DecodeEntry(with(KindEditMeta, nostr.Tag{"channel", "dev", "Development", "archived"}))
	if err != nil || e.Action.Op != OpChannel || e.Action.Channel != "dev" || e.Action.ChannelName != "Development" || !e.Action.Archived {
		t.Fatalf("%+v %v", e.Action, err)
	}
	for name, raw := range map[string][]byte{
		"no name":        with(KindEditMeta, nostr.Tag{"channel", "dev"}),
		"empty name":     with(KindEditMeta, nostr.Tag{"channel", "dev", ""}),
		"bad id":         with(KindEditMeta, nostr.Tag{"channel", "Dev!", "x"}),
		"unknown flag":   with(KindEditMeta, nostr.Tag{"channel", "dev", "x", "hidden"}),
		"two channels":   with(KindEditMeta, nostr.Tag{"channel", "a", "x"}, nostr.Tag{"channel", "b", "y"}),
		"and a policy":   with(KindEditMeta, nostr.Tag{"channel", "a", "x"}, nostr.Tag{"open"}),
		"and a role":     with(KindEditMeta, nostr.Tag{"channel", "a", "x"}, nostr.Tag{"role", "r", "", "5"}),
		"on a put-user":  with(KindPutUser, nostr.Tag{"channel", "a", "x"}, nostr.Tag{"p", id, "member"}),
		"name over 64 B": with(KindEditMeta, nostr.Tag{"channel", "a", strings.Repeat("n", MaxName+1)}),
	} {
		if _, err := DecodeEntry(raw); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

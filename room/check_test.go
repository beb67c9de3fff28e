package room

import (
	"errors"
	"testing"

	"github.com/cairn-nostr/cairn/nostr"
)

func msg(t *testing.T, room, who string, kind int, tags ...nostr.Tag) *nostr.Event {
	t.Helper()
	ev := &nostr.Event{Kind: kind, CreatedAt: nostr.Timestamp(testBase.Unix()), Tags: append(nostr.Tags{{"h", room}}, tags...), Content: "hi"}
	if err := ev.Sign(key(who)); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestMayPost(t *testing.T) {
	c := buildChain(t, "G -> grant(mod:B) -> grant(member:C) -> ban(D)", 1)
	s := c.replay(t).State
	for who, want := range map[string]error{"A": nil, "B": nil, "C": nil, "D": ErrBanned, "E": ErrNotMember} {
		if err := s.MayPost(msg(t, c.room, who, KindChat)); !errors.Is(err, want) {
			t.Errorf("%s posts: %v, want %v", who, err, want)
		}
	}
	other := buildChain(t, "G", 2)
	if err := s.MayPost(msg(t, other.room, "C", KindChat)); !errors.Is(err, ErrNotRoom) {
		t.Errorf("another room's message: %v", err)
	}
	if err := s.MayPost(msg(t, c.room, "A", KindPutUser, nostr.Tag{"p", pub("E")})); !errors.Is(err, ErrLogKind) {
		t.Errorf("a moderation kind as a message: %v", err)
	}
	m := msg(t, c.room, "C", KindChat)
	m.Content = "altered"
	if err := s.MayPost(m); err == nil {
		t.Error("an altered message passed")
	}
	// Unrestricted: anyone not banned.
	c = buildChain(t, "G -> ban(D) -> policy(unrestricted)", 1)
	s = c.replay(t).State
	if err := s.MayPost(msg(t, c.room, "E", KindChat)); err != nil {
		t.Errorf("open room: %v", err)
	}
	if err := s.MayPost(msg(t, c.room, "D", KindChat)); !errors.Is(err, ErrBanned) {
		t.Errorf("open room, banned: %v", err)
	}
}

func TestMayDelete(t *testing.T) {
	c := buildChain(t, "G -> grant(mod:B) -> grant(member:C) -> grant(member:E) -> role(janitor:delete:50) -> grant(janitor:D)", 1)
	s := c.replay(t).State
	byC := msg(t, c.room, "C", KindChat)
	authors := map[string]string{byC.ID: byC.PubKey}
	authorOf := func(id string) (string, bool) { a, ok := authors[id]; return a, ok }
	unknown := "00000000000000000000000000000000000000000000000000000000000000aa"
	for _, tc := range []struct {
		who    string
		target string
		want   error
	}{
		{"C", byC.ID, nil},            // its author
		{"E", byC.ID, ErrNotAllowed},  // another member
		{"B", byC.ID, nil},            // a mod
		{"D", byC.ID, nil},            // a custom role with delete
		{"C", unknown, ErrNotAllowed}, // unknown target, no capability
		{"B", unknown, nil},
	} {
		del := msg(t, c.room, tc.who, KindDelete, nostr.Tag{"e", tc.target})
		if err := s.MayDelete(del, authorOf); !errors.Is(err, tc.want) {
			t.Errorf("%s deletes %.8s: %v, want %v", tc.who, tc.target, err, tc.want)
		}
	}
	if err := s.MayDelete(msg(t, c.room, "B", KindDelete), authorOf); !errors.Is(err, ErrMalformed) {
		t.Errorf("a deletion naming nothing: %v", err)
	}
	if err := s.MayDelete(msg(t, c.room, "B", KindChat, nostr.Tag{"e", byC.ID}), authorOf); err == nil {
		t.Error("a kind 9 as a deletion")
	}
}

package room

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/nostr"
)

// request signs a request of who in room, dated at.
func request(t *testing.T, room, who string, kind int, at time.Time, tags ...nostr.Tag) *nostr.Event {
	t.Helper()
	ev := &nostr.Event{Kind: kind, CreatedAt: nostr.Timestamp(at.Unix()), Tags: append(nostr.Tags{{"h", room}}, tags...)}
	if err := ev.Sign(key(who)); err != nil {
		t.Fatal(err)
	}
	return ev
}

// placeBy has host H place req on the log of evs; it returns the signed
// placement and the log replayed with it.
func placeBy(t *testing.T, c *chain, evs []*nostr.Event, req *nostr.Event, at time.Time) (*nostr.Event, *Log, error) {
	t.Helper()
	l, err := Replay(c.room, evs, testNow)
	if err != nil {
		t.Fatal(err)
	}
	p, err := l.Place(req, at)
	if err != nil {
		return nil, l, err
	}
	if err := p.Sign(key("H")); err != nil {
		t.Fatal(err)
	}
	l2, err := Replay(c.room, append(evs, p), testNow)
	if err != nil {
		t.Fatal(err)
	}
	return p, l2, nil
}

func TestPlaceJoinLeave(t *testing.T) {
	c := buildChain(t, "G -> policy(open) -> grant(mod:B) -> ban(D)", 1)
	at := testNow.Add(-time.Minute)
	join := request(t, c.room, "C", KindJoinRequest, at)
	p, l, err := placeBy(t, c, c.events, join, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Err(p.ID); err != nil {
		t.Fatalf("placement rejected: %v", err)
	}
	if !l.State.Member(pub("C")) {
		t.Fatalf("C did not join: %s", users(l.State))
	}
	e, _ := ParseEntry(p)
	if e.Author != pub("C") || e.Placer != pub("H") || e.Via != KindJoinRequest || e.Kind != KindPutUser {
		t.Fatalf("placement entry %+v", e)
	}
	evs := append(c.events, p)

	// The same request again: refused by Place, and by Replay if a host
	// places it anyway (on a fork).
	if _, err := l.Place(join, at); !errors.Is(err, ErrReused) {
		t.Errorf("placing a request twice: %v", err)
	}
	again := NewEntry(c.room, Point{Prev: c.events[len(c.events)-1].ID, Seq: 4, Lamport: 9}, Grant(pub("C"), RoleMember), at)
	again.Tags = append(again.Tags, p.Tags.Find("request"))
	again.Sign(key("H"))
	l2, _ := Replay(c.room, append(evs, again), testNow)
	if err := l2.Err(again.ID); !errors.Is(err, ErrReused) {
		t.Errorf("a second placement of one request: %v", err)
	}

	// Refusals of joins: member, banned; and leaving.
	for who, want := range map[string]error{"C": ErrMember, "D": ErrBanned} {
		if _, _, err := placeBy(t, c, evs, request(t, c.room, who, KindJoinRequest, at.Add(time.Second)), at); !errors.Is(err, want) {
			t.Errorf("%s joins: %v, want %v", who, err, want)
		}
	}
	leave := request(t, c.room, "C", KindLeaveRequest, at)
	p, l, err = placeBy(t, c, evs, leave, at)
	if err != nil || l.Err(p.ID) != nil || l.State.Member(pub("C")) {
		t.Fatalf("C leaves: %v %v %s", err, l.Err(p.ID), users(l.State))
	}
	if _, _, err := placeBy(t, c, evs, request(t, c.room, "E", KindLeaveRequest, at), at); !errors.Is(err, ErrDenied) {
		t.Errorf("a non-member leaves: %v", err)
	}
	if _, _, err := placeBy(t, c, evs, request(t, c.room, "A", KindLeaveRequest, at), at); !errors.Is(err, ErrDenied) {
		t.Errorf("the creator leaves: %v", err)
	}
}

func TestPlaceClosed(t *testing.T) {
	c := buildChain(t, "G -> grant(mod:B)", 1)
	at := testNow.Add(-time.Minute)
	join := request(t, c.room, "C", KindJoinRequest, at)
	if _, _, err := placeBy(t, c, c.events, join, at); !errors.Is(err, ErrClosed) {
		t.Fatalf("a join to a closed room: %v", err)
	}
	// Placed anyway: Replay refuses it.
	raw, _ := join.MarshalJSON()
	p := NewEntry(c.room, Point{Prev: c.events[1].ID, Seq: 2, Lamport: 2}, Grant(pub("C"), RoleMember), at)
	p.Tags = append(p.Tags, nostr.Tag{"request", string(raw)})
	p.Sign(key("H"))
	l, _ := Replay(c.room, append(c.events, p), testNow)
	if err := l.Err(p.ID); !errors.Is(err, ErrDenied) || l.State.Member(pub("C")) {
		t.Fatalf("a forced join to a closed room: %v", err)
	}
}

func TestPlaceModeration(t *testing.T) {
	c := buildChain(t, "G -> grant(mod:B) -> grant(member:C) -> grant(member:D)", 1)
	at := testNow.Add(-time.Minute)
	// A mod's chain-less remove-user (nostr-tools' template) is placed.
	rm := request(t, c.room, "B", KindRemoveUser, at, nostr.Tag{"p", pub("C")}, nostr.Tag{"previous", "abcd0123"})
	rm.Content = "spam"
	rm.Sign(key("B"))
	p, l, err := placeBy(t, c, c.events, rm, at)
	if err != nil {
		t.Fatalf("mod removes C: %v", err)
	}
	if l.Err(p.ID) != nil || l.State.Member(pub("C")) {
		t.Fatalf("mod removes C: %v %s", l.Err(p.ID), users(l.State))
	}
	if r := p.Tags.Find("reason"); r == nil || r[1] != "spam" {
		t.Errorf("the request's content is not the reason: %v", p.Tags)
	}
	// Not a mod: refused by Place and by Replay.
	byD := request(t, c.room, "D", KindRemoveUser, at, nostr.Tag{"p", pub("B")})
	if _, _, err := placeBy(t, c, c.events, byD, at); !errors.Is(err, ErrDenied) {
		t.Errorf("a member removes the mod: %v", err)
	}
	// put-user without a role asks for member; with two it is refused.
	put := request(t, c.room, "B", KindPutUser, at, nostr.Tag{"p", pub("E")})
	if p, l, err := placeBy(t, c, c.events, put, at); err != nil || l.Err(p.ID) != nil || l.State.Users[pub("E")] != RoleMember {
		t.Errorf("put-user without role: %v", err)
	}
	two := request(t, c.room, "A", KindPutUser, at, nostr.Tag{"p", pub("E"), "mod", "member"})
	if _, _, err := placeBy(t, c, c.events, two, at); !errors.Is(err, ErrMalformed) {
		t.Errorf("put-user with two roles: %v", err)
	}
	// A chain-less request stored beside the log is skipped, not refused.
	l, _ = Replay(c.room, append(c.events, rm), testNow)
	if len(l.Rejected) != 0 || l.Err(rm.ID) != nil {
		t.Errorf("an unplaced request was judged: %v", l.Rejected)
	}
	// A half-chained event is no request.
	half := request(t, c.room, "B", KindRemoveUser, at, nostr.Tag{"p", pub("C")}, nostr.Tag{"seq", "4"})
	if _, _, err := placeBy(t, c, c.events, half, at); !errors.Is(err, ErrNotRequest) {
		t.Errorf("a half-chained request: %v", err)
	}
}

// A mod revoked before its request is placed acts no more; placed at an
// old point of the chain, the revocation's concurrency rule refuses it.
func TestPlaceRevokedMod(t *testing.T) {
	c := buildChain(t, "G -> x=grant(mod:B) -> grant(member:C) -> revoke(B)", 1)
	at := testNow.Add(-time.Minute)
	rm := request(t, c.room, "B", KindRemoveUser, at, nostr.Tag{"p", pub("C")})
	if _, _, err := placeBy(t, c, c.events, rm, at); !errors.Is(err, ErrDenied) {
		t.Fatalf("revoked mod's request: %v", err)
	}
	raw, _ := rm.MarshalJSON()
	x, _ := ParseEntry(c.label["x"])
	p := NewEntry(c.room, Point{Prev: x.ID, Seq: 2, Lamport: 2}, Revoke(pub("C")), at)
	p.Tags = append(p.Tags, nostr.Tag{"request", string(raw)})
	p.Sign(key("H"))
	l, _ := Replay(c.room, append(c.events, p), testNow)
	if err := l.Err(p.ID); err == nil || !l.State.Member(pub("C")) {
		t.Fatalf("placed at an old point: %v, %s", err, users(l.State))
	}
}

// Tampered placements: each is refused with its reason.
func TestPlaceTamper(t *testing.T) {
	c := buildChain(t, "G -> policy(open)", 1)
	other := buildChain(t, "G -> policy(open)", 2)
	at := testNow.Add(-time.Minute)
	tip := Point{Prev: c.events[1].ID, Seq: 2, Lamport: 2}
	mk := func(a Action, req *nostr.Event, placedAt time.Time, alter func(raw []byte) []byte) *nostr.Event {
		raw, _ := req.MarshalJSON()
		if alter != nil {
			raw = alter(raw)
		}
		p := NewEntry(c.room, tip, a, placedAt)
		p.Tags = append(p.Tags, nostr.Tag{"request", string(raw)})
		p.Sign(key("H"))
		return p
	}
	join := request(t, c.room, "C", KindJoinRequest, at)
	for name, tc := range map[string]struct {
		ev   *nostr.Event
		want error
	}{
		"another action": {mk(Grant(pub("C"), RoleMod), join, at, nil), ErrMalformed},
		"another target": {mk(Grant(pub("D"), RoleMember), join, at, nil), ErrMalformed},
		"another room":   {mk(Grant(pub("C"), RoleMember), request(t, other.room, "C", KindJoinRequest, at), at, nil), ErrWrongRoom},
		"stale":          {mk(Grant(pub("C"), RoleMember), join, at.Add(MaxPlaceDelay+time.Second), nil), ErrMalformed},
		"forged": {mk(Grant(pub("C"), RoleMember), join, at, func(raw []byte) []byte {
			ev := *join
			ev.Content = "altered"
			b, _ := ev.MarshalJSON()
			return b
		}), ErrForged},
		"not json": {mk(Grant(pub("C"), RoleMember), join, at, func([]byte) []byte { return []byte("{") }), ErrMalformed},
		"a chat":   {mk(Grant(pub("C"), RoleMember), request(t, c.room, "C", KindChat, at), at, nil), ErrNotRequest},
	} {
		l, _ := Replay(c.room, append(c.events, tc.ev), testNow)
		if err := l.Err(tc.ev.ID); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
		if l.State.Member(pub("C")) || l.State.Member(pub("D")) {
			t.Errorf("%s: took effect", name)
		}
	}
	if _, err := Replay(c.room, c.events, testNow); err != nil {
		t.Fatal(err)
	}
	l, _ := Replay(c.room, c.events, testNow)
	if _, err := l.Place(request(t, c.room, "C", KindJoinRequest, testNow.Add(-MaxPlaceDelay-time.Second)), testNow); !errors.Is(err, ErrStale) {
		t.Errorf("a stale request: %v", err)
	}
	if _, err := l.Place(request(t, other.room, "C", KindJoinRequest, at), at); !errors.Is(err, ErrNotRoom) {
		t.Errorf("another room's request: %v", err)
	}
}

// Invites: a holder of invite makes a code (kind 9009); a join request
// carrying it admits its signer to a closed room, while the code's maker
// still holds invite.
func TestInvites(t *testing.T) {
	c := buildChain(t, "G -> grant(mod:B) -> grant(member:D) -> B:invite(abc) -> D:invite(nope)!denied -> B:invite(abc)!denied", 1)
	l := c.replay(t)
	if !l.State.ValidCode("abc") || l.State.ValidCode("nope") || l.State.ValidCode("") {
		t.Fatalf("invites %v", l.State.Invites)
	}
	at := testNow.Add(-time.Minute)
	withCode := func(who, code string) *nostr.Event {
		return request(t, c.room, who, KindJoinRequest, at, nostr.Tag{"code", code})
	}
	p, l2, err := placeBy(t, c, c.events, withCode("C", "abc"), at)
	if err != nil || l2.Err(p.ID) != nil || !l2.State.Member(pub("C")) {
		t.Fatalf("joining a closed room with a code: %v", err)
	}
	if e, _ := ParseEntry(p); e.Code != "abc" || e.Action.Op != OpGrant {
		t.Errorf("placement %+v", e)
	}
	if _, _, err := placeBy(t, c, c.events, withCode("E", "wrong"), at); !errors.Is(err, ErrBadCode) {
		t.Errorf("a wrong code: %v", err)
	}
	if _, _, err := placeBy(t, c, c.events, withCode("E", "bad code!"), at); !errors.Is(err, ErrMalformed) {
		t.Errorf("a malformed code: %v", err)
	}
	// The code's maker revoked: the code admits no one.
	r := buildChain(t, "G -> grant(mod:B) -> B:invite(abc) -> revoke(B)", 1)
	if _, _, err := placeBy(t, r, r.events, request(t, r.room, "C", KindJoinRequest, at, nostr.Tag{"code", "abc"}), at); !errors.Is(err, ErrBadCode) {
		t.Errorf("the code of a revoked mod: %v", err)
	}
	// A NIP-29 client's chain-less 9009 is placed like any request.
	inv := request(t, c.room, "B", KindInvite, at, nostr.Tag{"code", "xyz"})
	p, l2, err = placeBy(t, c, c.events, inv, at)
	if err != nil || l2.Err(p.ID) != nil || !l2.State.ValidCode("xyz") {
		t.Fatalf("a chain-less invite: %v", err)
	}
	// Decoder: a code only on 9009, and 9009 only with a code.
	for name, raw := range map[string][]byte{
		"code on a grant": signed(t, KindPutUser, nostr.Tag{"h", c.room}, nostr.Tag{"prev", c.events[0].ID}, nostr.Tag{"seq", "1"}, nostr.Tag{"lamport", "1"}, nostr.Tag{"p", pub("C"), "member"}, nostr.Tag{"code", "abc"}),
		"invite, no code": signed(t, KindInvite, nostr.Tag{"h", c.room}, nostr.Tag{"prev", c.events[0].ID}, nostr.Tag{"seq", "1"}, nostr.Tag{"lamport", "1"}),
		"invite with a p": signed(t, KindInvite, nostr.Tag{"h", c.room}, nostr.Tag{"prev", c.events[0].ID}, nostr.Tag{"seq", "1"}, nostr.Tag{"lamport", "1"}, nostr.Tag{"code", "a"}, nostr.Tag{"p", pub("C")}),
		"a code too long": signed(t, KindInvite, nostr.Tag{"h", c.room}, nostr.Tag{"prev", c.events[0].ID}, nostr.Tag{"seq", "1"}, nostr.Tag{"lamport", "1"}, nostr.Tag{"code", strings.Repeat("a", MaxCode+1)}),
	} {
		if _, err := DecodeEntry(raw); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

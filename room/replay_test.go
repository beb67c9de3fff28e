package room

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/nostr"
)

// Pubkey order of the test keys: C < A < E < B < D.

func TestChains(t *testing.T) {
	for _, tc := range []struct {
		name, chain, want string
	}{
		{"revoked mod", "G -> grant(mod:B) -> B:ban(C) -> revoke(B) -> B:ban(D)!denied", "A=owner C=banned"},
		{"members", "G -> grant(member:B) -> grant(member:C) -> B:grant(member:D)!denied -> C:revoke(C)",
			"A=owner B=member"},
		{"mod invites and kicks", "G -> grant(mod:B) -> B:grant(member:C) -> B:grant(member:D) -> B:revoke(D)",
			"A=owner B=mod C=member"},
		{"ban and unban", "G -> grant(mod:B) -> grant(member:C) -> B:ban(C) -> B:grant(member:C)!denied -> B:unban(C) -> B:unban(C)!denied -> B:grant(member:C)",
			"A=owner B=mod C=member"},
		{"ranks", "G -> grant(mod:B) -> grant(mod:E) -> B:ban(E)!denied -> B:revoke(E)!denied -> B:grant(mod:C)!denied -> B:ban(A)!denied -> B:revoke(A)!denied -> revoke(A)!denied",
			"A=owner B=mod E=mod"},
		{"policy", "G -> grant(mod:B) -> B:policy(unrestricted)!denied -> policy(unrestricted) -> policy(name=lobby)", "A=owner B=mod"},
		{"roles", "G -> role(helper:delete+ban:200) -> grant(helper:B) -> B:ban(C) -> grant(member:D) -> B:ban(D) -> B:role(x:ban:100)!denied -> B:grant(member:E)!denied",
			"A=owner B=helper C=banned D=banned"},
		{"role managers stay below", "G -> role(admin:manage-roles+invite+ban+delete+pin+mute:600) -> grant(admin:B) -> B:grant(mod:C) -> B:role(boss:manage-roles+ban:700)!denied -> B:role(sp:set-policy:100)!denied -> B:role(helper:ban:100) -> B:grant(admin:D)!denied -> B:role(mod:ban:10)!denied -> B:grant(nobody:D)!denied",
			"A=owner B=admin C=mod"},
		{"the banned do nothing", "G -> grant(mod:B) -> grant(mod:E) -> ban(B) -> B:grant(member:C)!denied -> B:revoke(B)!denied -> grant(member:B)!denied",
			"A=owner B=banned E=mod"},
		{"leaving", "G -> grant(mod:B) -> B:revoke(B) -> B:grant(member:C)!denied", "A=owner"},
		{"retroactive: a role redefined", "G -> role(helper:ban:200) -> grant(helper:E) -> E:ban(C) -> role(helper:delete:200) -> E:ban(D)!denied",
			"A=owner C=banned E=helper"},
		{"retroactive: demoted", "G -> grant(mod:B) -> B:ban(C) -> grant(member:B) -> B:ban(D)!denied", "A=owner B=member C=banned"},
		// B attaches a ban to a point before its revocation, at the lowest
		// Lamport time it may take: it sorts before the revocation, applies,
		// and is rejected when the revocation, which did not build on it, lands.
		{"backdated by a revoked mod", "G -> grant(mod:B) -> y=B:ban(C) -> grant(member:E) -> grant(member:D) -> revoke(B); y -> B:ban(E)!concurrent",
			"A=owner C=banned D=member E=member"},
		// Concurrent revocation and action: lower Lamport time first, so the
		// revocation lands after B's ban, which it did not build on.
		{"tiebreak: lamport, revoke second", "G -> grant(mod:B) -> x=grant(member:C); x -> revoke(B)@4; x -> B:ban(C)@3!concurrent",
			"A=owner C=member"},
		// Same Lamport time: A's pubkey is lower, so its revocation goes first.
		{"tiebreak: pubkey, revoke first", "G -> grant(mod:B) -> x=grant(member:C); x -> revoke(B); x -> B:ban(C)!denied",
			"A=owner C=member"},
		// Two mods, E < B: E's unban, then B's grant, which then applies.
		{"tiebreak: pubkey between mods", "G -> grant(mod:B) -> grant(mod:E) -> ban(C) -> x=grant(member:D); x -> E:unban(C); x -> B:grant(member:C)",
			"A=owner B=mod C=member D=member E=mod"},
		// B's grant at a lower Lamport time goes first, meets the ban, and fails.
		{"tiebreak: lamport between mods", "G -> grant(mod:B) -> grant(mod:E) -> ban(C) -> x=grant(member:D); x -> E:unban(C)@6; x -> B:grant(member:C)@5!denied",
			"A=owner B=mod D=member E=mod"},
		{"concurrent same signer", "G -> x=grant(member:B); x -> grant(member:C); x -> grant(member:D)", "A=owner B=member C=member D=member"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := buildChain(t, tc.chain, 1)
			l := c.replay(t)
			if got := users(l.State); got != tc.want {
				t.Errorf("users %q, want %q", got, tc.want)
			}
			// The same set in reverse order gives the same log.
			rev := slices.Clone(c.events)
			slices.Reverse(rev)
			l2 := c.replay(t, rev...)
			if !sameLog(l, l2) {
				t.Errorf("reversed input replays differently")
			}
		})
	}
}

func sameLog(a, b *Log) bool {
	ids := func(es []Entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	if !slices.Equal(ids(a.Applied), ids(b.Applied)) || !slices.Equal(ids(a.Order), ids(b.Order)) ||
		users(a.State) != users(b.State) || a.State.Policy != b.State.Policy || len(a.Rejected) != len(b.Rejected) {
		return false
	}
	for i := range a.Rejected {
		if a.Rejected[i].ID != b.Rejected[i].ID || a.Rejected[i].Err.Error() != b.Rejected[i].Err.Error() {
			return false
		}
	}
	return true
}

func TestPolicyState(t *testing.T) {
	c := buildChain(t, "G -> policy(unrestricted) -> policy(name=lobby) -> policy(public) -> policy(closed)", 1)
	p := c.replay(t).State.Policy
	if want := (Policy{Name: "lobby", Open: true, Public: true, JoinOpen: false}); p != want {
		t.Fatalf("policy %+v, want %+v", p, want)
	}
}

func TestStateAt(t *testing.T) {
	c := buildChain(t, "G -> x=grant(mod:B) -> y=B:ban(C) -> z=revoke(B)", 1)
	l := c.replay(t)
	for label, want := range map[string]string{"G": "A=owner", "x": "A=owner B=mod", "y": "A=owner B=mod C=banned", "z": "A=owner C=banned"} {
		s, ok := l.StateAt(c.label[label].ID)
		if !ok || users(s) != want {
			t.Errorf("at %s: %v %q, want %q", label, ok, users(s), want)
		}
	}
	if _, ok := l.StateAt(c.events[0].ID[:10]); ok {
		t.Error("StateAt of an unknown id")
	}
}

func TestTip(t *testing.T) {
	c := buildChain(t, "G -> x=grant(mod:B); x -> grant(member:C)@9", 1)
	l := c.replay(t)
	p := l.Tip()
	if p.Prev != l.Order[len(l.Order)-1].ID || p.Seq != 3 || p.Lamport != 10 {
		t.Fatalf("tip %+v", p)
	}
	ev := NewEntry(c.room, p, Grant(pub("D"), RoleMember), testBase.Add(time.Minute))
	if err := ev.Sign(key("A")); err != nil {
		t.Fatal(err)
	}
	l2, _ := Replay(c.room, append(c.events, ev), testNow)
	if err := l2.Err(ev.ID); err != nil || !l2.State.Member(pub("D")) {
		t.Fatalf("an entry at the tip: %v", err)
	}
}

// Tampering: each breaks the chain where it happened and is named.
func TestTamper(t *testing.T) {
	src := "G -> grant(mod:B) -> x=B:ban(C) -> y=B:ban(D) -> z=grant(member:E)"
	mustReject := func(t *testing.T, l *Log, ev *nostr.Event, want error) {
		t.Helper()
		if err := l.Err(ev.ID); !errors.Is(err, want) {
			t.Errorf("%.8s: %v, want %v", ev.ID, err, want)
		}
	}
	t.Run("drop", func(t *testing.T) {
		c := buildChain(t, src, 1)
		evs := slices.DeleteFunc(slices.Clone(c.events), func(e *nostr.Event) bool { return e == c.label["x"] })
		l, _ := Replay(c.room, evs, testNow)
		mustReject(t, l, c.label["y"], ErrOrphan)
		mustReject(t, l, c.label["z"], ErrOrphan)
		if got := users(l.State); got != "A=owner B=mod" {
			t.Errorf("users %q", got)
		}
	})
	t.Run("reorder by relinking", func(t *testing.T) {
		// Swap x and y: y's links (prev, seq, lamport) become x's. Without
		// B's key the id no longer matches.
		c := buildChain(t, src, 1)
		x, y := c.label["x"], c.label["y"]
		y2 := *y
		y2.Tags = slices.Clone(y.Tags)
		for i, tag := range y2.Tags {
			switch tag[0] {
			case "prev", "seq", "lamport":
				y2.Tags[i] = x.Tags.Find(tag[0])
			}
		}
		evs := []*nostr.Event{c.events[0], c.events[1], &y2, x, c.label["z"]}
		l, _ := Replay(c.room, evs, testNow)
		mustReject(t, l, &y2, ErrForged)
		// Re-signed by B itself, the swapped seq no longer follows.
		y3 := y2
		y3.Tags = slices.Clone(y2.Tags)
		for i, tag := range y3.Tags {
			if tag[0] == "seq" {
				y3.Tags[i] = nostr.Tag{"seq", "7"}
			}
		}
		y3.Sign(key("B"))
		l, _ = Replay(c.room, append(slices.Clone(c.events), &y3), testNow)
		mustReject(t, l, &y3, ErrChain)
	})
	t.Run("reorder the stored order", func(t *testing.T) {
		c := buildChain(t, src, 1)
		l := c.replay(t)
		rot := append(slices.Clone(c.events[2:]), c.events[:2]...)
		if l2 := c.replay(t, rot...); !sameLog(l, l2) {
			t.Error("the order of the input changed the log")
		}
	})
	t.Run("alter", func(t *testing.T) {
		c := buildChain(t, src, 1)
		x := c.label["x"]
		x2 := *x
		x2.Tags = slices.Clone(x.Tags)
		x2.Tags[len(x2.Tags)-2] = nostr.Tag{"p", pub("E")} // ban E instead of C
		evs := slices.Clone(c.events)
		evs[2] = &x2
		l, _ := Replay(c.room, evs, testNow)
		mustReject(t, l, &x2, ErrForged)
		mustReject(t, l, c.label["y"], ErrOrphan)
		if l.State.Banned(pub("E")) || l.State.Banned(pub("C")) {
			t.Error("the altered ban took effect")
		}
	})
	t.Run("forge", func(t *testing.T) {
		// C, no member, signs a grant of mod to itself; D copies A's
		// signature onto its own grant.
		c := buildChain(t, "G -> grant(mod:B) -> C:grant(mod:C)!denied -> B:role(x:ban:10)!denied", 1)
		l := c.replay(t)
		f := NewEntry(c.room, l.Tip(), Grant(pub("D"), RoleMod), testBase)
		f.Sign(key("D"))
		f.PubKey, f.Sig = pub("A"), c.events[1].Sig
		l, _ = Replay(c.room, append(slices.Clone(c.events), f), testNow)
		mustReject(t, l, f, ErrForged)
		if l.State.Member(pub("C")) || l.State.Member(pub("D")) {
			t.Error("forged grant took effect")
		}
	})
	t.Run("replay from another room", func(t *testing.T) {
		c := buildChain(t, src, 1)
		other := buildChain(t, "G -> grant(mod:D) -> grant(member:E)", 2)
		if other.room == c.room {
			t.Fatal("two nonces, one room")
		}
		l, _ := Replay(c.room, append(slices.Clone(c.events), other.events...), testNow)
		for _, ev := range other.events {
			mustReject(t, l, ev, ErrWrongRoom)
		}
		// Relabelled with this room's h, the signature breaks.
		ev := *other.events[1]
		ev.Tags = slices.Clone(ev.Tags)
		ev.Tags[0] = nostr.Tag{"h", c.room}
		l, _ = Replay(c.room, append(slices.Clone(c.events), &ev), testNow)
		mustReject(t, l, &ev, ErrForged)
		if l.State.Member(pub("D")) {
			t.Error("a grant of another room took effect")
		}
	})
}

func TestGenesis(t *testing.T) {
	c := buildChain(t, "G -> grant(member:B)", 1)
	if _, err := Replay(c.room, c.events[1:], testNow); !errors.Is(err, ErrGenesis) {
		t.Fatalf("no genesis: %v", err)
	}
	// A genesis whose h is not RoomID(creator, name, nonce): B claims A's room.
	var nonce [16]byte
	nonce[0] = 1
	g := Genesis(pub("A"), "test", nonce, testBase)
	g.Sign(key("B"))
	l, err := Replay(c.room, []*nostr.Event{g}, testNow)
	if !errors.Is(err, ErrGenesis) || !errors.Is(l.Err(g.ID), ErrMalformed) {
		t.Fatalf("stolen genesis: %v, %v", err, l.Err(g.ID))
	}
	// A second genesis by the creator: the lower id wins.
	g2 := Genesis(pub("A"), "test", nonce, testBase.Add(time.Hour))
	g2.Sign(key("A"))
	l, err = Replay(c.room, append(slices.Clone(c.events), g2), testNow)
	first, second := c.events[0], g2
	if second.ID < first.ID {
		first, second = second, first
	}
	if err != nil || l.Genesis.ID != first.ID || !errors.Is(l.Err(second.ID), ErrMalformed) {
		t.Fatalf("two geneses: %v, %.8s", err, l.Genesis.ID)
	}
}

func TestFuture(t *testing.T) {
	c := buildChain(t, "G -> grant(member:B)", 1)
	l, _ := Replay(c.room, c.events, testBase) // now is before the grant's date... within skew
	if l.Err(c.events[1].ID) != nil {
		t.Fatal("an entry seconds ahead was refused")
	}
	l, _ = Replay(c.room, c.events, testBase.Add(-time.Hour))
	if !errors.Is(l.Err(c.events[1].ID), ErrFuture) {
		t.Fatalf("an entry an hour ahead: %v", l.Err(c.events[1].ID))
	}
}

func TestTooMany(t *testing.T) {
	defer func(n int) { maxEntries = n }(maxEntries)
	maxEntries = 50
	c := buildChain(t, "G", 1)
	evs := c.events
	p := Point{Prev: evs[0].ID, Seq: 1, Lamport: 1}
	for i := 0; i <= maxEntries; i++ {
		ev := NewEntry(c.room, p, SetPolicy(PolicyChange{Open: new(bool)}), testBase)
		ev.Sign(key("A"))
		evs = append(evs, ev)
		p = Point{Prev: ev.ID, Seq: p.Seq + 1, Lamport: p.Lamport + 1}
	}
	l, err := Replay(c.room, evs, testNow)
	if err != nil || len(l.Applied) != maxEntries-1 || !errors.Is(l.Err(evs[len(evs)-1].ID), ErrTooMany) {
		t.Fatalf("%v applied %d", err, len(l.Applied))
	}
}

// Many revoked moderators, each with entries the revocation did not see:
// every one is refused, one run of the replay per revocation at most.
func TestManyConcurrentRevocations(t *testing.T) {
	var b strings.Builder
	b.WriteString("G")
	mods := "BCDEFGHIJKLMNOPQ"
	for i, m := range mods {
		fmt.Fprintf(&b, " -> g%d=grant(mod:%c)", i, m)
	}
	for _, m := range mods {
		fmt.Fprintf(&b, " -> revoke(%c)", m)
	}
	for i, m := range mods {
		fmt.Fprintf(&b, "; g%d -> %c:grant(member:Z)!concurrent -> %c:ban(Y)!concurrent", i, m, m)
	}
	c := buildChain(t, b.String(), 1)
	l := c.replay(t)
	if got := users(l.State); got != "A=owner" {
		t.Errorf("users %q", got)
	}
}

func TestView(t *testing.T) {
	c := buildChain(t, "G -> grant(mod:B) -> grant(member:C) -> B:ban(C) -> C:ban(B)!denied", 1)
	v := c.replay(t).View()
	if v.Room != c.room || v.Name != "test" || v.Creator != pub("A") || len(v.Entries) != 5 || v.Rejected != 1 {
		t.Fatalf("view %+v", v)
	}
	var got []string
	for _, u := range v.Users {
		got = append(got, letterOf(u.Pubkey)+"="+u.Role)
	}
	if strings.Join(got, " ") != "A=owner B=mod C=banned" {
		t.Errorf("users by rank: %v", got)
	}
	if e := v.Entries[4]; e.Op != "ban" || e.Error == "" || v.Entries[3].Error != "" {
		t.Errorf("entries: %+v", v.Entries)
	}
	if v.Tip.Seq != 5 || v.Tip.Prev != c.events[4].ID {
		t.Errorf("tip %+v", v.Tip)
	}
}

// An altered copy claiming a valid entry's id does not hide the entry,
// whichever comes first.
func TestAlteredCopy(t *testing.T) {
	c := buildChain(t, "G -> grant(mod:B) -> B:ban(C)", 1)
	e := c.events[2]
	bad := *e
	bad.Tags = append(append(nostr.Tags(nil), e.Tags...), nostr.Tag{"x"})
	first := c.replay(t, append(c.events[:2:2], &bad, e)...)
	second := c.replay(t, append(c.events[:2:2], e, &bad)...)
	if !sameLog(first, second) || first.Err(e.ID) != nil || !first.State.Banned(pub("C")) {
		t.Fatalf("an altered copy first: %v; valid first: %v", first.Err(e.ID), second.Err(e.ID))
	}
	only, _ := Replay(c.room, append(c.events[:2:2], &bad), testNow)
	if !errors.Is(only.Err(e.ID), ErrForged) {
		t.Errorf("the altered copy alone: %v", only.Err(e.ID))
	}
}

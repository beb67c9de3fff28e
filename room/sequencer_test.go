package room

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/nostr"
)

// Sequencer mode: A (the creator) turns it on with seq(30); others'
// changes of the ACL then wait for A's countersignature, unless A was
// absent for 30 minutes, which they show by their date.
func TestSequencerChains(t *testing.T) {
	for _, tc := range []struct {
		name, chain, want string
	}{
		{"a mod's changes wait", "G -> grant(mod:B) -> seq(30) -> B:ban(C)!pending -> B:grant(member:D)!pending -> B:invite(k)!pending",
			"A=owner B=mod"},
		{"countersigned, they take effect", "G -> grant(mod:B) -> seq(30) -> x=B:ban(C) -> y=B:grant(member:D)!pending -> ack(x)",
			"A=owner B=mod C=banned"},
		{"countersigned out of order: in replay order", "G -> grant(mod:B) -> seq(30) -> x=B:grant(member:C) -> y=B:ban(C) -> ack(y+x)",
			"A=owner B=mod C=banned"},
		{"the creator acts at once", "G -> seq(30) -> grant(mod:B) -> grant(member:C) -> ban(D)",
			"A=owner B=mod C=member D=banned"},
		{"leaving needs no countersignature", "G -> grant(member:B) -> seq(30) -> B:revoke(B)", "A=owner"},
		{"only the creator sequences", "G -> role(admin:manage-roles+set-policy+ban:900) -> grant(admin:B) -> B:seq(10)!denied -> seq(30) -> x=B:ban(C)!pending -> B:ack(x)!denied",
			"A=owner B=admin"},
		{"refused now: refused, not pending", "G -> grant(mod:B) -> seq(30) -> C:ban(D)!denied -> B:grant(mod:D)!denied", "A=owner B=mod"},
		// Countersigned only after its signer lost the role: judged where it
		// takes effect, so refused.
		{"countersigned after the revocation", "G -> grant(mod:B) -> seq(30) -> x=B:ban(C)!denied -> revoke(B) -> ack(x)", "A=owner"},
		{"absent creator: a mod acts alone", "G -> grant(mod:B) -> seq(30) -> B:ban(C)+31m -> B:grant(member:D)", "A=owner B=mod C=banned D=member"},
		{"not absent long enough", "G -> grant(mod:B) -> seq(30) -> B:ban(C)+29m!pending", "A=owner B=mod"},
		{"absence counts from the creator's last entry", "G -> grant(mod:B) -> seq(30) -> grant(member:D)+25m -> B:ban(C)+20m!pending -> B:ban(E)+11m",
			"A=owner B=mod D=member E=banned"},
		// The creator comes back on top of what the mod did alone: it stays.
		{"return: seen, kept", "G -> grant(mod:B) -> seq(30) -> B:ban(C)+31m -> grant(member:D)+5m", "A=owner B=mod C=banned D=member"},
		// The creator comes back on a log that lacks the mod's entry (a
		// partition): the entry was made alone but not seen, so it waits.
		{"return: not seen, it waits", "G -> grant(mod:B) -> s=seq(30); s -> B:ban(C)+31m!pending; s -> grant(member:D)+10m",
			"A=owner B=mod D=member"},
		{"return: not seen, then countersigned", "G -> grant(mod:B) -> s=seq(30); s -> x=B:ban(C)+31m; s -> grant(member:D)+10m -> ack(x)",
			"A=owner B=mod C=banned D=member"},
		// A mod dates an entry into an old absence of the creator, attached
		// to a point of that time: the creator's return did not build on it.
		{"backdated into an old absence", "G -> grant(mod:B) -> s=seq(30) -> grant(member:E)+60m -> grant(member:D); s -> B:ban(C)-30m!pending",
			"A=owner B=mod D=member E=member"},
		{"sequencer off", "G -> grant(mod:B) -> seq(30) -> x=B:ban(C)!pending -> seq(off) -> B:ban(D)", "A=owner B=mod D=banned"},
		{"off, and a waiting entry countersigned later", "G -> grant(mod:B) -> seq(30) -> x=B:ban(C) -> seq(off) -> ack(x)", "A=owner B=mod C=banned"},
		// B's ban countersigned on one branch, E's revocation of B on
		// another: the revocation takes effect at its countersignature,
		// which did not build on the ban's, so the ban is refused (the
		// concurrency rule reads countersignatures as the entries' points).
		{"a mod's revocation of a mod, countersigned", "G -> grant(mod:B) -> role(boss:manage-roles+ban+delete+invite+pin+mute:600) -> grant(boss:E) -> seq(30) -> p=grant(member:D); p -> b=B:ban(D)!concurrent -> ack(b); p -> r=E:revoke(B)@6 -> ack(r)@8",
			"A=owner D=member E=boss"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := buildChain(t, tc.chain, 1)
			l := c.replay(t)
			if got := users(l.State); got != tc.want {
				t.Errorf("users %q, want %q", got, tc.want)
			}
			rev := slices.Clone(c.events)
			slices.Reverse(rev)
			if l2 := c.replay(t, rev...); !sameLog(l, l2) {
				t.Errorf("reversed input replays differently")
			}
		})
	}
}

func TestSequencerState(t *testing.T) {
	c := buildChain(t, "G -> grant(mod:B) -> s=seq(45) -> x=B:ban(C)!pending -> y=B:grant(member:D) -> z=ack(y)", 1)
	l := c.replay(t)
	if l.State.Sequencer != 45*time.Minute {
		t.Errorf("sequencer %v", l.State.Sequencer)
	}
	if p := l.Pending(); len(p) != 1 || p[0] != c.label["x"].ID {
		t.Errorf("pending %v", p)
	}
	// The countersigned grant takes effect at z, not at y.
	if s, ok := l.StateAt(c.label["y"].ID); !ok || users(s) != "A=owner B=mod D=member" {
		t.Errorf("at y: %v %q", ok, users(s))
	}
	if i, j := slices.IndexFunc(l.Applied, func(e Entry) bool { return e.ID == c.label["y"].ID }),
		slices.IndexFunc(l.Applied, func(e Entry) bool { return e.ID == c.label["z"].ID }); i < 0 || j != i+1 {
		t.Errorf("applied order: y at %d, z at %d", i, j)
	}
	v := l.View()
	if v.Sequencer != 45 || !strings.Contains(v.Entries[3].Error, "countersignature") || len(v.Pending) != 1 {
		t.Errorf("view: %d minutes, entry %+v", v.Sequencer, v.Entries[3])
	}
}

// A join request placed by a host in sequencer mode waits like any entry
// of someone else's; a second placement of it is refused.
func TestSequencerPlacement(t *testing.T) {
	c := buildChain(t, "G -> policy(open) -> seq(30)", 1)
	at := testBase.Add(2 * time.Minute) // the creator was here 2 minutes ago
	join := request(t, c.room, "C", KindJoinRequest, at)
	p, l, err := placeBy(t, c, c.events, join, at)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(l.Err(p.ID), ErrPending) || l.State.Member(pub("C")) {
		t.Fatalf("placement in sequencer mode: %v", l.Err(p.ID))
	}
	if _, err := l.Place(join, at); !errors.Is(err, ErrReused) {
		t.Fatalf("placed twice: %v", err)
	}
	ack := NewEntry(c.room, l.Tip(), Countersign(p.ID), at)
	ack.Sign(key("A"))
	l, _ = Replay(c.room, append(slices.Clone(c.events), p, ack), testNow)
	if l.Err(p.ID) != nil || !l.State.Member(pub("C")) {
		t.Fatalf("countersigned join: %v", l.Err(p.ID))
	}
}

func TestDecodeSequence(t *testing.T) {
	room := strings.Repeat("ab", 32)
	id := strings.Repeat("cd", 32)
	chain := []nostr.Tag{{"h", room}, {"prev", id}, {"seq", "1"}, {"lamport", "1"}}
	with := func(kind int, extra ...nostr.Tag) []byte {
		return signed(t, kind, append(slices.Clone(chain), extra...)...)
	}
	e, err := DecodeEntry(with(KindSequence, nostr.Tag{"sequencer", "30"}, nostr.Tag{"e", id}))
	if err != nil || e.Action.Op != OpSequence || *e.Action.Wait != 30*time.Minute || len(e.Action.Acks) != 1 {
		t.Fatalf("%+v %v", e.Action, err)
	}
	if e, err := DecodeEntry(with(KindSequence, nostr.Tag{"sequencer", "off"})); err != nil || *e.Action.Wait != 0 {
		t.Fatalf("off: %v", err)
	}
	for name, raw := range map[string][]byte{
		"nothing":            with(KindSequence),
		"zero minutes":       with(KindSequence, nostr.Tag{"sequencer", "0"}),
		"over a week":        with(KindSequence, nostr.Tag{"sequencer", "10081"}),
		"not a number":       with(KindSequence, nostr.Tag{"sequencer", "soon"}),
		"two sequencer tags": with(KindSequence, nostr.Tag{"sequencer", "5"}, nostr.Tag{"sequencer", "6"}),
		"an e twice":         with(KindSequence, nostr.Tag{"e", id}, nostr.Tag{"e", id}),
		"a short e":          with(KindSequence, nostr.Tag{"e", "cd"}),
		"with a p":           with(KindSequence, nostr.Tag{"sequencer", "5"}, nostr.Tag{"p", id}),
		"with a policy":      with(KindSequence, nostr.Tag{"sequencer", "5"}, nostr.Tag{"open"}),
		"sequencer on 9002":  with(KindEditMeta, nostr.Tag{"sequencer", "5"}, nostr.Tag{"open"}),
		"without chain tags": signed(t, KindSequence, nostr.Tag{"h", room}, nostr.Tag{"sequencer", "5"}),
	} {
		if _, err := DecodeEntry(raw); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// An e tag on another kind is not the log's: skipped.
	if _, err := DecodeEntry(with(KindEditMeta, nostr.Tag{"open"}, nostr.Tag{"e", id})); err != nil {
		t.Errorf("e on a 9002: %v", err)
	}
}

// Needed keeps what stands and what it builds on, drops refused leaves
// and what is out of the chain.
func TestNeeded(t *testing.T) {
	c := buildChain(t, "G -> grant(mod:B) -> x=B:ban(C) -> revoke(B) -> d=B:ban(D)!denied -> grant(member:E); x -> y=B:grant(member:D)@3!rejected; G -> C:ban(E)!denied", 1)
	orphan := NewEntry(c.room, Point{Prev: strings.Repeat("0", 64), Seq: 9, Lamport: 9}, Ban(pub("E")), testBase)
	orphan.Sign(key("A"))
	l := c.replay(t, append(slices.Clone(c.events), orphan)...)
	need := l.Needed()
	for _, ev := range c.events {
		want := !strings.Contains(c.text[ev.ID], "!")
		if c.label["d"] == ev {
			want = true // refused, but the grant of E builds on it
		}
		if need[ev.ID] != want {
			t.Errorf("%s: needed %v, want %v", c.text[ev.ID], need[ev.ID], want)
		}
	}
	if need[orphan.ID] {
		t.Error("an orphan is needed")
	}
	p := buildChain(t, "G -> grant(mod:B) -> seq(30) -> q=B:ban(E)!pending", 1)
	if !p.replay(t).Needed()[p.label["q"].ID] {
		t.Error("a pending entry is not needed")
	}
}

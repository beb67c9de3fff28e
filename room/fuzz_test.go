package room

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/nostr"
)

// FuzzDecodeEntry: the decoder never panics, and what it accepts encodes
// and decodes again to the same entry.
func FuzzDecodeEntry(f *testing.F) {
	c := buildChain(f, "G -> grant(mod:B) -> B:ban(C) -> role(helper:ban+pin:200) -> policy(unrestricted) -> revoke(B) -> unban(C) -> seq(30) -> x=B:ban(D) -> ack(x) -> seq(off) -> channel(dev:Dev:archived)", 1)
	for _, ev := range c.events {
		raw, _ := json.Marshal(ev)
		f.Add(raw)
	}
	f.Add([]byte(`{"id":"","tags":[[]]}`))
	// A placement of a join request.
	open := buildChain(f, "G -> policy(open)", 1)
	join := &nostr.Event{Kind: KindJoinRequest, CreatedAt: nostr.Timestamp(testBase.Unix()), Tags: nostr.Tags{{"h", open.room}}}
	join.Sign(key("C"))
	l, _ := Replay(open.room, open.events, testNow)
	if p, err := l.Place(join, testBase); err == nil {
		p.Sign(key("H"))
		raw, _ := json.Marshal(p)
		f.Add(raw)
	} else {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := DecodeEntry(raw)
		if err != nil {
			return
		}
		again, _ := json.Marshal(e.Event)
		e2, err := DecodeEntry(again)
		if err != nil {
			t.Fatalf("re-encoded entry refused: %v", err)
		}
		e.Event, e2.Event = nil, nil
		if !reflect.DeepEqual(e, e2) {
			t.Fatalf("round trip:\n%+v\n%+v", e, e2)
		}
	})
}

// FuzzReplay builds a log from the input (each 4 bytes: a signer, an
// action, a target and the entry to extend with a Lamport step; a byte
// over 0xf0 alters an entry after signing it; the i-th entry is dated
// 7i minutes after the genesis, so sequencer mode's absences happen),
// replays it in three orders
// and wants the same log each time, no panic, and the creator still the
// owner.
func FuzzReplay(f *testing.F) {
	f.Add([]byte{0, 1, 1, 0, 1, 3, 2, 1, 0, 2, 1, 2, 1, 3, 3, 2})
	f.Add([]byte{0, 5, 4, 0, 0, 1, 4, 1, 4, 3, 2, 2, 0, 2, 4, 2, 4, 3, 3, 2})
	f.Add([]byte{0, 1, 1, 0, 1, 3, 2, 1, 1, 3, 3, 1, 0, 2, 1, 1, 1, 3, 4, 0x22})
	f.Add([]byte{0xf1, 1, 1, 0, 0, 7, 3, 0, 2, 1, 1, 0})
	// sequencer on (15 min), a mod's ban waits, countersigned; mode off
	f.Add([]byte{0, 1, 6, 0, 0, 9, 1, 1, 1, 3, 2, 2, 0, 10, 3, 3, 0, 9, 0, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4*48 {
			data = data[:4*48]
		}
		letters := []string{"A", "B", "C", "D", "E"}
		roles := []string{RoleMember, RoleMod, RoleOwner, "r1", "r2"}
		c := buildChain(t, "G", 1)
		evs := c.events
		for i := 0; i+4 <= len(data); i += 4 {
			who, op, tgt, at := data[i], data[i+1], data[i+2], data[i+3]
			prev := evs[int(at&0x1f)%len(evs)]
			pe, _ := ParseEntry(prev)
			p := Point{Prev: prev.ID, Seq: pe.Seq + 1, Lamport: pe.Lamport + 1 + uint64(at>>5)}
			target := pub(letters[int(tgt)%len(letters)])
			var a Action
			switch op % 12 {
			case 0, 1:
				a = Grant(target, roles[int(tgt/5)%len(roles)])
			case 2:
				a = Revoke(target)
			case 3:
				a = Ban(target)
			case 4:
				a = Unban(target)
			case 5:
				a = DefineRole("r"+strconv.Itoa(int(tgt%2)+1), Caps(tgt)&AllCaps, int(tgt)%RankOwner+1)
			case 6:
				open := tgt%2 == 0
				a = SetPolicy(PolicyChange{Open: &open})
			case 7:
				a = Action{Op: OpBan, Target: target, Reason: "r"}
			case 8:
				a = Invite("c" + strconv.Itoa(int(tgt%3)))
			case 9:
				a = Sequencer(time.Duration(tgt%3) * 15 * time.Minute)
			case 10:
				a = Countersign(evs[int(tgt)%len(evs)].ID)
			case 11:
				a = SetChannel([]string{"general", "dev"}[tgt%2], "n", tgt%4 >= 2)
			}
			ev := NewEntry(c.room, p, a, testBase.Add(time.Duration(i/4)*7*time.Minute))
			if err := ev.Sign(key(letters[int(who)%len(letters)])); err != nil {
				t.Fatal(err)
			}
			if who > 0xf0 {
				ev.Tags = append(ev.Tags, nostr.Tag{"prev", p.Prev}) // signature no longer matches
			}
			evs = append(evs, ev)
		}
		l, err := Replay(c.room, evs, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if l.State.Users[pub("A")] != RoleOwner {
			t.Fatalf("the creator is %q", l.State.Users[pub("A")])
		}
		rev := slices.Clone(evs)
		slices.Reverse(rev)
		rot := append(slices.Clone(evs[len(evs)/2:]), evs[:len(evs)/2]...)
		for _, order := range [][]*nostr.Event{rev, rot} {
			l2, err := Replay(c.room, order, testNow)
			if err != nil || !sameLog(l, l2) {
				t.Fatalf("another order, another log (%v)", err)
			}
		}
		// Every entry is either applied or rejected with a reason.
		applied := map[string]bool{}
		for _, e := range l.Applied {
			applied[e.ID] = true
		}
		for _, ev := range evs[1:] {
			if applied[ev.ID] == (l.Err(ev.ID) != nil) {
				t.Fatalf("%.8s: applied %v, err %v", ev.ID, applied[ev.ID], l.Err(ev.ID))
			}
			if err := l.Err(ev.ID); err != nil && errors.Unwrap(err) == nil {
				t.Fatalf("%.8s: bare error %v", ev.ID, err)
			}
		}
	})
}

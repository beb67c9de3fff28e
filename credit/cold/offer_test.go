package cold

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/nostr"
)

func key(n byte) (sk, pub string) {
	sk = fmt.Sprintf("%064x", n)
	pub, err := nostr.GetPublicKey(sk)
	if err != nil {
		panic(err)
	}
	return sk, pub
}

var (
	assignerSK, assigner = key(1)
	holderSK, holderPub  = key(2)
	mapID                = strings.Repeat("ab", 32)
)

func signedOffer(t testing.TB, sk string, o Offer, at time.Time, edit func(*nostr.Event)) *nostr.Event {
	t.Helper()
	ev := OfferEvent(o, mapID, at)
	if edit != nil {
		edit(ev)
	}
	if err := ev.Sign(sk); err != nil {
		t.Fatal(err)
	}
	return ev
}

func offer(n int) Offer {
	o := Offer{Holder: holderPub, Root: h("root"), Expires: t0.Add(TTL)}
	for i := range n {
		o.Chunks = append(o.Chunks, h(fmt.Sprint(i)))
	}
	return o
}

// TestParseOfferRefusals: every way an offer can be wrong is refused,
// with a reason.
func TestParseOfferRefusals(t *testing.T) {
	good := signedOffer(t, assignerSK, offer(3), t0, nil)
	o, err := ParseOffer(good, holderPub, t0)
	if err != nil || len(o.Chunks) != 3 || o.Assigner != assigner || o.MapID != mapID || o.Root != h("root") || !o.Expires.Equal(t0.Add(TTL)) {
		t.Fatalf("good offer: %+v %v", o, err)
	}
	forged := *good
	forged.Sig = strings.Repeat("00", 64)
	tampered := *good
	tampered.Tags = append(nostr.Tags{}, good.Tags...)
	tampered.Tags[0] = nostr.Tag{"p", assigner}
	for name, c := range map[string]struct {
		ev   *nostr.Event
		self string
		now  time.Time
		why  string
	}{
		"nil":           {nil, holderPub, t0, "no offer"},
		"forged":        {&forged, holderPub, t0, "signature"},
		"tampered":      {&tampered, holderPub, t0, ""},
		"other holder":  {good, assigner + "x", t0, "not addressed"},
		"to itself":     {signedOffer(t, holderSK, offer(1), t0, nil), holderPub, t0, "to itself"},
		"old":           {good, holderPub, t0.Add(2 * time.Minute), "created"},
		"future":        {good, holderPub, t0.Add(-2 * time.Minute), "created"},
		"no chunks":     {signedOffer(t, assignerSK, offer(0), t0, nil), holderPub, t0, "0 chunks"},
		"17 chunks":     {signedOffer(t, assignerSK, offer(17), t0, nil), holderPub, t0, "17 chunks"},
		"twice":         {signedOffer(t, assignerSK, offer(1), t0, func(e *nostr.Event) { e.Tags = append(e.Tags, e.Tags[3]) }), holderPub, t0, "twice"},
		"bad chunk":     {signedOffer(t, assignerSK, offer(1), t0, func(e *nostr.Event) { e.Tags = append(e.Tags, nostr.Tag{"c", "XYZ"}) }), holderPub, t0, "chunk"},
		"two roots":     {signedOffer(t, assignerSK, offer(1), t0, func(e *nostr.Event) { e.Tags = append(e.Tags, nostr.Tag{"x", mapID}) }), holderPub, t0, "x (root)"},
		"bad root":      {signedOffer(t, assignerSK, offer(1), t0, func(e *nostr.Event) { e.Tags[1] = nostr.Tag{"x", "zz"} }), holderPub, t0, "root"},
		"no map":        {signedOffer(t, assignerSK, offer(1), t0, func(e *nostr.Event) { e.Tags[2] = nostr.Tag{"e", "short"} }), holderPub, t0, "chunk map"},
		"ended":         {signedOffer(t, assignerSK, Offer{Holder: holderPub, Chunks: offer(1).Chunks, Expires: t0}, t0, nil), holderPub, t0, "ended"},
		"too long":      {signedOffer(t, assignerSK, Offer{Holder: holderPub, Chunks: offer(1).Chunks, Expires: t0.Add(48 * time.Hour)}, t0, nil), holderPub, t0, "a term of"},
		"bad expiry":    {signedOffer(t, assignerSK, offer(1), t0, func(e *nostr.Event) { e.Tags[len(e.Tags)-1] = nostr.Tag{"expiration", "soon"} }), holderPub, t0, "not a number"},
		"wrong kind":    {signedOffer(t, assignerSK, offer(1), t0, func(e *nostr.Event) { e.Kind = KindAnswer }), holderPub, t0, "kind"},
		"no expiration": {signedOffer(t, assignerSK, offer(1), t0, func(e *nostr.Event) { e.Tags = e.Tags[:len(e.Tags)-1] }), holderPub, t0, "expiration"},
	} {
		_, err := ParseOffer(c.ev, c.self, c.now)
		if !errors.Is(err, ErrOffer) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParseAnswer(t *testing.T) {
	ev := signedOffer(t, assignerSK, offer(3), t0, nil)
	ro, err := ParseOffer(ev, holderPub, t0)
	if err != nil {
		t.Fatal(err)
	}
	answer := func(sk string, acc [][32]byte, edit func(*nostr.Event)) *nostr.Event {
		a := AnswerEvent(ro, acc, "full", t0)
		if edit != nil {
			edit(a)
		}
		if err := a.Sign(sk); err != nil {
			t.Fatal(err)
		}
		return a
	}
	acc, why, err := ParseAnswer(answer(holderSK, ro.Chunks[:2], nil), ro.Offer, ro.ID, assigner)
	if err != nil || len(acc) != 2 || why != "full" {
		t.Fatalf("%v %q %v", acc, why, err)
	}
	for name, c := range map[string]struct {
		ev  *nostr.Event
		why string
	}{
		"nil":         {nil, "no answer"},
		"by another":  {answer(assignerSK, nil, nil), "not the holder"},
		"not offered": {answer(holderSK, [][32]byte{h("x")}, nil), "not offered"},
		"twice":       {answer(holderSK, [][32]byte{ro.Chunks[0], ro.Chunks[0]}, nil), "not offered"},
		"other offer": {answer(holderSK, nil, func(e *nostr.Event) { e.Tags[0] = nostr.Tag{"e", mapID} }), "does not name"},
		"wrong kind":  {answer(holderSK, nil, func(e *nostr.Event) { e.Kind = KindOffer }), "kind"},
		"bad chunk":   {answer(holderSK, nil, func(e *nostr.Event) { e.Tags = append(e.Tags, nostr.Tag{"c", "1"}) }), "chunk"},
		"forged": {func() *nostr.Event {
			a := answer(holderSK, nil, nil)
			a.Content = "changed"
			return a
		}(), ""},
	} {
		_, _, err := ParseAnswer(c.ev, ro.Offer, ro.ID, assigner)
		if !errors.Is(err, ErrOffer) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestDecodeMessage(t *testing.T) {
	ev := signedOffer(t, assignerSK, offer(1), t0, nil)
	b, _ := json.Marshal(Message{Offer: ev})
	m, err := DecodeMessage(b)
	if err != nil || m.Offer == nil || m.Offer.ID != ev.ID {
		t.Fatalf("%+v %v", m, err)
	}
	if _, err := DecodeMessage(make([]byte, MaxMessage+1)); !errors.Is(err, ErrOffer) {
		t.Fatalf("oversized: %v", err)
	}
	if _, err := DecodeMessage([]byte(`{"offer": 5}`)); !errors.Is(err, ErrOffer) {
		t.Fatalf("malformed: %v", err)
	}
}

// FuzzOffer: whatever arrives on a custody stream, an offer that parses
// is addressed to the holder, signed by another key, and has 1 to 16
// distinct chunks and a term within TTL.
func FuzzOffer(f *testing.F) {
	b, _ := json.Marshal(Message{Offer: signedOffer(f, assignerSK, offer(2), t0, nil)})
	f.Add(b)
	f.Add([]byte(`{"offer":{"kind":27773,"tags":[["p","x"]]}}`))
	f.Add([]byte(`{"answer":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			return
		}
		o, err := ParseOffer(m.Offer, holderPub, t0)
		if err != nil {
			return
		}
		seen := map[[32]byte]bool{}
		for _, c := range o.Chunks {
			if seen[c] {
				t.Fatal("a chunk twice")
			}
			seen[c] = true
		}
		if o.Holder != holderPub || o.Assigner == holderPub || len(o.Chunks) == 0 || len(o.Chunks) > MaxAssignments || o.Expires.Sub(t0) > TTL+MaxSkew || !o.Expires.After(t0) {
			t.Fatalf("accepted %+v", o)
		}
	})
}

package webrtc

import (
	"errors"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/nostr"
	"github.com/cairn-nostr/cairn/webrtc/rtc"
)

func TestSignalRoundTrip(t *testing.T) {
	a, b := nostr.GeneratePrivateKey(), nostr.GeneratePrivateKey()
	bpub, _ := nostr.GetPublicKey(b)
	apub, _ := nostr.GetPublicKey(a)
	root := [32]byte{7}
	now := time.Unix(1_700_000_000, 0)
	payload := `{"type":"offer","sdp":"v=0\r\n"}`
	ev, err := BuildSignal(a, bpub, root, TypeOffer, payload, now)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Kind != KindSignal || len(ev.Tags) != 4 || ev.Tags[3][0] != "enc" || ev.Tags[3][1] != "nip44" {
		t.Fatalf("event %v", ev)
	}
	s, err := ParseSignal(b, bpub, ev)
	if err != nil {
		t.Fatal(err)
	}
	if s.From != apub || s.To != bpub || s.Root != root || s.Type != TypeOffer || s.Payload != payload || !s.Created.Equal(now) {
		t.Fatalf("parsed %+v", s)
	}
	if _, err := ParseSignal(a, apub, ev); !errors.Is(err, ErrNotForUs) {
		t.Fatalf("someone else's signal: %v", err)
	}
	ev.Content = ev.Content[:len(ev.Content)-4] + "AAAA"
	if _, err := ParseSignal(b, bpub, ev); !errors.Is(err, ErrNotSignal) {
		t.Fatalf("tampered signal: %v", err)
	}
	if _, err := BuildSignal(a, bpub, root, "bye", "", now); !errors.Is(err, ErrNotSignal) {
		t.Fatalf("bad type: %v", err)
	}
}

func TestSignaler(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	offer := func(from string, root byte, created time.Time) *Signal {
		return &Signal{From: from, Root: [32]byte{root}, Type: TypeOffer, Created: created}
	}
	var g Signaler
	for _, step := range []struct {
		s    *Signal
		now  time.Time
		want string
	}{
		{offer("a", 1, t0), t0, Accept},
		{offer("a", 1, t0), t0.Add(4 * time.Second), Duplicate},
		{offer("a", 2, t0), t0.Add(4 * time.Second), Accept},
		{offer("b", 1, t0), t0.Add(4 * time.Second), Accept},
		{offer("a", 1, t0.Add(5*time.Second)), t0.Add(5 * time.Second), Accept},
		{offer("c", 1, t0), t0.Add(31 * time.Second), Stale},
		{offer("c", 1, t0.Add(time.Minute)), t0, Stale},
		{&Signal{From: "a", Root: [32]byte{1}, Type: TypeCandidate, Created: t0}, t0.Add(time.Second), Accept},
		{&Signal{From: "a", Root: [32]byte{1}, Type: TypeAnswer, Created: t0}, t0.Add(40 * time.Second), Stale},
	} {
		if got := g.Step(step.s, step.now); got != step.want {
			t.Errorf("%s %s %x at +%v: %s, want %s", step.s.Type, step.s.From, step.s.Root[0], step.now.Sub(t0), got, step.want)
		}
	}
}

func TestParseSDP(t *testing.T) {
	for _, c := range []struct {
		payload string
		typ     rtc.SDPType
		ok      bool
	}{
		{`{"type":"offer","sdp":"v=0\r\n"}`, rtc.SDPTypeOffer, true},
		{`{"type":"answer","sdp":"v=0\r\n"}`, rtc.SDPTypeOffer, false},
		{`{"type":"offer","sdp":""}`, rtc.SDPTypeOffer, false},
		{"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n", rtc.SDPTypeAnswer, true},
		{"hello", rtc.SDPTypeOffer, false},
	} {
		if _, ok := parseSDP(c.payload, c.typ); ok != c.ok {
			t.Errorf("parseSDP(%q, %v) = %v", c.payload, c.typ, ok)
		}
	}
}

package tally

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/credit"
	"github.com/cairn-nostr/cairn/swarm/wire"
)

// TestCounterTake: a receipt counts when signed by the peer that sent it,
// for the chunk its message names, served, once; each refusal is counted
// with its reason.
func TestCounterTake(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	seederSK, receiverSK, otherSK := nostr.GeneratePrivateKey(), nostr.GeneratePrivateKey(), nostr.GeneratePrivateKey()
	seeder, _ := nostr.GetPublicKey(seederSK)
	receiver, _ := nostr.GetPublicKey(receiverSK)
	chunk, other := [32]byte{1}, [32]byte{2}
	c := New(seeder, clock)
	c.Served(receiver, chunk, 1000)
	msg := func(sk string, h [32]byte) *wire.Receipt {
		raw, r, err := Sign(sk, seeder, h, [32]byte{9}, 1000, now)
		if err != nil || r.Seeder != seeder || r.Bytes != 1000 {
			t.Fatalf("sign: %+v %v", r, err)
		}
		m, err := wire.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		return m.(*wire.Receipt)
	}
	wrongChunk := msg(receiverSK, chunk)
	wrongChunk.Hash = other
	for name, c2 := range map[string]struct {
		m    *wire.Receipt
		want string
	}{
		"signed by another key":     {msg(otherSK, chunk), "sent by"},
		"message for another chunk": {wrongChunk, "in a message for"},
		"never served":              {msg(receiverSK, other), credit.ErrNotServed.Error()},
	} {
		if _, _, err := c.Take(receiver, c2.m); err == nil || !strings.Contains(err.Error(), c2.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, _, err := c.Take(receiver, msg(receiverSK, chunk)); err != nil {
		t.Fatal(err)
	}
	c.Served(receiver, chunk, 1000)
	if _, _, err := c.Take(receiver, msg(receiverSK, chunk)); !errors.Is(err, credit.ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	c.Refuse(errors.New("queue full"))
	if st := c.Stats(); st.Accepted != 1 || st.Refused != 5 || st.LastRefusal != "queue full" {
		t.Fatalf("stats %+v", st)
	}
	if s := (Stats{Sent: 1, Refused: 1, LastRefusal: "a"}).Add(Stats{Accepted: 2, LastRefusal: "b"}); s.Sent != 1 || s.Accepted != 2 || s.LastRefusal != "b" {
		t.Fatalf("add %+v", s)
	}
	hello, err := Hello(receiverSK, "12D3KooWpeer", now)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := wire.Decode(hello)
	if pub, err := credit.ParseHello(m.(*wire.Hello).Event, "12D3KooWpeer"); err != nil || pub != receiver {
		t.Fatalf("hello: %s %v", pub, err)
	}
	if _, err := credit.ParseHello(m.(*wire.Hello).Event, "12D3KooWother"); !errors.Is(err, credit.ErrHello) {
		t.Fatalf("hello from another peer: %v", err)
	}
}

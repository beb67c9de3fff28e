package nip19_test

import (
	"reflect"
	"testing"

	"github.com/cairn-nostr/cairn/nostr"
	"github.com/cairn-nostr/cairn/nostr/nip19"
)

// NIP-19's own examples, and entities go-nostr encodes; both builds must
// decode and encode them alike.
const (
	pk   = "3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d"
	npub = "npub180cvv07tjdrrgpa0j7j7tmnyl2yr6yr7l8j4s3evf6u64th6gkwsyjh6w6"
	sk   = "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa"
	nsec = "nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5"
	nprf = "nprofile1qqsrhuxx8l9ex335q7he0f09aej04zpazpl0ne2cgukyawd24mayt8gpp4mhxue69uhhytnc9e3k7mgpz4mhxue69uhkg6nzv9ejuumpv34kytnrdaksjlyr9p"
)

func TestVectors(t *testing.T) {
	if got, err := nip19.EncodePublicKey(pk); err != nil || got != npub {
		t.Errorf("EncodePublicKey = %q, %v", got, err)
	}
	if got, err := nip19.EncodePrivateKey(sk); err != nil || got != nsec {
		t.Errorf("EncodePrivateKey = %q, %v", got, err)
	}
	for s, want := range map[string]any{
		npub: pk, nsec: sk,
		nprf: nostr.ProfilePointer{PublicKey: pk, Relays: []string{"wss://r.x.com", "wss://djbas.sadkb.com"}},
	} {
		_, v, err := nip19.Decode(s)
		if err != nil || !reflect.DeepEqual(v, want) {
			t.Errorf("Decode(%s) = %#v, %v; want %#v", s, v, err, want)
		}
	}
	if got, err := nip19.EncodeProfile(pk, []string{"wss://r.x.com", "wss://djbas.sadkb.com"}); err != nil || got != nprf {
		t.Errorf("EncodeProfile = %q, %v", got, err)
	}
}

func TestRoundTrips(t *testing.T) {
	id := "07f1dc6ae2e8a3d9e011e280a877bd644e1eac0b8bf70794e53472bd0d175898"
	nevent, err := nip19.EncodeEvent(id, []string{"ws://127.0.0.1:7447"}, pk)
	if err != nil {
		t.Fatal(err)
	}
	if p, v, err := nip19.Decode(nevent); err != nil || p != "nevent" ||
		!reflect.DeepEqual(v, nostr.EventPointer{ID: id, Relays: []string{"ws://127.0.0.1:7447"}, Author: pk}) {
		t.Errorf("nevent: %s %#v %v", p, v, err)
	}
	naddr, err := nip19.EncodeEntity(pk, 30078, "cairn-p2p", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, v, err := nip19.Decode(naddr); err != nil || p != "naddr" ||
		!reflect.DeepEqual(v, nostr.EntityPointer{PublicKey: pk, Kind: 30078, Identifier: "cairn-p2p"}) {
		t.Errorf("naddr: %s %#v %v", p, v, err)
	}
	note, _ := nip19.EncodeNote(id)
	if p, v, err := nip19.Decode(note); err != nil || p != "note" || v != id {
		t.Errorf("note: %s %#v %v", p, v, err)
	}
}

func TestBadInput(t *testing.T) {
	short, _ := nip19.EncodeNote("abcd")
	noID, _ := nip19.EncodeEntity(pk, 1, "", nil)
	for _, s := range []string{"", "npub1", "hello", npub[:len(npub)-1] + "q", short, noID,
		"nevent1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"} {
		if _, _, err := nip19.Decode(s); err == nil {
			t.Errorf("Decode(%q) succeeded", s)
		}
	}
	for _, f := range []func() (string, error){
		func() (string, error) { return nip19.EncodePublicKey("zz") },
		func() (string, error) { return nip19.EncodeEvent("abcd", nil, "") },
		func() (string, error) { return nip19.EncodeProfile("zz", nil) },
	} {
		if s, err := f(); err == nil {
			t.Errorf("encoding bad hex gave %q", s)
		}
	}
}

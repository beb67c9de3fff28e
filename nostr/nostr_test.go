package nostr_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/cairn-nostr/cairn/nostr"
)

// These vectors were produced by go-nostr (the native build's types); the
// browser build must give the same bytes. wantSg is the signature of the
// pure-Go signer (deterministic nonce); the libsecp256k1 build adds
// auxiliary randomness, so a fresh signature is only checked to verify.
const (
	secret = "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa"
	pubkey = "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e"
	wantID = "07f1dc6ae2e8a3d9e011e280a877bd644e1eac0b8bf70794e53472bd0d175898"
	wantSg = "4a008b56c78f15a419141490989ae6025332215624a33ed745be479d62ca7bd3df69207fb936162728f8efe1d4b864861978a4b86a62f6fb18aeecfb21b14eda"
	wantSr = `[0,"7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e",1700000000,1,[["e","aa","wss://r"],["t","x\"y\\z"]],"héllo\n\t\u0001\u001f` + "\u2028" + ` \"q\" </>&"]`
)

func sample() nostr.Event {
	return nostr.Event{
		CreatedAt: 1700000000, Kind: 1,
		Tags:    nostr.Tags{{"e", "aa", "wss://r"}, {"t", `x"y\z`}},
		Content: "héllo\n\t\x01\x1f\u2028 \"q\" </>&",
	}
}

func TestSignSerializeVerify(t *testing.T) {
	ev := sample()
	if err := ev.Sign(secret); err != nil {
		t.Fatal(err)
	}
	if ev.PubKey != pubkey || ev.ID != wantID {
		t.Fatalf("signed event differs from go-nostr's:\n%s", ev.String())
	}
	golden := ev
	golden.Sig = wantSg
	if ok, err := golden.CheckSignature(); !ok || err != nil {
		t.Fatalf("go-nostr's signature does not verify: %v, %v", ok, err)
	}
	if got := string(ev.Serialize()); got != wantSr {
		t.Fatalf("serialization:\n got %s\nwant %s", got, wantSr)
	}
	if ev.GetID() != wantID || !ev.CheckID() {
		t.Fatal("GetID/CheckID disagree with the signed id")
	}
	if ok, err := ev.CheckSignature(); !ok || err != nil {
		t.Fatalf("CheckSignature = %v, %v", ok, err)
	}
	if pk, err := nostr.GetPublicKey(secret); err != nil || pk != pubkey {
		t.Fatalf("GetPublicKey = %q, %v", pk, err)
	}

	// JSON round trip keeps every field.
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var back nostr.Event
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, ev) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", back, ev)
	}
}

func TestTamperedAndMalformed(t *testing.T) {
	ev := sample()
	if err := ev.Sign(secret); err != nil {
		t.Fatal(err)
	}
	bad := ev
	bad.Content += "!"
	if ok, _ := bad.CheckSignature(); ok || bad.CheckID() {
		t.Fatal("a changed content still verifies")
	}
	for name, mod := range map[string]func(*nostr.Event){
		"pubkey not hex":   func(e *nostr.Event) { e.PubKey = "zz" },
		"pubkey not point": func(e *nostr.Event) { e.PubKey = strings.Repeat("f", 64) },
		"sig not hex":      func(e *nostr.Event) { e.Sig = "xyz" },
	} {
		e := ev
		mod(&e)
		if ok, err := e.CheckSignature(); ok || err == nil {
			t.Errorf("%s: CheckSignature = %v, %v; want false and an error", name, ok, err)
		}
	}
	short := ev
	short.Sig = "abcd"
	if ok, _ := short.CheckSignature(); ok {
		t.Error("a 2-byte signature verifies")
	}
	if err := new(nostr.Event).Sign("not a key"); err == nil {
		t.Error("Sign with a malformed key succeeded")
	}
	if _, err := nostr.GetPublicKey("xx"); err == nil {
		t.Error("GetPublicKey of a malformed key succeeded")
	}
	if err := json.Unmarshal([]byte(`{"kind":"one"}`), new(nostr.Event)); err == nil {
		t.Error("an event with a string kind decoded")
	}
}

func TestKeys(t *testing.T) {
	sk := nostr.GeneratePrivateKey()
	if !nostr.IsValid32ByteHex(sk) {
		t.Fatalf("GeneratePrivateKey = %q", sk)
	}
	pk, err := nostr.GetPublicKey(sk)
	if err != nil || !nostr.IsValidPublicKey(pk) {
		t.Fatalf("public key %q, %v", pk, err)
	}
	for _, s := range []string{"", "AB" + pubkey[2:], pubkey[:62], strings.Repeat("f", 64)} {
		if nostr.IsValidPublicKey(s) {
			t.Errorf("IsValidPublicKey(%q) = true", s)
		}
	}
	if nostr.IsValid32ByteHex("G" + pubkey[1:]) {
		t.Error("IsValid32ByteHex took a non-hex digit")
	}
}

func TestKinds(t *testing.T) {
	for _, c := range []struct {
		kind                   int
		repl, ephemeral, addrd bool
	}{{0, true, false, false}, {1, false, false, false}, {3, true, false, false},
		{10002, true, false, false}, {20001, false, true, false}, {30078, false, false, true}, {40000, false, false, false}} {
		if nostr.IsReplaceableKind(c.kind) != c.repl || nostr.IsEphemeralKind(c.kind) != c.ephemeral || nostr.IsAddressableKind(c.kind) != c.addrd {
			t.Errorf("kind %d classified wrongly", c.kind)
		}
	}
	if nostr.KindClientAuthentication != 22242 {
		t.Error("KindClientAuthentication")
	}
}

func TestTags(t *testing.T) {
	tags := nostr.Tags{{"d", "slot"}, {"e", "a", "r"}, {"e", "b"}, {"x"}}
	if tags.GetD() != "slot" {
		t.Error("GetD")
	}
	if g := tags.GetFirst([]string{"e", ""}); g == nil || (*g)[1] != "a" {
		t.Errorf("GetFirst = %v", g)
	}
	if tags.GetFirst([]string{"p", ""}) != nil {
		t.Error("GetFirst found a missing tag")
	}
	if !tags.ContainsAny("e", []string{"z", "b"}) || tags.ContainsAny("e", []string{"r"}) {
		t.Error("ContainsAny")
	}
}

func TestFilter(t *testing.T) {
	ev := sample()
	if err := ev.Sign(secret); err != nil {
		t.Fatal(err)
	}
	since, until := nostr.Timestamp(1600000000), nostr.Timestamp(1700000000)
	match := nostr.Filter{Kinds: []int{1}, Authors: []string{pubkey}, Tags: nostr.TagMap{"e": {"aa"}}, Since: &since, Until: &until}
	if !match.Matches(&ev) {
		t.Fatal("filter does not match its event")
	}
	for name, f := range map[string]nostr.Filter{
		"kind":   {Kinds: []int{2}},
		"author": {Authors: []string{wantID}},
		"id":     {IDs: []string{pubkey}},
		"tag":    {Tags: nostr.TagMap{"e": {"zz"}}},
		"since":  {Since: ptr(until + 1)},
		"until":  {Until: ptr(since)},
	} {
		if f.Matches(&ev) {
			t.Errorf("%s: filter matches", name)
		}
	}
	if (nostr.Filter{}).Matches(nil) {
		t.Error("a nil event matches")
	}

	// JSON: what go-nostr writes (names as NIP-01 has them, "limit":0 kept
	// when asked for), read back to the same filter.
	s := nostr.Timestamp(5)
	f := nostr.Filter{IDs: []string{"a"}, Kinds: []int{1, 2}, Tags: nostr.TagMap{"e": {"x"}}, Since: &s, LimitZero: true}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"ids":["a"],"kinds":[1,2],"since":5,"limit":0,"#e":["x"]}` {
		t.Errorf("filter JSON = %s", b)
	}
	var back nostr.Filter
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, f) {
		t.Errorf("filter round trip:\n got %+v\nwant %+v", back, f)
	}
	if err := json.Unmarshal([]byte(`{"kinds":"x"}`), &back); err == nil {
		t.Error("a filter with a string for kinds decoded")
	}
	if err := json.Unmarshal([]byte(`[1]`), &back); err == nil {
		t.Error("an array decoded as a filter")
	}
}

func ptr(t nostr.Timestamp) *nostr.Timestamp { return &t }

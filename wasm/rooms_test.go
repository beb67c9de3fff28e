//go:build js && wasm

package main

import (
	"encoding/json"
	"strings"
	"syscall/js"
	"testing"

	"github.com/cairn-nostr/cairn/nostr"
)

// TestRoomCalls: the page makes a genesis and an entry with the core,
// signs them, and replays the log through the core.
func TestRoomCalls(t *testing.T) {
	sk := strings.Repeat("1", 64)
	pk, _ := nostr.GetPublicKey(sk)
	other, _ := nostr.GetPublicKey(strings.Repeat("2", 64))
	stringify := func(v js.Value) string { return js.Global().Get("JSON").Call("stringify", v).String() }
	signed := func(tmpl js.Value) *nostr.Event {
		t.Helper()
		var ev nostr.Event
		if err := json.Unmarshal([]byte(stringify(tmpl)), &ev); err != nil {
			t.Fatalf("template %s: %v", stringify(tmpl), err)
		}
		if err := ev.Sign(sk); err != nil {
			t.Fatal(err)
		}
		return &ev
	}
	jsArray := func(evs ...*nostr.Event) js.Value {
		b, _ := json.Marshal(evs)
		return js.Global().Get("JSON").Call("parse", string(b))
	}
	opts := js.Global().Get("Object").New()
	opts.Set("creator", pk)
	opts.Set("open", true)
	g := signed(call("roomGenesis", "lobby", opts))
	id := g.Tags.Find("h")[1]
	view := func(evs ...*nostr.Event) js.Value {
		t.Helper()
		v, err := await(call("roomReplay", id, jsArray(evs...)))
		if err != nil {
			t.Fatalf("roomReplay: %v", err)
		}
		return v
	}
	v := view(g)
	if v.Get("name").String() != "lobby" || !v.Get("open").Bool() || v.Get("users").Index(0).Get("role").String() != "owner" {
		t.Fatalf("view %s", stringify(v))
	}
	act := js.Global().Get("Object").New()
	act.Set("op", "grant")
	act.Set("target", other)
	act.Set("role", "mod")
	e := signed(call("roomEntry", id, v.Get("tip"), act))
	v = view(g, e)
	if v.Get("users").Length() != 2 || v.Get("users").Index(1).Get("role").String() != "mod" || v.Get("entries").Length() != 2 {
		t.Fatalf("after grant: %s", stringify(v))
	}

	wantError(t, call("roomGenesis", "", opts), "1 to 64")
	wantError(t, call("roomGenesis", "x", js.Global().Get("Object").New()), "creator")
	inv := js.Global().Get("Object").New()
	inv.Set("op", "invite")
	inv.Set("code", "abc")
	i := signed(call("roomEntry", id, v.Get("tip"), inv))
	if i.Kind != 9009 || i.Tags.Find("code")[1] != "abc" {
		t.Fatalf("invite entry %v", i)
	}
	ch := js.Global().Get("Object").New()
	ch.Set("op", "channel")
	ch.Set("channel", "dev")
	ch.Set("name", "Development")
	c := signed(call("roomEntry", id, v.Get("tip"), ch))
	if c.Kind != 9002 || len(c.Tags.Find("channel")) != 3 || c.Tags.Find("channel")[2] != "Development" {
		t.Fatalf("channel entry %v", c)
	}
	if v := view(g, e, c); v.Get("channels").Length() != 2 || v.Get("channels").Index(1).Get("name").String() != "Development" {
		t.Fatalf("after the channel: %s", stringify(v))
	}
	ch.Set("channel", "Dev!")
	wantError(t, call("roomEntry", id, v.Get("tip"), ch), "channel id")
	act.Set("op", "promote")
	wantError(t, call("roomEntry", id, v.Get("tip"), act), "grant, revoke, ban, unban, invite, channel, countersign or sequencer")
	sq := js.Global().Get("Object").New()
	sq.Set("op", "sequencer")
	sq.Set("minutes", 30)
	if q := signed(call("roomEntry", id, v.Get("tip"), sq)); q.Kind != 9018 || q.Tags.Find("sequencer")[1] != "30" {
		t.Fatalf("sequencer entry %v", q)
	}
	sq.Set("minutes", -1)
	wantError(t, call("roomEntry", id, v.Get("tip"), sq), "minutes")
	cs := js.Global().Get("Object").New()
	cs.Set("op", "countersign")
	cs.Set("ids", jsStrings(e.ID))
	if q := signed(call("roomEntry", id, v.Get("tip"), cs)); q.Kind != 9018 || q.Tags.Find("e")[1] != e.ID {
		t.Fatalf("countersign entry %v", q)
	}
	cs.Set("ids", jsStrings("abc"))
	wantError(t, call("roomEntry", id, v.Get("tip"), cs), "ids")
	wantError(t, call("roomEntry", id, "tip", act), "tip")
	if _, err := await(call("roomReplay", id, jsArray(e))); err == nil || !strings.Contains(err.Error(), "genesis") {
		t.Errorf("a log without its genesis: %v", err)
	}
	if _, err := await(call("roomReplay", "lobby", jsArray(g))); err == nil {
		t.Error("a bad room id was replayed")
	}
}

func jsStrings(ss ...string) js.Value {
	a := js.Global().Get("Array").New()
	for _, s := range ss {
		a.Call("push", s)
	}
	return a
}

//go:build js && wasm

package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"syscall/js"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/room"
)

// The rooms screen's calls: the tab builds and replays a room's log with
// package room itself, as every member does; only the events come from
// the relay.

// roomGenesis(name, {creator, open, unrestricted, about}) -> unsigned kind 9007 | {error}
func jsRoomGenesis(args []js.Value) any {
	name, err := strArg(args, 0, "roomGenesis: the name")
	if err != nil {
		return errResult(err)
	}
	if name == "" || len(name) > room.MaxName {
		return errResult(fmt.Errorf("roomGenesis: a room's name is 1 to %d bytes", room.MaxName))
	}
	var nonce [16]byte
	rand.Read(nonce[:])
	// The id binds the creator: the page passes the signer's pubkey.
	creator := optString(opt(args, 1, "creator"))
	if _, err := event.ParseHex32(creator); err != nil {
		return errResult(errors.New("roomGenesis: opts.creator: the signer's pubkey (64 hex)"))
	}
	g := room.Genesis(creator, name, nonce, time.Now())
	if a := optString(opt(args, 1, "about")); a != "" {
		g.Tags = append(g.Tags, nostr.Tag{"about", a})
	}
	for _, flag := range []string{"open", "unrestricted"} {
		if v := opt(args, 1, flag); v.Type() == js.TypeBoolean && v.Bool() {
			g.Tags = append(g.Tags, nostr.Tag{flag})
		}
	}
	v, err := toJS(map[string]any{"kind": g.Kind, "created_at": g.CreatedAt, "tags": g.Tags, "content": g.Content})
	if err != nil {
		return errResult(err)
	}
	return v
}

// roomReplay(roomID, events[]) -> Promise<View> (room.View's JSON)
func jsRoomReplay(args []js.Value) any {
	id, err := strArg(args, 0, "roomReplay: the room id")
	var raw string
	if err == nil {
		err = errors.New("roomReplay: want an array of events")
		if len(args) > 1 && js.Global().Get("Array").Call("isArray", args[1]).Bool() {
			raw, err = js.Global().Get("JSON").Call("stringify", args[1]).String(), nil
		}
	}
	return async("roomReplay", func() (any, error) {
		if err != nil {
			return nil, err
		}
		if err := room.CheckRoomID(id); err != nil {
			return nil, err
		}
		var list []json.RawMessage
		if err := json.Unmarshal([]byte(raw), &list); err != nil {
			return nil, fmt.Errorf("roomReplay: %w", err)
		}
		evs := make([]*nostr.Event, 0, len(list))
		for _, r := range list {
			if ev, err := event.Decode(r); err == nil {
				evs = append(evs, ev) // Replay verifies and reports the rest
			}
		}
		l, err := room.Replay(id, evs, time.Now())
		if err != nil {
			return nil, fmt.Errorf("room %.16s…: %w (is the room on this relay?)", id, err)
		}
		return toJS(l.View())
	})
}

// roomEntry(roomID, tip, {op, target, role, code, channel, name, archived, ids, minutes, reason})
// -> unsigned log entry | {error}
// op: grant, revoke, ban, unban, invite, channel, countersign (ids) or
// sequencer (minutes, 0: off); tip: a View's tip.
func jsRoomEntry(args []js.Value) any {
	id, err := strArg(args, 0, "roomEntry: the room id")
	if err != nil {
		return errResult(err)
	}
	if err := room.CheckRoomID(id); err != nil {
		return errResult(err)
	}
	var tip room.Point
	if len(args) < 3 || json.Unmarshal([]byte(js.Global().Get("JSON").Call("stringify", args[1]).String()), &tip) != nil || !event.IsHex(tip.Prev, 64) {
		return errResult(errors.New("roomEntry: want (roomID, tip from roomReplay, action)"))
	}
	op := optString(opt(args, 2, "op"))
	target := optString(opt(args, 2, "target"))
	if _, err := event.ParseHex32(target); err != nil && (op == "grant" || op == "revoke" || op == "ban" || op == "unban") {
		return errResult(errors.New("roomEntry: action.target: a pubkey (64 hex)"))
	}
	var a room.Action
	switch op {
	case "invite":
		a = room.Invite(optString(opt(args, 2, "code")))
	case "grant":
		a = room.Grant(target, optString(opt(args, 2, "role")))
	case "revoke":
		a = room.Revoke(target)
	case "ban":
		a = room.Ban(target)
	case "unban":
		a = room.Unban(target)
	case "channel":
		a = room.SetChannel(optString(opt(args, 2, "channel")), optString(opt(args, 2, "name")), opt(args, 2, "archived").Truthy())
		if err := room.CheckChannel(a.Channel, a.ChannelName); err != nil {
			return errResult(fmt.Errorf("roomEntry: %w", err))
		}
	case "countersign":
		ids := opt(args, 2, "ids")
		if ids.Type() != js.TypeObject || ids.Length() == 0 || ids.Length() > room.MaxTags-5 {
			return errResult(fmt.Errorf("roomEntry: action.ids: 1 to %d entry ids (a view's pending)", room.MaxTags-5))
		}
		var list []string
		for i := 0; i < ids.Length(); i++ {
			if id := optString(ids.Index(i)); event.IsHex(id, 64) {
				list = append(list, id)
			} else {
				return errResult(errors.New("roomEntry: action.ids: entry ids (64 hex)"))
			}
		}
		a = room.Countersign(list...)
	case "sequencer":
		m := opt(args, 2, "minutes")
		if m.Type() != js.TypeNumber || m.Int() < 0 || time.Duration(m.Int())*time.Minute > room.MaxSequencerWait {
			return errResult(fmt.Errorf("roomEntry: action.minutes: 1 to %d, or 0 for off", int(room.MaxSequencerWait/time.Minute)))
		}
		a = room.Sequencer(time.Duration(m.Int()) * time.Minute)
	default:
		return errResult(fmt.Errorf("roomEntry: action.op %q: want grant, revoke, ban, unban, invite, channel, countersign or sequencer", op))
	}
	a.Reason = optString(opt(args, 2, "reason"))
	ev := room.NewEntry(id, tip, a, time.Now())
	v, err := toJS(map[string]any{"kind": ev.Kind, "created_at": ev.CreatedAt, "tags": ev.Tags, "content": ev.Content})
	if err != nil {
		return errResult(err)
	}
	return v
}

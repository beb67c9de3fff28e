// Writes golden vectors from NostrP2P's own schema code (ryogrid/nostrp2p
// at 7c0ec59): msgpack of Np2pEvent and of api_server.EventsResp's shape.
package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/nbd-wtf/go-nostr"
	"github.com/ryogrid/nostrp2p/schema"
	"github.com/vmihailenco/msgpack/v5"
)

// EventsResp is api_server.EventsResp (api_server itself imports nutsdb,
// which does not build here).
type EventsResp struct {
	Evts []schema.Np2pEvent
}

func sign(sk string, kind int, at int64, tags nostr.Tags, content string) nostr.Event {
	ev := nostr.Event{Kind: kind, CreatedAt: nostr.Timestamp(at), Tags: tags, Content: content}
	if err := ev.Sign(sk); err != nil {
		panic(err)
	}
	return ev
}

func toREST(ev nostr.Event) *schema.Np2pEventForREST {
	tags := [][]string{}
	for _, t := range ev.Tags {
		tags = append(tags, []string(t))
	}
	return &schema.Np2pEventForREST{Id: ev.ID, Pubkey: ev.PubKey, Created_at: int64(ev.CreatedAt), Kind: uint16(ev.Kind), Tags: tags, Content: ev.Content, Sig: ev.Sig}
}

type vector struct {
	Name    string            `json:"name"`
	Events  []json.RawMessage `json:"events"`  // NIP-01 JSON of the events, in order
	NoSig   bool              `json:"no_sig"`  // Sig set to nil (getPost, getProfile, getFollowList)
	Msgpack string            `json:"msgpack"` // hex of msgpack.Marshal(&EventsResp{...})
}

type reqVector struct {
	JSON   string                `json:"json"`
	Parsed schema.Np2pReqForREST `json:"parsed"`
}

func main() {
	sk1 := fmt.Sprintf("%064x", 1)
	sk2 := fmt.Sprintf("%064x", 2)
	pk2, _ := nostr.GetPublicKey(sk2)
	post := sign(sk1, 1, 1700000000, nostr.Tags{}, "hello from a personal node")
	reply := sign(sk2, 1, 1700000100, nostr.Tags{{"e", post.ID, "", "root"}, {"p", post.PubKey}}, "a reply, with ünïcode ✓")
	react := sign(sk2, 7, 1700000200, nostr.Tags{{"e", post.ID}, {"p", post.PubKey}}, "+")
	prof := sign(sk1, 0, 1700000300, nostr.Tags{}, `{"name":"one","picture":"https://example.com/a.png"}`)
	follow := sign(sk1, 3, 1700000400, nostr.Tags{{"p", pk2}}, "")
	empty := sign(sk1, 1, 0, nostr.Tags{}, "")
	cases := []struct {
		name  string
		evs   []nostr.Event
		noSig bool
	}{
		{"empty", nil, false},
		{"one post", []nostr.Event{post}, false},
		{"timeline", []nostr.Event{post, reply, react, prof, follow}, false},
		{"profile without sig", []nostr.Event{prof}, true},
		{"zero fields", []nostr.Event{empty}, false},
	}
	var out []vector
	for _, c := range cases {
		resp := EventsResp{Evts: []schema.Np2pEvent{}}
		var raws []json.RawMessage
		for _, ev := range c.evs {
			e := schema.NewNp2pEventFromREST(toREST(ev))
			if !e.Verify() {
				panic("NostrP2P refuses the signature of " + ev.ID)
			}
			if c.noSig {
				e.Sig = nil
			}
			resp.Evts = append(resp.Evts, *e)
			raw, _ := ev.MarshalJSON()
			raws = append(raws, raw)
		}
		b, err := msgpack.Marshal(&resp)
		if err != nil {
			panic(err)
		}
		// Round trip through NostrP2P's decoder.
		var back EventsResp
		if err := msgpack.Unmarshal(b, &back); err != nil || len(back.Evts) != len(resp.Evts) {
			panic(err)
		}
		out = append(out, vector{Name: c.name, Events: raws, NoSig: c.noSig, Msgpack: hex.EncodeToString(b)})
	}
	var reqs []reqVector
	for _, r := range []string{
		`{"kinds":[40000],"limit":10}`,
		`{"kinds":[40000],"since":1700000000,"until":1700000300}`,
		`{"kinds":[40000]}`,
		`{"ids":["` + post.ID + `"],"authors":["` + post.PubKey + `"],"kinds":[1]}`,
		`{"authors":["` + post.PubKey + `"],"kinds":[0]}`,
		`{"authors":["` + post.PubKey + `"],"kinds":[3],"#p":["` + pk2 + `"]}`,
	} {
		var p schema.Np2pReqForREST
		if err := json.Unmarshal([]byte(r), &p); err != nil {
			panic(err)
		}
		reqs = append(reqs, reqVector{JSON: r, Parsed: p})
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(map[string]any{"source": "github.com/ryogrid/nostrp2p 7c0ec59, schema package", "responses": out, "requests": reqs})
}

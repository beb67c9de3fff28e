//go:build js && wasm

package main

import (
	"context"
	"strings"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/relay/client"
)

// maxHints bounds the relay hints of one nevent that are tried.
const maxHints = 3

// kindAddressing is the cairn-p2p addressing record's kind (NIP-78).
const kindAddressing = 30078

// carry fetches event id from an nevent's relay hints when the tab's relay
// lacks it, and republishes to the tab's relay what a node there needs to
// serve the file: the event, the author's kind 1063 of the same root, and
// the cairn-p2p addressing records of the author and the map's gatekeepers
// (with them, the tab's node finds the seeders over libp2p and bridges
// their chunks to the tab). Every event is signed by its author, so
// carrying it forges nothing; ids and signatures are checked first. It
// returns the event, or nil if no hint had it.
func (c *core) carry(ctx context.Context, id string, hints []string) *nostr.Event {
	tried := 0
	for _, h := range hints {
		if tried == maxHints {
			break
		}
		if !strings.HasPrefix(h, "ws://") && !strings.HasPrefix(h, "wss://") || h == c.relayURL {
			continue
		}
		tried++
		ev := c.carryFrom(ctx, h, id)
		if ev != nil {
			return ev
		}
	}
	return nil
}

func (c *core) carryFrom(ctx context.Context, relayURL, id string) *nostr.Event {
	conn, err := client.Dial(ctx, relayURL)
	if err != nil {
		return nil
	}
	defer conn.Close()
	valid := func(f nostr.Filter) []*nostr.Event {
		evs, err := conn.Query(ctx, f)
		if err != nil {
			return nil
		}
		out := evs[:0]
		for _, ev := range evs {
			if ev.CheckID() {
				if ok, _ := ev.CheckSignature(); ok {
					out = append(out, ev)
				}
			}
		}
		return out
	}
	found := valid(nostr.Filter{IDs: []string{id}})
	if len(found) == 0 {
		return nil
	}
	ev := found[0]
	carried := []*nostr.Event{ev}
	if ev.Kind == chunkmap.KindChunkMap {
		if m, err := chunkmap.Parse(ev); err == nil {
			root := rootHex(m.Root)
			for _, fe := range valid(nostr.Filter{Kinds: []int{chunkmap.KindFileMetadata}, Authors: []string{ev.PubKey}, Limit: maxScan}) {
				if fm, err := chunkmap.ParseFileMetadata(fe); err == nil && rootHex(fm.Root) == root {
					carried = append(carried, fe)
				}
			}
			authors := append([]string{ev.PubKey}, m.Gatekeepers...)
			carried = append(carried, valid(nostr.Filter{Kinds: []int{kindAddressing}, Authors: authors, Tags: nostr.TagMap{"d": {"cairn-p2p"}}})...)
		}
	}
	for _, e := range carried {
		c.publish(ctx, e) // a refusal (a duplicate, a policy) loses nothing
	}
	return ev
}

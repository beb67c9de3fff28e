package node

import (
	"context"
	"encoding/hex"
	"encoding/json"

	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/peer"
	"github.com/cairn-nostr/cairn/relay"
	"github.com/cairn-nostr/cairn/web"
	"github.com/nbd-wtf/go-nostr"
)

// headMaps is how many of an author's newest chunk maps are read to find
// the one a kind 1063 names: the number the page asks the relay for
// (web/static/early.js), so both pick the same map.
const headMaps = 100

// storedEvent is an event read from the store with its raw JSON, which is
// what the page receives (as the relay would send it).
type storedEvent struct {
	raw []byte
	ev  *nostr.Event
}

// watchHead is the web app's head start for /watch/<ref> (a web.HeadFunc):
// when the node's own store holds the event ref names (and, for a kind
// 1063, the author's chunk map it links), the page carries them inline and
// preloads the chunks the player asks for first that the node holds. Only
// the local store is read: a page view makes no outbound connection. A
// relay whose reads need AUTH gives no head start (the page would show
// what a REQ would not), nor preloads where Blossom GETs need it.
func (n *Node) watchHead(ctx context.Context, ref string) (web.Head, bool) {
	if n.cfg.Relay.Auth == relay.AuthAll || n.cfg.Personal.PrivateReads {
		return web.Head{}, false
	}
	r, err := peer.ParseRef(ref)
	if err != nil {
		return web.Head{}, false
	}
	target := n.storedEvents(ctx, nostr.Filter{IDs: []string{r.ID}}, 1)
	if len(target) == 0 {
		return web.Head{}, false
	}
	var maps []storedEvent
	if t := target[0].ev; t.Kind == chunkmap.KindFileMetadata {
		maps = n.storedEvents(ctx, nostr.Filter{Kinds: []int{chunkmap.KindChunkMap}, Authors: []string{t.PubKey}}, headMaps)
	}
	held := n.blobs.Has
	if n.blossom.policy.PrivateGet {
		held = func([32]byte) bool { return false }
	}
	return headStart(target[0], maps, held)
}

// storedEvents reads up to limit stored events matching f, newest first,
// with their raw JSON (copied: the store's is valid only during the call).
func (n *Node) storedEvents(ctx context.Context, f nostr.Filter, limit int) []storedEvent {
	var out []storedEvent
	n.store.Query(ctx, f, limit, func(raw []byte) error {
		ev, err := event.Decode(raw)
		if err != nil {
			return nil
		}
		out = append(out, storedEvent{raw: append([]byte(nil), raw...), ev: ev})
		return nil
	})
	return out
}

// headStart is what the page for target carries: target itself when it is
// a chunk map; for a kind 1063 file event, the event and the first of
// maps (the author's newest chunk maps, newest first) whose root it names.
// Preload lists chunks 0 and 1 (the init segment and the first media
// chunk, which the player asks for at once) among those held says the node
// holds. It reports false when target names no chunk map of two chunks or
// more (the page's head start plays nothing shorter), or the map is not
// among maps.
func headStart(target storedEvent, maps []storedEvent, held func([32]byte) bool) (web.Head, bool) {
	var m *chunkmap.Map
	events := []json.RawMessage{target.raw}
	switch target.ev.Kind {
	case chunkmap.KindChunkMap:
		var err error
		if m, err = chunkmap.Parse(target.ev); err != nil {
			return web.Head{}, false
		}
	case chunkmap.KindFileMetadata:
		fm, err := chunkmap.ParseFileMetadata(target.ev)
		if err != nil || fm.Root == ([32]byte{}) {
			return web.Head{}, false
		}
		for _, c := range maps {
			if c.ev.Kind != chunkmap.KindChunkMap || c.ev.PubKey != target.ev.PubKey {
				continue
			}
			if cm, err := chunkmap.Parse(c.ev); err == nil && cm.Root == fm.Root {
				m = cm
				events = append(events, c.raw)
				break
			}
		}
		if m == nil {
			return web.Head{}, false
		}
	default:
		return web.Head{}, false
	}
	if len(m.Chunks) < 2 {
		return web.Head{}, false
	}
	var preload []string
	for _, h := range m.Chunks[:2] {
		if held(h) {
			preload = append(preload, hex.EncodeToString(h[:]))
		}
	}
	return web.Head{Events: events, Preload: preload}, true
}

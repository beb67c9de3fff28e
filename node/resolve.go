package node

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"

	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/relay/client"
	"github.com/cairn-nostr/cairn/store"
)

// ErrUnknown: a reference names nothing this node knows or could find.
var ErrUnknown = errors.New("unknown media")

// item is a piece of media the node knows: its chunk map and, when a
// kind 1063 event names it, the whole file's sha256.
type item struct {
	m      *chunkmap.Map
	mapEv  *nostr.Event
	sha256 string // hex; "" when no 1063 is known
}

// resolve finds the chunk map a reference names. A reference is an nevent
// (NIP-19, with relay hints), a note, or 64 hex characters: an event id (of
// a kind 7001 map or a kind 1063 file event), a Merkle root or a file's
// sha256. The local store is searched first; an nevent's relays are asked
// next, and what they return (the map, the author's kind 1063 events, the
// gatekeepers' cairn-p2p records) is stored.
func (n *Node) resolve(ctx context.Context, ref string) (*item, error) {
	ref = strings.TrimPrefix(strings.TrimSpace(ref), "nostr:")
	var id string
	var relays []string
	switch {
	case strings.HasPrefix(ref, "nevent1"), strings.HasPrefix(ref, "note1"):
		prefix, v, err := nip19.Decode(ref)
		if err != nil {
			return nil, fmt.Errorf("reference %q: %w", ref, err)
		}
		switch prefix {
		case "nevent":
			ep := v.(nostr.EventPointer)
			id, relays = ep.ID, ep.Relays
		case "note":
			id = v.(string)
		}
	case isHex64(ref):
		id = ref
	default:
		return nil, fmt.Errorf("reference %q: want an nevent, a note, an event id, a root or a sha256 (64 hex characters)", ref)
	}
	if it, err := n.localByID(ctx, id); it != nil || err != nil {
		return it, err
	}
	if len(relays) == 0 {
		// 64 hex characters may also be a root or a file's sha256.
		if it := n.localByRoot(ctx, id); it != nil {
			return it, nil
		}
		if it := n.localBySHA256(ctx, id); it != nil {
			return it, nil
		}
		return nil, fmt.Errorf("%w: no chunk map, file event, root or sha256 %s is stored on this node; pass an nevent with a relay hint", ErrUnknown, id)
	}
	var errs []error
	for _, u := range relays {
		if err := n.fetchRemote(ctx, u, id); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
			continue
		}
		if it, err := n.localByID(ctx, id); it != nil || err != nil {
			return it, err
		}
	}
	return nil, fmt.Errorf("%w: event %s not found on its relays: %w", ErrUnknown, id, errors.Join(errs...))
}

// fetchRemote asks one relay for the event id and what goes with it, and
// stores what it gets after checking every signature.
func (n *Node) fetchRemote(ctx context.Context, relayURL, id string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	r, err := client.Dial(ctx, relayURL)
	if err != nil {
		return err
	}
	defer r.Close()
	evs, err := r.Query(ctx, nostr.Filter{IDs: []string{id}})
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return errors.New("not there")
	}
	ev := evs[0]
	if err := n.saveVerified(ctx, ev); err != nil {
		return err
	}
	// The companions: the author's file events (one names this map's
	// root) and the seeders' addressing records.
	author := []string{ev.PubKey}
	var gatekeepers []string
	var rootHex string
	switch ev.Kind {
	case chunkmap.KindChunkMap:
		if m, err := chunkmap.Parse(ev); err == nil {
			gatekeepers = m.Gatekeepers
			rootHex = hex.EncodeToString(m.Root[:])
		}
	case chunkmap.KindFileMetadata:
		if fm, err := chunkmap.ParseFileMetadata(ev); err == nil && fm.Root != ([32]byte{}) {
			rootHex = hex.EncodeToString(fm.Root[:])
		}
	}
	more, _ := r.Query(ctx, nostr.Filter{Kinds: []int{chunkmap.KindFileMetadata, chunkmap.KindChunkMap}, Authors: author, Limit: 100})
	for _, e := range more {
		if e.Kind == chunkmap.KindChunkMap && rootHex != "" {
			if m, err := chunkmap.Parse(e); err != nil || hex.EncodeToString(m.Root[:]) != rootHex {
				continue
			} else if len(gatekeepers) == 0 {
				gatekeepers = m.Gatekeepers
			}
		}
		n.saveVerified(ctx, e)
	}
	if rootHex != "" {
		// Seeders other than the gatekeepers may announce the root there.
		var root [32]byte
		hex.Decode(root[:], []byte(rootHex))
		n.watchAnnouncements(relayURL, root)
	}
	if len(gatekeepers) > 0 {
		recs, _ := r.Query(ctx, nostr.Filter{Kinds: []int{KindAppData}, Authors: gatekeepers, Tags: nostr.TagMap{"d": {AddressingTag}}})
		for _, e := range recs {
			n.saveVerified(ctx, e)
		}
	}
	return nil
}

func (n *Node) saveVerified(ctx context.Context, ev *nostr.Event) error {
	if !ev.CheckID() {
		return fmt.Errorf("event %s: id does not match its content", ev.ID)
	}
	if ok, err := ev.CheckSignature(); !ok || err != nil {
		return fmt.Errorf("event %s: bad signature", ev.ID)
	}
	err := n.store.Save(ctx, ev)
	if err != nil && !errors.Is(err, store.ErrDuplicate) && !errors.Is(err, store.ErrReplaced) {
		return err
	}
	return nil
}

// localByID resolves a stored event: a chunk map, or a file event whose
// x-hash names a stored map. (nil, nil) when the id is not stored.
func (n *Node) localByID(ctx context.Context, id string) (*item, error) {
	var ev *nostr.Event
	n.store.Query(ctx, nostr.Filter{IDs: []string{id}}, 1, func(raw []byte) error {
		ev = decodeEvent(raw)
		return nil
	})
	if ev == nil {
		return nil, nil
	}
	switch ev.Kind {
	case chunkmap.KindChunkMap:
		m, err := chunkmap.Parse(ev)
		if err != nil {
			return nil, fmt.Errorf("chunk map %s: %w", id, err)
		}
		it := &item{m: m, mapEv: ev}
		it.sha256 = n.shaOfRoot(ctx, m.Root)
		return it, nil
	case chunkmap.KindFileMetadata:
		fm, err := chunkmap.ParseFileMetadata(ev)
		if err != nil {
			return nil, fmt.Errorf("file event %s: %w", id, err)
		}
		if fm.Root == ([32]byte{}) {
			return nil, fmt.Errorf("file event %s has no x-hash: it names no chunk map, so cairn cannot fetch it peer to peer", id)
		}
		it := n.localByRoot(ctx, hex.EncodeToString(fm.Root[:]))
		if it == nil {
			return nil, fmt.Errorf("%w: file event %s names root %x, whose chunk map is not stored here", ErrUnknown, id, fm.Root)
		}
		return it, nil
	}
	return nil, fmt.Errorf("event %s is of kind %d: want a kind 7001 chunk map or a kind 1063 file event", id, ev.Kind)
}

// localByRoot finds the newest stored chunk map with this root. The
// x-hash tag has a multi-letter name, so relays (this one included) do not
// index it: the stored maps are scanned.
func (n *Node) localByRoot(ctx context.Context, rootHex string) *item {
	var it *item
	n.eachChunkMap(ctx, rootHex, func(m *chunkmap.Map, ev *nostr.Event) error {
		if hex.EncodeToString(m.Root[:]) != rootHex {
			return nil
		}
		it = &item{m: m, mapEv: ev}
		return errStop
	})
	if it != nil {
		it.sha256 = n.shaOfRoot(ctx, it.m.Root)
	}
	return it
}

// localBySHA256 finds the map of the file whose kind 1063 has x = sha.
func (n *Node) localBySHA256(ctx context.Context, sha string) *item {
	var root string
	n.store.Query(ctx, nostr.Filter{Kinds: []int{chunkmap.KindFileMetadata}, Tags: nostr.TagMap{"x": {sha}}}, 0, func(raw []byte) error {
		ev := decodeEvent(raw)
		if ev == nil {
			return nil
		}
		if fm, err := chunkmap.ParseFileMetadata(ev); err == nil && fm.Root != ([32]byte{}) {
			root = hex.EncodeToString(fm.Root[:])
			return errStop
		}
		return nil
	})
	if root == "" {
		return nil
	}
	it := n.localByRoot(ctx, root)
	if it != nil {
		it.sha256 = sha
	}
	return it
}

// shaOfRoot returns the sha256 a stored kind 1063 gives the file with
// this root, or "".
func (n *Node) shaOfRoot(ctx context.Context, root [32]byte) string {
	rootHex := hex.EncodeToString(root[:])
	var sha string
	n.store.Query(ctx, nostr.Filter{Kinds: []int{chunkmap.KindFileMetadata}}, 0, func(raw []byte) error {
		if !strings.Contains(string(raw), rootHex) {
			return nil
		}
		ev := decodeEvent(raw)
		if ev == nil {
			return nil
		}
		if fm, err := chunkmap.ParseFileMetadata(ev); err == nil && fm.Root == root {
			sha = hex.EncodeToString(fm.SHA256[:])
			return errStop
		}
		return nil
	})
	return sha
}

var errStop = errors.New("stop")

func decodeEvent(raw []byte) *nostr.Event {
	var ev nostr.Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil
	}
	return &ev
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

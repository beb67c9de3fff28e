package peer

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/cairn-nostr/cairn/nostr"
	"github.com/cairn-nostr/cairn/nostr/nip19"

	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/media/chunkmap"
)

// ErrUnknown: a reference names nothing this peer knows or could find.
var ErrUnknown = errors.New("unknown media")

// File is a piece of media a peer knows: its chunk map, the map's event,
// and the whole file's sha256 when a kind 1063 names it.
type File struct {
	Map    *chunkmap.Map
	Event  *nostr.Event // the kind 7001
	SHA256 string       // hex; "" when no file event is known
	// Relays are the relays other than home where it was found: the
	// seeders' announcements are watched there too.
	Relays []string
}

// Root is the Merkle root in hex.
func (f *File) Root() string { return hex.EncodeToString(f.Map.Root[:]) }

// Author is the map's signer.
func (f *File) Author() string { return f.Event.PubKey }

// Bounds of a resolution.
const (
	// maxHints bounds the relay hints of one reference that are tried.
	maxHints = 3
	// maxScan bounds the chunk maps or file events read from a relay when
	// looking a root up: x-hash is a multi-letter tag relays do not index.
	maxScan = 500
)

// Ref is a parsed reference.
type Ref struct {
	ID     string   // 64 hex: an event id, or (with no relays) a root or sha256
	Relays []string // an nevent's relay hints
	Hex    bool     // given as 64 hex characters (may be a root or sha256)
}

// ParseRef reads an nevent (NIP-19, with relay hints), a note, or 64 hex
// characters, optionally prefixed "nostr:".
func ParseRef(ref string) (Ref, error) {
	ref = strings.TrimPrefix(strings.TrimSpace(ref), "nostr:")
	switch {
	case strings.HasPrefix(ref, "nevent1"), strings.HasPrefix(ref, "note1"):
		prefix, v, err := nip19.Decode(ref)
		if err != nil {
			return Ref{}, fmt.Errorf("reference %q: %w", ref, err)
		}
		switch v := v.(type) {
		case nostr.EventPointer:
			return Ref{ID: v.ID, Relays: v.Relays}, nil
		case string:
			return Ref{ID: v}, nil
		}
		return Ref{}, fmt.Errorf("reference %q: a %s names no event", ref, prefix)
	case event.IsHex(ref, 64):
		return Ref{ID: ref, Hex: true}, nil
	}
	return Ref{}, fmt.Errorf("reference %q: want an nevent, a note, an event id, a root or a sha256 (64 lowercase hex characters)", ref)
}

// Resolve finds the chunk map a reference names: in the library first,
// then on the home relay, then on the reference's relays. What a relay
// returns is verified (the event must be the one asked for, its id and
// signature valid) and saved to the library with what goes with it: the
// author's kind 1063 of the same root and the seeders' addressing records.
// With Config.Carry, what a hinted relay had is also published to home.
func (p *Peer) Resolve(ctx context.Context, ref string) (*File, error) {
	r, err := ParseRef(ref)
	if err != nil {
		return nil, err
	}
	if f, err := p.localByID(ctx, r.ID); f != nil || err != nil {
		return f, err
	}
	if r.Hex {
		if f := p.localByRoot(ctx, r.ID); f != nil {
			return f, nil
		}
		if f := p.localBySHA256(ctx, r.ID); f != nil {
			return f, nil
		}
	}
	var errs []error
	if home := p.cfg.Home; home != nil && !p.cfg.HomeIsLibrary {
		_, err := p.fetch(ctx, home, "", r.ID)
		if err == nil {
			if f, err := p.localByID(ctx, r.ID); f != nil || err != nil {
				return f, err
			}
		} else {
			errs = append(errs, fmt.Errorf("home relay: %w", err))
		}
		if r.Hex {
			if f := p.remoteByHash(ctx, home, r.ID); f != nil {
				return f, nil
			}
		}
	}
	tried := 0
	for _, u := range r.Relays {
		if tried == maxHints {
			break
		}
		if !strings.HasPrefix(u, "ws://") && !strings.HasPrefix(u, "wss://") || u == p.cfg.HomeURL {
			continue
		}
		tried++
		f, err := p.fromRelay(ctx, u, r.ID)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
			continue
		}
		return f, nil
	}
	if tried == 0 && (p.cfg.Home == nil || p.cfg.HomeIsLibrary) {
		return nil, fmt.Errorf("%w: no chunk map, file event, root or sha256 %s is stored here; pass an nevent with a relay hint", ErrUnknown, r.ID)
	}
	return nil, fmt.Errorf("%w: event %s not found on its relays: %w", ErrUnknown, r.ID, errors.Join(errs...))
}

// fromRelay resolves id on a relay a reference names.
func (p *Peer) fromRelay(ctx context.Context, url, id string) (*File, error) {
	rel, err := p.cfg.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	got, err := p.fetch(ctx, rel, url, id)
	if err != nil {
		return nil, err
	}
	if p.cfg.Carry && p.cfg.Home != nil {
		for _, ev := range got {
			p.cfg.Home.Publish(ctx, ev) // a refusal (a duplicate, a policy) loses nothing
		}
	}
	f, err := p.localByID(ctx, id)
	if f == nil && err == nil {
		err = errors.New("its events were refused by the library")
	}
	if f != nil {
		f.Relays = append(f.Relays, url)
		p.watchAnnouncements(rel, url, f.Map.Root)
	}
	return f, err
}

// fetch asks rel for event id and what goes with it, verifies and saves
// them, and returns what it saved. url is "" for the home relay.
func (p *Peer) fetch(ctx context.Context, rel Events, url, id string) ([]*nostr.Event, error) {
	qctx, cancel := context.WithTimeout(ctx, relayTimeout)
	defer cancel()
	evs, err := rel.Query(qctx, nostr.Filter{IDs: []string{id}})
	if err != nil {
		return nil, err
	}
	var ev *nostr.Event
	var refused error
	for _, e := range evs {
		if err := event.Check(e, id); err != nil {
			refused = err
			continue
		}
		ev = e
		break
	}
	if ev == nil {
		if refused != nil {
			return nil, fmt.Errorf("the relay's answer was refused: %w", refused)
		}
		return nil, errors.New("not there")
	}
	saved := []*nostr.Event{ev}
	if err := p.cfg.Library.Save(ctx, ev); err != nil {
		return nil, err
	}
	// The companions: the author's file events (one names this map's
	// root) and the seeders' addressing records.
	var gatekeepers []string
	var root [32]byte
	switch ev.Kind {
	case chunkmap.KindChunkMap:
		if m, err := chunkmap.Parse(ev); err == nil {
			gatekeepers, root = m.Gatekeepers, m.Root
		}
	case chunkmap.KindFileMetadata:
		if fm, err := chunkmap.ParseFileMetadata(ev); err == nil {
			root = fm.Root
		}
	}
	if root == ([32]byte{}) {
		return saved, nil
	}
	more, _ := rel.Query(qctx, nostr.Filter{Kinds: []int{chunkmap.KindFileMetadata, chunkmap.KindChunkMap}, Authors: []string{ev.PubKey}, Limit: 100})
	for _, e := range more {
		if event.Verify(e) != nil || e.ID == ev.ID {
			continue
		}
		switch e.Kind {
		case chunkmap.KindChunkMap:
			m, err := chunkmap.Parse(e)
			if err != nil || m.Root != root {
				continue
			}
			if len(gatekeepers) == 0 {
				gatekeepers = m.Gatekeepers
			}
		case chunkmap.KindFileMetadata:
			if fm, err := chunkmap.ParseFileMetadata(e); err != nil || fm.Root != root {
				continue
			}
		}
		if p.cfg.Library.Save(ctx, e) == nil {
			saved = append(saved, e)
		}
	}
	recs, _ := rel.Query(qctx, addressingFilter(append([]string{ev.PubKey}, gatekeepers...)))
	for _, e := range recs {
		if event.Verify(e) == nil && p.cfg.Library.Save(ctx, e) == nil {
			saved = append(saved, e)
		}
	}
	return saved, nil
}

// remoteByHash looks a root or sha256 up on rel: a kind 1063 naming it,
// else a scan of recent chunk maps.
func (p *Peer) remoteByHash(ctx context.Context, rel Events, h string) *File {
	qctx, cancel := context.WithTimeout(ctx, relayTimeout)
	defer cancel()
	fes, _ := rel.Query(qctx, nostr.Filter{Kinds: []int{chunkmap.KindFileMetadata}, Tags: nostr.TagMap{"x": {h}}, Limit: 20})
	for _, ev := range fes {
		if event.Verify(ev) != nil {
			continue
		}
		fm, err := chunkmap.ParseFileMetadata(ev)
		if err != nil || fm.Root == ([32]byte{}) {
			continue
		}
		p.cfg.Library.Save(ctx, ev)
		if f := p.mapOnRelay(ctx, rel, hex.EncodeToString(fm.Root[:]), ev.PubKey); f != nil {
			return f
		}
	}
	return p.mapOnRelay(ctx, rel, h, "")
}

// mapOnRelay finds a chunk map of root on rel (by author when known), saves
// it and its companions, and resolves it locally.
func (p *Peer) mapOnRelay(ctx context.Context, rel Events, root, author string) *File {
	if f := p.localByRoot(ctx, root); f != nil {
		return f
	}
	flt := nostr.Filter{Kinds: []int{chunkmap.KindChunkMap}, Limit: maxScan}
	if author != "" {
		flt.Authors = []string{author}
	}
	evs, _ := rel.Query(ctx, flt)
	for _, ev := range evs {
		if t := ev.Tags.GetFirst([]string{"x-hash", root}); t == nil {
			continue
		}
		if _, err := p.fetch(ctx, rel, "", ev.ID); err == nil {
			return p.localByRoot(ctx, root)
		}
	}
	return nil
}

// localByID resolves a stored event: a chunk map, or a file event whose
// x-hash names a stored map. (nil, nil) when the id is not stored.
func (p *Peer) localByID(ctx context.Context, id string) (*File, error) {
	var ev *nostr.Event
	p.cfg.Library.Query(ctx, nostr.Filter{IDs: []string{id}}, "", func(e *nostr.Event) error {
		ev = e
		return ErrStop
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
		return &File{Map: m, Event: ev, SHA256: p.shaOfRoot(ctx, m.Root)}, nil
	case chunkmap.KindFileMetadata:
		fm, err := chunkmap.ParseFileMetadata(ev)
		if err != nil {
			return nil, fmt.Errorf("file event %s: %w", id, err)
		}
		if fm.Root == ([32]byte{}) {
			return nil, fmt.Errorf("file event %s has no x-hash: it names no chunk map, so cairn cannot fetch it peer to peer", id)
		}
		f := p.localByRoot(ctx, hex.EncodeToString(fm.Root[:]))
		if f == nil {
			return nil, fmt.Errorf("%w: file event %s names root %x, whose chunk map is not stored here", ErrUnknown, id, fm.Root)
		}
		f.SHA256 = hex.EncodeToString(fm.SHA256[:])
		return f, nil
	}
	return nil, fmt.Errorf("event %s is of kind %d: want a kind 7001 chunk map or a kind 1063 file event", id, ev.Kind)
}

// ChunkMaps calls fn with every stored chunk map, newest first, once per
// root. Only events whose JSON contains hint (if not empty) need be read.
// fn returning ErrStop ends the walk.
func (p *Peer) ChunkMaps(ctx context.Context, hint string, fn func(f *File) error) error {
	seen := map[[32]byte]bool{}
	return p.cfg.Library.Query(ctx, nostr.Filter{Kinds: []int{chunkmap.KindChunkMap}}, hint, func(ev *nostr.Event) error {
		m, err := chunkmap.Parse(ev)
		if err != nil || seen[m.Root] {
			return nil
		}
		seen[m.Root] = true
		return fn(&File{Map: m, Event: ev})
	})
}

// localByRoot finds the newest stored chunk map with this root.
func (p *Peer) localByRoot(ctx context.Context, rootHex string) *File {
	var f *File
	p.ChunkMaps(ctx, rootHex, func(x *File) error {
		if x.Root() != rootHex {
			return nil
		}
		f = x
		return ErrStop
	})
	if f != nil {
		f.SHA256 = p.shaOfRoot(ctx, f.Map.Root)
	}
	return f
}

// localBySHA256 finds the map of the file whose kind 1063 has x = sha.
func (p *Peer) localBySHA256(ctx context.Context, sha string) *File {
	var root string
	p.cfg.Library.Query(ctx, nostr.Filter{Kinds: []int{chunkmap.KindFileMetadata}, Tags: nostr.TagMap{"x": {sha}}}, "", func(ev *nostr.Event) error {
		if fm, err := chunkmap.ParseFileMetadata(ev); err == nil && fm.Root != ([32]byte{}) {
			root = hex.EncodeToString(fm.Root[:])
			return ErrStop
		}
		return nil
	})
	if root == "" {
		return nil
	}
	f := p.localByRoot(ctx, root)
	if f != nil {
		f.SHA256 = sha
	}
	return f
}

// FileBySHA256 is the stored file whose kind 1063 has this sha256, or nil.
func (p *Peer) FileBySHA256(ctx context.Context, sha string) *File { return p.localBySHA256(ctx, sha) }

// FileByRoot is the stored file with this root (hex), or nil.
func (p *Peer) FileByRoot(ctx context.Context, root string) *File { return p.localByRoot(ctx, root) }

// FileByChunk finds a stored chunk map listing the chunk, and its index.
func (p *Peer) FileByChunk(ctx context.Context, hash [32]byte) (*File, int) {
	var f *File
	idx := -1
	p.ChunkMaps(ctx, hex.EncodeToString(hash[:]), func(x *File) error {
		for i, h := range x.Map.Chunks {
			if h == hash {
				f, idx = x, i
				return ErrStop
			}
		}
		return nil
	})
	return f, idx
}

// shaOfRoot returns the sha256 a stored kind 1063 gives the file with this
// root, or "".
func (p *Peer) shaOfRoot(ctx context.Context, root [32]byte) string {
	var sha string
	p.cfg.Library.Query(ctx, nostr.Filter{Kinds: []int{chunkmap.KindFileMetadata}}, hex.EncodeToString(root[:]), func(ev *nostr.Event) error {
		if fm, err := chunkmap.ParseFileMetadata(ev); err == nil && fm.Root == root {
			sha = hex.EncodeToString(fm.SHA256[:])
			return ErrStop
		}
		return nil
	})
	return sha
}

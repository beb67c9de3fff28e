package node

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/peer"
	"github.com/cairn-nostr/cairn/relay"
	"github.com/cairn-nostr/cairn/room"
	"github.com/cairn-nostr/cairn/store"
)

// The node hosts rooms on its relay: a room exists here once its genesis
// (kind 9007 whose h is its id) is stored; from then on the relay enforces
// its authority log on every write of that room (a RejectEvent hook): a
// log entry the replay refuses, or a message by someone who may not post,
// is refused with restricted: and the reason. Events of NIP-29 groups this
// node does not host pass as on any relay.

// rooms caches each room's replayed log (or that it has none: not hosted
// here) until an event that can change it is stored: an entry of its log
// (the OnEvent hook), a pull from another node, a deletion or an
// expiry. So a message costs no query of the log, whose h range also
// holds every message of the room.
type rooms struct {
	query    func(ctx context.Context, room string) []*nostr.Event // the stored log entries
	mu       sync.Mutex
	cache    map[string]cachedLog
	gen      uint64 // bumped by every forget: a replay begun before one is not cached
	unhosted int    // cached "not hosted here" entries, at most maxUnhosted
	pub      sync.Mutex
	last     map[string]time.Time // the created_at of each room's last state
	place    sync.Mutex           // one placement at a time: the node's log stays a line
	pulls    map[string]int       // rooms being pulled (SyncRoom publishes their state once, at the end)
}

// pulling marks room id as being pulled (d 1) or no longer (d -1).
func (r *rooms) pulling(id string, d int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pulls == nil {
		r.pulls = map[string]int{}
	}
	if r.pulls[id] += d; r.pulls[id] <= 0 {
		delete(r.pulls, id)
	}
}

func (r *rooms) isPulling(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pulls[id] > 0
}

// maxUnhosted bounds how many groups not hosted here are remembered as
// such (anyone can write to any h).
const maxUnhosted = 4096

type cachedLog struct {
	log *room.Log
	err error // room.ErrGenesis: not hosted here
}

// forget drops a room's cached log.
func (r *rooms) forget(id string) {
	r.mu.Lock()
	if c, ok := r.cache[id]; ok && c.err != nil {
		r.unhosted--
	}
	delete(r.cache, id)
	r.gen++
	r.mu.Unlock()
}

// forgetAll drops every cached log.
func (r *rooms) forgetAll() {
	r.mu.Lock()
	clear(r.cache)
	r.unhosted = 0
	r.gen++
	r.mu.Unlock()
}

// queryRoom loads the stored log entries of a room.
func (n *Node) queryRoom(ctx context.Context, id string) []*nostr.Event {
	var out []*nostr.Event
	library{n.store}.Query(ctx, nostr.Filter{Kinds: room.LogKinds, Tags: nostr.TagMap{"h": {id}}}, "", func(ev *nostr.Event) error {
		out = append(out, ev)
		return nil
	})
	return out
}

// replay returns the room's log with extra added; without extra, from
// the cache when nothing was stored since that can change it.
func (r *rooms) replay(ctx context.Context, id string, extra *nostr.Event, now time.Time) (*room.Log, error) {
	if extra != nil {
		return room.Replay(id, append(r.query(ctx, id), extra), now)
	}
	r.mu.Lock()
	c, ok := r.cache[id]
	gen := r.gen
	r.mu.Unlock()
	if ok {
		return c.log, c.err
	}
	l, err := room.Replay(id, r.query(ctx, id), now)
	if err == nil || errors.Is(err, room.ErrGenesis) {
		r.mu.Lock()
		if r.gen == gen && (err == nil || r.unhosted < maxUnhosted) {
			if old, dup := r.cache[id]; dup && old.err != nil {
				r.unhosted--
			}
			r.cache[id] = cachedLog{l, err}
			if err != nil {
				r.unhosted++
			}
		}
		r.mu.Unlock()
	}
	return l, err
}

// checkRoom is the relay's RejectEvent hook for rooms.
func (n *Node) checkRoom(_ *relay.Conn, ev *nostr.Event) (bool, string) {
	h := ev.Tags.Find("h")
	if h == nil || !event.IsHex(h[1], 64) {
		return false, ""
	}
	id := h[1]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := time.Now()
	if room.IsRequest(ev) {
		return n.placeRequest(ctx, id, ev, now)
	}
	if room.IsEntryKind(ev.Kind) {
		if ev.Kind != room.KindCreate && len(n.queryRoom(ctx, id)) == 0 {
			return false, "" // not a room hosted here
		}
		l, err := n.rooms.replay(ctx, id, ev, now)
		if err != nil {
			return true, "invalid: " + err.Error()
		}
		if err := l.Err(ev.ID); err != nil && !errors.Is(err, room.ErrPending) {
			return true, "restricted: " + err.Error()
		}
		return false, "" // applied, or stored to wait for the creator (sequencer mode)
	}
	l, err := n.rooms.replay(ctx, id, nil, now)
	if err != nil {
		return false, "" // no genesis here: not a room this node hosts
	}
	if ev.Kind == room.KindDelete {
		if err := l.State.MayDelete(ev, n.authorOf(ctx)); err != nil {
			return true, "restricted: " + err.Error()
		}
		return false, ""
	}
	if n.deletedInRoom(ctx, id, ev.ID) {
		return true, "blocked: a moderator or its author deleted this event from the room (kind 9005)"
	}
	if err := l.State.MayPost(ev); err != nil {
		if errors.Is(err, room.ErrLogKind) {
			return true, "invalid: " + err.Error()
		}
		return true, "restricted: " + err.Error()
	}
	return false, ""
}

// authorOf gives the author of a stored event (for MayDelete).
func (n *Node) authorOf(ctx context.Context) func(id string) (string, bool) {
	return func(id string) (string, bool) {
		var pk string
		library{n.store}.Query(ctx, nostr.Filter{IDs: []string{id}}, "", func(e *nostr.Event) error {
			pk = e.PubKey
			return nil
		})
		return pk, pk != ""
	}
}

// deletedInRoom reports whether a deletion (kind 9005) stored here for
// room id names the event eid. Every stored 9005 was allowed when it was
// stored (checkRoom, or a pull's finish).
func (n *Node) deletedInRoom(ctx context.Context, id, eid string) bool {
	// By the e tag only: the store walks one tag's index, and the h index
	// of a room holds all its messages.
	found := false
	library{n.store}.Query(ctx, nostr.Filter{Kinds: []int{room.KindDelete}, Tags: nostr.TagMap{"e": {eid}}}, "", func(del *nostr.Event) error {
		if h := del.Tags.Find("h"); h != nil && h[1] == id {
			found = true
			return peer.ErrStop
		}
		return nil
	})
	return found
}

// removeDeleted removes from the store the events a stored deletion (kind
// 9005) of a room names: the room's own events only (its h), never the
// entries of its log (the chain needs them) nor other deletions. The
// deletion stays: it keeps them from being stored again (checkRoom, pulls).
func (n *Node) removeDeleted(del *nostr.Event) {
	h := del.Tags.Find("h")
	if h == nil {
		return
	}
	base := n.ctx
	if base == nil {
		base = context.Background() // not running: Run sets n.ctx
	}
	ctx, cancel := context.WithTimeout(base, 10*time.Second)
	defer cancel()
	var ids []string
	for _, t := range del.Tags {
		if len(t) < 2 || t[0] != "e" || !event.IsHex(t[1], 64) {
			continue
		}
		library{n.store}.Query(ctx, nostr.Filter{IDs: []string{t[1]}}, "", func(e *nostr.Event) error {
			if g := e.Tags.Find("h"); g != nil && g[1] == h[1] && !room.IsEntryKind(e.Kind) && e.Kind != room.KindDelete {
				ids = append(ids, e.ID)
			}
			return nil
		})
	}
	if len(ids) == 0 {
		return
	}
	if _, err := store.Evict(ctx, n.store, ids); err != nil {
		n.log.Warn("removing events a room deletion names", "room", h[1][:16], "err", err)
	}
}

// placeRequest answers a request of a client that writes no chain tags
// (a NIP-29 join or leave request, or a moderation event without prev,
// seq and lamport) sent to a hosted room: the node places it, signing
// the entry at its log's tip that carries the request (room.Log.Place),
// and publishes that entry before the request is accepted, so the
// client's next event already sees its effect. A join request to a
// closed room is kept (accepted and stored) for the moderators; every
// other refusal refuses the request. Requests of groups not hosted here
// pass as on any relay.
func (n *Node) placeRequest(ctx context.Context, id string, req *nostr.Event, now time.Time) (bool, string) {
	n.rooms.place.Lock()
	defer n.rooms.place.Unlock()
	l, err := n.rooms.replay(ctx, id, nil, now)
	if err != nil {
		return false, "" // not a room hosted here
	}
	p, err := l.Place(req, now)
	switch {
	case errors.Is(err, room.ErrClosed):
		return false, "" // kept: moderators read the room's 9021s
	case errors.Is(err, room.ErrMember), errors.Is(err, room.ErrReused):
		return true, "duplicate: " + err.Error()
	case errors.Is(err, room.ErrMalformed), errors.Is(err, room.ErrForged), errors.Is(err, room.ErrNotRequest):
		return true, "invalid: " + err.Error()
	case err != nil:
		return true, "restricted: " + err.Error()
	}
	if err := n.peer.PublishOwn(ctx, p); err != nil {
		return true, "error: the node could not place the request in the room's log (" + err.Error() + "); try again"
	}
	return false, ""
}

// publishGroupState re-derives a hosted room's NIP-29 group state (kinds
// 39000-39003, signed by the node key) after an entry of its log was
// accepted; it runs in the background (the relay's OnEvent hook must not
// wait).
func (n *Node) publishGroupState(ev *nostr.Event) {
	if ev.Kind == nostr.KindDeletion {
		n.rooms.forgetAll() // it may have removed an entry (NIP-09)
		return
	}
	if ev.Kind == room.KindDelete {
		n.removeDeleted(ev) // allowed by checkRoom or a pull's finish
		return
	}
	if !room.IsEntryKind(ev.Kind) {
		return
	}
	h := ev.Tags.Find("h")
	if h == nil {
		return
	}
	n.rooms.forget(h[1])
	if !n.rooms.isPulling(h[1]) {
		n.publishRoomState(h[1])
	}
}

// publishRoomState re-derives and publishes a hosted room's group state
// in the background.
func (n *Node) publishRoomState(id string) {
	n.spawn(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		// One state at a time, each replayed under the lock: a later
		// publication never carries an older log.
		n.rooms.pub.Lock()
		defer n.rooms.pub.Unlock()
		l, err := n.rooms.replay(ctx, id, nil, time.Now())
		if err != nil {
			return
		}
		// Addressable events replace by created_at (ties by lower id): each
		// new state of a room is dated after the last.
		at := time.Now().Truncate(time.Second)
		if last, ok := n.rooms.last[id]; ok && !at.After(last) {
			at = last.Add(time.Second)
		}
		n.rooms.last[id] = at
		for _, st := range room.GroupState(l.State, at) {
			if err := n.peer.PublishOwn(ctx, st); err != nil {
				n.log.Debug("publishing a room's group state", "room", id[:16], "kind", st.Kind, "err", err)
			}
		}
	})
}

package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/reconcile"
	"github.com/cairn-nostr/cairn/relay"
	"github.com/cairn-nostr/cairn/room"
	"github.com/cairn-nostr/cairn/store"
)

// Rooms live on several nodes: a node pulls a room's events (its log,
// requests and messages: everything with its h) from another node's relay
// with NIP-77 (reconcile), straight into its store. Replay is a function
// of the set of entries, so the order they arrive in does not matter:
// after two nodes have pulled from each other they hold the same set and
// derive the same state, whichever entries each had accepted alone.
// Pulled events are judged here, not where they were written (see
// roomPull): the log's entries as a whole, with what this node holds, so
// the order they arrive in does not matter; an entry that changes nothing
// for anyone is not stored. What is kept reaches live subscriptions as an
// event published here would. The room's group state is published again
// when anything arrived.

// SyncRoom pulls the events of room id from the relay at url.
func (n *Node) SyncRoom(ctx context.Context, id, url string) (reconcile.Result, error) {
	if err := room.CheckRoomID(id); err != nil {
		return reconcile.Result{}, err
	}
	p := &roomPull{Store: n.store, n: n, id: id}
	n.rooms.pulling(id, 1)
	res, err := reconcile.Sync(ctx, p, url, nostr.Filter{Tags: nostr.TagMap{"h": {id}}}, reconcile.Down, nil)
	if err == nil {
		err = p.finish(ctx, time.Now())
	}
	n.rooms.pulling(id, -1)
	if res.Down > 0 {
		n.rooms.forget(id)
		n.publishRoomState(id)
	}
	if err != nil {
		return res, fmt.Errorf("syncing room %.16s… with %s: %w", id, url, err)
	}
	res.Down -= p.dropped
	if p.dropped > 0 {
		res.Errors = append(res.Errors, fmt.Sprintf("%d events not kept: entries the room's log refuses with nothing built on them, messages a moderator deleted, deletions not allowed", p.dropped))
	}
	return res, nil
}

// roomPull is the store a room's pull writes to (reconcile.Sync saves each
// downloaded event, id and signature checked, with Save). A message is
// kept at once unless a deletion stored here names it; log entries and
// deletions wait for finish, which judges the entries together with the
// stored log (replay is a function of the set: one arriving before the
// entry it extends is no orphan) and keeps what the log needs
// (room.Log.Needed), then the deletions its state allows. Kept events go
// through the relay (Deliver): stored, sent to live subscriptions, the
// OnEvent hooks run (a deletion removes what it names).
type roomPull struct {
	store.Store
	n       *Node
	id      string
	entries []*nostr.Event
	dels    []*nostr.Event
	dropped int
}

// maxPulled bounds the entries and the deletions one pull holds in memory.
const maxPulled = room.MaxEntries + 1000

func (p *roomPull) Save(ctx context.Context, ev *nostr.Event) error {
	if h := ev.Tags.Find("h"); h == nil || h[1] != p.id {
		p.dropped++ // not asked for
		return nil
	}
	switch {
	case room.IsEntryKind(ev.Kind):
		if len(p.entries) < maxPulled {
			p.entries = append(p.entries, ev)
		} else {
			p.dropped++
		}
		return nil
	case ev.Kind == room.KindDelete:
		if len(p.dels) < maxPulled {
			p.dels = append(p.dels, ev)
		} else {
			p.dropped++
		}
		return nil
	}
	if p.n.deletedInRoom(ctx, p.id, ev.ID) {
		p.dropped++
		return nil
	}
	return p.deliver(ctx, ev)
}

// deliver keeps ev; a refusal by the store (deleted by its author,
// replaced) drops it.
func (p *roomPull) deliver(ctx context.Context, ev *nostr.Event) error {
	err := p.n.relay.Deliver(ctx, ev)
	if errors.Is(err, relay.ErrRefused) {
		p.dropped++
		return nil
	}
	return err
}

// finish keeps the pulled entries the log needs, in chain order, then the
// pulled deletions the room's state allows.
func (p *roomPull) finish(ctx context.Context, now time.Time) error {
	if len(p.entries) > 0 {
		pulled := make(map[string]*nostr.Event, len(p.entries))
		for _, ev := range p.entries {
			pulled[ev.ID] = ev
		}
		l, err := room.Replay(p.id, append(p.n.queryRoom(ctx, p.id), p.entries...), now)
		kept := 0
		if err == nil {
			need := l.Needed()
			for _, e := range append([]room.Entry{l.Genesis}, l.Order...) {
				if ev := pulled[e.ID]; ev != nil && need[e.ID] {
					if err := p.deliver(ctx, ev); err != nil {
						return err
					}
					kept++
				}
			}
		}
		p.dropped += len(pulled) - kept
		p.n.rooms.forget(p.id)
	}
	if len(p.dels) == 0 {
		return nil
	}
	l, err := p.n.rooms.replay(ctx, p.id, nil, now)
	for _, del := range p.dels {
		if err != nil || l.State.MayDelete(del, p.n.authorOf(ctx)) != nil {
			p.dropped++
			continue
		}
		if err := p.deliver(ctx, del); err != nil {
			return err
		}
	}
	return nil
}

// hostedRooms lists the rooms whose genesis this node stores.
func (n *Node) hostedRooms(ctx context.Context) []string {
	var ids []string
	library{n.store}.Query(ctx, nostr.Filter{Kinds: []int{room.KindCreate}}, "", func(ev *nostr.Event) error {
		if h := ev.Tags.Find("h"); h != nil && room.CheckRoomID(h[1]) == nil {
			ids = append(ids, h[1])
		}
		return nil
	})
	return ids
}

// roomSyncLoop pulls every hosted room from every RoomPeer, every
// RoomSyncInterval, and the rooms the peers host that this node does not
// yet (their genesis first).
func (n *Node) roomSyncLoop() error {
	if len(n.cfg.RoomPeers) == 0 {
		return nil
	}
	t := time.NewTicker(time.Duration(n.cfg.RoomSyncInterval))
	defer t.Stop()
	for {
		for _, url := range n.cfg.RoomPeers {
			ctx, cancel := context.WithTimeout(n.ctx, time.Duration(n.cfg.RoomSyncInterval))
			// Genesis events first: a room hosted there is hosted here from now on.
			if res, err := reconcile.Sync(ctx, n.store, url, nostr.Filter{Kinds: []int{room.KindCreate}}, reconcile.Down, nil); err != nil && n.ctx.Err() == nil {
				n.log.Warn("room sync: listing rooms", "peer", url, "err", err)
			} else if res.Down > 0 {
				n.rooms.forgetAll() // rooms not hosted here until now
			}
			for _, id := range n.hostedRooms(ctx) {
				if _, err := n.SyncRoom(ctx, id, url); err != nil && n.ctx.Err() == nil {
					n.log.Warn("room sync", "peer", url, "room", id[:16], "err", err)
				}
			}
			cancel()
		}
		select {
		case <-n.ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// serveRoomSync is POST /api/rooms/sync {room, relay}: pull a room from
// another relay now (cairn room sync).
func (n *Node) serveRoomSync(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Room  string `json:"room"`
		Relay string `json:"relay"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if err := room.CheckRoomID(req.Room); err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Relay == "" {
		apiError(w, http.StatusBadRequest, "relay: give the URL of a relay hosting the room (ws:// or wss://)")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
	defer cancel()
	res, err := n.SyncRoom(ctx, req.Room, req.Relay)
	if err != nil {
		apiError(w, http.StatusBadGateway, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"local_only": res.Local, "remote_only": res.Remote, "received": res.Down, "invalid": res.DownInvalid, "errors": res.Errors})
}

package node

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/reconcile"
	"github.com/cairn-nostr/cairn/room"
)

// Rooms live on several nodes: a node pulls a room's events (its log,
// requests and messages: everything with its h) from another node's relay
// with NIP-77 (reconcile), straight into its store. Replay is a function
// of the set of entries, so the order they arrive in does not matter:
// after two nodes have pulled from each other they hold the same set and
// derive the same state, whichever entries each had accepted alone.
// Pulled events skip the relay's write checks (they were checked where
// they were written, and replay judges every entry again) and are not
// pushed to live subscriptions; the room's group state is published
// again when anything arrived.

// SyncRoom pulls the events of room id from the relay at url.
func (n *Node) SyncRoom(ctx context.Context, id, url string) (reconcile.Result, error) {
	if err := room.CheckRoomID(id); err != nil {
		return reconcile.Result{}, err
	}
	res, err := reconcile.Sync(ctx, n.store, url, nostr.Filter{Tags: nostr.TagMap{"h": {id}}}, reconcile.Down, nil)
	if err != nil {
		return res, fmt.Errorf("syncing room %.16s… with %s: %w", id, url, err)
	}
	if res.Down > 0 {
		n.rooms.forget(id)
		n.publishRoomState(id)
	}
	return res, nil
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

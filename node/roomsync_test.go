package node

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/relay/client"
	"github.com/cairn-nostr/cairn/room"
)

// TestRoomSync: a room on two nodes. Partitioned, node A accepts the
// owner's revocation of a mod while node B accepts that mod's ban of a
// member (B has not heard of the revocation). After each node pulled the
// room from the other (NIP-77), both hold the same entries and derive the
// same state: the mod's ban, which the revocation had not seen, is refused
// on both, and the member posts through either node. A ban made on A
// then holds on B. A third node, told of A as a room peer, picks up A's
// rooms by itself.
func TestRoomSync(t *testing.T) {
	a := startNode(t, TestingConfig(t))
	b := startNode(t, TestingConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dial := func(n *Node) *client.Conn {
		c, err := client.Dial(ctx, n.RelayURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	ca, cb := dial(a), dial(b)
	sk := func(c byte) string { return strings.Repeat(string(c), 64) }
	owner, mod, user := sk('1'), sk('2'), sk('3')
	pub := func(s string) string { p, _ := nostr.GetPublicKey(s); return p }
	publish := func(c *client.Conn, secret string, ev *nostr.Event) error {
		t.Helper()
		if err := ev.Sign(secret); err != nil {
			t.Fatal(err)
		}
		return c.Publish(ctx, "EVENT", ev)
	}
	gen := room.Genesis(pub(owner), "two nodes", [16]byte{3}, time.Now())
	if err := publish(ca, owner, gen); err != nil {
		t.Fatal(err)
	}
	id := gen.Tags.Find("h")[1]
	logOf := func(n *Node) *room.Log {
		t.Helper()
		l, err := room.Replay(id, n.queryRoom(ctx, id), time.Now())
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		return l
	}
	entry := func(n *Node, c *client.Conn, secret string, a room.Action) *nostr.Event {
		t.Helper()
		ev := room.NewEntry(id, logOf(n).Tip(), a, time.Now())
		if err := publish(c, secret, ev); err != nil {
			t.Fatalf("%s on %s: %v", a.Op, n.RelayURL(), err)
		}
		return ev
	}
	post := func(c *client.Conn, text string) error {
		return publish(c, user, &nostr.Event{Kind: room.KindChat, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"h", id}}, Content: text})
	}
	pull := func(into, from *Node) {
		t.Helper()
		if _, err := into.SyncRoom(ctx, id, from.RelayURL()); err != nil {
			t.Fatal(err)
		}
	}
	entry(a, ca, owner, room.Grant(pub(mod), room.RoleMod))
	entry(a, ca, owner, room.Grant(pub(user), room.RoleMember))
	pull(b, a)
	if l := logOf(b); len(l.Applied) != 2 || !l.State.Member(pub(user)) {
		t.Fatalf("b after the first pull: %d applied", len(l.Applied))
	}

	// Partition: each node accepts an entry the other has not seen.
	entry(a, ca, owner, room.Revoke(pub(mod)))
	ban := entry(b, cb, mod, room.Ban(pub(user)))
	if err := post(cb, "on b"); err == nil || !strings.Contains(err.Error(), "restricted:") {
		t.Fatalf("b, before the heal: a banned member posts: %v", err)
	}
	if err := post(ca, "on a"); err != nil {
		t.Fatalf("a, before the heal: %v", err)
	}

	pull(a, b)
	pull(b, a)
	la, lb := logOf(a), logOf(b)
	ids := func(l *room.Log) []string {
		var out []string
		for _, e := range l.Applied {
			out = append(out, e.ID)
		}
		return out
	}
	if !slices.Equal(ids(la), ids(lb)) || len(la.Order) != len(lb.Order) {
		t.Fatalf("the nodes disagree: a applied %v, b applied %v", ids(la), ids(lb))
	}
	for name, l := range map[string]*room.Log{"a": la, "b": lb} {
		if err := l.Err(ban.ID); !errors.Is(err, room.ErrConcurrent) {
			t.Errorf("%s: the revoked mod's ban: %v, want refused as concurrent", name, err)
		}
		if !l.State.Member(pub(user)) || l.State.Member(pub(mod)) {
			t.Errorf("%s: state %v", name, l.State.Users)
		}
	}
	for name, c := range map[string]*client.Conn{"a": ca, "b": cb} {
		if err := post(c, "after the heal, on "+name); err != nil {
			t.Errorf("%s, after the heal: the member posts: %v", name, err)
		}
	}

	// A ban accepted on A holds on B once pulled.
	entry(a, ca, owner, room.Ban(pub(user)))
	pull(b, a)
	if err := post(cb, "banned, through b"); err == nil || !strings.Contains(err.Error(), "restricted:") {
		t.Fatalf("b: a member banned on a posts: %v", err)
	}

	// A node with A as a room peer finds and pulls A's room by itself.
	cfg := TestingConfig(t)
	cfg.RoomPeers = []string{a.RelayURL()}
	cfg.RoomSyncInterval = Duration(time.Second)
	c := startNode(t, cfg)
	want := len(a.queryRoom(ctx, id))
	for len(c.queryRoom(ctx, id)) < want {
		select {
		case <-ctx.Done():
			t.Fatalf("c pulled %d of a's %d entries", len(c.queryRoom(ctx, id)), want)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !slices.Equal(ids(logOf(c)), ids(logOf(a))) {
		t.Fatal("c derives another state than a")
	}
}

func TestRoomPeersValidate(t *testing.T) {
	cfg := TestingConfig(t)
	cfg.RoomPeers = []string{"http://127.0.0.1:7447"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "room peer") {
		t.Errorf("an http room peer: %v", err)
	}
	cfg.RoomPeers = []string{"ws://127.0.0.1:7447"}
	cfg.RoomSyncInterval = 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "room sync interval") {
		t.Errorf("a zero interval: %v", err)
	}
	cfg.RoomSyncInterval = Duration(time.Minute)
	if err := cfg.Validate(); err != nil {
		t.Errorf("a good room peer: %v", err)
	}
}

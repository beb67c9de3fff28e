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

// twoRoomNodes starts two nodes; dial connects to one's relay; ctx ends
// with the test (at most a minute).
func twoRoomNodes(t *testing.T) (a, b *Node, ctx context.Context, dial func(*Node) *client.Conn) {
	a = startNode(t, TestingConfig(t))
	b = startNode(t, TestingConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	dial = func(n *Node) *client.Conn {
		c, err := client.Dial(ctx, n.RelayURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	return a, b, ctx, dial
}

// TestRoomSync: a room on two nodes. Partitioned, node A accepts the
// owner's revocation of a mod while node B accepts that mod's ban of a
// member (B has not heard of the revocation). After each node pulled the
// room from the other (NIP-77), both hold the same entries and derive the
// same state: the mod's ban, which the revocation had not seen, is refused
// on both (and A, which pulled it, does not store it), and the member
// posts through either node. A ban made on A
// then holds on B. A third node, told of A as a room peer, picks up A's
// rooms by itself.
func TestRoomSync(t *testing.T) {
	a, b, ctx, dial := twoRoomNodes(t)
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
	if !slices.Equal(ids(la), ids(lb)) {
		t.Fatalf("the nodes disagree: a applied %v, b applied %v", ids(la), ids(lb))
	}
	// B had accepted the ban and keeps it (refused now); A, pulling it,
	// found it refused with nothing built on it, and neither stores nor
	// serves it.
	if err := lb.Err(ban.ID); !errors.Is(err, room.ErrConcurrent) {
		t.Errorf("b: the revoked mod's ban: %v, want refused as concurrent", err)
	}
	if _, held := a.authorOf(ctx)(ban.ID); held {
		t.Error("a stored the revoked mod's ban it pulled")
	}
	if evs, err := ca.Query(ctx, nostr.Filter{IDs: []string{ban.ID}}); err != nil || len(evs) != 0 {
		t.Errorf("a serves the revoked mod's ban: %d events, %v", len(evs), err)
	}
	for name, l := range map[string]*room.Log{"a": la, "b": lb} {
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

// TestRoomDeleteAndPull: a message a mod deletes (kind 9005) leaves the
// store, cannot be published again, and is not brought back by a pull
// from a node that still holds it; that node, pulling the deletion,
// removes it too. A deletion its author was not allowed to make, pulled,
// is not kept and removes nothing. Events a pull brings reach the live
// subscriptions of the pulling node.
func TestRoomDeleteAndPull(t *testing.T) {
	a, b, ctx, dial := twoRoomNodes(t)
	ca := dial(a)
	sk := func(c byte) string { return strings.Repeat(string(c), 64) }
	owner, mod, user, other := sk('1'), sk('2'), sk('3'), sk('4')
	pub := func(s string) string { p, _ := nostr.GetPublicKey(s); return p }
	sign := func(secret string, ev *nostr.Event) *nostr.Event {
		t.Helper()
		if err := ev.Sign(secret); err != nil {
			t.Fatal(err)
		}
		return ev
	}
	gen := sign(owner, room.Genesis(pub(owner), "deletions", [16]byte{5}, time.Now()))
	if err := ca.Publish(ctx, "EVENT", gen); err != nil {
		t.Fatal(err)
	}
	id := gen.Tags.Find("h")[1]
	entry := func(secret string, act room.Action) {
		t.Helper()
		l, err := room.Replay(id, a.queryRoom(ctx, id), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := ca.Publish(ctx, "EVENT", sign(secret, room.NewEntry(id, l.Tip(), act, time.Now()))); err != nil {
			t.Fatalf("%s: %v", act.Op, err)
		}
	}
	entry(owner, room.Grant(pub(mod), room.RoleMod))
	entry(owner, room.Grant(pub(user), room.RoleMember))
	entry(owner, room.Grant(pub(other), room.RoleMember))
	msg := func(secret, text string) *nostr.Event {
		ev := sign(secret, &nostr.Event{Kind: room.KindChat, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"h", id}}, Content: text})
		if err := ca.Publish(ctx, "EVENT", ev); err != nil {
			t.Fatalf("posting %q: %v", text, err)
		}
		return ev
	}
	m1, m2 := msg(user, "spam"), msg(user, "fine")

	// B pulls the room; a subscription on B sees what arrives.
	live := make(chan *nostr.Event, 64)
	subReady := make(chan struct{})
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	go dial(b).Subscribe(sctx, nostr.Filter{Tags: nostr.TagMap{"h": {id}}}, func(ev *nostr.Event) { live <- ev }, func() { close(subReady) })
	<-subReady
	if _, err := b.SyncRoom(ctx, id, a.RelayURL()); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for !seen[m1.ID] || !seen[m2.ID] || !seen[gen.ID] {
		select {
		case ev := <-live:
			seen[ev.ID] = true
		case <-ctx.Done():
			t.Fatalf("the subscription on b saw %d events of the pull, not the genesis and both messages", len(seen))
		}
	}

	held := func(n *Node, ev *nostr.Event) bool { _, ok := n.authorOf(ctx)(ev.ID); return ok }
	del := func(secret string, target *nostr.Event) *nostr.Event {
		return sign(secret, &nostr.Event{Kind: room.KindDelete, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"h", id}, {"e", target.ID}}})
	}
	// The mod deletes m1 on A: gone from A's store, and refused again.
	if err := ca.Publish(ctx, "EVENT", del(mod, m1)); err != nil {
		t.Fatal(err)
	}
	if held(a, m1) || !held(a, m2) {
		t.Fatalf("after the deletion a holds m1 %v, m2 %v", held(a, m1), held(a, m2))
	}
	if err := ca.Publish(ctx, "EVENT", m1); err == nil || !strings.Contains(err.Error(), "blocked:") {
		t.Fatalf("m1 published again: %v", err)
	}
	// A pulls from B, which still holds m1: it does not come back.
	if _, err := a.SyncRoom(ctx, id, b.RelayURL()); err != nil {
		t.Fatal(err)
	}
	if held(a, m1) {
		t.Fatal("a pull brought the deleted message back")
	}
	// B pulls the deletion and removes m1.
	if _, err := b.SyncRoom(ctx, id, a.RelayURL()); err != nil {
		t.Fatal(err)
	}
	if held(b, m1) || !held(b, m2) {
		t.Fatalf("after pulling the deletion b holds m1 %v, m2 %v", held(b, m1), held(b, m2))
	}
	// A member's deletion of another's message, stored on B behind the
	// relay's back: A pulls it, keeps neither it nor its effect.
	bad := del(other, m2)
	if err := b.store.Save(ctx, bad); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SyncRoom(ctx, id, b.RelayURL()); err != nil {
		t.Fatal(err)
	}
	if held(a, bad) || !held(a, m2) {
		t.Fatalf("a pulled a deletion not allowed: kept it %v, m2 still there %v", held(a, bad), held(a, m2))
	}
}

// TestRoomPullNeeded: a refused entry that a standing entry builds on is
// pulled and stored (the chain needs it); a refused leaf is not.
func TestRoomPullNeeded(t *testing.T) {
	a := startNode(t, TestingConfig(t))
	b := startNode(t, TestingConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sk := func(c byte) string { return strings.Repeat(string(c), 64) }
	owner, mod, user := sk('1'), sk('2'), sk('3')
	pub := func(s string) string { p, _ := nostr.GetPublicKey(s); return p }
	at := time.Now()
	var evs []*nostr.Event
	add := func(secret string, ev *nostr.Event) *nostr.Event {
		t.Helper()
		if err := ev.Sign(secret); err != nil {
			t.Fatal(err)
		}
		// Stored behind the relay's back: a log as another node might hold it.
		if err := a.store.Save(ctx, ev); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
		return ev
	}
	gen := add(owner, room.Genesis(pub(owner), "needed", [16]byte{6}, at))
	id := gen.Tags.Find("h")[1]
	next := func(secret string, act room.Action) *nostr.Event {
		l, err := room.Replay(id, evs, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return add(secret, room.NewEntry(id, l.Tip(), act, at))
	}
	next(owner, room.Grant(pub(user), room.RoleMember))
	denied := next(user, room.Ban(pub(mod))) // a member may not ban
	built := next(owner, room.Grant(pub(mod), room.RoleMod))
	leaf := next(user, room.Grant(pub(sk('5')), room.RoleMember)) // nor grant; nothing builds on it
	if _, err := b.SyncRoom(ctx, id, a.RelayURL()); err != nil {
		t.Fatal(err)
	}
	l, err := room.Replay(id, b.queryRoom(ctx, id), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, e := range append([]room.Entry{l.Genesis}, l.Order...) {
		stored[e.ID] = true
	}
	if !stored[denied.ID] || !stored[built.ID] || stored[leaf.ID] || !l.State.Can(pub(mod), room.CanBan) {
		t.Fatalf("b stored: the refused entry built on %v, the grant on it %v, the refused leaf %v", stored[denied.ID], stored[built.ID], stored[leaf.ID])
	}
}

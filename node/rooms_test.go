package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/relay/client"
	"github.com/cairn-nostr/cairn/room"
)

// TestRoomEnforced: the relay of a node hosting a room refuses, with
// restricted:, messages of non-members and banned members and log entries
// whose signer lacks the capability; ordinary relay traffic is untouched.
func TestRoomEnforced(t *testing.T) {
	n := startNode(t, TestingConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, n.RelayURL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sk := func(b byte) string { return strings.Repeat(string("0123456789abcdef"[b]), 64) }
	a, b, x := sk(1), sk(2), sk(3)
	pub := func(s string) string { p, _ := nostr.GetPublicKey(s); return p }
	var log []*nostr.Event
	now := time.Now()
	publish := func(secret string, ev *nostr.Event) error {
		t.Helper()
		if err := ev.Sign(secret); err != nil {
			t.Fatal(err)
		}
		return c.Publish(ctx, "EVENT", ev)
	}
	gen := room.Genesis(pub(a), "lobby", [16]byte{7}, now)
	if err := publish(a, gen); err != nil {
		t.Fatalf("genesis: %v", err)
	}
	id := gen.Tags.Find("h")[1]
	log = append(log, gen)
	entry := func(secret string, act room.Action) error {
		t.Helper()
		l, err := room.Replay(id, log, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ev := room.NewEntry(id, l.Tip(), act, time.Now())
		err = publish(secret, ev)
		if err == nil {
			log = append(log, ev)
		}
		return err
	}
	msg := func(secret, text string) error {
		return publish(secret, &nostr.Event{Kind: 9, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"h", id}}, Content: text})
	}
	refused := func(err error, what string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "restricted:") {
			t.Fatalf("%s: %v, want a restricted: refusal", what, err)
		}
	}
	refused(msg(b, "hello?"), "a non-member's message")
	if err := entry(a, room.Grant(pub(b), room.RoleMember)); err != nil {
		t.Fatalf("grant: %v", err)
	}
	if err := msg(b, "hello"); err != nil {
		t.Fatalf("a member's message: %v", err)
	}
	refused(entry(x, room.Grant(pub(x), room.RoleMod)), "an outsider granting itself mod")
	// The group state follows the log: watch it live from here on.
	states := make(chan *nostr.Event, 16)
	sub, err := client.Dial(ctx, n.RelayURL())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ready := make(chan struct{})
	var live atomic.Bool // only states published from now on
	go sub.Subscribe(ctx, nostr.Filter{Kinds: []int{room.KindGroupMembers}, Tags: nostr.TagMap{"d": {id}}, Limit: 1}, func(ev *nostr.Event) {
		if live.Load() {
			states <- ev
		}
	}, func() { live.Store(true); close(ready) })
	<-ready
	if err := entry(a, room.Ban(pub(b))); err != nil {
		t.Fatalf("ban: %v", err)
	}
	// Every state is replayed from the log as it is when published, so
	// the first one heard live without b reflects the ban.
	for ev := range states {
		if !slices.ContainsFunc(ev.Tags, func(t nostr.Tag) bool { return len(t) > 1 && t[1] == pub(b) }) {
			break
		}
	}
	got := func(kinds ...int) []*nostr.Event {
		evs, err := c.Query(ctx, nostr.Filter{Kinds: kinds, Tags: nostr.TagMap{"d": {id}}})
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	refused(msg(b, "still here"), "a banned member's message")
	// A NIP-29 client reads the group state the node derived and signed:
	// b is banned, so not among the members; a is the owner, an admin.
	var members, admins *nostr.Event
	for _, ev := range got(room.KindGroupMembers, room.KindGroupAdmins) {
		if ev.PubKey != n.Key().Public {
			t.Fatalf("group state signed by %s, not the node", ev.PubKey)
		}
		if ev.Kind == room.KindGroupMembers {
			members = ev
		} else {
			admins = ev
		}
	}
	if members == nil || len(members.Tags) != 2 || members.Tags[1][1] != pub(a) || admins == nil || admins.Tags[1][2] != room.RoleOwner {
		t.Fatalf("group state: members %v admins %v", members, admins)
	}
	// Outside rooms the relay is a relay.
	if err := publish(x, &nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Tags: nostr.Tags{}, Content: "note"}); err != nil {
		t.Fatalf("a plain note: %v", err)
	}
	if err := publish(x, &nostr.Event{Kind: 9, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"h", strings.Repeat("9", 64)}}, Content: "elsewhere"}); err != nil {
		t.Fatalf("a message of a room not hosted here: %v", err)
	}
}

// TestRoomRequests: a client that writes no chain tags joins (kind 9021)
// and leaves (9022) an open room, and a moderator removes a member with a
// chain-less 9001: the node places each request in the log, so the next
// message already sees it. A join request to a closed room is kept but
// makes no member.
func TestRoomRequests(t *testing.T) {
	n := startNode(t, TestingConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, n.RelayURL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sk := func(b byte) string { return strings.Repeat(string("0123456789abcdef"[b]), 64) }
	owner, b, d := sk(1), sk(2), sk(4)
	pub := func(s string) string { p, _ := nostr.GetPublicKey(s); return p }
	publish := func(secret string, ev *nostr.Event) error {
		t.Helper()
		if err := ev.Sign(secret); err != nil {
			t.Fatal(err)
		}
		return c.Publish(ctx, "EVENT", ev)
	}
	mkRoom := func(name string, open bool) string {
		gen := room.Genesis(pub(owner), name, [16]byte{9}, time.Now())
		if open {
			gen.Tags = append(gen.Tags, nostr.Tag{"open"})
		}
		if err := publish(owner, gen); err != nil {
			t.Fatalf("genesis: %v", err)
		}
		return gen.Tags.Find("h")[1]
	}
	req := func(secret, id string, kind int, tags ...nostr.Tag) error {
		return publish(secret, &nostr.Event{Kind: kind, CreatedAt: nostr.Now(), Tags: append(nostr.Tags{{"h", id}}, tags...)})
	}
	msg := func(secret, id string) error {
		return publish(secret, &nostr.Event{Kind: 9, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"h", id}}, Content: "hi"})
	}
	want := func(err error, prefix, what string) {
		t.Helper()
		if prefix == "" && err != nil || prefix != "" && (err == nil || !strings.Contains(err.Error(), prefix)) {
			t.Fatalf("%s: %v, want %q", what, err, prefix)
		}
	}
	open := mkRoom("open", true)
	want(req(b, open, room.KindJoinRequest), "", "join an open room")
	want(msg(b, open), "", "a joined member posts")
	want(req(b, open, room.KindJoinRequest, nostr.Tag{"code", "x"}), "duplicate:", "join twice")
	want(req(owner, open, room.KindRemoveUser, nostr.Tag{"p", pub(b)}), "", "the owner removes b (chain-less)")
	want(msg(b, open), "restricted:", "a removed member posts")
	want(req(b, open, room.KindRemoveUser, nostr.Tag{"p", pub(owner)}), "restricted:", "a non-member removes the owner")
	want(req(d, open, room.KindJoinRequest), "", "d joins")
	want(req(d, open, room.KindLeaveRequest), "", "d leaves")
	want(msg(d, open), "restricted:", "d posts after leaving")

	// Every peer replays the same log: the placements are signed by the
	// node and verify.
	evs, err := c.Query(ctx, nostr.Filter{Kinds: []int{room.KindCreate, room.KindPutUser, room.KindRemoveUser}, Tags: nostr.TagMap{"h": {open}}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := room.Replay(open, evs, time.Now())
	if err != nil || len(l.Rejected) != 0 || len(l.Applied) != 4 {
		t.Fatalf("replayed log: %v, %d applied, rejected %v", err, len(l.Applied), l.Rejected)
	}
	for _, e := range l.Applied {
		if e.Placer != n.Key().Public || e.Request == nil {
			t.Fatalf("entry %+v is not the node's placement", e)
		}
	}

	closed := mkRoom("closed", false)
	want(req(b, closed, room.KindJoinRequest), "", "a join request to a closed room is kept")
	want(msg(b, closed), "restricted:", "a pending joiner posts")
	kept, err := c.Query(ctx, nostr.Filter{Kinds: []int{room.KindJoinRequest}, Tags: nostr.TagMap{"h": {closed}}})
	if err != nil || len(kept) != 1 {
		t.Fatalf("the pending request: %v %d", err, len(kept))
	}
}

// TestRoomsCacheBound: groups not hosted here are remembered as such, at
// most maxUnhosted of them, and forgotten on demand.
func TestRoomsCacheBound(t *testing.T) {
	queries := 0
	r := &rooms{query: func(context.Context, string) []*nostr.Event { queries++; return nil }, cache: map[string]cachedLog{}}
	ctx := context.Background()
	id := func(i int) string { return fmt.Sprintf("%064x", i) }
	for i := range maxUnhosted + 10 {
		if _, err := r.replay(ctx, id(i), nil, time.Now()); !errors.Is(err, room.ErrGenesis) {
			t.Fatalf("an empty room: %v", err)
		}
	}
	if r.unhosted != maxUnhosted || len(r.cache) != maxUnhosted {
		t.Fatalf("%d cached, %d counted", len(r.cache), r.unhosted)
	}
	queries = 0
	r.replay(ctx, id(0), nil, time.Now())
	r.replay(ctx, id(0), nil, time.Now())
	if queries != 0 {
		t.Errorf("a cached group was queried %d times", queries)
	}
	r.forget(id(0))
	r.replay(ctx, id(0), nil, time.Now())
	if queries != 1 || r.unhosted != maxUnhosted {
		t.Errorf("after forget: %d queries, %d counted", queries, r.unhosted)
	}
	r.forgetAll()
	if r.unhosted != 0 || len(r.cache) != 0 {
		t.Errorf("after forgetAll: %d cached, %d counted", len(r.cache), r.unhosted)
	}
}

// TestRoomUnsupportedKinds: moderation kinds a cairn room does not take
// (NIP-29's delete-group, pins, ...) are refused with invalid: and why.
func TestRoomUnsupportedKinds(t *testing.T) {
	n := startNode(t, TestingConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, n.RelayURL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	owner := strings.Repeat("1", 64)
	pk, _ := nostr.GetPublicKey(owner)
	gen := room.Genesis(pk, "kinds", [16]byte{5}, time.Now())
	gen.Sign(owner)
	if err := c.Publish(ctx, "EVENT", gen); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []int{9008, 9010} {
		ev := &nostr.Event{Kind: kind, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"h", gen.Tags.Find("h")[1]}}}
		ev.Sign(owner)
		if err := c.Publish(ctx, "EVENT", ev); err == nil || !strings.Contains(err.Error(), "invalid:") || !strings.Contains(err.Error(), "not this kind") {
			t.Errorf("kind %d: %v", kind, err)
		}
	}
}

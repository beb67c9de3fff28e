package gossip

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/personal"
)

// finders is an in-memory provider table standing in for the DHT (the
// node's tests use the real one).
type finders struct {
	mu   sync.Mutex
	recs map[[32]byte][]peer.AddrInfo
}

func (fs *finders) of(ai peer.AddrInfo) Finder { return finderOf{fs, ai} }

type finderOf struct {
	fs *finders
	ai peer.AddrInfo
}

func (f finderOf) Provide(_ context.Context, key [32]byte) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if !slices.ContainsFunc(f.fs.recs[key], func(a peer.AddrInfo) bool { return a.ID == f.ai.ID }) {
		f.fs.recs[key] = append(f.fs.recs[key], f.ai)
	}
	return nil
}

func (f finderOf) FindProviders(_ context.Context, key [32]byte, max int) ([]peer.AddrInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return append([]peer.AddrInfo(nil), f.fs.recs[key]...), nil
}

func newDirectMember(t *testing.T, ctx context.Context, owner key, fs *finders, serve []*nostr.Event) *member {
	t.Helper()
	m := &member{h: newHost(t), new: make(chan struct{}, 64)}
	g, err := New(ctx, Config{
		Host: m.h, Policy: personal.Policy{Owner: owner.pk},
		Finder: fs.of(peer.AddrInfo{ID: m.h.ID(), Addrs: m.h.Addrs()}),
		Deliver: func(_ context.Context, ev *nostr.Event) error {
			m.mu.Lock()
			m.got = append(m.got, ev)
			m.mu.Unlock()
			return nil
		},
		Serve: func(_ context.Context, f nostr.Filter) ([]*nostr.Event, error) { return serve, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	m.g = g
	return m
}

// TestDirect: a reply reaches the replied-to user's node straight, found
// by its home record; a node claiming another user's home is skipped; an
// event that does not name the owner is refused; Get returns only
// verified events that match.
func TestDirect(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fs := &finders{recs: map[[32]byte][]peer.AddrInfo{}}
	ka, kb, kc := newKey(1), newKey(2), newKey(3)
	profile := kb.sign(t, 0, `{"name":"b"}`)
	forged := *kb.sign(t, 0, `{"name":"b"}`)
	forged.Content = `{"name":"mallory"}`
	a := newDirectMember(t, ctx, ka, fs, nil)
	b := newDirectMember(t, ctx, kb, fs, []*nostr.Event{profile, &forged})
	c := newDirectMember(t, ctx, kc, fs, nil)
	// C also claims to be B's home, first in the table.
	waitFor(t, "B's home record", func() bool {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		return len(fs.recs[HomeKey(kb.pk)]) == 1
	})
	fs.mu.Lock()
	fs.recs[HomeKey(kb.pk)] = append([]peer.AddrInfo{{ID: c.h.ID(), Addrs: c.h.Addrs()}}, fs.recs[HomeKey(kb.pk)]...)
	fs.mu.Unlock()

	reply := ka.sign(t, 1, "a reply")
	reply.Tags = nostr.Tags{{"p", kb.pk}}
	if err := reply.Sign(ka.sk); err != nil {
		t.Fatal(err)
	}
	if err := a.g.Send(ctx, kb.pk, reply); err != nil {
		t.Fatal(err)
	}
	if !b.has(reply.ID) || c.has(reply.ID) {
		t.Fatal("the reply did not reach B's node alone")
	}
	plain := ka.sign(t, 1, "names nobody")
	if err := a.g.Send(ctx, kb.pk, plain); err == nil || !strings.Contains(err.Error(), "restricted:") {
		t.Fatalf("an event not naming B: %v", err)
	}
	if err := a.g.Send(ctx, newKey(7).pk, reply); !errors.Is(err, ErrNoHome) {
		t.Fatalf("a user with no node: %v", err)
	}
	got, err := a.g.Get(ctx, kb.pk, nostr.Filter{Kinds: []int{0}, Authors: []string{kb.pk}})
	if err != nil || len(got) != 1 || got[0].ID != profile.ID {
		t.Fatalf("Get: %v %v", got, err)
	}
	st := b.g.Stats()
	if st.DirectReceived != 1 || st.DirectRefused != 1 || st.Served != 1 || a.g.Stats().DirectSent != 1 {
		t.Fatalf("stats A %+v B %+v", a.g.Stats(), st)
	}
}

// TestGetFromCarrier: with no node of B's reachable, Get asks the nodes on
// B's topic (here D, found by its topic record) and keeps only what holds
// as B's: D's forged copy and an event of another author are dropped and
// counted; C, on no topic of B's, is not asked.
func TestGetFromCarrier(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fs := &finders{recs: map[[32]byte][]peer.AddrInfo{}}
	ka, kb, kc, kd := newKey(1), newKey(2), newKey(3), newKey(4)
	post := kb.sign(t, 1, "carried")
	forged := *kb.sign(t, 1, "carried too")
	forged.Content = "rewritten"
	notB := kc.sign(t, 1, "not B's")
	a := newDirectMember(t, ctx, ka, fs, nil)
	c := newDirectMember(t, ctx, kc, fs, []*nostr.Event{post})
	d := newDirectMember(t, ctx, kd, fs, []*nostr.Event{post, &forged, notB})
	if err := d.g.Follow(kb.pk); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "D's record on B's topic", func() bool {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		return len(fs.recs[TopicKey(personal.Topic(kb.pk))]) == 1
	})
	got, err := a.g.Get(ctx, kb.pk, nostr.Filter{Authors: []string{kb.pk}})
	if err != nil || len(got) != 1 || got[0].ID != post.ID {
		t.Fatalf("Get from a carrier: %v %v", got, err)
	}
	if st := a.g.Stats(); st.Dropped["signature"] != 1 || st.Dropped["topic"] != 1 {
		t.Fatalf("A dropped %v", st.Dropped)
	}
	if c.g.Stats().Served != 0 || d.g.Stats().Served != 1 {
		t.Fatalf("served: C %d, D %d", c.g.Stats().Served, d.g.Stats().Served)
	}
	if _, err := a.g.Get(ctx, newKey(9).pk, nostr.Filter{}); !errors.Is(err, ErrNoHome) {
		t.Fatalf("an author nobody carries: %v", err)
	}
}

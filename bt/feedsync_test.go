package bt

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/dht/v2/bep44"
	"github.com/anacrolix/dht/v2/exts/getput"
	"github.com/anacrolix/torrent/bencode"
	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/identity"
)

// privateDHT starts n DHT nodes on loopback bootstrapping off each other.
func privateDHT(t testing.TB, ctx context.Context, n int) []*DHT {
	t.Helper()
	var nodes []*DHT
	for i := range n {
		var boot []string
		for _, d := range nodes {
			boot = append(boot, d.Addr())
		}
		d, err := NewDHT(Config{Addr: "127.0.0.1:0", Bootstrap: boot})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Close)
		nodes = append(nodes, d)
		_ = i
	}
	for range 3 {
		for _, d := range nodes {
			d.Bootstrap(ctx)
		}
	}
	return nodes
}

func signed(t *testing.T, k identity.Key, kind int, at int64, content string) *nostr.Event {
	t.Helper()
	ev := &nostr.Event{Kind: kind, CreatedAt: nostr.Timestamp(at), Tags: nostr.Tags{}, Content: content}
	if err := ev.Sign(k.Secret); err != nil {
		t.Fatal(err)
	}
	return ev
}

func attest(t *testing.T, k identity.Key, at int64) *nostr.Event {
	t.Helper()
	att := Attestation(Key(k).Public().(ed25519.PublicKey), nostr.Timestamp(at))
	if err := att.Sign(k.Secret); err != nil {
		t.Fatal(err)
	}
	return att
}

// handFeed is a feed whose one bundle holds exactly raw (tampered at will).
func handFeed(t *testing.T, raw []byte, items []IndexItem) *Feed {
	t.Helper()
	b, err := makeFile("hand.json", raw)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := Magnet(b.MI, "")
	for i := range items {
		items[i].Magnet = m
	}
	ib, _ := json.Marshal(Index{UpdatedAt: 1, Items: items})
	idx, err := makeFile("index.json", ib)
	if err != nil {
		t.Fatal(err)
	}
	return &Feed{Index: idx, Bundles: []File{b}}
}

// TestFollowOverPrivateDHT: eight DHT nodes on loopback, none public. A
// publishes its feed (events over two days, so two bundles); B, given only
// A's npub, finds the locator, the pointer and the seeders, fetches the
// index and bundles and gets A's events byte-identical. Then the refusals,
// each with its reason and nothing returned: a vandalized locator, a
// pointer naming another user, a bundle holding a foreign event, and one
// holding an event whose signature fails.
func TestFollowOverPrivateDHT(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	nodes := privateDHT(t, ctx, 8)
	ca, cb := newClient(t), newClient(t)
	a := identity.Generate()
	base := int64(1700000000)
	var evs []*nostr.Event
	for i := range 5 {
		evs = append(evs, signed(t, a, 1, base+int64(i)*40000, fmt.Sprintf("note %d", i)))
	}
	f, err := BuildFeed(evs, a.Public, time.Unix(base+200000, 0), fmt.Sprintf("127.0.0.1:%d", ca.Port()))
	if err != nil || len(f.Bundles) != 3 {
		t.Fatalf("feed: %d bundles, %v", len(f.Bundles), err)
	}
	start := time.Now()
	seq, err := nodes[1].Publish(ctx, ca, Key(a), attest(t, a, base), f, time.Unix(base+200000, 0))
	if err != nil {
		t.Fatal(err)
	}
	published := time.Now()
	var steps []string
	got, err := nodes[6].Follow(ctx, cb, a.Public, FollowOptions{Dir: t.TempDir(), Progress: func(s string) { steps = append(steps, s) }})
	if err != nil {
		t.Fatalf("follow: %v (steps %q)", err, steps)
	}
	t.Logf("8 DHT nodes: publish %s, follow (locator, pointer, seeders, index, %d bundles) %s", published.Sub(start).Round(time.Millisecond), len(f.Bundles), time.Since(published).Round(time.Millisecond))
	if got.Seq != seq || len(got.Events) != len(evs) {
		t.Fatalf("seq %d (want %d), %d events (want %d)", got.Seq, seq, len(got.Events), len(evs))
	}
	for i, ev := range got.Events {
		want, _ := json.Marshal(evs[len(evs)-1-i]) // newest first
		if !bytes.Equal(got.Raw[i], want) {
			t.Fatalf("event %d: %s, want %s", i, got.Raw[i], want)
		}
		if ev.ID != evs[len(evs)-1-i].ID {
			t.Fatalf("event %d out of order", i)
		}
	}

	// A vandal signs at the locator (its key is public) an attestation
	// that is not the user's: refused, the reason named.
	v := identity.Generate()
	lv, _ := LocatorValue(attest(t, v, base+10))
	if _, _, err := ParseLocator(a.Public, lv); !errors.Is(err, ErrPointer) || !strings.Contains(err.Error(), "not signed by") {
		t.Fatalf("V's attestation read as A's: %v", err)
	}
	c := identity.Generate()
	if err := nodes[2].PutLocator(ctx, attest(t, c, base)); err != nil {
		t.Fatal(err)
	}
	lk, _ := LocatorKey(c.Public)
	if err := putRaw(ctx, nodes[2], lk, lv, base+100); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[5].Follow(ctx, cb, c.Public, FollowOptions{Dir: t.TempDir()}); !errors.Is(err, ErrPointer) || !strings.Contains(err.Error(), "vandalized") {
		t.Fatalf("vandalized locator: %v", err)
	}

	// A pointer signed by another key: V's key, given for A, names V.
	vf, _ := BuildFeed([]*nostr.Event{signed(t, v, 1, base, "v")}, v.Public, time.Unix(base, 0))
	if _, err := nodes[3].Publish(ctx, ca, Key(v), attest(t, v, base), vf, time.Unix(base, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[7].Follow(ctx, cb, a.Public, FollowOptions{Key: Key(v).Public().(ed25519.PublicKey), Dir: t.TempDir()}); !errors.Is(err, ErrPointer) || !strings.Contains(err.Error(), "names the feed of") {
		t.Fatalf("a pointer of V's key taken for A: %v", err)
	}

	// Feeds whose bundle holds a foreign event, or a forged one.
	for name, mk := range map[string]func(k identity.Key) ([]byte, []IndexItem, string){
		"foreign event": func(k identity.Key) ([]byte, []IndexItem, string) {
			mine, theirs := signed(t, k, 1, base, "mine"), signed(t, v, 1, base, "theirs")
			raw, _ := json.Marshal([]*nostr.Event{mine, theirs})
			return raw, []IndexItem{{ID: mine.ID, TS: base, Kind: 1}, {ID: theirs.ID, TS: base, Kind: 1}}, "not " + k.Public[:16]
		},
		"bad signature": func(k identity.Key) ([]byte, []IndexItem, string) {
			ev := signed(t, k, 1, base, "signed")
			ev.Content = "changed after signing"
			raw, _ := json.Marshal([]*nostr.Event{ev})
			return raw, []IndexItem{{ID: ev.ID, TS: base, Kind: 1}}, "id"
		},
	} {
		k := identity.Generate()
		raw, items, reason := mk(k)
		hf := handFeed(t, raw, items)
		if _, err := nodes[4].Publish(ctx, ca, Key(k), attest(t, k, base), hf, time.Unix(base, 0)); err != nil {
			t.Fatal(err)
		}
		got, err := nodes[0].Follow(ctx, cb, k.Public, FollowOptions{Dir: t.TempDir()})
		if !errors.Is(err, ErrFeed) || got != nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("%s: %v, want ErrFeed naming %q", name, err, reason)
		}
	}

	// An unknown npub: no locator, said so.
	u := identity.Generate()
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	if _, err := nodes[5].Follow(sctx, cb, u.Public, FollowOptions{}); !errors.Is(err, ErrNoFeed) {
		t.Fatalf("unknown npub: %v", err)
	}
}

// putRaw puts value v at key lk's target with seq.
func putRaw(ctx context.Context, d *DHT, lk ed25519.PrivateKey, v []byte, seq int64) error {
	var k [32]byte
	copy(k[:], lk.Public().(ed25519.PublicKey))
	_, err := getput.Put(ctx, bep44.MakeMutableTarget(k, nil), d.s, nil, func(int64) bep44.Put {
		p := bep44.Put{V: bencode.Bytes(v), K: &k, Seq: seq}
		p.Sign(lk)
		return p
	})
	return err
}

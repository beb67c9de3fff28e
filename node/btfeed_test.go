package node

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/bt"
	"github.com/cairn-nostr/cairn/identity"
)

// privateDHT is n Mainline DHT nodes on loopback that know each other.
func privateDHT(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	var nodes []*bt.DHT
	for range n {
		d, err := bt.NewDHT(bt.Config{Addr: "127.0.0.1:0", Bootstrap: append([]string(nil), addrs...)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Close)
		nodes = append(nodes, d)
		addrs = append(addrs, d.Addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range 2 {
		for _, d := range nodes {
			d.Bootstrap(ctx)
		}
	}
	return addrs
}

// TestNodeFeedFollow: node A, on a private loopback DHT, publishes its
// owner's feed; node B, joined to the same DHT only, follows A's npub
// through its API and stores A's note byte-identical in its relay. An npub
// with no feed is answered with the reason; /api/status shows the DHT.
func TestNodeFeedFollow(t *testing.T) {
	boot := privateDHT(t, 4)
	ca, cb := TestingConfig(t), TestingConfig(t)
	ca.BT.DHTBootstrap, cb.BT.DHTBootstrap = boot, boot
	a, b := startNode(t, ca), startNode(t, cb)

	note := &nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Tags: nostr.Tags{}, Content: "found from the npub alone"}
	if err := note.Sign(a.Key().Secret); err != nil {
		t.Fatal(err)
	}
	if err := a.Relay().Publish(context.Background(), note); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(note)
	var st struct {
		BTDHT *BTDHTStatus `json:"bt_dht"`
	}
	// The node republishes its feed on a new event of its owner: follow
	// until the feed holds the note (a follow is the event waited on;
	// bounded). Until A's first publication ends, B is told it found no
	// pointer.
	var res FollowResult
	var got []byte
	var last string
	for try := 0; got == nil; try++ {
		if try == 60 {
			get(t, a.URL()+"/api/status", &st)
			t.Fatalf("the note never reached B: last follow %+v %s, A's feed %+v", res, last, st.BTDHT)
		}
		if try > 0 {
			time.Sleep(500 * time.Millisecond) // between follows, bounded by the tries
		}
		res = FollowResult{}
		hr, err := http.Post(b.URL()+"/api/bt/follow?"+url.Values{"pubkey": {a.Key().Npub()}}.Encode(), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(hr.Body)
		hr.Body.Close()
		last = string(body)
		if hr.StatusCode != http.StatusOK {
			continue
		}
		if err := json.Unmarshal(body, &res); err != nil {
			t.Fatal(err)
		}
		b.Store().Query(context.Background(), nostr.Filter{IDs: []string{note.ID}}, 1, func(raw []byte) error {
			got = append([]byte(nil), raw...)
			return nil
		})
	}
	if string(got) != string(want) {
		t.Fatalf("B stored %s, want %s (steps %q)", got, want, res.Steps)
	}
	t.Logf("followed: seq %d, %d stored; steps %q", res.Seq, res.Stored, res.Steps)
	// nostr-over-bt's fallback on A's relay: kind 30078, d
	// nostr-over-bt-feed, the index's magnet; and the attestation.
	for _, d := range []string{bt.FeedFallbackTag, bt.IdentityTag} {
		var ev *nostr.Event
		a.Store().Query(context.Background(), nostr.Filter{Kinds: []int{bt.KindAppData}, Authors: []string{a.Key().Public}, Tags: nostr.TagMap{"d": {d}}}, 1, func(raw []byte) error {
			ev = &nostr.Event{}
			return json.Unmarshal(raw, ev)
		})
		if ev == nil {
			t.Fatalf("no kind 30078 %s on A's relay", d)
		}
		if d == bt.FeedFallbackTag && !strings.HasPrefix(ev.Content, "magnet:?xt=urn:btih:") {
			t.Fatalf("feed fallback content %q", ev.Content)
		}
		if d == bt.IdentityTag {
			if k, err := bt.ParseAttestation(ev); err != nil || !k.Equal(bt.Key(a.Key()).Public()) {
				t.Fatalf("attestation: %v", err)
			}
		}
	}

	// --print: the events, not stored.
	var pr FollowResult
	post(t, b.URL()+"/api/bt/follow?"+url.Values{"pubkey": {a.Key().Public}, "print": {"1"}}.Encode(), nil, &pr)
	if len(pr.Events) != res.Stored || pr.Stored != 0 {
		t.Fatalf("print: %d events, %d stored", len(pr.Events), pr.Stored)
	}

	// An npub with no feed: refused with the reason.
	u := identity.Generate()
	hres, err := http.Post(b.URL()+"/api/bt/follow?"+url.Values{"pubkey": {u.Npub()}}.Encode(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Error string }
	json.NewDecoder(hres.Body).Decode(&e)
	hres.Body.Close()
	if hres.StatusCode == 200 || !strings.Contains(e.Error, "no locator") {
		t.Fatalf("unknown npub: %d %q", hres.StatusCode, e.Error)
	}
	get(t, b.URL()+"/api/status", &st)
	if st.BTDHT == nil || st.BTDHT.Nodes == 0 {
		t.Fatalf("B's status: %+v", st.BTDHT)
	}
}

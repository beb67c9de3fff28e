package node

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/peer"
	"github.com/cairn-nostr/cairn/relay"
	"github.com/cairn-nostr/cairn/relay/client"
	"github.com/cairn-nostr/cairn/store"
	"github.com/cairn-nostr/cairn/superpeer"
)

// nip95Relay is a cairn relay with NIP-95 on (promotion without the 5
// minutes of uptime), on loopback.
func nip95Relay(t *testing.T, mod func(*superpeer.Config)) (*relay.Relay, string) {
	t.Helper()
	st := store.NewMemory()
	r, err := relay.New(relay.DefaultConfig(), st, relay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := superpeer.DefaultConfig()
	cfg.MinUptime = 0
	if mod != nil {
		mod(&cfg)
	}
	r.EnablePeers(cfg)
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		r.Close()
		srv.Close()
		st.Close()
	})
	return r, "ws" + strings.TrimPrefix(srv.URL, "http")
}

// publishNotes publishes n kind 1 notes by one author, one second apart
// in created_at (the newest now), and returns them.
func publishNotes(t *testing.T, ctx context.Context, url string, n int, tag string) []*nostr.Event {
	t.Helper()
	c, err := client.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sk := nostr.GeneratePrivateKey()
	now := time.Now().Unix()
	var out []*nostr.Event
	for i := range n {
		ev := &nostr.Event{Kind: 1, Content: tag + " note " + string(rune('a'+i%26)), CreatedAt: nostr.Timestamp(now - int64(n-i)), Tags: nostr.Tags{}}
		ev.Sign(sk)
		if err := c.Publish(ctx, "EVENT", ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// relayRaw is the relay's own answer to f: each event's JSON as sent.
func relayRaw(t *testing.T, ctx context.Context, url string, f nostr.Filter) []json.RawMessage {
	t.Helper()
	c, err := client.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Send(ctx, "REQ", "x", f); err != nil {
		t.Fatal(err)
	}
	var out []json.RawMessage
	for {
		verb, msg, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch verb {
		case "EVENT":
			out = append(out, msg[2])
		case "EOSE":
			return out
		}
	}
}

// startSuperPeer runs a super peer of url until the test ends and waits
// until the relay has promoted it.
func startSuperPeer(t *testing.T, ctx context.Context, r *relay.Relay, url string, serve func([]byte) []byte) *peer.SuperPeer {
	t.Helper()
	pub, _ := nostr.GetPublicKey(nostr.GeneratePrivateKey())
	sp, err := peer.NewSuperPeer(peer.SuperPeerConfig{
		PubKey: pub,
		URL:    url, Bandwidth: 50, Storage: 1000,
		Channels: PeerChannels(WebRTCConfig{Loopback: true}, nil), Serve: serve,
	})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sp.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case <-sp.Ready():
	case err := <-done:
		t.Fatalf("super peer ended: %v", err)
	case <-ctx.Done():
		t.Fatal("super peer never warmed its cache")
	}
	waitFor(t, "the super peer's promotion", func() bool { return sp.Stats().Promoted })
	return sp
}

func dialCasual(t *testing.T, ctx context.Context, url string, spot float64) *peer.Casual {
	t.Helper()
	c, err := peer.DialCasual(ctx, peer.CasualConfig{URL: url, Channels: PeerChannels(WebRTCConfig{Loopback: true}, nil), Wait: 2 * time.Second, SpotCheck: spot, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

var feed = nostr.Filter{Kinds: []int{1}, Limit: 20}

// TestNIP95PeerToPeer: a super peer registers with a cairn relay, warms
// its cache, is promoted and pushed new events; a casual client asks the
// relay for the recent feed, is offered the super peer and gets every
// event of the feed from it over a DataChannel, byte for byte what the
// relay itself answers, with no event bytes from the relay.
func TestNIP95PeerToPeer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, url := nip95Relay(t, nil)
	publishNotes(t, ctx, url, 15, "before")
	sp := startSuperPeer(t, ctx, r, url, nil)
	publishNotes(t, ctx, url, 10, "after") // pushed with PEER_EVENT_NEW
	waitFor(t, "the pushed events", func() bool { return sp.Stats().Cached == 25 })

	c := dialCasual(t, ctx, url, 1)
	res, err := c.Recent(ctx, feed)
	if err != nil {
		t.Fatal(err)
	}
	want := relayRaw(t, ctx, url, feed)
	if len(want) != 20 || len(res.Events) != 20 || res.FromPeers != 20 || res.FromRelay != 0 {
		t.Fatalf("got %d events (%d from peers, %d from the relay), the relay has %d", len(res.Events), res.FromPeers, res.FromRelay, len(want))
	}
	for i := range want {
		if !bytes.Equal(res.Events[i], want[i]) {
			t.Fatalf("event %d differs from the relay's:\n%s\n%s", i, res.Events[i], want[i])
		}
	}
	if len(res.Reports) != 0 || len(res.Checked) != 1 {
		t.Fatalf("an honest peer, spot-checked: reports %+v, checked %v", res.Reports, res.Checked)
	}
	if st := sp.Stats(); st.Served != 20 {
		t.Fatalf("super peer served %d", st.Served)
	}
	t.Logf("peer bytes %d, relay bytes %d (offer and spot check)", res.PeerBytes, res.RelayBytes)
}

// TestNIP95LyingPeers: a super peer that omits events is caught by a spot
// check and one that serves an altered event is caught at once; either
// way the client gets every event, verified, from the relay, and stops
// asking that peer.
func TestNIP95LyingPeers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		serve  func([]byte) []byte
		reason string
	}{
		{"omits", func(raw []byte) []byte {
			if raw[len(raw)/2]%2 == 0 { // about half
				return nil
			}
			return raw
		}, "omitted"},
		{"forges", func(raw []byte) []byte {
			return bytes.Replace(raw, []byte(`"content":"`), []byte(`"content":"altered `), 1)
		}, "forged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			r, url := nip95Relay(t, nil)
			publishNotes(t, ctx, url, 20, tc.name)
			startSuperPeer(t, ctx, r, url, tc.serve)
			want := relayRaw(t, ctx, url, feed)
			c := dialCasual(t, ctx, url, 1)
			for round := range 2 {
				res, err := c.Recent(ctx, feed)
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Events) != len(want) {
					t.Fatalf("round %d: %d events, want %d", round, len(res.Events), len(want))
				}
				for i := range want {
					if !bytes.Equal(res.Events[i], want[i]) {
						t.Fatalf("round %d: event %d is not the relay's: %s", round, i, res.Events[i])
					}
				}
				switch round {
				case 0:
					if len(res.Reports) != 1 || !strings.Contains(res.Reports[0].Reason, tc.reason) {
						t.Fatalf("reports %+v", res.Reports)
					}
					if res.FromRelay == 0 {
						t.Fatal("nothing came from the relay")
					}
				case 1: // the peer is no longer asked
					if res.FromPeers != 0 || res.FromRelay != len(want) || len(res.Reports) != 0 {
						t.Fatalf("second round: %d from peers, %d from the relay, reports %+v", res.FromPeers, res.FromRelay, res.Reports)
					}
				}
			}
		})
	}
}

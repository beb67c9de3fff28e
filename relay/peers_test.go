package relay

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairn-nostr/cairn/store"
	"github.com/cairn-nostr/cairn/superpeer"
)

func peersRelay(t *testing.T) (*Relay, string) {
	t.Helper()
	r, url := testRelay(t, nil)
	cfg := superpeer.DefaultConfig()
	cfg.MinUptime = 0
	r.EnablePeers(cfg)
	return r, url
}

func body(t *testing.T, m []json.RawMessage) map[string]json.RawMessage {
	t.Helper()
	var o map[string]json.RawMessage
	if len(m) < 2 || json.Unmarshal(m[1], &o) != nil {
		t.Fatalf("message %s: want an object", m)
	}
	return o
}

// TestPeersNexusFlow: a super peer speaking Nexus's objects registers,
// says what it caches, heartbeats and is promoted, is pushed new events,
// and is offered to a casual client asking by id or by filter; signals
// reach a registered peer; reputation grows with verified serving.
func TestPeersNexusFlow(t *testing.T) {
	_, url := peersRelay(t)
	sp := dial(t, url)
	sp.raw(`["PEER_REGISTER",{"bandwidth":10,"storage":500,"publicKey":"` + strings.Repeat("ab", 32) + `"}]`)
	reg := body(t, sp.expect("PEER_REGISTERED"))
	peerID := str(reg["peer_id"])
	if peerID == "" || str(reg["status"]) != "registered" {
		t.Fatalf("registered: %v", reg)
	}
	author := dial(t, url)
	first := signed(t, 1, "first")
	if ok, why := author.publish(first); !ok {
		t.Fatal(why)
	}
	// Once it caches something (and meets the criteria) it is promoted.
	sp.raw(`["PEER_CACHE_HAVE",{"event_ids":["` + first.ID + `"]}]`)
	if p := body(t, sp.expect("PEER_PROMOTED")); str(p["peer_id"]) != peerID {
		t.Fatalf("promoted %v", p)
	}
	sp.raw(`["PEER_HEARTBEAT"]`)
	sp.expect("PEER_HEARTBEAT_ACK")
	// New events are pushed to it.
	second := signed(t, 1, "second")
	author.publish(second)
	var pushed struct{ Event nostr.Event }
	json.Unmarshal(sp.expect("PEER_EVENT_NEW")[1], &pushed)
	if pushed.Event.ID != second.ID {
		t.Fatalf("pushed %s, want %s", pushed.Event.ID, second.ID)
	}
	// A casual client is offered the super peer, by ids and by filter.
	casual := dial(t, url)
	casual.raw(`["PEER_REQUEST",{"event_ids":["` + first.ID + `","` + second.ID + `"]}]`)
	var offer struct {
		Offers   map[string][]string `json:"offers"`
		Fallback bool                `json:"fallback"`
	}
	json.Unmarshal(casual.expect("PEER_OFFER")[1], &offer)
	if len(offer.Offers[first.ID]) != 1 || offer.Offers[first.ID][0] != peerID || offer.Offers[second.ID][0] != peerID || !offer.Fallback {
		t.Fatalf("offer %+v", offer)
	}
	casual.raw(`["PEER_REQUEST","feed",{"kinds":[1],"limit":10}]`)
	json.Unmarshal(casual.expect("PEER_OFFER")[1], &offer)
	if len(offer.Offers) != 2 {
		t.Fatalf("offer by filter %+v", offer)
	}
	// Signals between registered peers.
	casual.raw(`["PEER_REGISTER",{"bandwidth":1}]`)
	other := str(body(t, casual.expect("PEER_REGISTERED"))["peer_id"])
	sp.raw(`["PEER_SIGNAL",{"target_peer":"` + other + `","signal_data":{"type":"offer","sdp":"v=0"}}]`)
	if fwd := body(t, casual.expect("PEER_SIGNAL_RELAY")); str(fwd["from_peer"]) != peerID {
		t.Fatalf("signal relay %v", fwd)
	}
	// Reputation: served ids the relay holds count; others do not.
	sp.raw(`["PEER_STATS",{"events_served":2,"bytes_transferred":100,"peers_connected":1,"event_ids_served":["` + first.ID + `","` + strings.Repeat("0", 64) + `"]}]`)
	var st struct{ Reputation float64 }
	json.Unmarshal(sp.expect("PEER_STATS_OK")[1], &st)
	if st.Reputation != superpeer.Baseline+1 {
		t.Fatalf("reputation %v", st.Reputation)
	}
}

// TestPeersRefusals: malformed PEER_* messages get PEER_ERROR with the
// reason and the connection goes on working; past a verb's limit the
// connection is banned from NIP-95 but keeps NIP-01.
func TestPeersRefusals(t *testing.T) {
	_, url := peersRelay(t)
	c := dial(t, url)
	for _, m := range []struct{ raw, why string }{
		{`["PEER_REGISTER","x"]`, "capabilities"},
		{`["PEER_REQUEST",{"event_ids":["nothex"]}]`, "hex"},
		{`["PEER_HEARTBEAT"]`, "PEER_REGISTER first"},
		{`["PEER_STATS",{"events_served":-1}]`, "negative"},
	} {
		c.raw(m.raw)
		if e := body(t, c.expect("PEER_ERROR")); !strings.Contains(str(e["message"]), m.why) {
			t.Errorf("%s: %s, want %q", m.raw, e["message"], m.why)
		}
	}
	ev := signed(t, 1, "still works")
	if ok, why := c.publish(ev); !ok {
		t.Fatalf("NIP-01 after refusals: %s", why)
	}
	c.raw(`["PEER_REGISTER",{"bandwidth":1}]`)
	c.expect("PEER_REGISTERED")
	var limited bool
	for range 5 {
		c.raw(`["PEER_HEARTBEAT"]`)
	}
	for !limited {
		m := c.expect("PEER_ERROR")
		limited = strings.HasPrefix(str(body(t, m)["message"]), "rate-limited:")
	}
	if got := c.query(nostr.Filter{IDs: []string{ev.ID}}); len(got) != 1 {
		t.Fatal("the banned connection lost NIP-01")
	}
}

// TestPeersNIP11: the p2p_* limitation fields and NIP 95 when it is on.
func TestPeersNIP11(t *testing.T) {
	_, url := peersRelay(t)
	req, _ := http.NewRequest("GET", "http"+strings.TrimPrefix(url, "ws"), nil)
	req.Header.Set("Accept", "application/nostr+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var in struct {
		NIPs []int `json:"supported_nips"`
		Lim  struct {
			P2P    bool  `json:"p2p_enabled"`
			Max    int   `json:"p2p_max_peers"`
			Window int64 `json:"p2p_cache_window"`
		} `json:"limitation"`
	}
	json.NewDecoder(res.Body).Decode(&in)
	if !in.Lim.P2P || in.Lim.Max != 50 || in.Lim.Window != int64((24*time.Hour).Seconds()) || in.NIPs[len(in.NIPs)-1] != 95 {
		t.Fatalf("NIP-11 %+v", in)
	}
}

// TestPeersMetrics: NIP-95's figures are Prometheus series when the relay
// has a registry: registered peers, super peers, events asked, offered and
// pushed.
func TestPeersMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	st := store.NewMemory()
	r, err := New(DefaultConfig(), st, Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	cfg := superpeer.DefaultConfig()
	cfg.MinUptime = 0
	r.EnablePeers(cfg)
	srv := httptest.NewServer(r)
	t.Cleanup(func() { r.Close(); srv.Close(); st.Close() })
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	sp := dial(t, url)
	sp.raw(`["PEER_REGISTER",{"bandwidth":10,"storage":500}]`)
	sp.expect("PEER_REGISTERED")
	author := dial(t, url)
	ev := signed(t, 1, "metrics")
	author.publish(ev)
	sp.raw(`["PEER_CACHE_HAVE",{"event_ids":["` + ev.ID + `"]}]`)
	sp.expect("PEER_PROMOTED")
	casual := dial(t, url)
	casual.raw(`["PEER_REQUEST","s",{"kinds":[1]},{"whole":true}]`)
	casual.expect("PEER_OFFER")
	want := map[string]float64{"cairn_nip95_registered": 1, "cairn_nip95_super_peers": 1,
		"cairn_nip95_events_asked_total": 1, "cairn_nip95_events_offered_total": 1, "cairn_nip95_events_pushed_total": 0}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			if m.GetGauge() != nil {
				got[f.GetName()] = m.GetGauge().GetValue()
			} else if m.GetCounter() != nil {
				got[f.GetName()] = m.GetCounter().GetValue()
			}
		}
	}
	for name, v := range want {
		if g, ok := got[name]; !ok || g != v {
			t.Errorf("%s = %v (present %t), want %v", name, g, ok, v)
		}
	}
}

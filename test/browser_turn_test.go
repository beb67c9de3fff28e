package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/test/harness"
)

// The tab's fallback to its node's TURN server: tabs get ICE servers from
// the node's GET /api/ice; limited to relay candidates (what a tab behind
// a symmetric NAT is left with), they still connect, through the node.

// startICEJS starts the core as the web app does, with the ICE servers of
// /api/ice and the policy given (%q).
const startICEJS = `(async () => {
  const st = await (await fetch('/api/status')).json();
  const ice = await (await fetch('/api/ice')).json();
  const k = cairn.generateKey();
  const r = await cairn.start({relay: st.urls.relay, secretKey: k.secretKey, nodePubkey: '', loopback: true, http: false,
    db: 'cairn-test', iceServers: ice.iceServers, iceTransportPolicy: %q});
  return r.pubkey;
})()`

func startICETab(t testing.TB, n *harness.Node, policy string) *coreTab {
	t.Helper()
	b := harness.NewBrowser(t)
	b.Open(n.URL + "/wasm_exec.js")
	b.Eval(harness.RecordPeerConnectionsJS, nil)
	b.Eval(coreJS, nil)
	b.Eval(helpersJS, nil)
	var pub string
	if err := b.EvalTimeout(time.Minute, fmt.Sprintf(startICEJS, policy), &pub); err != nil || len(pub) != 64 {
		t.Fatalf("cairn.start with /api/ice's servers: %q, %v\nconsole:\n%s", pub, err, b.ConsoleText())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("browser %s console:\n%s", pub[:8], b.ConsoleText())
		}
	})
	return &coreTab{Browser: b, pubkey: pub}
}

type turnStatus struct {
	TURN *struct {
		Allocations int    `json:"allocations"`
		Allocated   uint64 `json:"allocated"`
		BytesOut    uint64 `json:"bytes_out"`
		BytesIn     uint64 `json:"bytes_in"`
		PeerRefused uint64 `json:"peer_refused"`
		AuthRefused uint64 `json:"auth_refused"`
	} `json:"turn"`
}

func nodeTURN(t testing.TB, n *harness.Node) turnStatus {
	t.Helper()
	res, err := http.Get(n.URL + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var st turnStatus
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.TURN == nil {
		t.Fatal("/api/status has no turn section: the node's TURN server did not start (see its stderr)")
	}
	return st
}

// TestBrowserRelayedThroughNode: two tabs limited to relay candidates
// (iceTransportPolicy "relay") with the ICE servers of the node's
// /api/ice: B fetches a file only A holds, over a DataChannel whose
// selected candidate pair is relay/relay in both browsers' getStats(), and
// the node's TURN server counts the bytes. Two more tabs with the default
// policy do the same over a direct path in the same run; both times are
// logged (docs/BENCHMARKS.md, "TURN").
func TestBrowserRelayedThroughNode(t *testing.T) {
	n := harness.Start(t, "--webrtc-loopback", "--turn-rate", "0")
	const size = 8<<20 + 4321
	type path struct {
		name, policy, want string // want: the selected pair
		took               time.Duration
	}
	paths := []*path{{name: "relayed", policy: "relay", want: "relay/relay"}, {name: "direct", policy: "all", want: "no relay candidate (host, or prflx: a host candidate seen before its signal)"}}
	for _, p := range paths {
		a := startICETab(t, n, p.policy)
		b := startICETab(t, n, p.policy)
		s := a.share(t, size)
		before := nodeTURN(t, n)
		t0 := time.Now()
		got := b.fetch(t, s.ID)
		p.took = time.Since(t0)
		if got.SHA != s.SHA || got.Size != size {
			t.Fatalf("%s: B got %d bytes with sha256 %s; A shared %d bytes with sha256 %s", p.name, got.Size, got.SHA, size, s.SHA)
		}
		if down := b.status(t).peerDown(a.pubkey); down < size {
			t.Fatalf("%s: B's status shows %d bytes from A (want >= %d)", p.name, down, size)
		}
		after := nodeTURN(t, n)
		for _, tab := range []*coreTab{a, b} {
			ps := tab.SelectedPairs()
			if len(ps) != 1 {
				t.Fatalf("%s: tab %s has %d connected peer connections (%+v), want 1", p.name, tab.pubkey[:8], len(ps), ps)
			}
			relay := ps[0].Local == "relay" || ps[0].Remote == "relay"
			if ps[0].Servers == 0 || ps[0].Local == "none" || relay != (p.policy == "relay") || (relay && (ps[0].Local != "relay" || ps[0].Remote != "relay")) {
				t.Fatalf("%s: tab %s selected %+v, want %s with the node's ICE servers", p.name, tab.pubkey[:8], ps[0], p.want)
			}
			t.Logf("%s: tab %s selected %s/%s (relay protocol %q, %s)", p.name, tab.pubkey[:8], ps[0].Local, ps[0].Remote, ps[0].RelayProtocol, ps[0].URL)
		}
		relayed := after.TURN.BytesOut - before.TURN.BytesOut
		if p.policy == "relay" && relayed < size {
			t.Fatalf("relayed: the node's TURN server relayed %d bytes, want >= %d: %+v", relayed, size, *after.TURN)
		}
		if p.policy == "all" && relayed > 1<<20 {
			t.Fatalf("direct: the node's TURN server relayed %d bytes on a direct path", relayed)
		}
		if after.TURN.PeerRefused != 0 || after.TURN.AuthRefused != 0 {
			t.Fatalf("%s: TURN refusals: %+v", p.name, *after.TURN)
		}
		assertNoConsoleErrors(t, a.Browser, b.Browser)
		a.Close()
		b.Close()
	}
	for _, p := range paths {
		t.Logf("%s: %d bytes fetched tab to tab in %v, %.1f MiB/s (connection included)", p.name, size, p.took.Round(time.Millisecond),
			float64(size)/(1<<20)/p.took.Seconds())
	}
	t.Logf("relayed/direct time: %s", strconv.FormatFloat(paths[0].took.Seconds()/paths[1].took.Seconds(), 'f', 2, 64))
}

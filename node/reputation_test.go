package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairn-nostr/cairn/credit/rep"
	"github.com/cairn-nostr/cairn/swarm"
	"github.com/cairn-nostr/cairn/swarm/sched"
)

// fakeTransport answers every fetch of bad with a hash mismatch and of any
// other peer with 1000 bytes.
type fakeTransport struct{ bad swarm.PeerID }

func (fakeTransport) Name() string                { return "fake" }
func (fakeTransport) Ban(swarm.PeerID, time.Time) {}
func (f fakeTransport) Fetch(_ context.Context, p swarm.PeerID, _, _ [32]byte, _ func(int, int)) ([]byte, error) {
	if p == f.bad {
		return nil, fmt.Errorf("fake: %w", swarm.ErrHashMismatch)
	}
	return make([]byte, 1000), nil
}

// TestRepTransportCounts: what a download's transport delivers counts in
// the reputation of the peer's pubkey (a WebRTC ID is one; a libp2p ID
// dialled for a pubkey is bound to it), a hash mismatch strikes, and the
// scheduler's score follows: the good peer above an unknown one above the
// struck one.
func TestRepTransportCounts(t *testing.T) {
	n := &Node{rep: openReputation(t.TempDir(), slog.New(slog.DiscardHandler))}
	good := swarm.PeerID(strings.Repeat("ab", 32))
	bad := swarm.PeerID("12D3KooWBadPeer")
	badKey := strings.Repeat("cd", 32)
	n.rep.bind(bad, badKey)
	tr := n.repTransport(fakeTransport{bad: bad})
	for range 3 {
		if _, err := tr.Fetch(context.Background(), good, [32]byte{}, [32]byte{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tr.Fetch(context.Background(), bad, [32]byte{}, [32]byte{}, nil); !errors.Is(err, swarm.ErrHashMismatch) {
		t.Fatalf("the wrapped error changed: %v", err)
	}
	r, ok := n.rep.book.Get(string(good), time.Now())
	if !ok || r.Bytes < 2999 || r.Strikes != 0 {
		t.Fatalf("good: %+v", r)
	}
	if r, _ := n.rep.book.Get(badKey, time.Now()); r.Strikes < 0.99 {
		t.Fatalf("the bound pubkey of the bad peer: %+v", r)
	}
	// A bad hello strikes the peer under the pubkey it was dialled for.
	pid, err := peer.Decode("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
	if err != nil {
		t.Fatal(err)
	}
	n.rep.bind(swarm.PeerID(pid.String()), badKey)
	n.repBadHello(pid, errors.New("forged"))
	if r, _ := n.rep.book.Get(badKey, time.Now()); r.Strikes < 1.99 {
		t.Fatalf("after a bad hello: %+v", r)
	}
	unknown := swarm.PeerID("12D3KooWUnknown")
	if n.repName(unknown) != "libp2p:12D3KooWUnknown" {
		t.Fatalf("an unbound libp2p peer is named %q", n.repName(unknown))
	}
	if !(n.repScore(good) > n.repScore(unknown) && n.repScore(unknown) > n.repScore(bad)) {
		t.Fatalf("scores good %v, unknown %v, bad %v", n.repScore(good), n.repScore(unknown), n.repScore(bad))
	}
	rr, ok := tr.(swarm.RequestRater)
	if !ok || rr.RequestRate() != sched.DefaultRequestRate {
		t.Fatal("the wrapper of a transport with no rate does not give the default")
	}
	if v, ok := tr.(swarm.Verifier); !ok || v.Verifies() {
		t.Fatal("the wrapper of a transport that does not verify says it does")
	}

	// The scheduler of a download asks the good peer before the struck
	// one (both unmeasured, so of equal rate; by ID the struck one would
	// come first).
	first := firstAsked(t, n.repScore, bad, good)
	if first != good {
		t.Fatalf("the first request went to %s", first)
	}
}

// firstAsked is the peer a fresh scheduler, scored by score, asks for
// chunk 0 when peers (added in this order) have every chunk.
func firstAsked(t *testing.T, score func(swarm.PeerID) float64, peers ...swarm.PeerID) swarm.PeerID {
	t.Helper()
	chunks := []sched.Chunk{{Hash: [32]byte{1}, Size: 1 << 20}, {Hash: [32]byte{2}, Size: 1 << 20}}
	s, err := sched.New(sched.Config{Window: 1, MinDepth: 1, MaxDepth: 1, Score: score}, chunks, sched.Bitfield{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, p := range peers {
		s.AddPeer(p, now)
		s.PeerHasAll(p, now)
	}
	for _, a := range s.Tick(now) {
		if r, ok := a.(sched.Request); ok && r.Chunk == 0 {
			return r.Peer
		}
	}
	t.Fatal("chunk 0 was not requested")
	return ""
}

// TestReputationOutlivesRestart: B fetches A's file over libp2p; the
// verified bytes count for A's pubkey, show in /api/credits, are written
// to DATA_DIR/reputation.json when B stops and read when it starts again.
// A file that does not decode is set aside with the reason shown, and the
// node starts afresh.
func TestReputationOutlivesRestart(t *testing.T) {
	a, b := startPair(t)
	path, _ := randFile(t, 43, 200_000)
	sh, err := a.Share(context.Background(), ShareRequest{Path: path, ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	waitDownload(t, b, sh.Nevent, "")
	var st CreditStatus
	get(t, b.URL()+"/api/credits", &st)
	if len(st.Reputation) != 1 || st.Reputation[0].Peer != a.Key().Public || st.Reputation[0].Bytes < 199_000 || st.Reputation[0].Score <= 0 {
		t.Fatalf("B's reputation: %+v", st.Reputation)
	}
	cfg := b.cfg
	if err := b.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(repFile(cfg.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rep.Decode(rep.Config{}, data); err != nil {
		t.Fatalf("the saved reputation: %v", err)
	}
	b2 := startNode(t, cfg)
	ps, reset := b2.Reputation()
	if len(ps) != 1 || ps[0].Peer != a.Key().Public || ps[0].Bytes < 199_000 || reset != "" {
		t.Fatalf("after a restart: %+v %q", ps, reset)
	}
	if err := b2.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A broken file: set aside, the reason shown, a fresh start.
	os.WriteFile(repFile(cfg.DataDir), []byte(`{"version":1,"at":5,"peers":{"x":{"strikes":-3}}}`), 0o600)
	b3 := startNode(t, cfg)
	get(t, b3.URL()+"/api/credits", &st)
	if len(st.Reputation) != 0 || !strings.Contains(st.ReputationReset, "not negative") || !strings.Contains(st.ReputationReset, "set aside as") {
		t.Fatalf("a broken file: %+v %q", st.Reputation, st.ReputationReset)
	}
	if m, _ := filepath.Glob(repFile(cfg.DataDir) + ".broken-*"); len(m) != 1 {
		t.Fatalf("set aside: %v", m)
	}
}

// TestPremiumOfHolders: the premium credits a holder earned with this
// node as assigner are what p2p's Credit.Premium reads (after the custody
// read); a negative --max-serving is refused.
func TestPremiumOfHolders(t *testing.T) {
	n := &Node{rep: openReputation(t.TempDir(), slog.New(slog.DiscardHandler))}
	n.repCustody() // no cold storage: nothing, no panic
	n.rep.premium["holder"] = 7
	if n.premium("holder") != 7 || n.premium("other") != 0 {
		t.Fatalf("premium %d / %d", n.premium("holder"), n.premium("other"))
	}
	cfg := TestingConfig(t)
	cfg.P2P.MaxServing = -1
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--max-serving") {
		t.Fatalf("MaxServing -1: %v", err)
	}
}

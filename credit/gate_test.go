package credit

import (
	"testing"
	"time"
)

// TestGate: a peer is served while its grant lasts; a debtor is throttled
// to DebtorRate when the upload is idle or the content scarce, refused when
// the upload is busy with others and the content is not scarce, refused
// past MaxWait; uploading to the seeder restores it.
func TestGate(t *testing.T) {
	const chunk = 64 << 10
	g := NewGate(GateConfig{Grant: 4 * chunk, DebtorRate: chunk, MaxWait: 3 * time.Second})
	t0 := now
	d := g.Decide(Ask{Peer: "p", Bytes: chunk}, t0)
	if d.Verdict != Serve || d.Balance != 4*chunk {
		t.Fatalf("fresh peer: %+v", d)
	}
	g.Served("p", 3*chunk, t0)
	if d := g.Decide(Ask{Peer: "p", Bytes: chunk}, t0); d.Verdict != Serve || d.Balance != 0 {
		t.Fatalf("at the floor: %+v", d)
	}

	cases := []struct {
		name string
		ask  Ask
		at   time.Duration
		want Verdict
		wait time.Duration
	}{
		{"debtor, upload idle: served at once", Ask{Peer: "p", Bytes: chunk}, 0, Throttle, 0},
		{"the next waits a chunk's time", Ask{Peer: "p", Bytes: chunk}, 0, Throttle, time.Second},
		{"busy, content not scarce: refused", Ask{Peer: "p", Bytes: chunk, Busy: true}, 0, Refuse, 0},
		{"busy, content scarce: throttled", Ask{Peer: "p", Bytes: chunk, Busy: true, Scarce: true}, 0, Throttle, 2 * time.Second},
		{"half a second later", Ask{Peer: "p", Bytes: chunk}, 500 * time.Millisecond, Throttle, 2500 * time.Millisecond},
		{"past MaxWait: refused", Ask{Peer: "p", Bytes: chunk}, 0, Refuse, 4 * time.Second},
		{"after the wait: at once again", Ask{Peer: "p", Bytes: chunk}, 10 * time.Second, Throttle, 0},
		{"another peer is not touched", Ask{Peer: "q", Bytes: chunk, Busy: true}, 0, Serve, 0},
	}
	for _, c := range cases {
		d := g.Decide(c.ask, t0.Add(c.at))
		if d.Verdict != c.want || d.Wait != c.wait {
			t.Errorf("%s: %v after %v, want %v after %v", c.name, d.Verdict, d.Wait, c.want, c.wait)
		}
	}
	if a := g.Accounts()["p"]; a.Refused != 2 || a.Throttled != 5 || a.Served != 10*chunk {
		t.Errorf("account %+v", a)
	}
	// Reciprocating: bytes the peer uploaded to us put it back in credit.
	g.Received("p", 7*chunk, t0)
	if d := g.Decide(Ask{Peer: "p", Bytes: chunk, Busy: true}, t0.Add(11*time.Second)); d.Verdict != Serve || d.Balance != chunk {
		t.Fatalf("after uploading: %+v", d)
	}
}

// TestGateLoad: a ledger's credits and debits become the accounts again
// after a restart; peers past MaxPeers are forgotten oldest first.
func TestGateLoad(t *testing.T) {
	g := NewGate(GateConfig{Grant: 1000, MaxPeers: 2})
	g.Load([]Entry{
		{Peer: "a", Direction: Up, Bytes: 700},
		{Peer: "a", Direction: Down, Bytes: 100},
		{Peer: "b", Direction: Up, Bytes: 1500},
	}, now)
	if g.Balance("a") != 400 || g.Balance("b") != -500 || g.Balance("c") != 1000 {
		t.Fatalf("balances %d %d %d", g.Balance("a"), g.Balance("b"), g.Balance("c"))
	}
	if d := g.Decide(Ask{Peer: "b", Bytes: 1, Busy: true}, now); d.Verdict != Refuse {
		t.Fatalf("b after a restart: %+v", d)
	}
	g.Decide(Ask{Peer: "a", Bytes: 1}, now.Add(time.Second))
	g.Decide(Ask{Peer: "c", Bytes: 1}, now.Add(2*time.Second)) // b, seen least recently, goes
	if len(g.Accounts()) != 2 || g.Balance("b") != 1000 {
		t.Fatalf("accounts %v", g.Accounts())
	}
	if c := NewGate(GateConfig{}).Config(); c.Grant != WelcomeGrant || c.DebtorRate != DefaultDebtorRate || c.MaxWait != DefaultMaxWait {
		t.Fatalf("defaults %+v", c)
	}
}

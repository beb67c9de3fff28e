package credit

import "time"

// Gating: a seeder serves a requester according to its balance with this
// seeder: the welcome grant, plus the bytes it uploaded to us, minus the
// bytes we served it. A peer in credit is served at once. A debtor (its
// balance below GateConfig.Floor) is throttled to DebtorRate bytes a
// second while this seeder's upload is otherwise idle, or when the content
// is scarce (few seeders: serving it keeps it alive); while the upload is
// busy with peers in credit, a debtor's request for content that is not
// scarce is refused (ERROR INSUFFICIENT_CREDIT), as is one that would wait
// longer than MaxWait. The caller's loop:
//
//	d := gate.Decide(Ask{Peer: pk, Bytes: n, Scarce: few, Busy: others > 0}, now)
//	switch d.Verdict {
//	case Refuse:   send ERROR INSUFFICIENT_CREDIT
//	case Throttle: wait d.Wait, then serve
//	case Serve:    serve
//	}
//	gate.Received(pk, n, now)   // after a chunk from pk verified
//
// Decide books a served or throttled chunk's bytes against the peer at
// once, so that requests decided together cannot all spend the same
// balance; Served books bytes sent without a decision.
//
// The balance a seeder keeps of a peer is its own view (bilateral, as
// BitTorrent's tit-for-tat): a peer's uploads to others do not show here.

// Verdict is what to do with a request.
type Verdict int

const (
	Serve Verdict = iota
	Throttle
	Refuse
)

func (v Verdict) String() string {
	switch v {
	case Serve:
		return "serve"
	case Throttle:
		return "throttle"
	case Refuse:
		return "refuse"
	}
	return "verdict?"
}

// GateConfig sets a Gate's numbers; zero fields take the defaults.
type GateConfig struct {
	// Grant is the balance a peer starts with (default WelcomeGrant).
	Grant int64
	// Floor is the balance below which a peer is a debtor (default 0).
	Floor int64
	// DebtorRate is the bytes a second a debtor is served at (default
	// 1 MiB/s).
	DebtorRate int64
	// MaxWait bounds a debtor's wait for one chunk; a longer one is
	// refused (default 5 s, under a requester's 15 s request timeout).
	MaxWait time.Duration
	// MaxPeers bounds the peers remembered; past it the one seen least
	// recently is forgotten (default 65,536).
	MaxPeers int
}

// Defaults of GateConfig.
const (
	DefaultDebtorRate = 1 << 20
	DefaultMaxWait    = 5 * time.Second
	defaultMaxPeers   = 1 << 16
)

func (c *GateConfig) defaults() {
	if c.Grant == 0 {
		c.Grant = WelcomeGrant
	}
	if c.DebtorRate <= 0 {
		c.DebtorRate = DefaultDebtorRate
	}
	if c.MaxWait <= 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.MaxPeers <= 0 {
		c.MaxPeers = defaultMaxPeers
	}
}

// Ask is a request to decide on.
type Ask struct {
	Peer   string // the requester: a Nostr pubkey, or another stable name
	Bytes  int64  // the chunk's size
	Scarce bool   // few seeders hold the content
	Busy   bool   // this seeder's upload is serving peers in credit
}

// Decision is a Gate's answer.
type Decision struct {
	Verdict Verdict
	Wait    time.Duration // for Throttle: how long to wait before serving
	Balance int64         // the requester's balance before this chunk
}

// Account is what a Gate knows of one peer.
type Account struct {
	Served    int64 `json:"served"`    // bytes this seeder sent it
	Received  int64 `json:"received"`  // bytes it sent this seeder, verified
	Refused   int64 `json:"refused"`   // requests refused
	Throttled int64 `json:"throttled"` // requests served late
	seen      time.Time
	next      time.Time // a debtor's next byte may go out at this time
}

// Gate keeps each peer's balance with this seeder and decides.
type Gate struct {
	cfg   GateConfig
	peers map[string]*Account
}

// NewGate returns a gate with cfg's numbers.
func NewGate(cfg GateConfig) *Gate {
	cfg.defaults()
	return &Gate{cfg: cfg, peers: map[string]*Account{}}
}

// Config is the gate's configuration, defaults filled in.
func (g *Gate) Config() GateConfig { return g.cfg }

func (g *Gate) account(peer string, now time.Time) *Account {
	a := g.peers[peer]
	if a == nil {
		if len(g.peers) >= g.cfg.MaxPeers {
			var oldest string
			for k, v := range g.peers {
				if oldest == "" || v.seen.Before(g.peers[oldest].seen) {
					oldest = k
				}
			}
			delete(g.peers, oldest)
		}
		a = &Account{}
		g.peers[peer] = a
	}
	if now.After(a.seen) {
		a.seen = now
	}
	return a
}

// Balance is peer's balance with this seeder.
func (g *Gate) Balance(peer string) int64 {
	a := g.peers[peer]
	if a == nil {
		return g.cfg.Grant
	}
	return g.cfg.Grant + a.Received - a.Served
}

// Decide decides on a request and, for a throttled one, books its turn.
func (g *Gate) Decide(ask Ask, now time.Time) Decision {
	a := g.account(ask.Peer, now)
	bal := g.cfg.Grant + a.Received - a.Served
	if bal >= g.cfg.Floor {
		a.Served += ask.Bytes
		return Decision{Verdict: Serve, Balance: bal}
	}
	if ask.Busy && !ask.Scarce {
		a.Refused++
		return Decision{Verdict: Refuse, Balance: bal}
	}
	start := a.next
	if start.Before(now) {
		start = now
	}
	wait := start.Sub(now)
	if wait > g.cfg.MaxWait {
		a.Refused++
		return Decision{Verdict: Refuse, Wait: wait, Balance: bal}
	}
	a.next = start.Add(time.Duration(float64(ask.Bytes) / float64(g.cfg.DebtorRate) * float64(time.Second)))
	a.Throttled++
	a.Served += ask.Bytes
	return Decision{Verdict: Throttle, Wait: wait, Balance: bal}
}

// Served records n bytes sent to peer without a decision.
func (g *Gate) Served(peer string, n int64, now time.Time) { g.account(peer, now).Served += n }

// Received records n verified bytes from peer.
func (g *Gate) Received(peer string, n int64, now time.Time) {
	g.account(peer, now).Received += n
}

// Load rebuilds the accounts from a ledger: a credit (we uploaded to its
// peer, with a receipt) is bytes served, a debit (its peer uploaded to us)
// bytes received. Bytes served without a receipt are not in a ledger.
func (g *Gate) Load(entries []Entry, now time.Time) {
	for _, e := range entries {
		if e.Direction == Up {
			g.Served(e.Peer, e.Bytes, now)
		} else {
			g.Received(e.Peer, e.Bytes, now)
		}
	}
}

// Accounts copies every peer's account, by peer.
func (g *Gate) Accounts() map[string]Account {
	out := make(map[string]Account, len(g.peers))
	for k, v := range g.peers {
		out[k] = *v
	}
	return out
}

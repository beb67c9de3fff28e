package superpeer

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Config is the relay's NIP-95 policy.
type Config struct {
	PeerTTL      time.Duration // a peer silent this long is dropped (Nexus: 120 s)
	MinUptime    time.Duration // registered this long before promotion (Nexus 5 min; spec 30)
	MinBandwidth float64       // Mbit/s, as PEER_REGISTER says it (5)
	MinStorage   float64       // MB, as PEER_REGISTER says it (100)
	Promote      float64       // reputation at or above which a peer may be promoted (50)
	Demote       float64       // below which a promoted peer is demoted (30)
	MaxPeers     int           // super peers at once (50)
	PerEvent     int           // peers offered per event (3)
	MaxOffered   int           // events with offers per request (20)
	CacheWindow  time.Duration // what super peers cache (24 h)
	// Limits are the messages allowed per verb per Window from one
	// connection; past them the connection is banned, 1 h, then 24 h,
	// then for good.
	Limits map[string]int
	Window time.Duration
	Bans   []time.Duration
}

// DefaultConfig is the Nexus relay's numbers (promotion after 5 minutes).
func DefaultConfig() Config {
	return Config{
		PeerTTL: 120 * time.Second, MinUptime: 5 * time.Minute,
		MinBandwidth: 5, MinStorage: 100,
		Promote: 50, Demote: 30, MaxPeers: 50, PerEvent: 3, MaxOffered: 20,
		CacheWindow: 24 * time.Hour,
		Limits: map[string]int{
			VerbRegister: 3, VerbHeartbeat: 3, VerbStats: 10, VerbCacheHave: 5,
			VerbSignal: 20, VerbRequest: 20, VerbReport: 5,
		},
		Window: 10 * time.Second,
		Bans:   []time.Duration{time.Hour, 24 * time.Hour, 0}, // 0: for good
	}
}

// Baseline is the reputation of a pubkey never seen before.
const Baseline = 70.0

// peerState is one registered peer.
type peerState struct {
	id        string
	conn      string
	pubkey    string
	caps      Register
	since     time.Time
	last      time.Time
	promoted  bool
	cached    map[string]bool
	load      int // offers given since the last heartbeat
	served    int64
	evaluated bool
	reporters map[string]bool // connections whose report counted
}

// repState is what is kept per pubkey across registrations and restarts.
type repState struct {
	Score  float64 `json:"score"`
	Served int64   `json:"served"`
}

type limitState struct {
	start  time.Time
	counts map[string]int
	bans   int
	until  time.Time
	ever   bool // banned for good
}

// Registry is the relay's view of its super peers.
type Registry struct {
	cfg    Config
	seq    int
	peers  map[string]*peerState // by peer id
	byConn map[string]string     // connection -> peer id
	rep    map[string]*repState  // by pubkey (or peer id when none)
	limits map[string]*limitState
}

// NewRegistry returns an empty registry.
func NewRegistry(cfg Config) *Registry {
	return &Registry{cfg: cfg, peers: map[string]*peerState{}, byConn: map[string]string{}, rep: map[string]*repState{}, limits: map[string]*limitState{}}
}

// Allow counts a message of verb from conn at now: false while conn is
// banned, and when it goes past the verb's limit (which bans it). ban is
// how long (0 with ok false: for good).
func (r *Registry) Allow(conn, verb string, now time.Time) (ok bool, ban time.Duration) {
	l := r.limits[conn]
	if l == nil {
		l = &limitState{start: now, counts: map[string]int{}}
		r.limits[conn] = l
	}
	if l.ever {
		return false, 0
	}
	if now.Before(l.until) {
		return false, l.until.Sub(now)
	}
	if now.Sub(l.start) >= r.cfg.Window {
		l.start, l.counts = now, map[string]int{}
	}
	l.counts[verb]++
	max, limited := r.cfg.Limits[verb]
	if !limited || l.counts[verb] <= max {
		return true, 0
	}
	step := min(l.bans, len(r.cfg.Bans)-1)
	l.bans++
	d := r.cfg.Bans[step]
	if d == 0 {
		l.ever = true
		return false, 0
	}
	l.until = now.Add(d)
	return false, d
}

// Forget drops a connection's limits (it closed); its bans stay with its
// pubkey only if the caller keys connections by pubkey.
func (r *Registry) Forget(conn string) {
	if l := r.limits[conn]; l != nil && !l.ever && l.bans == 0 {
		delete(r.limits, conn)
	}
	if id, ok := r.byConn[conn]; ok {
		delete(r.byConn, conn)
		delete(r.peers, id)
	}
}

func (r *Registry) repOf(p *peerState) *repState {
	k := p.pubkey
	if k == "" {
		k = "peer:" + p.id
	}
	s := r.rep[k]
	if s == nil {
		s = &repState{Score: Baseline}
		r.rep[k] = s
	}
	return s
}

// Register records conn as a candidate super peer and returns its peer id
// (the same id again for a connection that registers twice).
func (r *Registry) Register(conn string, m Register, now time.Time) string {
	if id, ok := r.byConn[conn]; ok {
		p := r.peers[id]
		p.caps, p.last = m, now
		return id
	}
	r.seq++
	id := "peer_" + strconv.Itoa(r.seq)
	r.peers[id] = &peerState{id: id, conn: conn, pubkey: m.PublicKey, caps: m, since: now, last: now, cached: map[string]bool{}}
	r.byConn[conn] = id
	return id
}

// PeerOf is the peer id registered by conn, or "".
func (r *Registry) PeerOf(conn string) string { return r.byConn[conn] }

// Heartbeat keeps a peer alive; a peer above the baseline that never
// served decays by 0.5.
func (r *Registry) Heartbeat(id string, now time.Time) error {
	p := r.peers[id]
	if p == nil {
		return fmt.Errorf("no registered peer %q: send PEER_REGISTER first", id)
	}
	p.last, p.load = now, 0
	if s := r.repOf(p); s.Score > Baseline && s.Served == 0 {
		s.Score = max(Baseline, s.Score-0.5)
	}
	return nil
}

// CacheHave replaces what a peer says it caches (at most MaxCacheHave).
func (r *Registry) CacheHave(id string, ids []string) error {
	p := r.peers[id]
	if p == nil {
		return fmt.Errorf("no registered peer %q: send PEER_REGISTER first", id)
	}
	p.cached = make(map[string]bool, len(ids))
	for _, e := range ids[:min(len(ids), MaxCacheHave)] {
		p.cached[e] = true
	}
	return nil
}

// Cached records that the relay pushed event id to every promoted peer
// (PEER_EVENT_NEW): they cache it.
func (r *Registry) Cached(id string) {
	for _, p := range r.peers {
		if p.promoted && len(p.cached) < MaxCacheHave {
			p.cached[id] = true
		}
	}
}

// Stats credits a peer for the served event ids the relay can verify
// (known reports whether the relay holds an id): +1 each, at most +5 a
// report, and +2 at every 5th served event in all. It returns the new
// reputation.
func (r *Registry) Stats(id string, m Stats, known func(string) bool, now time.Time) (float64, error) {
	p := r.peers[id]
	if p == nil {
		return 0, fmt.Errorf("no registered peer %q: send PEER_REGISTER first", id)
	}
	p.last = now
	s := r.repOf(p)
	gain := 0.0
	seen := map[string]bool{}
	for _, e := range m.EventIDsServed[:min(len(m.EventIDsServed), MaxStatsIDs)] {
		if seen[e] || !known(e) {
			continue
		}
		seen[e] = true
		s.Served++
		p.served++
		if gain < 5 {
			gain++
		}
		if s.Served%5 == 0 {
			gain += 2
		}
	}
	s.Score = min(100, s.Score+gain)
	return s.Score, nil
}

// ReportPenalty is what one client's report costs a peer: three reporters
// take a peer from the baseline (70) below the demotion line (30).
const ReportPenalty = 15.0

// Report takes a client's report (from the connection reporter) against
// peer id. An omission counts only if the relay holds every id named and
// had the peer down as caching it (holds reports whether the relay stores
// an id); a report of forgery cannot be checked by the relay and counts
// like one. Each reporter counts once per peer, so one client cannot
// demote a peer alone. It returns the peer's new reputation.
func (r *Registry) Report(reporter string, m Report, holds func(string) bool) (float64, error) {
	p := r.peers[m.Peer]
	if p == nil {
		return 0, fmt.Errorf("no registered peer %q", m.Peer)
	}
	if p.conn == reporter {
		return 0, fmt.Errorf("a peer cannot report itself")
	}
	for _, e := range m.EventIDs {
		if !p.cached[e] || !holds(e) {
			return 0, fmt.Errorf("event %s was not offered from %s: nothing to report", e, m.Peer)
		}
	}
	if p.reporters == nil {
		p.reporters = map[string]bool{}
	}
	s := r.repOf(p)
	if !p.reporters[reporter] {
		p.reporters[reporter] = true
		s.Score = max(0, s.Score-ReportPenalty)
	}
	return s.Score, nil
}

// Penalize lowers a pubkey's reputation (a client caught it omitting or
// forging events).
func (r *Registry) Penalize(id string, by float64) {
	if p := r.peers[id]; p != nil {
		s := r.repOf(p)
		s.Score = max(0, s.Score-by)
	}
}

// Reputation is a peer's score.
func (r *Registry) Reputation(id string) float64 {
	if p := r.peers[id]; p != nil {
		return r.repOf(p).Score
	}
	return 0
}

// Action is a change Evaluate decided.
type Action struct {
	Peer     string
	Promoted bool // false: demoted or dropped
	Reason   string
}

// Evaluate drops peers silent past PeerTTL, demotes promoted peers below
// the demotion score, and promotes eligible ones (uptime, bandwidth,
// storage, score, at least one cached event), best first, up to MaxPeers.
func (r *Registry) Evaluate(now time.Time) []Action {
	var out []Action
	ids := make([]string, 0, len(r.peers))
	for id := range r.peers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	promoted := 0
	for _, id := range ids {
		p := r.peers[id]
		if now.Sub(p.last) > r.cfg.PeerTTL {
			if p.promoted {
				out = append(out, Action{Peer: id, Reason: "no heartbeat"})
			}
			delete(r.byConn, p.conn)
			delete(r.peers, id)
			continue
		}
		if p.promoted && r.repOf(p).Score < r.cfg.Demote {
			p.promoted = false
			out = append(out, Action{Peer: id, Reason: fmt.Sprintf("reputation %.1f below %.0f", r.repOf(p).Score, r.cfg.Demote)})
		}
		if p.promoted {
			promoted++
		}
	}
	var cands []*peerState
	for _, id := range ids {
		p := r.peers[id]
		if p == nil || p.promoted {
			continue
		}
		if now.Sub(p.since) >= r.cfg.MinUptime && p.caps.Bandwidth >= r.cfg.MinBandwidth && p.caps.Storage >= r.cfg.MinStorage &&
			r.repOf(p).Score >= r.cfg.Promote && len(p.cached) > 0 {
			cands = append(cands, p)
		}
	}
	slices.SortStableFunc(cands, func(a, b *peerState) int { return cmp.Compare(r.repOf(b).Score, r.repOf(a).Score) })
	for _, p := range cands {
		if promoted >= r.cfg.MaxPeers {
			break
		}
		p.promoted = true
		promoted++
		out = append(out, Action{Peer: p.id, Promoted: true, Reason: "meets the super peer criteria"})
	}
	return out
}

// Offer picks, for each event id, up to PerEvent promoted, live peers that
// cache it, most reputable and least loaded first; at most MaxOffered ids
// get offers. Ids no peer caches are absent: the relay serves those.
func (r *Registry) Offer(eventIDs []string, except string, now time.Time) map[string][]string {
	out := map[string][]string{}
	var live []*peerState
	for _, p := range r.peers {
		if p.promoted && p.id != except && now.Sub(p.last) <= r.cfg.PeerTTL {
			live = append(live, p)
		}
	}
	for _, e := range eventIDs {
		if len(out) == r.cfg.MaxOffered {
			break
		}
		var have []*peerState
		for _, p := range live {
			if p.cached[e] {
				have = append(have, p)
			}
		}
		slices.SortFunc(have, func(a, b *peerState) int {
			if c := cmp.Compare(r.repOf(b).Score, r.repOf(a).Score); c != 0 {
				return c
			}
			if c := cmp.Compare(a.load, b.load); c != 0 {
				return c
			}
			return cmp.Compare(a.id, b.id)
		})
		for _, p := range have[:min(len(have), r.cfg.PerEvent)] {
			out[e] = append(out[e], p.id)
			p.load++
		}
	}
	return out
}

// Cover picks up to PerEvent promoted, live peers that cache every one of
// eventIDs (for a WholeOffer), least loaded first, then most reputable; the
// first, which a client asks, is charged the load of every id. None when
// no peer caches them all (the client then takes per-id offers or the
// relay).
func (r *Registry) Cover(eventIDs []string, except string, now time.Time) []string {
	var have []*peerState
	for _, p := range r.peers {
		if !p.promoted || p.id == except || now.Sub(p.last) > r.cfg.PeerTTL {
			continue
		}
		all := true
		for _, e := range eventIDs {
			if !p.cached[e] {
				all = false
				break
			}
		}
		if all {
			have = append(have, p)
		}
	}
	slices.SortFunc(have, func(a, b *peerState) int {
		if c := cmp.Compare(a.load, b.load); c != 0 {
			return c
		}
		if c := cmp.Compare(r.repOf(b).Score, r.repOf(a).Score); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	var out []string
	for _, p := range have[:min(len(have), r.cfg.PerEvent)] {
		out = append(out, p.id)
	}
	if len(have) > 0 {
		have[0].load += max(1, len(eventIDs))
	}
	return out
}

// PeerInfo is one registered peer as a status page shows it.
type PeerInfo struct {
	ID         string  `json:"peer_id"`
	PubKey     string  `json:"pubkey,omitempty"`
	Promoted   bool    `json:"promoted"`
	Reputation float64 `json:"reputation"`
	Cached     int     `json:"cached"` // events the relay has it down as caching
	Served     int64   `json:"served"` // served events it reported that the relay holds
}

// Peers lists the registered peers, promoted first, then by id.
func (r *Registry) Peers() []PeerInfo {
	out := make([]PeerInfo, 0, len(r.peers))
	for id, p := range r.peers {
		out = append(out, PeerInfo{ID: id, PubKey: p.pubkey, Promoted: p.promoted, Reputation: r.repOf(p).Score, Cached: len(p.cached), Served: p.served})
	}
	slices.SortFunc(out, func(a, b PeerInfo) int {
		if a.Promoted != b.Promoted {
			if a.Promoted {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// Promoted lists the promoted peers' ids.
func (r *Registry) Promoted() []string {
	var out []string
	for id, p := range r.peers {
		if p.promoted {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Reputations exports the scores per pubkey, to persist.
func (r *Registry) Reputations() map[string]float64 {
	out := map[string]float64{}
	for k, s := range r.rep {
		out[k] = s.Score
	}
	return out
}

// LoadReputations restores persisted scores (before peers register).
func (r *Registry) LoadReputations(m map[string]float64) {
	for k, v := range m {
		r.rep[k] = &repState{Score: min(100, max(0, v))}
	}
}

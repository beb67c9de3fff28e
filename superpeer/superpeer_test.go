package superpeer

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func args(t *testing.T, js string) []json.RawMessage {
	t.Helper()
	var a []json.RawMessage
	if err := json.Unmarshal([]byte(js), &a); err != nil {
		t.Fatal(err)
	}
	return a
}

var id1 = strings.Repeat("a", 64)

// TestParseBothStyles: the spec's positional payloads and Nexus's objects
// are read; malformed ones are refused with a reason.
func TestParseBothStyles(t *testing.T) {
	good := map[string]struct {
		verb, args string
	}{
		"nexus register": {VerbRegister, `[{"bandwidth":12.5,"storage":500,"publicKey":"` + id1 + `","lightningAddress":"a@b"}]`},
		"spec register":  {VerbRegister, `[{"bandwidth":10,"storage":1}]`},
		"heartbeat":      {VerbHeartbeat, `[]`},
		"nexus request":  {VerbRequest, `[{"event_ids":["` + id1 + `"]}]`},
		"spec request":   {VerbRequest, `["sub_1",{"kinds":[1],"limit":20}]`},
		"whole request":  {VerbRequest, `["sub_1",{"kinds":[1],"limit":20},{"whole":true}]`},
		"signal":         {VerbSignal, `[{"target_peer":"peer_2","signal_data":{"type":"offer","sdp":"v=0"}}]`},
		"cache have":     {VerbCacheHave, `[{"event_ids":["` + id1 + `"]}]`},
		"stats":          {VerbStats, `[{"events_served":3,"bytes_transferred":900,"peers_connected":2,"event_ids_served":["` + id1 + `"]}]`},
	}
	for name, c := range good {
		m, err := Parse(c.verb, args(t, c.args))
		if err != nil || m.Verb() != c.verb {
			t.Errorf("%s: %v", name, err)
		}
	}
	bad := map[string]struct {
		verb, args, why string
	}{
		"register not object":    {VerbRegister, `["x"]`, "capabilities"},
		"register unknown field": {VerbRegister, `[{"bandwith":1}]`, "unknown field"},
		"register negative":      {VerbRegister, `[{"bandwidth":-1}]`, "negative"},
		"register bad key":       {VerbRegister, `[{"publicKey":"zz"}]`, "publicKey"},
		"heartbeat args":         {VerbHeartbeat, `[1,2]`, "no arguments"},
		"request empty":          {VerbRequest, `[{"event_ids":[]}]`, "empty"},
		"request bad id":         {VerbRequest, `[{"event_ids":["x"]}]`, "64 lowercase hex"},
		"request sub not string": {VerbRequest, `[1,{}]`, "subscription id"},
		"request nothing":        {VerbRequest, `[]`, "want"},
		"request bad option":     {VerbRequest, `["s",{},{"hole":true}]`, "unknown field"},
		"request option type":    {VerbRequest, `["s",{},{"whole":1}]`, "cannot unmarshal"},
		"signal no target":       {VerbSignal, `[{"signal_data":{}}]`, "target_peer"},
		"cache wrong type":       {VerbCacheHave, `[{"event_ids":"x"}]`, "cannot unmarshal"},
		"stats negative":         {VerbStats, `[{"events_served":-1}]`, "negative"},
		"report no peer":         {VerbReport, `[{"reason":"x"}]`, "peer_id"},
		"report bad id":          {VerbReport, `[{"peer_id":"peer_1","event_ids":["x"]}]`, "64 lowercase hex"},
		"report positional":      {VerbReport, `["peer_1"]`, "want one object"},
		"report unknown field":   {VerbReport, `[{"peer_id":"peer_1","why":"x"}]`, "unknown field"},
		"unknown":                {"PEER_DANCE", `[]`, "unknown verb"},
	}
	for name, c := range bad {
		_, err := Parse(c.verb, args(t, c.args))
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: %v, want a refusal mentioning %q", name, err, c.why)
		}
	}
	many := make([]string, MaxCacheHave+1)
	for i := range many {
		many[i] = fmt.Sprintf("%064x", i)
	}
	b, _ := json.Marshal(map[string]any{"event_ids": many})
	if _, err := Parse(VerbCacheHave, []json.RawMessage{b}); !errors.Is(err, ErrMalformed) {
		t.Errorf("over MaxCacheHave: %v", err)
	}
}

// TestRateLimitsAndBans: past a verb's limit in a window a connection is
// banned 1 h, then 24 h, then for good.
func TestRateLimitsAndBans(t *testing.T) {
	r := NewRegistry(DefaultConfig())
	now := time.Unix(1000, 0)
	for i := range 3 {
		if ok, _ := r.Allow("c", VerbHeartbeat, now); !ok {
			t.Fatalf("heartbeat %d refused", i)
		}
	}
	ok, ban := r.Allow("c", VerbHeartbeat, now)
	if ok || ban != time.Hour {
		t.Fatalf("4th heartbeat: %v %v", ok, ban)
	}
	if ok, _ := r.Allow("c", VerbStats, now.Add(30*time.Minute)); ok {
		t.Fatal("banned connection allowed")
	}
	now = now.Add(time.Hour + time.Second)
	for range 3 {
		r.Allow("c", VerbHeartbeat, now)
	}
	if _, ban := r.Allow("c", VerbHeartbeat, now); ban != 24*time.Hour {
		t.Fatalf("second ban %v", ban)
	}
	now = now.Add(25 * time.Hour)
	for range 3 {
		r.Allow("c", VerbHeartbeat, now)
	}
	if ok, ban := r.Allow("c", VerbHeartbeat, now); ok || ban != 0 {
		t.Fatalf("third ban: %v %v, want for good", ok, ban)
	}
	if ok, _ := r.Allow("c", VerbHeartbeat, now.Add(1000*time.Hour)); ok {
		t.Fatal("a permanent ban ended")
	}
	// A new window resets the counts of a well-behaved connection.
	if ok, _ := r.Allow("d", VerbSignal, now); !ok {
		t.Fatal("signal refused")
	}
}

// TestReputationAndPromotion: the Nexus numbers, promotion criteria,
// demotion, persistence.
func TestReputationAndPromotion(t *testing.T) {
	cfg := DefaultConfig()
	r := NewRegistry(cfg)
	t0 := time.Unix(0, 0)
	caps := Register{Bandwidth: 10, Storage: 200, PublicKey: id1}
	p := r.Register("conn1", caps, t0)
	weak := r.Register("conn2", Register{Bandwidth: 1, Storage: 200}, t0)
	r.CacheHave(p, []string{id1})
	r.CacheHave(weak, []string{id1})
	if acts := r.Evaluate(t0.Add(time.Minute)); len(acts) != 0 {
		t.Fatalf("promoted before MinUptime: %v", acts)
	}
	at := t0.Add(cfg.MinUptime)
	r.Heartbeat(p, at)
	r.Heartbeat(weak, at)
	acts := r.Evaluate(at)
	if len(acts) != 1 || acts[0].Peer != p || !acts[0].Promoted {
		t.Fatalf("evaluate: %v (the weak peer lacks bandwidth)", acts)
	}
	ids := func(n, from int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("%064x", from+i))
		}
		return out
	}
	known := func(id string) bool { return !strings.HasSuffix(id, "f") }
	// 7 served ids, all known: +5 (cap) and +2 at the 5th.
	s, _ := r.Stats(p, Stats{EventIDsServed: ids(7, 0)}, known, at)
	if s != Baseline+5+2 {
		t.Fatalf("score %v, want %v", s, Baseline+7)
	}
	// Unknown ids count nothing.
	s, _ = r.Stats(p, Stats{EventIDsServed: []string{strings.Repeat("f", 64)}}, known, at)
	if s != Baseline+7 {
		t.Fatalf("unknown id counted: %v", s)
	}
	// Caught lying: below 30 demotes.
	r.Penalize(p, 60)
	acts = r.Evaluate(at)
	if len(acts) != 1 || acts[0].Promoted || !strings.Contains(acts[0].Reason, "below 30") {
		t.Fatalf("demotion: %v", acts)
	}
	// The score is per pubkey and survives a restart.
	saved := r.Reputations()
	r2 := NewRegistry(cfg)
	r2.LoadReputations(saved)
	q := r2.Register("conn9", caps, at)
	if r2.Reputation(q) != saved[id1] {
		t.Fatalf("restored %v, want %v", r2.Reputation(q), saved[id1])
	}
	// Silent past PeerTTL: dropped.
	if acts := r.Evaluate(at.Add(cfg.PeerTTL + time.Second)); r.PeerOf("conn1") != "" {
		t.Fatalf("silent peer kept: %v", acts)
	}
}

// TestDecay: above the baseline and never serving, a peer decays 0.5 per
// heartbeat back to the baseline.
func TestDecay(t *testing.T) {
	r := NewRegistry(DefaultConfig())
	r.LoadReputations(map[string]float64{id1: 72})
	p := r.Register("c", Register{PublicKey: id1}, time.Unix(0, 0))
	for i := range 10 {
		r.Heartbeat(p, time.Unix(int64(30*i), 0))
	}
	if got := r.Reputation(p); got != Baseline {
		t.Fatalf("score %v after decay, want %v", got, Baseline)
	}
}

// TestOffer: offers go to live promoted peers that cache the event, most
// reputable first, spread by load; at most PerEvent per event.
func TestOffer(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MinUptime = 0
	r := NewRegistry(cfg)
	now := time.Unix(100, 0)
	var ps []string
	for i := range 5 {
		pk := fmt.Sprintf("%064x", i+1)
		p := r.Register(fmt.Sprint("c", i), Register{Bandwidth: 10, Storage: 1000, PublicKey: pk}, now)
		r.CacheHave(p, []string{id1})
		ps = append(ps, p)
	}
	r.LoadReputations(map[string]float64{fmt.Sprintf("%064x", 5): 90})
	r.Evaluate(now)
	o := r.Offer([]string{id1, strings.Repeat("b", 64)}, "", now)
	if len(o[id1]) != 3 || o[id1][0] != ps[4] {
		t.Fatalf("offer %v: want 3 peers, the reputable %s first", o, ps[4])
	}
	if _, ok := o[strings.Repeat("b", 64)]; ok {
		t.Fatal("an event nobody caches was offered")
	}
	// Load spreads the next offers to the others.
	o2 := r.Offer([]string{id1}, "", now)
	seen := map[string]bool{}
	for _, p := range append(o[id1][1:], o2[id1][1:]...) {
		seen[p] = true
	}
	if len(seen) < 3 {
		t.Fatalf("load not spread: %v then %v", o, o2)
	}
	// A peer never gets an offer of itself, and a silent peer none.
	for _, p := range r.Offer([]string{id1}, ps[4], now)[id1] {
		if p == ps[4] {
			t.Fatal("a peer was offered itself")
		}
	}
	if o := r.Offer([]string{id1}, "", now.Add(cfg.PeerTTL+time.Second)); len(o) != 0 {
		t.Fatalf("silent peers offered: %v", o)
	}
}

// TestSpotCheckCatchesOmission: a super peer that drops a share of events
// is caught by spot checks within a bounded number of requests; the
// distribution over seeds is reported. A forged event is caught at once.
func TestSpotCheckCatchesOmission(t *testing.T) {
	const drop, share, trials, maxRequests = 0.1, 0.2, 200, 400
	var caught []int
	for seed := range uint64(trials) {
		c := NewClient(share, seed)
		feed := make([]string, 20)
		for i := range feed {
			feed[i] = fmt.Sprintf("%064x", i)
		}
		n := 0
		for req := 1; req <= maxRequests && n == 0; req++ {
			var served []string
			for i, id := range feed { // the liar drops every event whose index hashes under drop
				if float64((int(seed)*31+req*17+i*7)%100)/100 >= drop {
					served = append(served, id)
				}
			}
			if c.ShouldCheck() && c.Compare("liar", served, feed).Report {
				n = req
			}
		}
		if n == 0 {
			t.Fatalf("seed %d: an omitting peer went uncaught for %d requests", seed, maxRequests)
		}
		caught = append(caught, n)
	}
	sum, worst := 0, 0
	for _, n := range caught {
		sum += n
		worst = max(worst, n)
	}
	t.Logf("omission of %.0f%% with spot checks of %.0f%%: caught after %.1f requests on average, %d at worst (%d seeds)", drop*100, share*100, float64(sum)/trials, worst, trials)
	c := NewClient(share, 1)
	if v := c.Forged("liar", id1); !v.Report || len(c.Usable([]string{"liar", "honest"})) != 1 {
		t.Fatal("a forging peer was not dropped at once")
	}
}

// TestReport: a client's report costs a peer ReportPenalty once per
// reporter; three reporters demote a peer from the baseline; a report of
// omission naming an id the peer was not down for, or the relay lacks, is
// refused, as is a peer reporting itself.
func TestReport(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MinUptime = 0
	r := NewRegistry(cfg)
	now := time.Unix(1_000_000, 0)
	p := r.Register("sp", Register{Bandwidth: 10, Storage: 500}, now)
	r.CacheHave(p, []string{id1})
	if acts := r.Evaluate(now); len(acts) != 1 || !acts[0].Promoted {
		t.Fatalf("not promoted: %+v", acts)
	}
	id2 := strings.Repeat("b", 64)
	holds := func(id string) bool { return id == id1 || id == id2 }
	bad := []struct {
		name     string
		reporter string
		m        Report
	}{
		{"unknown peer", "c1", Report{Peer: "peer_99"}},
		{"self", "sp", Report{Peer: p}},
		{"id not cached by the peer", "c1", Report{Peer: p, EventIDs: []string{id2}}},
		{"id the relay lacks", "c1", Report{Peer: p, EventIDs: []string{strings.Repeat("cd", 32)}}},
	}
	for _, b := range bad {
		if _, err := r.Report(b.reporter, b.m, holds); err == nil {
			t.Errorf("%s: accepted", b.name)
		}
	}
	if r.Reputation(p) != Baseline {
		t.Fatalf("refused reports cost %v", Baseline-r.Reputation(p))
	}
	for _, reporter := range []string{"c1", "c1", "c2", "c3"} {
		if _, err := r.Report(reporter, Report{Peer: p, Reason: "omitted", EventIDs: []string{id1}}, holds); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.Reputation(p); got != Baseline-3*ReportPenalty {
		t.Fatalf("after 3 reporters (one twice): %v", got)
	}
	if acts := r.Evaluate(now); len(acts) != 1 || acts[0].Promoted {
		t.Fatalf("not demoted: %+v", acts)
	}
}

// TestCover: a whole offer names only live promoted peers caching every
// id, least loaded first, and charges the first the load; a peer is never
// offered itself; none when no peer caches them all.
func TestCover(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MinUptime = 0
	r := NewRegistry(cfg)
	now := time.Unix(100, 0)
	id2 := strings.Repeat("b", 64)
	var ps []string
	for i := range 4 {
		p := r.Register(fmt.Sprint("c", i), Register{Bandwidth: 10, Storage: 1000, PublicKey: fmt.Sprintf("%064x", i+1)}, now)
		ids := []string{id1}
		if i > 0 {
			ids = append(ids, id2)
		}
		r.CacheHave(p, ids)
		ps = append(ps, p)
	}
	r.Evaluate(now)
	got := r.Cover([]string{id1, id2}, "", now)
	if len(got) != 3 || slices.Contains(got, ps[0]) {
		t.Fatalf("cover %v: want 3 of the peers caching both, not %s", got, ps[0])
	}
	again := r.Cover([]string{id1, id2}, "", now)
	if again[0] == got[0] {
		t.Fatalf("load not spread: %v then %v", got, again)
	}
	if slices.Contains(r.Cover([]string{id1, id2}, ps[1], now), ps[1]) {
		t.Fatal("a peer was offered itself")
	}
	if c := r.Cover([]string{id1, strings.Repeat("c", 64)}, "", now); len(c) != 0 {
		t.Fatalf("an id nobody caches, yet covered by %v", c)
	}
	if c := r.Cover([]string{id1}, "", now.Add(cfg.PeerTTL+time.Second)); len(c) != 0 {
		t.Fatalf("silent peers covered: %v", c)
	}
	if ps := r.Peers(); len(ps) != 4 || !ps[0].Promoted || ps[0].Reputation != Baseline || ps[1].Cached != 2 {
		t.Fatalf("Peers(): %+v", ps)
	}
}

// TestDigest: the digest names the set (order and repeats do not matter,
// one id more or less does).
func TestDigest(t *testing.T) {
	a, b, c := id1, strings.Repeat("b", 64), strings.Repeat("c", 64)
	if Digest([]string{a, b}) != Digest([]string{b, a, b}) {
		t.Fatal("order or repeats changed the digest")
	}
	if Digest([]string{a, b}) == Digest([]string{a, b, c}) || Digest([]string{a}) == Digest(nil) || Digest([]string{"x"}) == Digest(nil) {
		t.Fatal("different sets, same digest")
	}
}

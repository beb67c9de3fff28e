package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairn-nostr/cairn/superpeer"
)

// NIP-95 (the hybrid peer-to-peer relay): EnablePeers adds the PEER_* verbs,
// run by the superpeer core; this file only moves messages. A registered
// peer's connection keeps working as an ordinary NIP-01 connection; a
// malformed or rate-limited PEER_* message is answered with PEER_ERROR and
// nothing else happens to the connection.

// peers is the relay's NIP-95 side.
type peers struct {
	r   *Relay
	cfg superpeer.Config

	mu     sync.Mutex // guards reg and conns: the core is not concurrent
	reg    *superpeer.Registry
	conns  map[string]*Conn // by peer id
	served peerCounters
}

// peerCounters are the figures of what the relay handed to super peers.
type peerCounters struct {
	Pushed  uint64 `json:"events_pushed"`  // PEER_EVENT_NEW sent
	Offered uint64 `json:"events_offered"` // event ids given offers
	Asked   uint64 `json:"events_asked"`   // event ids asked for in PEER_REQUEST
	Whole   uint64 `json:"whole_offers"`   // PEER_OFFERs naming peers for a whole answer
}

// PeerStats is the NIP-95 part of the relay's status.
type PeerStats struct {
	Enabled  bool                 `json:"enabled"`
	Peers    int                  `json:"registered"`
	Promoted []string             `json:"promoted"`
	List     []superpeer.PeerInfo `json:"peers"` // every registered peer, with its reputation
	peerCounters
}

// EnablePeers turns NIP-95 on with cfg: the PEER_* verbs, PEER_EVENT_NEW
// pushed to promoted super peers for every stored event, and NIP-11's p2p_*
// limitation fields. Call it before the relay serves.
func (r *Relay) EnablePeers(cfg superpeer.Config) {
	p := &peers{r: r, cfg: cfg, reg: superpeer.NewRegistry(cfg), conns: map[string]*Conn{}}
	r.peers = p
	for _, verb := range []string{superpeer.VerbRegister, superpeer.VerbHeartbeat, superpeer.VerbRequest,
		superpeer.VerbSignal, superpeer.VerbCacheHave, superpeer.VerbStats, superpeer.VerbReport} {
		r.Handle(verb, p.handle(verb))
	}
	r.OnEvent = append(r.OnEvent, p.push)
	if r.reg != nil {
		p.register(r.reg)
	}
}

// register exports NIP-95's figures as Prometheus series, read from the
// registry when scraped.
func (p *peers) register(reg prometheus.Registerer) {
	read := func(f func() float64) func() float64 {
		return func() float64 {
			p.mu.Lock()
			defer p.mu.Unlock()
			return f()
		}
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cairn_nip95_registered", Help: "NIP-95 peers registered."},
			read(func() float64 { return float64(len(p.conns)) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cairn_nip95_super_peers", Help: "NIP-95 super peers (promoted)."},
			read(func() float64 { return float64(len(p.reg.Promoted())) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cairn_nip95_events_asked_total", Help: "Recent event ids matched by PEER_REQUESTs."},
			read(func() float64 { return float64(p.served.Asked) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cairn_nip95_events_offered_total", Help: "Of them, handed to super peers in offers."},
			read(func() float64 { return float64(p.served.Offered) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cairn_nip95_events_pushed_total", Help: "PEER_EVENT_NEW messages sent to super peers."},
			read(func() float64 { return float64(p.served.Pushed) })),
	)
}

// PeerStats reports NIP-95's figures.
func (r *Relay) PeerStats() PeerStats {
	p := r.peers
	if p == nil {
		return PeerStats{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return PeerStats{Enabled: true, Peers: len(p.conns), Promoted: p.reg.Promoted(), List: p.reg.Peers(), peerCounters: p.served}
}

func peerMsg(verb string, body any) []byte {
	b, _ := json.Marshal([]any{verb, body})
	return b
}

func peerError(c *Conn, msg string) {
	c.Send(peerMsg(superpeer.VerbError, map[string]string{"message": msg}))
}

// connKey names a connection in the registry and rate limiter (bans
// follow the connection; Forget drops it when it closes).
func connKey(c *Conn) string { return fmt.Sprintf("%s %p", c.ip, c) }

func (p *peers) handle(verb string) Handler {
	return func(c *Conn, args []json.RawMessage) {
		now := p.r.now()
		// args are the reader's buffer, valid during this call only; a
		// parsed message may keep some of them (a REQ's filter).
		kept := make([]json.RawMessage, len(args))
		for i, a := range args {
			kept[i] = bytes.Clone(a)
		}
		msg, err := superpeer.Parse(verb, kept)
		p.mu.Lock()
		ok, ban := p.reg.Allow(connKey(c), verb, now)
		p.mu.Unlock()
		switch {
		case !ok && ban == 0:
			peerError(c, "blocked: banned from NIP-95 for good after repeated rate-limit violations")
			return
		case !ok:
			peerError(c, "rate-limited: too many "+verb+" messages: NIP-95 is closed to this connection for "+ban.String())
			return
		case err != nil:
			peerError(c, "invalid: "+err.Error())
			return
		}
		p.dispatch(c, msg, now)
	}
}

func (p *peers) dispatch(c *Conn, msg superpeer.Message, now time.Time) {
	p.mu.Lock()
	id := p.reg.PeerOf(connKey(c))
	p.mu.Unlock()
	if _, reg := msg.(*superpeer.Register); !reg && id == "" {
		if _, req := msg.(*superpeer.Request); !req { // casual clients may ask for offers
			peerError(c, "invalid: send PEER_REGISTER first")
			return
		}
	}
	switch m := msg.(type) {
	case *superpeer.Register:
		p.mu.Lock()
		id = p.reg.Register(connKey(c), *m, now)
		fresh := p.conns[id] == nil
		p.conns[id] = c
		p.mu.Unlock()
		if fresh {
			key := connKey(c)
			context.AfterFunc(c.ctx, func() {
				p.mu.Lock()
				delete(p.conns, id)
				p.reg.Forget(key)
				p.mu.Unlock()
			})
		}
		c.Send(peerMsg(superpeer.VerbRegistered, map[string]any{"peer_id": id, "status": "registered", "heartbeat_interval": 30000}))
	case *superpeer.Heartbeat:
		p.mu.Lock()
		err := p.reg.Heartbeat(id, now)
		p.mu.Unlock()
		if err != nil {
			peerError(c, "invalid: "+err.Error())
			return
		}
		c.Send(peerMsg(superpeer.VerbAck, map[string]any{"peer_id": id, "ts": now.UnixMilli()}))
		p.evaluate(now)
	case *superpeer.CacheHave:
		p.mu.Lock()
		err := p.reg.CacheHave(id, m.EventIDs)
		p.mu.Unlock()
		if err != nil {
			peerError(c, "invalid: "+err.Error())
		}
		p.evaluate(now)
	case *superpeer.Stats:
		known := func(eid string) bool { return p.r.has(c, eid) }
		p.mu.Lock()
		score, err := p.reg.Stats(id, *m, known, now)
		p.mu.Unlock()
		if err != nil {
			peerError(c, "invalid: "+err.Error())
			return
		}
		c.Send(peerMsg(superpeer.VerbStatsOK, map[string]any{"peer_id": id, "reputation": score}))
		p.evaluate(now)
	case *superpeer.Report:
		holds := func(eid string) bool { return p.r.has(c, eid) }
		p.mu.Lock()
		_, err := p.reg.Report(connKey(c), *m, holds)
		p.mu.Unlock()
		if err != nil {
			peerError(c, "invalid: "+err.Error())
			return
		}
		p.evaluate(now)
	case *superpeer.Signal:
		p.mu.Lock()
		target := p.conns[m.Target]
		p.mu.Unlock()
		if target == nil {
			peerError(c, superpeer.NoPeer+m.Target)
			return
		}
		target.Send(peerMsg(superpeer.VerbSignalFwd, map[string]any{"from_peer": id, "signal_data": m.Data}))
	case *superpeer.Request:
		ids := m.EventIDs
		var since int64
		if m.SubID != "" {
			var err error
			if ids, since, err = p.r.recentIDs(c, m.Filter, p.cfg.CacheWindow, p.cfg.MaxOffered); err != nil {
				peerError(c, "invalid: the filter: "+err.Error())
				return
			}
		}
		p.mu.Lock()
		var cover []string
		if m.Whole {
			cover = p.reg.Cover(ids, id, now)
		}
		var offers map[string][]string
		if len(cover) == 0 && len(ids) > 0 {
			offers = p.reg.Offer(ids, id, now)
		}
		// A whole offer when some peer caches the whole answer, or when no
		// peer caches any of it (then with no peers: the client asks the
		// relay at once); else per-id offers, below.
		whole := m.Whole && (len(cover) > 0 || len(offers) == 0)
		p.served.Asked += uint64(len(ids))
		if whole {
			p.served.Offered += uint64(len(ids) * min(1, len(cover)))
			if len(cover) > 0 {
				p.served.Whole++
			}
		} else {
			p.served.Offered += uint64(len(offers))
		}
		p.mu.Unlock()
		if whole {
			c.Send(peerMsg(superpeer.VerbOffer, superpeer.WholeOffer{Subscription: m.SubID, Peers: cover,
				Count: len(ids), Digest: superpeer.Digest(ids), Since: since}))
			return
		}
		body := map[string]any{"offers": offers, "offer_ts": now.UnixMilli(), "fallback": true}
		if m.SubID != "" {
			// cairn adds the ids the filter matched that no peer is
			// offered for, so a client knows what to take from the relay.
			body["subscription"] = m.SubID
			unoffered := []string{}
			for _, id := range ids {
				if _, ok := offers[id]; !ok {
					unoffered = append(unoffered, id)
				}
			}
			body["unoffered"] = unoffered
		}
		c.Send(peerMsg(superpeer.VerbOffer, body))
	}
}

// evaluate promotes and demotes, and tells the peers concerned.
func (p *peers) evaluate(now time.Time) {
	p.mu.Lock()
	acts := p.reg.Evaluate(now)
	type note struct {
		c   *Conn
		msg []byte
	}
	var notes []note
	for _, a := range acts {
		c := p.conns[a.Peer]
		if c == nil {
			continue
		}
		if a.Promoted {
			notes = append(notes, note{c, peerMsg(superpeer.VerbPromoted, map[string]any{"peer_id": a.Peer, "reason": a.Reason, "max_connections": 10, "cache_window": int(p.cfg.CacheWindow.Seconds())})})
		} else {
			notes = append(notes, note{c, peerMsg(superpeer.VerbDemoted, map[string]any{"peer_id": a.Peer, "reason": a.Reason})})
		}
	}
	p.mu.Unlock()
	for _, n := range notes {
		n.c.Send(n.msg)
	}
}

// push sends every stored event (not ephemeral, within the cache window)
// to the promoted super peers as PEER_EVENT_NEW; they cache it.
func (p *peers) push(ev *nostr.Event) {
	if nostr.IsEphemeralKind(ev.Kind) || p.r.now().Sub(ev.CreatedAt.Time()) > p.cfg.CacheWindow {
		return
	}
	p.mu.Lock()
	var to []*Conn
	for _, id := range p.reg.Promoted() {
		if c := p.conns[id]; c != nil {
			to = append(to, c)
		}
	}
	p.reg.Cached(ev.ID)
	p.served.Pushed += uint64(len(to))
	p.mu.Unlock()
	if len(to) == 0 {
		return
	}
	msg := peerMsg(superpeer.VerbEventNew, map[string]any{"event": ev})
	for _, c := range to {
		c.Send(msg)
	}
}

// has reports whether the store holds event id.
func (r *Relay) has(c *Conn, id string) bool {
	found := false
	r.store.Query(c.ctx, nostr.Filter{IDs: []string{id}}, 1, func([]byte) error {
		found = true
		return nil
	})
	return found
}

// recentIDs runs a spec-style PEER_REQUEST filter over the stored events of
// the cache window, newest first, at most max.
// It returns the since it applied (unix seconds).
func (r *Relay) recentIDs(c *Conn, raw json.RawMessage, window time.Duration, max int) ([]string, int64, error) {
	f, err := parseFilter(raw)
	if err != nil {
		return nil, 0, err
	}
	since := nostr.Timestamp(r.now().Add(-window).Unix())
	if f.Since == nil || *f.Since < since {
		f.Since = &since
	}
	if f.Limit > 0 && f.Limit < max {
		max = f.Limit
	}
	var ids []string
	r.store.Query(c.ctx, f, max, func(raw []byte) error {
		if id := idOfRaw(raw); isHex(id, 64) {
			ids = append(ids, id)
		}
		return nil
	})
	return ids, int64(*f.Since), nil
}

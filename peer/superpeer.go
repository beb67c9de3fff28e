package peer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/relay/client"
	"github.com/cairn-nostr/cairn/superpeer"
)

// SuperPeerConfig configures a SuperPeer.
type SuperPeerConfig struct {
	URL       string          // the NIP-95 relay (ws:// or wss://)
	PubKey    string          // sent in PEER_REGISTER: the relay keeps reputation per pubkey ("" for none)
	Bandwidth float64         // Mbit/s offered, as PEER_REGISTER says it
	Storage   float64         // MB offered
	Channels  NewPeerChannels // DataChannels through the relay
	// MaxCached bounds the cache (superpeer.MaxCacheHave); Window is how
	// old a cached event may be (24 h).
	MaxCached int
	Window    time.Duration
	// Heartbeat overrides the interval the relay asks for (0: the
	// relay's, 30 s when it says none).
	Heartbeat time.Duration
	Clock     Clock
	Logger    *slog.Logger
	// Persist, when set, keeps the cache across restarts (the tab's
	// IndexedDB): Run loads it before warming (each event verified again,
	// and dropped from Persist when it is no longer wanted), every event
	// cached is put, every event that leaves is deleted.
	Persist RecentPersist
	// Serve, when set, replaces what is served for each request: it gets
	// the cached JSON and returns what to send (nil: send nothing). It
	// exists to test casual clients against a super peer that omits or
	// alters events; leave it nil.
	Serve func(raw []byte) []byte
}

// RecentPersist is a persistent copy of a super peer's cache: events by
// id, as the JSON received.
type RecentPersist interface {
	Load() (map[string][]byte, error)
	Put(id string, raw []byte) error
	Delete(ids []string) error
}

// SuperPeerStats are a super peer's figures.
type SuperPeerStats struct {
	PeerID    string `json:"peer_id"`
	Promoted  bool   `json:"promoted"`
	Cached    int    `json:"cached"`
	Served    int64  `json:"events_served"`
	BytesSent int64  `json:"bytes_transferred"`
	Channels  int    `json:"peers_connected"`
	// Loaded is the events read back from Persist at start.
	Loaded int `json:"loaded"`
	// RelayBytes is every byte read from the relay (as JSON arrays of
	// the elements received): the warm-up REQ, pushes, acknowledgements.
	RelayBytes int64 `json:"relay_bytes"`
}

// SuperPeer is a NIP-95 super peer of one relay: it registers, warms its
// cache with the relay's recent events (REQ since the window), tells the
// relay what it caches (PEER_CACHE_HAVE), heartbeats with its serving
// stats (PEER_STATS, which earn it reputation), caches every
// PEER_EVENT_NEW once verified, and answers P2P_REQUESTs on the
// DataChannels casual clients open to it.
//
//	sp, err := peer.NewSuperPeer(cfg)
//	err = sp.Run(ctx)        // until ctx ends or the relay drops it
type SuperPeer struct {
	cfg  SuperPeerConfig
	log  *slog.Logger
	link atomic.Pointer[relayLink]

	mu       sync.Mutex
	cache    *RecentCache
	stats    SuperPeerStats
	unsent   []string // served ids not yet reported in PEER_STATS
	ready    chan struct{}
	readyOne sync.Once
	loadOne  sync.Once
}

// NewSuperPeer checks cfg and returns a super peer; Run starts it.
func NewSuperPeer(cfg SuperPeerConfig) (*SuperPeer, error) {
	if cfg.URL == "" {
		return nil, errors.New("super peer: no relay URL: give the NIP-95 relay to serve, ws:// or wss://")
	}
	if cfg.Channels == nil {
		return nil, errors.New("super peer: no DataChannels (Channels)")
	}
	if cfg.MaxCached <= 0 {
		cfg.MaxCached = superpeer.MaxCacheHave
	}
	if cfg.Window <= 0 {
		cfg.Window = 24 * time.Hour
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &SuperPeer{cfg: cfg, log: cfg.Logger, cache: NewRecentCache(cfg.MaxCached, cfg.Window), ready: make(chan struct{})}, nil
}

// Stats returns the super peer's figures.
func (s *SuperPeer) Stats() SuperPeerStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Cached = s.cache.Len()
	if l := s.link.Load(); l != nil {
		st.RelayBytes = l.read.Load()
	}
	return st
}

// Ready is closed once the super peer is registered and has told the
// relay what it caches.
func (s *SuperPeer) Ready() <-chan struct{} { return s.ready }

const warmSub = "nip95-warm"

// Run serves until ctx ends or the relay connection drops (then it returns
// the error; the caller decides whether to run again).
func (s *SuperPeer) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	link, err := dialRelayLink(ctx, s.cfg.URL, s.log)
	if err != nil {
		return err
	}
	defer link.conn.Close()
	if old := s.link.Swap(link); old != nil {
		link.read.Add(old.read.Load()) // counted across reconnects
	}
	chs := s.cfg.Channels(link.signalSender())
	defer chs.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	s.loadOne.Do(s.load)
	now := s.cfg.Clock.Now()
	since := nostr.Timestamp(now.Add(-s.cfg.Window).Unix())
	warm := link.route(warmSub)
	if err := link.register(ctx, s.cfg.PubKey, s.cfg.Bandwidth, s.cfg.Storage); err != nil {
		return err
	}
	if err := link.send(ctx, "REQ", warmSub, nostr.Filter{Since: &since, Limit: s.cfg.MaxCached}); err != nil {
		return err
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		s.warm(ctx, link, warm)
	}()
	go func() {
		defer wg.Done()
		s.accept(ctx, chs, &wg)
	}()
	heartbeat := make(chan time.Duration, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		var every time.Duration
		select {
		case every = <-heartbeat:
		case <-ctx.Done():
			return
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if err := s.beat(ctx, link); err != nil {
					s.log.Debug("heartbeat", "err", err)
					cancel()
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	err = link.readLoop(ctx, func(verb string, msg []json.RawMessage) {
		switch verb {
		case superpeer.VerbRegistered:
			id, ms, err := registered(msg)
			if err != nil {
				s.log.Warn("relay", "err", err)
				return
			}
			s.mu.Lock()
			first := s.stats.PeerID == ""
			s.stats.PeerID = id
			s.mu.Unlock()
			every := s.cfg.Heartbeat
			if every <= 0 {
				every = time.Duration(ms) * time.Millisecond
			}
			if every <= 0 {
				every = 30 * time.Second
			}
			if first {
				heartbeat <- every
				s.log.Info("registered as a NIP-95 peer", "relay", s.cfg.URL, "peer_id", id, "heartbeat", every)
			}
		case superpeer.VerbEventNew:
			var o struct {
				Event json.RawMessage `json:"event"`
			}
			if len(msg) < 2 || json.Unmarshal(msg[1], &o) != nil {
				return
			}
			s.keep(o.Event)
		case superpeer.VerbSignalFwd:
			if from, data, ok := signalRelay(msg); ok {
				chs.Signal(from, data)
			}
		case superpeer.VerbPromoted, superpeer.VerbDemoted:
			s.mu.Lock()
			s.stats.Promoted = verb == superpeer.VerbPromoted
			s.mu.Unlock()
			s.log.Info("relay", "verb", verb, "body", string(msg[min(1, len(msg)-1)]))
		case superpeer.VerbError, "NOTICE":
			s.log.Warn("relay says", "verb", verb, "body", string(msg[min(1, len(msg)-1)]))
		}
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// keep verifies an event and caches it (and persists it, and drops from
// the persistent copy what left the cache).
func (s *SuperPeer) keep(raw json.RawMessage) bool {
	ev, err := decodeChecked(raw, "")
	if err != nil {
		s.log.Debug("not caching an event", "err", err)
		return false
	}
	raw = append([]byte(nil), raw...)
	s.mu.Lock()
	had := s.cache.Has(ev.ID)
	ok := s.cache.PutEvent(ev, raw, s.cfg.Clock.Now())
	gone := s.cache.TakeRemoved()
	s.mu.Unlock()
	if p := s.cfg.Persist; p != nil {
		if ok && !had {
			if err := p.Put(ev.ID, raw); err != nil {
				s.log.Warn("persisting a cached event", "err", err)
			}
		}
		s.forget(gone)
	}
	return ok
}

// forget deletes ids from the persistent copy.
func (s *SuperPeer) forget(ids []string) {
	if len(ids) == 0 || s.cfg.Persist == nil {
		return
	}
	if err := s.cfg.Persist.Delete(ids); err != nil {
		s.log.Warn("deleting events that left the cache", "err", err)
	}
}

// load reads the persistent copy back into the cache, each event verified
// again; those not kept (too old, unreadable) are deleted from it.
func (s *SuperPeer) load() {
	p := s.cfg.Persist
	if p == nil {
		return
	}
	stored, err := p.Load()
	if err != nil {
		s.log.Warn("reading the persistent cache", "err", err)
		return
	}
	var drop []string
	n := 0
	for id, raw := range stored {
		ev, err := decodeChecked(raw, id)
		s.mu.Lock()
		ok := err == nil && s.cache.PutEvent(ev, raw, s.cfg.Clock.Now())
		drop = append(drop, s.cache.TakeRemoved()...)
		s.mu.Unlock()
		if !ok {
			drop = append(drop, id)
			continue
		}
		n++
	}
	s.mu.Lock()
	s.stats.Loaded = s.cache.Len()
	s.mu.Unlock()
	s.forget(drop)
	s.log.Info("cache read back", "events", n, "dropped", len(drop))
}

// warm caches the REQ's stored events, closes it at EOSE and sends
// PEER_CACHE_HAVE.
func (s *SuperPeer) warm(ctx context.Context, link *relayLink, in chan []json.RawMessage) {
	defer link.unroute(warmSub)
	for {
		select {
		case msg := <-in:
			switch client.Str(msg[0]) {
			case "EVENT":
				if len(msg) > 2 {
					s.keep(msg[2])
				}
				continue
			case "EOSE":
				link.send(ctx, "CLOSE", warmSub)
			}
			// EOSE or CLOSED: the cache is warm.
			if err := s.sendCacheHave(ctx, link); err != nil {
				s.log.Debug("cache have", "err", err)
			}
			s.log.Info("cache warm", "events", s.Stats().Cached)
			s.readyOne.Do(func() { close(s.ready) })
			return
		case <-ctx.Done():
			return
		}
	}
}

func (s *SuperPeer) sendCacheHave(ctx context.Context, link *relayLink) error {
	s.mu.Lock()
	ids := s.cache.IDs(superpeer.MaxCacheHave)
	s.mu.Unlock()
	return link.send(ctx, superpeer.VerbCacheHave, map[string]any{"event_ids": ids})
}

// beat sends PEER_HEARTBEAT, the serving stats when anything was served,
// and PEER_CACHE_HAVE again when events left the cache.
func (s *SuperPeer) beat(ctx context.Context, link *relayLink) error {
	if err := link.send(ctx, superpeer.VerbHeartbeat); err != nil {
		return err
	}
	s.mu.Lock()
	ids := s.unsent[:min(len(s.unsent), superpeer.MaxStatsIDs)]
	s.unsent = s.unsent[len(ids):]
	st := s.stats
	evicted := s.cache.Evicted(s.cfg.Clock.Now())
	gone := s.cache.TakeRemoved()
	s.mu.Unlock()
	s.forget(gone)
	if len(ids) > 0 {
		err := link.send(ctx, superpeer.VerbStats, superpeer.Stats{
			EventsServed: st.Served, BytesTransferred: st.BytesSent, PeersConnected: st.Channels, EventIDsServed: ids,
		})
		if err != nil {
			return err
		}
	}
	if evicted {
		return s.sendCacheHave(ctx, link)
	}
	return nil
}

// accept serves every channel casual clients open.
func (s *SuperPeer) accept(ctx context.Context, chs PeerChannels, wg *sync.WaitGroup) {
	for {
		c, err := chs.Accept(ctx)
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serve(ctx, c)
		}()
	}
}

// serve answers one channel's P2P_REQUESTs; a malformed message closes it.
func (s *SuperPeer) serve(ctx context.Context, c PeerChannel) {
	defer c.Close()
	s.mu.Lock()
	s.stats.Channels++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.stats.Channels--
		s.mu.Unlock()
	}()
	for {
		b, err := c.Recv(ctx)
		if err != nil {
			return
		}
		m, err := parseP2P(b)
		if err == nil && m.Type == P2PReq {
			if err = s.serveFilter(c, m); err == nil {
				continue
			}
		}
		if err != nil || m.Type != P2PRequest {
			s.log.Debug("closing a channel", "peer", c.Peer(), "err", err, "type", m.Type)
			return
		}
		s.mu.Lock()
		raw, ok := s.cache.Get(m.EventID, s.cfg.Clock.Now())
		s.mu.Unlock()
		if !ok {
			continue // the Nexus relay's client sends nothing either
		}
		if s.cfg.Serve != nil {
			if raw = s.cfg.Serve(raw); raw == nil {
				continue
			}
		}
		out, err := json.Marshal(p2pMsg{Type: P2PEvents, Event: raw})
		if err != nil {
			continue
		}
		if err := c.Send(out); err != nil {
			return
		}
		s.mu.Lock()
		s.stats.Served++
		s.stats.BytesSent += int64(len(out))
		if len(s.unsent) < 10*superpeer.MaxStatsIDs {
			s.unsent = append(s.unsent, m.EventID)
		}
		s.mu.Unlock()
	}
}

// serveFilter answers a P2P_REQ: every cached event matching its filter,
// then P2P_EOSE. An error (an unreadable filter, a send that failed)
// closes the channel.
func (s *SuperPeer) serveFilter(c PeerChannel, m p2pMsg) error {
	var f nostr.Filter
	if err := json.Unmarshal(m.Filter, &f); err != nil {
		return fmt.Errorf("P2P_REQ: the filter: %w", err)
	}
	s.mu.Lock()
	raws := s.cache.Query(f, s.cfg.Clock.Now())
	s.mu.Unlock()
	var ids []string
	var sent int64
	for _, raw := range raws {
		if s.cfg.Serve != nil {
			if raw = s.cfg.Serve(raw); raw == nil {
				continue
			}
		}
		out, err := json.Marshal(p2pMsg{Type: P2PEvents, Sub: m.Sub, Event: raw})
		if err != nil {
			continue
		}
		if err := c.Send(out); err != nil {
			return err
		}
		sent += int64(len(out))
		if id := idOf(raw); id != "" {
			ids = append(ids, id)
		}
	}
	eose, _ := json.Marshal(p2pMsg{Type: P2PEOSE, Sub: m.Sub})
	if err := c.Send(eose); err != nil {
		return err
	}
	s.mu.Lock()
	s.stats.Served += int64(len(ids))
	s.stats.BytesSent += sent + int64(len(eose))
	s.unsent = append(s.unsent, ids[:min(len(ids), max(0, 10*superpeer.MaxStatsIDs-len(s.unsent)))]...)
	s.mu.Unlock()
	return nil
}

// idOf reads an event's id from its JSON ("" if it has none).
func idOf(raw []byte) string {
	var o struct {
		ID string `json:"id"`
	}
	json.Unmarshal(raw, &o)
	return o.ID
}

// String describes the super peer for logs.
func (s *SuperPeer) String() string {
	st := s.Stats()
	return fmt.Sprintf("super peer %s of %s: %d cached, %d served", st.PeerID, s.cfg.URL, st.Cached, st.Served)
}

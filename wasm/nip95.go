//go:build js && wasm

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"github.com/cairn-nostr/cairn/nostr"
	"github.com/cairn-nostr/cairn/peer"
	"github.com/cairn-nostr/cairn/wasm/idb"
	"github.com/cairn-nostr/cairn/webrtc"
	"github.com/cairn-nostr/cairn/webrtc/rtc"
)

// NIP-95 in the tab: the web app's feed as a casual client of a NIP-95
// relay (peer.Casual: offers, DataChannels to super peers, every event
// checked, the relay after at most 5 s) and the tab as a super peer
// (peer.SuperPeer: registers, caches recent events, serves them over
// DataChannels). Neither needs cairn.start: they speak to the relay named
// in each call over websockets of their own. Every call returns a Promise;
// the work runs on goroutines, never on the event loop.

// nip95 is the tab's NIP-95 state.
type nip95 struct {
	mu     sync.Mutex
	casual map[string]*peer.Casual // by relay URL and options, kept across loads (their channels too)
	super  *tabSuperPeer
}

type tabSuperPeer struct {
	url    string
	sp     *peer.SuperPeer
	db     *idb.Store // the cache's IndexedDB; nil in memory
	cancel context.CancelFunc
	done   chan struct{}
	err    error // why Run ended, once done
}

var tabNIP95 = &nip95{casual: map[string]*peer.Casual{}}

// nip95Options are the options of nip95Recent and nip95Serve.
type nip95Options struct {
	Loopback   bool            `json:"loopback"`
	ICEServers []rtc.ICEServer `json:"iceServers"`
	// nip95Recent: how long to wait for super peers (ms; 5,000).
	Wait int `json:"wait"`
	// nip95Serve: what PEER_REGISTER declares (Mbit/s, MB) and the
	// pubkey the relay keeps the reputation of.
	Bandwidth float64 `json:"bandwidth"`
	Storage   float64 `json:"storage"`
	PubKey    string  `json:"pubkey"`
	// MaxCached bounds the cache (10,000 events). DB names the IndexedDB
	// database it is kept in across page loads ("cairn-nip95"); Memory
	// keeps it in memory only.
	MaxCached int    `json:"maxCached"`
	DB        string `json:"db"`
	Memory    bool   `json:"memory"`
}

func (o nip95Options) channels() peer.NewPeerChannels {
	return func(send func(ctx context.Context, to string, data json.RawMessage) error) peer.PeerChannels {
		return peer.AdaptChannels(webrtc.NewChannels(webrtc.ChannelsConfig{Send: send, Loopback: o.Loopback, ICEServers: o.ICEServers}))
	}
}

func relayArg(args []js.Value) (string, error) {
	url, err := strArg(args, 0, "the relay URL")
	if err == nil && !strings.HasPrefix(url, "ws://") && !strings.HasPrefix(url, "wss://") {
		err = fmt.Errorf("the relay URL %q: want ws:// or wss://", url)
	}
	return url, err
}

func nip95Opts(args []js.Value, i int) (nip95Options, error) {
	var o nip95Options
	if len(args) > i && args[i].Type() == js.TypeObject {
		if err := fromJS(args[i], &o); err != nil {
			return o, fmt.Errorf("options: %w", err)
		}
	} else if len(args) > i && !args[i].IsUndefined() && !args[i].IsNull() {
		return o, errors.New("options: want an object")
	}
	if o.Wait < 0 || o.Bandwidth < 0 || o.Storage < 0 || o.MaxCached < 0 {
		return o, errors.New("options: wait, bandwidth, storage and maxCached must not be negative")
	}
	return o, nil
}

// nip95Recent(relayURL, filter, {wait, loopback, iceServers}) ->
// Promise<{events, fromPeers, fromRelay, peerBytes, relayBytes, offered,
// checked, unreached, reports}>: the recent events (24 h) of filter,
// from super peers where the relay offers them, each checked, the rest
// from the relay. The client (and its DataChannels) stays for the next
// load of the same relay.
func jsNIP95Recent(args []js.Value) any {
	url, err := relayArg(args)
	var f nostr.Filter
	if err == nil {
		if len(args) < 2 || args[1].Type() != js.TypeObject {
			err = errors.New("the filter: want an object")
		} else if err = fromJS(args[1], &f); err != nil {
			err = fmt.Errorf("the filter: %w", err)
		}
	}
	var o nip95Options
	if err == nil {
		o, err = nip95Opts(args, 2)
	}
	return async("nip95Recent", func() (any, error) {
		if err != nil {
			return nil, err
		}
		c, err := tabNIP95.casualFor(url, o)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := c.Recent(ctx, f)
		if err != nil {
			tabNIP95.dropCasual(url, o, c)
			return nil, err
		}
		return toJS(map[string]any{
			"events": res.Events, "fromPeers": res.FromPeers, "fromRelay": res.FromRelay,
			"peerBytes": res.PeerBytes, "relayBytes": res.RelayBytes, "offered": res.Offered,
			"checked": res.Checked, "unreached": res.Unreached, "reports": res.Reports,
		})
	})
}

func casualKey(url string, o nip95Options) string {
	return fmt.Sprintf("%s %t %d", url, o.Loopback, o.Wait)
}

func (n *nip95) casualFor(url string, o nip95Options) (*peer.Casual, error) {
	k := casualKey(url, o)
	n.mu.Lock()
	c := n.casual[k]
	n.mu.Unlock()
	if c != nil {
		return c, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), relayTimeout)
	defer cancel()
	c, err := peer.DialCasual(ctx, peer.CasualConfig{URL: url, Channels: o.channels(),
		Wait: time.Duration(o.Wait) * time.Millisecond, Seed: uint64(time.Now().UnixNano()), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if old := n.casual[k]; old != nil { // another load dialed meanwhile
		go c.Close()
		return old, nil
	}
	n.casual[k] = c
	return c, nil
}

// dropCasual forgets a client whose load failed (its relay connection may
// be gone); the next load dials again.
func (n *nip95) dropCasual(url string, o nip95Options, c *peer.Casual) {
	k := casualKey(url, o)
	n.mu.Lock()
	if n.casual[k] == c {
		delete(n.casual, k)
	}
	n.mu.Unlock()
	go c.Close()
}

// nip95Serve(relayURL, {bandwidth, storage, pubkey, maxCached, loopback,
// iceServers}) -> Promise<{peerId, cached}>: the tab becomes a super peer
// of the relay: it registers, caches the relay's recent events and what
// it pushes, and serves them over DataChannels until nip95Stop. Resolves
// once registered and warm; one relay at a time.
func jsNIP95Serve(args []js.Value) any {
	url, err := relayArg(args)
	var o nip95Options
	if err == nil {
		o, err = nip95Opts(args, 1)
	}
	return async("nip95Serve", func() (any, error) {
		if err != nil {
			return nil, err
		}
		return tabNIP95.serve(url, o)
	})
}

func (n *nip95) serve(url string, o nip95Options) (any, error) {
	n.mu.Lock()
	if n.super != nil {
		n.mu.Unlock()
		return nil, fmt.Errorf("already a super peer of %s: call nip95Stop first", n.super.url)
	}
	s := &tabSuperPeer{url: url, done: make(chan struct{})}
	n.super = s // held while it starts
	n.mu.Unlock()
	cfg := peer.SuperPeerConfig{URL: url, PubKey: o.PubKey, Bandwidth: o.Bandwidth, Storage: o.Storage,
		MaxCached: o.MaxCached, Channels: o.channels()}
	if !o.Memory {
		name := o.DB
		if name == "" {
			name = "cairn-nip95"
		}
		db, err := idb.Open(name, idb.Options{})
		if err != nil {
			n.forget(s)
			return nil, fmt.Errorf("opening IndexedDB %q for the cache: %w (memory: true keeps it in memory)", name, err)
		}
		s.db, cfg.Persist = db, idbRecent{db}
	}
	sp, err := peer.NewSuperPeer(cfg)
	if err != nil {
		n.forget(s)
		if s.db != nil {
			s.db.Close()
		}
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.mu.Lock()
	s.sp, s.cancel = sp, cancel
	n.mu.Unlock()
	go func() {
		defer close(s.done)
		s.err = sp.Run(ctx)
		if s.db != nil {
			s.db.Close()
		}
	}()
	timeout := time.NewTimer(time.Minute)
	defer timeout.Stop()
	select {
	case <-sp.Ready():
		st := sp.Stats()
		return map[string]any{"peerId": st.PeerID, "cached": st.Cached}, nil
	case <-s.done:
		n.stop()
		return nil, fmt.Errorf("super peer of %s ended: %v", url, s.err)
	case <-timeout.C:
		n.stop()
		return nil, fmt.Errorf("super peer of %s: not registered and warm within a minute", url)
	}
}

// forget clears s if it is the super peer (a start that failed).
func (n *nip95) forget(s *tabSuperPeer) {
	n.mu.Lock()
	if n.super == s {
		n.super = nil
	}
	n.mu.Unlock()
}

// stop ends the super peer, if any (one still starting is left to start).
func (n *nip95) stop() bool {
	n.mu.Lock()
	s := n.super
	if s == nil || s.sp == nil {
		n.mu.Unlock()
		return false
	}
	n.super = nil
	n.mu.Unlock()
	s.cancel()
	return true
}

// idbRecent keeps a super peer's cache in IndexedDB, one record per event
// (its id, its JSON).
type idbRecent struct{ db *idb.Store }

func (p idbRecent) Load() (map[string][]byte, error) {
	recs, err := p.db.Files()
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(recs))
	for id, raw := range recs {
		out[id] = []byte(raw)
	}
	return out, nil
}

func (p idbRecent) Put(id string, raw []byte) error { return p.db.PutFile(id, string(raw)) }

func (p idbRecent) Delete(ids []string) error {
	for _, id := range ids {
		if err := p.db.DeleteFile(id); err != nil {
			return err
		}
	}
	return nil
}

// nip95Stop() -> {stopped}: the tab stops being a super peer.
func jsNIP95Stop([]js.Value) any {
	return map[string]any{"stopped": tabNIP95.stop()}
}

// nip95Status() -> {superPeer: {relay, peer_id, promoted, cached,
// events_served, bytes_transferred, peers_connected, relay_bytes, running,
// error} | null, casual: [relay URLs]}
func jsNIP95Status([]js.Value) any {
	n := tabNIP95
	n.mu.Lock()
	s := n.super
	var casual []any
	for k := range n.casual {
		casual = append(casual, strings.Fields(k)[0])
	}
	n.mu.Unlock()
	out := map[string]any{"superPeer": nil, "casual": casual}
	if s != nil && s.sp == nil {
		out["superPeer"] = map[string]any{"relay": s.url, "running": false, "starting": true}
	} else if s != nil {
		st := s.sp.Stats()
		sp := map[string]any{"relay": s.url, "peer_id": st.PeerID, "promoted": st.Promoted, "cached": st.Cached,
			"events_served": st.Served, "bytes_transferred": st.BytesSent, "peers_connected": st.Channels,
			"relay_bytes": st.RelayBytes, "loaded": st.Loaded, "persistent": s.db != nil, "running": true}
		select {
		case <-s.done:
			sp["running"] = false
			if s.err != nil {
				sp["error"] = s.err.Error()
			}
		default:
		}
		out["superPeer"] = sp
	}
	return out
}

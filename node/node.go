// Package node is cairn's composition root: it opens the event store and
// the blob store, loads the key, starts the libp2p host (its identity
// derived from the node key), builds the relay and the HTTP server, and
// runs them until stopped. It is the one package that depends on nearly
// every other; only cmd/cairn and tests import it.
//
// Beside the relay, the HTTP server carries the media API the CLI drives:
// share a file (chunk it, pin it, publish its kind 7001 map and NIP-94 kind
// 1063 event, provide its root on the DHT), get one by reference (nevent,
// event id, root or sha256) from the swarm, list and pin what is stored, and
// serve a file by its sha256 with Range support, fetching the chunks it
// lacks from peers on demand. Peers are found through the map's gatekeepers
// (whose kind 30078 "cairn-p2p" records give their libp2p addresses) and
// through DHT provider records, and through the seeder announcements
// (kind 20002) the node hears; it announces the roots it holds in full
// (announce.go). media.go routes the API; share.go,
// download.go, files.go, resolve.go and addressing.go do the work.
//
// Browsers are nodes too (webrtc.go): a WebRTC node keyed with the node key
// and signaled through the node's own relay serves them chunks, fetching
// from the swarm those of known roots the node lacks (the same on-demand
// fetch as range reads, ondemand.go), and the peers that have no cairn-p2p
// record (browsers that announced a root, or authored its map) join the
// node's downloads over WebRTC.
//
//	n, err := node.New(cfg, logger)
//	err = n.Start()          // listening; n.URL() is set
//	...
//	err = n.Stop(ctx)        // graceful: clients, then the store
package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/identity"
	"github.com/cairn-nostr/cairn/p2p"
	"github.com/cairn-nostr/cairn/relay"
	"github.com/cairn-nostr/cairn/store"
	"github.com/cairn-nostr/cairn/web"
	"github.com/cairn-nostr/cairn/webrtc"
)

// Node is a running cairn node.
type Node struct {
	cfg     Config
	log     *slog.Logger
	key     identity.Key
	store   store.Store
	relay   *relay.Relay
	reg     *prometheus.Registry
	srv     *http.Server
	ln      net.Listener
	started time.Time
	blobs   *blobstore.Store
	host    *p2p.Host
	// rtc is the WebRTC node (nil when disabled or until Start), and
	// rtcSignal its signaling through the node's own relay.
	rtc       *webrtc.Node
	rtcSignal *relaySignal
	media     *mediaState
	// httpServed counts the bytes of files served over HTTP (GET /<sha256>).
	httpServed atomic.Uint64
	// published is the content of the last cairn-p2p record published.
	published atomic.Value // string
	// announced are the seeders heard announcing roots (kind 20002).
	announced *announcers
	watchMu   sync.Mutex
	watching  map[string]bool // remote relay + root under watch for 20002

	stop chan struct{}
	wg   sync.WaitGroup
}

// New opens the node's data dir and builds its parts. Nothing listens until
// Start.
func New(cfg Config, log *slog.Logger) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	key, created, err := identity.LoadOrCreate(cfg.keyFile())
	if err != nil {
		return nil, fmt.Errorf("loading node key: %w", err)
	}
	if created {
		log.Info("created a new node key", "file", cfg.keyFile(), "npub", key.Npub())
	}
	st, err := store.Open(EventsDir(cfg.DataDir), store.Options{Engine: cfg.StoreEngine})
	if err != nil {
		return nil, fmt.Errorf("opening event store: %w", err)
	}
	bopts := blobstore.DefaultOptions()
	bopts.Quota = cfg.BlobQuota
	blobs, err := blobstore.Open(BlobsDir(cfg.DataDir), bopts)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("opening blob store: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	rcfg := cfg.Relay
	rcfg.PubKey = key.Public
	rcfg.Version = cfg.Version
	rl, err := relay.New(rcfg, st, relay.Options{Logger: log.With("part", "relay"), Registry: reg})
	if err != nil {
		blobs.Close()
		st.Close()
		return nil, err
	}
	n := &Node{cfg: cfg, log: log, key: key, store: st, relay: rl, reg: reg, blobs: blobs, stop: make(chan struct{})}
	n.media = newMediaState()
	n.announced = newAnnouncers(2*time.Duration(cfg.AnnounceInterval), maxAnnouncedRoots, maxAnnouncersPerRoot)
	n.watching = make(map[string]bool)
	n.rtcSignal = newRelaySignal()
	rl.OnEvent = append(rl.OnEvent, func(ev *nostr.Event) {
		switch ev.Kind {
		case KindSeederAnnounce:
			n.noteAnnouncement(ev)
		case webrtc.KindSignal:
			n.rtcSignal.deliver(ev)
		}
	})
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "cairn_store_events", Help: "Events in the store.",
	}, func() float64 { return float64(st.Stats().Events) }))

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /api/status", n.serveStatus)
	n.routeMedia(mux, web.Handler())
	rl.Next = mux
	n.srv = &http.Server{
		Handler:           rl,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return n, nil
}

// Start listens and serves in the background: the HTTP server, the libp2p
// host, then the WebRTC node (signaling through the node's own relay). Once
// they listen it publishes the node's addressing record
// (kind 30078, "cairn-p2p") to its own relay.
func (n *Node) Start() error {
	ln, err := net.Listen("tcp", n.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w (is another node running? pass --listen with another port)", n.cfg.Listen, err)
	}
	n.ln = ln
	if err := n.startP2P(); err != nil {
		ln.Close()
		n.ln = nil
		return err
	}
	n.started = time.Now()
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		if err := n.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("http server stopped", "err", err)
		}
	}()
	go n.sweep()
	n.startWebRTC()
	if err := n.publishAddressing(); err != nil {
		n.log.Warn("publishing the cairn-p2p addressing record", "err", err)
	}
	n.wg.Add(3)
	go n.provideLoop()
	go n.addressingLoop()
	go n.announceLoop()
	n.log.Info("node started", "url", n.URL(), "relay", n.RelayURL(), "data_dir", n.cfg.DataDir, "npub", n.key.Npub(),
		"peer_id", n.host.ID(), "p2p", n.host.Addrs(), "webrtc", n.rtc != nil)
	return nil
}

// startP2P starts the libp2p host that serves the blob store.
func (n *Node) startP2P() error {
	mode, _ := parseDHTMode(n.cfg.P2P.DHTMode) // validated
	boot, _ := p2p.ParseAddrInfos(n.cfg.P2P.Bootstrap...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := p2p.New(ctx, p2p.Config{
		Key:         n.key.DeriveEd25519(identity.LabelLibp2p),
		ListenAddrs: n.cfg.P2P.Listen,
		Bootstrap:   boot,
		DHT:         n.cfg.P2P.DHT,
		DHTMode:     mode,
		Blobs:       n.blobs,
		Limits:      p2p.Limits{UploadBytesPerSecond: n.cfg.P2P.UploadBytesPerSecond},
		Logger:      n.log.With("part", "p2p"),
	})
	if err != nil {
		return fmt.Errorf("%w (is another node using the port? pass --p2p-listen with other addresses)", err)
	}
	n.host = h
	return nil
}

// URL is the node's HTTP base URL.
func (n *Node) URL() string { return "http://" + n.ln.Addr().String() }

// RelayURL is the websocket URL of the node's relay.
func (n *Node) RelayURL() string { return "ws://" + n.ln.Addr().String() }

// Key is the node's identity.
func (n *Node) Key() identity.Key { return n.key }

// Store is the node's event store.
func (n *Node) Store() store.Store { return n.store }

// Relay is the node's relay.
func (n *Node) Relay() *relay.Relay { return n.relay }

// Blobs is the node's chunk store.
func (n *Node) Blobs() *blobstore.Store { return n.blobs }

// Host is the node's libp2p host; nil until Start.
func (n *Node) Host() *p2p.Host { return n.host }

// Stop shuts down gracefully: no new connections, clients closed, store
// flushed. ctx bounds the wait for in-flight HTTP requests.
func (n *Node) Stop(ctx context.Context) error {
	close(n.stop)
	n.stopWebRTC()
	var errs []error
	if n.ln != nil {
		n.srv.SetKeepAlivesEnabled(false)
		n.relay.Close() // websockets are hijacked: the HTTP server does not track them
		if err := n.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	} else {
		n.relay.Close()
	}
	n.media.closeAll()
	n.wg.Wait()
	if n.host != nil {
		if err := n.host.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing p2p host: %w", err))
		}
	}
	if err := n.blobs.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing blob store: %w", err))
	}
	if err := n.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing store: %w", err))
	}
	return errors.Join(errs...)
}

// sweep removes expired events (NIP-40) periodically.
func (n *Node) sweep() {
	defer n.wg.Done()
	t := time.NewTicker(time.Duration(n.cfg.SweepInterval))
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case now := <-t.C:
			k, err := n.store.DeleteExpired(context.Background(), now.Unix())
			if err != nil {
				n.log.Error("removing expired events", "err", err)
			} else if k > 0 {
				n.log.Debug("removed expired events", "count", k)
			}
		}
	}
}

// Status is the JSON of GET /api/status.
type Status struct {
	Version   string      `json:"version"`
	Npub      string      `json:"npub"`
	PubKey    string      `json:"pubkey"`
	UptimeSec int64       `json:"uptime_seconds"`
	Relay     relay.Stats `json:"relay"`
	Store     store.Stats `json:"store"`
	URLs      statusURLs  `json:"urls"`
	P2P       *statusP2P  `json:"p2p,omitempty"`
	Blobs     statusBlobs `json:"blobs"`
	// Transfer is bytes up and down by transport: "tcp", "quic" (and
	// "relay") and their sum "libp2p" from the chunk protocol, "webrtc"
	// (DataChannel messages, protocol overhead included) and "http" for
	// files served by sha256.
	Transfer map[string]statusTransfer `json:"transfer"`
	// Peers counts the connected peers by transport: "libp2p" and
	// "webrtc" (open DataChannels: browsers, mostly).
	Peers map[string]int `json:"peers"`
	// WebRTC is the WebRTC side; absent when disabled.
	WebRTC *statusWebRTC `json:"webrtc,omitempty"`
	// Downloads are the swarm downloads of this run.
	Downloads int `json:"downloads"`
}

type statusP2P struct {
	PeerID string   `json:"peer_id"`
	Addrs  []string `json:"addrs"`
	Peers  int      `json:"peers"`
	// Stats are the chunk protocol's counters by transport.
	Stats p2p.Stats `json:"stats"`
}

type statusWebRTC struct {
	// PubKey is what browsers dial (the node's pubkey).
	PubKey     string   `json:"pubkey"`
	ICEServers []string `json:"ice_servers"`
	Loopback   bool     `json:"loopback,omitempty"`
}

type statusBlobs struct {
	Count       int    `json:"count"`
	Bytes       int64  `json:"bytes"`
	Quota       int64  `json:"quota"`
	Pinned      int    `json:"pinned"`
	PinnedBytes int64  `json:"pinned_bytes"`
	Evicted     uint64 `json:"evicted"`
}

type statusTransfer struct {
	BytesUp   uint64 `json:"bytes_up"`
	BytesDown uint64 `json:"bytes_down"`
}

type statusURLs struct {
	HTTP  string `json:"http"`
	Relay string `json:"relay"`
}

// Status reports what the node is doing.
func (n *Node) Status() Status {
	st := Status{
		Version:   n.cfg.Version,
		Npub:      n.key.Npub(),
		PubKey:    n.key.Public,
		UptimeSec: int64(time.Since(n.started).Seconds()),
		Relay:     n.relay.Stats(),
		Store:     n.store.Stats(),
		URLs:      statusURLs{HTTP: n.URL(), Relay: n.RelayURL()},
		Transfer:  map[string]statusTransfer{"http": {BytesUp: n.httpServed.Load()}},
		Peers:     map[string]int{"libp2p": 0, "webrtc": 0},
		Downloads: n.media.count(),
	}
	if n.rtc != nil {
		rs := n.rtc.Stats()
		st.Transfer[webrtc.TransportName] = statusTransfer{BytesUp: uint64(rs.BytesUp), BytesDown: uint64(rs.BytesDown)}
		st.Peers[webrtc.TransportName] = rs.Conns
		st.WebRTC = &statusWebRTC{PubKey: n.rtc.PubKey(), ICEServers: append([]string{}, n.cfg.WebRTC.ICEServers...), Loopback: n.cfg.WebRTC.Loopback}
	}
	bs := n.blobs.Stats()
	st.Blobs = statusBlobs{Count: bs.Count, Bytes: bs.Bytes, Quota: bs.Quota, Pinned: bs.Pinned, PinnedBytes: bs.PinnedBytes, Evicted: bs.Evicted}
	if n.host != nil {
		ps := n.host.Stats()
		p := &statusP2P{PeerID: n.host.ID().String(), Peers: ps.Peers, Stats: ps}
		for _, a := range n.host.Addrs() {
			p.Addrs = append(p.Addrs, a.String())
		}
		st.P2P = p
		st.Peers["libp2p"] = ps.Peers
		for name, c := range ps.Transports {
			st.Transfer[name] = statusTransfer{BytesUp: c.BytesUp, BytesDown: c.BytesDown}
		}
	}
	return st
}

func (n *Node) serveStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(n.Status())
}

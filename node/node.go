// Package node is cairn's composition root: it opens the event store and
// the blob store, loads the key, starts the libp2p host (its identity
// derived from the node key), builds the relay, the WebRTC node and the HTTP
// server, and wires them to the application core (package peer), which does
// what a node and a browser tab both do: resolve references, verify events,
// track seeders, run downloads, announce. Only cmd/cairn and tests import
// it.
//
// The wiring: the event store is the core's Library and the node's own
// relay, in process (events.go), its home: the node publishes and listens
// without a connection to itself. Peers are reached over libp2p when a
// cairn-p2p record names them (addressing.go) and over WebRTC otherwise
// (webrtc.go, which also bridges browsers' chunk requests to the swarm);
// the DHT adds providers. The HTTP server carries the relay, the web app,
// files by sha256 with Range (files.go) and the media API the CLI drives
// (media.go, share.go, download.go).
//
//	n, err := node.New(cfg, logger)
//	err = n.Run(ctx)         // or Start, then Stop(ctx)
package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
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
	"golang.org/x/sync/errgroup"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/bt"
	"github.com/cairn-nostr/cairn/credit/tally"
	"github.com/cairn-nostr/cairn/gossip"
	"github.com/cairn-nostr/cairn/identity"
	"github.com/cairn-nostr/cairn/p2p"
	"github.com/cairn-nostr/cairn/peer"
	"github.com/cairn-nostr/cairn/relay"
	"github.com/cairn-nostr/cairn/store"
	"github.com/cairn-nostr/cairn/superpeer"
	"github.com/cairn-nostr/cairn/swarm"
	"github.com/cairn-nostr/cairn/turn"
	"github.com/cairn-nostr/cairn/web"
	"github.com/cairn-nostr/cairn/webrtc"
)

// Node is a running cairn node.
type Node struct {
	cfg   Config
	log   *slog.Logger
	key   identity.Key
	store store.Store
	relay *relay.Relay
	reg   *prometheus.Registry
	srv   *http.Server
	ln    net.Listener
	blobs *blobstore.Store
	// peer is the application core: resolving, downloads, seeders,
	// announcements (package peer).
	peer *peer.Peer
	home ownRelay
	// Set by Start before anything runs concurrently, then only read.
	started time.Time
	host    *p2p.Host
	rtc     *webrtc.Node // nil when disabled or failed to start
	turn    *turn.Server // nil when disabled or failed to start
	libp2p  swarm.Transport
	media   *mediaState
	rooms   *rooms
	credits *credits
	blossom *blossomState
	gate    *tally.Gate // nil when the credit gate is off
	// rtcGate is rtc once started, for the libp2p gate's "busy" (read by
	// the host's streams, which run before rtc is set).
	rtcGate atomic.Pointer[webrtc.Node]
	cold    *coldState
	rep     *reputation // peers' reputation (reputation.go)
	// personal is the personal server's side; nil unless --personal.
	personal *personalNode
	gossip   *gossip.Node // follower multicast of a personal node; set by Start
	np2pLn   net.Listener // NostrP2P's client API of a personal node
	np2pSrv  *http.Server
	bt       *bt.Client // nil when disabled
	// btChunks are the torrents read as download transports, by root.
	btMu     sync.Mutex
	btChunks map[[32]byte]*bt.Chunks
	btFeed   *btFeed // the Mainline DHT node and the owner's feed; nil when off
	// bootLayers counts the bootstrap peers each layer gave at start.
	bootLayers map[string]int
	// mainlineBoot counts the peers the Mainline DHT layer found later
	// (node/mainline.go).
	mainlineBoot atomic.Int64
	// httpServed counts the bytes of files served over HTTP (GET /<sha256>).
	httpServed atomic.Uint64
	// published is the content of the last cairn-p2p record published.
	published atomic.Value // string

	// The lifetime: Start derives ctx; every goroutine runs in group.
	ctx    context.Context
	cancel context.CancelFunc
	group  *errgroup.Group
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
	if cfg.Personal.PrivateReads {
		rcfg.Auth = relay.AuthAll // reads need AUTH as the owner
	}
	rl, err := relay.New(rcfg, st, relay.Options{Logger: log.With("part", "relay"), Registry: reg})
	if err != nil {
		blobs.Close()
		st.Close()
		return nil, err
	}
	if cfg.NIP95 {
		pc := superpeer.DefaultConfig()
		pc.MinUptime = time.Duration(cfg.NIP95MinUptime)
		if cfg.NIP95SignalLimit > 0 {
			pc.Limits[superpeer.VerbSignal] = cfg.NIP95SignalLimit
		}
		rl.EnablePeers(pc)
	}
	cr, err := openCredits(cfg.DataDir)
	if err != nil {
		blobs.Close()
		st.Close()
		return nil, err
	}
	bl, err := openBlossom(cfg, key.Public)
	if err != nil {
		cr.close()
		blobs.Close()
		st.Close()
		return nil, err
	}
	n := &Node{cfg: cfg, log: log, key: key, store: st, relay: rl, reg: reg, blobs: blobs, media: newMediaState(), credits: cr, blossom: bl, rep: openReputation(cfg.DataDir, log)}
	n.rooms = &rooms{query: n.queryRoom, cache: map[string]cachedLog{}, last: map[string]time.Time{}}
	rl.RejectEvent = append(rl.RejectEvent, n.checkRoom)
	if cfg.Personal.Owner != "" {
		if err := n.setupPersonal(context.Background()); err != nil {
			cr.close()
			blobs.Close()
			st.Close()
			return nil, err
		}
	}
	n.home = ownRelay{r: rl, st: st}
	n.peer, err = peer.New(peer.Config{
		Signer:           peer.KeySigner{Secret: key.Secret, Public: key.Public},
		Library:          library{st},
		Blobs:            blobs,
		Home:             n.home,
		HomeIsLibrary:    true,
		HomeURL:          cfg.Relay.URL,
		Reach:            n.reach,
		Providers:        n.providers,
		Score:            n.repScore,
		Completed:        func(f *peer.File) { n.provide(f.Map.Root) },
		AnnounceInterval: time.Duration(cfg.AnnounceInterval),
		Logger:           log.With("part", "peer"),
	})
	if err != nil {
		blobs.Close()
		st.Close()
		return nil, err
	}
	rl.OnEvent = append(rl.OnEvent, func(ev *nostr.Event) {
		switch ev.Kind {
		case peer.KindAnnounce:
			n.peer.Heard(ev) // a refused announcement names no seeder
		case peer.KindDemand:
			n.peer.HeardDemand(ev)
		}
		n.publishGroupState(ev)
	})
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "cairn_store_events", Help: "Events in the store.",
	}, func() float64 { return float64(st.Stats().Events) }))

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /api/status", n.serveStatus)
	mux.HandleFunc("GET /api/credits", n.serveCredits)
	n.routeBlossom(mux)
	mux.HandleFunc("POST /api/rooms/sync", localOnly(n.serveRoomSync))
	mux.HandleFunc("GET /api/ice", n.serveICE)
	mux.HandleFunc("GET /api/credits/entries", localOnly(n.serveCreditEntries))
	mux.HandleFunc("GET /api/credits/verify", localOnly(n.serveCreditVerify))
	mux.HandleFunc("GET /api/credits/proof", n.serveCreditProof)
	app := web.Handler()
	app.SetHead(n.watchHead) // /watch/<ref> carries what the store holds of ref (head.go)
	n.routeMedia(mux, app)
	mux.HandleFunc("POST /api/bt/follow", localOnly(n.serveFollow))
	rl.Next = mux
	n.srv = &http.Server{
		Handler:           rl,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return n, nil
}

// Run starts the node, serves until ctx ends, then stops gracefully
// (giving in-flight requests up to 15 s).
func (n *Node) Run(ctx context.Context) error {
	if err := n.Start(); err != nil {
		n.Stop(context.Background())
		return err
	}
	select {
	case <-ctx.Done():
	case <-n.ctx.Done(): // a part failed
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return n.Stop(sctx)
}

// Start listens and serves in the background: the libp2p host, the WebRTC
// node (signaling through the node's own relay, in process), the
// application core, then the HTTP server. It publishes the node's
// addressing record (kind 30078, "cairn-p2p") once the host listens. Every
// goroutine it starts derives from one lifetime context, which Stop ends.
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
	n.libp2p = n.repTransport(n.host.SwarmTransport())
	n.loadBans()
	ctx, cancel := context.WithCancel(context.Background())
	n.group, n.ctx = errgroup.WithContext(ctx)
	n.cancel = cancel
	n.srv.BaseContext = func(net.Listener) context.Context { return n.ctx }
	n.started = time.Now()
	n.startTURN()
	if n.personal != nil {
		if err := n.startGossip(); err != nil {
			return fmt.Errorf("starting follower multicast: %w", err)
		}
		if err := n.startNP2P(); err != nil {
			return err
		}
	}
	if err := n.startBT(); err != nil {
		return err
	}
	n.startWebRTC()
	n.startCold()
	n.group.Go(func() error { return n.peer.Run(n.ctx) })
	<-n.peer.Started()
	n.group.Go(func() error {
		if err := n.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
		return nil
	})
	n.group.Go(n.sweep)
	n.group.Go(n.repLoop)
	n.group.Go(n.roomSyncLoop)
	if err := n.publishAddressing(n.ctx); err != nil {
		n.log.Warn("publishing the cairn-p2p addressing record", "err", err)
	}
	n.group.Go(n.provideLoop)
	n.group.Go(n.addressingLoop)
	n.group.Go(n.peerCacheLoop)
	if n.cfg.Credit.SeedDemand > 0 {
		n.group.Go(n.demandLoop)
	}
	n.log.Info("node started", "url", n.URL(), "relay", n.RelayURL(), "data_dir", n.cfg.DataDir, "npub", n.key.Npub(),
		"peer_id", n.host.ID(), "p2p", n.host.Addrs(), "webrtc", n.rtc != nil)
	return nil
}

// startP2P starts the libp2p host that serves the blob store.
func (n *Node) startP2P() error {
	mode, _ := parseDHTMode(n.cfg.P2P.DHTMode) // validated
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	boot, layers := n.bootstrapPeers(ctx)
	n.bootLayers = layers
	h, err := p2p.New(ctx, p2p.Config{
		Key:         n.key.DeriveEd25519(identity.LabelLibp2p),
		ListenAddrs: n.cfg.P2P.Listen,
		Bootstrap:   boot,
		DHT:         n.cfg.P2P.DHT,
		DHTMode:     mode,
		Blobs:       n.blobs,
		Limits:      p2p.Limits{UploadBytesPerSecond: n.cfg.P2P.UploadBytesPerSecond, MaxServing: n.cfg.P2P.MaxServing},
		Credit:      n.p2pCredit(),
		NAT:         n.cfg.P2P.nat(),
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

// Peer is the node's application core.
func (n *Node) Peer() *peer.Peer { return n.peer }

// Stop shuts down gracefully: no new connections, the lifetime context
// ended, every goroutine waited for, clients closed, stores flushed. ctx
// bounds the wait for in-flight HTTP requests.
func (n *Node) Stop(ctx context.Context) error {
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
	if n.np2pSrv != nil {
		if err := n.np2pSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("NostrP2P API shutdown: %w", err))
		}
	}
	if n.cancel != nil {
		n.cancel()
		if err := n.group.Wait(); err != nil {
			errs = append(errs, err)
		}
	}
	if n.gossip != nil {
		n.gossip.Close()
	}
	if n.rtc != nil {
		n.rtc.Close()
	}
	if n.turn != nil {
		n.turn.Close()
	}
	if n.bt != nil {
		n.bt.Close()
		os.RemoveAll(btCacheDir(n.cfg.DataDir))
	}
	if n.cold != nil {
		if err := n.saveCold(); err != nil {
			errs = append(errs, fmt.Errorf("saving cold storage state: %w", err))
		}
	}
	if n.host != nil {
		if err := n.saveBans(); err != nil {
			errs = append(errs, err)
		}
		n.repCustody()
		if err := n.rep.save(); err != nil {
			errs = append(errs, err)
		}
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
	if err := n.credits.close(); err != nil {
		errs = append(errs, fmt.Errorf("closing the credit ledger: %w", err))
	}
	return errors.Join(errs...)
}

// spawn runs fn in the lifetime group; nothing starts once Stop began.
func (n *Node) spawn(fn func(ctx context.Context)) {
	if n.ctx == nil || n.ctx.Err() != nil {
		return
	}
	n.group.Go(func() error {
		fn(n.ctx)
		return nil
	})
}

// sweep removes expired events (NIP-40) periodically.
func (n *Node) sweep() error {
	t := time.NewTicker(time.Duration(n.cfg.SweepInterval))
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return nil
		case now := <-t.C:
			k, err := n.store.DeleteExpired(n.ctx, now.Unix())
			if err != nil && n.ctx.Err() == nil {
				n.log.Error("removing expired events", "err", err)
			} else if k > 0 {
				n.rooms.forgetAll() // an expired event may have been a room's entry
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
	// NIP95 is the relay's super peer side: registered and promoted
	// peers, events pushed to them and offered.
	NIP95 relay.PeerStats `json:"nip95"`
	// Blossom is the Blossom server: its upload mode, the blobs its
	// owner records hold, uploads this run and bytes of them served.
	Blossom statusBlossom `json:"blossom"`
	// TURN is the STUN/TURN server for browsers; absent when off.
	TURN *turn.Stats `json:"turn,omitempty"`
	// Personal is the personal server's side; absent unless --personal.
	Personal *PersonalStatus `json:"personal,omitempty"`
	// BitTorrent is the client's side: torrents, seeding, port, data
	// bytes each way; absent when disabled.
	BitTorrent *bt.Stats `json:"bittorrent,omitempty"`
	// BTDHT is the Mainline DHT node and the owner's feed there.
	BTDHT *BTDHTStatus `json:"bt_dht,omitempty"`
}

type statusP2P struct {
	PeerID string   `json:"peer_id"`
	Addrs  []string `json:"addrs"`
	Peers  int      `json:"peers"`
	// Stats are the chunk protocol's counters by transport.
	Stats p2p.Stats `json:"stats"`
	// NAT is reachability, relay addresses and hole punches; Conns the
	// open connections (a relayed one has a /p2p-circuit address).
	NAT   p2p.NATStatus  `json:"nat"`
	Conns []p2p.ConnInfo `json:"conns"`
	// Bootstrap counts the peers each bootstrap layer gave at start:
	// cache, config, builtin, dns.
	Bootstrap map[string]int `json:"bootstrap"`
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
		Downloads: len(n.peer.Downloads()),
		NIP95:     n.relay.PeerStats(),
		Blossom:   n.blossomStatus(),
	}
	if n.personal != nil {
		st.Personal = n.personal.status(n.gossip)
	}
	if n.rtc != nil {
		rs := n.rtc.Stats()
		st.Transfer[webrtc.TransportName] = statusTransfer{BytesUp: uint64(rs.BytesUp), BytesDown: uint64(rs.BytesDown)}
		st.Peers[webrtc.TransportName] = rs.Conns
		st.WebRTC = &statusWebRTC{PubKey: n.rtc.PubKey(), ICEServers: append([]string{}, n.cfg.WebRTC.ICEServers...), Loopback: n.cfg.WebRTC.Loopback}
	}
	if n.turn != nil {
		ts := n.turn.Stats()
		st.TURN = &ts
	}
	if n.bt != nil {
		bs := n.bt.Stats()
		st.BitTorrent = &bs
		st.BTDHT = n.btDHTStatus()
		st.Transfer["bittorrent"] = statusTransfer{BytesUp: uint64(bs.BytesWritten), BytesDown: uint64(bs.BytesRead)}
	}
	bs := n.blobs.Stats()
	st.Blobs = statusBlobs{Count: bs.Count, Bytes: bs.Bytes, Quota: bs.Quota, Pinned: bs.Pinned, PinnedBytes: bs.PinnedBytes, Evicted: bs.Evicted}
	if n.host != nil {
		ps := n.host.Stats()
		p := &statusP2P{PeerID: n.host.ID().String(), Peers: ps.Peers, Stats: ps, NAT: n.host.NATStatus(), Conns: n.host.Conns()}
		p.Bootstrap = maps.Clone(n.bootLayers)
		if v := n.mainlineBoot.Load(); v > 0 {
			if p.Bootstrap == nil {
				p.Bootstrap = map[string]int{}
			}
			p.Bootstrap["mainline"] = int(v)
		}
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

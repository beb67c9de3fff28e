// Package node is cairn's composition root: it opens the store, loads the
// key, builds the relay and the HTTP server, and runs them until stopped.
// It is the one package that depends on nearly every other; only cmd/cairn
// and tests import it.
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
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cairn-nostr/cairn/identity"
	"github.com/cairn-nostr/cairn/relay"
	"github.com/cairn-nostr/cairn/store"
	"github.com/cairn-nostr/cairn/web"
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
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	rcfg := cfg.Relay
	rcfg.PubKey = key.Public
	rcfg.Version = cfg.Version
	rl, err := relay.New(rcfg, st, relay.Options{Logger: log.With("part", "relay"), Registry: reg})
	if err != nil {
		st.Close()
		return nil, err
	}
	n := &Node{cfg: cfg, log: log, key: key, store: st, relay: rl, reg: reg, stop: make(chan struct{})}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "cairn_store_events", Help: "Events in the store.",
	}, func() float64 { return float64(st.Stats().Events) }))

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /api/status", n.serveStatus)
	mux.Handle("/", web.Handler())
	rl.Next = mux
	n.srv = &http.Server{
		Handler:           rl,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return n, nil
}

// Start listens and serves in the background.
func (n *Node) Start() error {
	ln, err := net.Listen("tcp", n.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w (is another node running? pass --listen with another port)", n.cfg.Listen, err)
	}
	n.ln = ln
	n.started = time.Now()
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		if err := n.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("http server stopped", "err", err)
		}
	}()
	go n.sweep()
	n.log.Info("node started", "url", n.URL(), "relay", n.RelayURL(), "data_dir", n.cfg.DataDir, "npub", n.key.Npub())
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

// Stop shuts down gracefully: no new connections, clients closed, store
// flushed. ctx bounds the wait for in-flight HTTP requests.
func (n *Node) Stop(ctx context.Context) error {
	close(n.stop)
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
	n.wg.Wait()
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
}

type statusURLs struct {
	HTTP  string `json:"http"`
	Relay string `json:"relay"`
}

// Status reports what the node is doing.
func (n *Node) Status() Status {
	return Status{
		Version:   n.cfg.Version,
		Npub:      n.key.Npub(),
		PubKey:    n.key.Public,
		UptimeSec: int64(time.Since(n.started).Seconds()),
		Relay:     n.relay.Stats(),
		Store:     n.store.Stats(),
		URLs:      statusURLs{HTTP: n.URL(), Relay: n.RelayURL()},
	}
}

func (n *Node) serveStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(n.Status())
}

package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-nostr/cairn/node"
	"github.com/cairn-nostr/cairn/relay"
)

func nodeCmd() *cobra.Command {
	var common commonFlags
	cfg := node.DefaultConfig()
	rc := &cfg.Relay
	var auth string
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a node: relay, web app and API on one port",
		Long: `Run a cairn node until interrupted (Ctrl-C or SIGTERM stop it gracefully).

The node serves, on one HTTP port:
  ws://HOST:PORT/          the Nostr relay (NIP-01, 09, 11, 13, 40, 42, 45, 77)
  http://HOST:PORT/        the web app
  http://HOST:PORT/api/status   what the node is doing, as JSON
  http://HOST:PORT/metrics      Prometheus metrics

On first run it creates a key in the data dir. When it is ready it prints
"cairn node ready: <url> (relay <ws-url>)" on standard output.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyLayers(cmd.Flags(), &common); err != nil {
				return err
			}
			log, err := common.logger()
			if err != nil {
				return err
			}
			cfg.DataDir = common.dataDir
			cfg.Version = version
			rc.Auth = relay.AuthMode(auth)
			n, err := node.New(cfg, log)
			if err != nil {
				return err
			}
			if err := n.Start(); err != nil {
				n.Stop(context.Background())
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cairn node ready: %s (relay %s)\n", n.URL(), n.RelayURL())

			sig := make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
			s := <-sig
			log.Info("shutting down", "signal", s.String())
			signal.Stop(sig)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			return n.Stop(ctx)
		},
	}
	f := cmd.Flags()
	common.register(f)
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "host:port for the relay, web app and API (port 0 picks a free one)")
	f.StringVar(&cfg.KeyFile, "key-file", "", "node key file (default DATA_DIR/key, created on first run)")
	f.StringVar(&cfg.StoreEngine, "store-engine", "", "event store engine: bbolt, pebble or lmdb (default: the measured best, see docs/BENCHMARKS.md)")
	f.StringVar(&rc.Name, "name", rc.Name, "relay name in the NIP-11 document")
	f.StringVar(&rc.Description, "description", rc.Description, "relay description in the NIP-11 document")
	f.StringVar(&rc.Contact, "contact", "", "operator contact in the NIP-11 document")
	f.StringVar(&rc.URL, "relay-url", "", "public websocket URL of this relay, checked in NIP-42 AUTH (default: the address clients connect to)")
	f.StringVar(&auth, "auth", string(rc.Auth), "NIP-42 authentication: off, writes (required to publish) or all (required for everything)")
	f.IntVar(&rc.MinPowDifficulty, "min-pow", 0, "NIP-13: leading zero bits an event id must have (0 = off)")
	f.IntVar(&rc.MaxMessageBytes, "max-message-bytes", rc.MaxMessageBytes, "largest client message accepted")
	f.IntVar(&rc.MaxSubscriptions, "max-subscriptions", rc.MaxSubscriptions, "open subscriptions per connection")
	f.IntVar(&rc.MaxFilters, "max-filters", rc.MaxFilters, "filters per REQ or COUNT")
	f.IntVar(&rc.MaxLimit, "max-limit", rc.MaxLimit, "largest limit a filter may ask for")
	f.IntVar(&rc.DefaultLimit, "default-limit", rc.DefaultLimit, "limit applied to a filter without one")
	f.IntVar(&rc.MaxContentLength, "max-content-bytes", rc.MaxContentLength, "largest event content accepted")
	f.IntVar(&rc.MaxEventTags, "max-event-tags", rc.MaxEventTags, "most tags an event may have")
	f.Float64Var(&rc.EventsPerSecond, "events-per-second", rc.EventsPerSecond, "events accepted per second per connection (bursts of 2x; 0 = unlimited)")
	f.Float64Var(&rc.EventsPerSecondIP, "events-per-second-ip", rc.EventsPerSecondIP, "events accepted per second per remote IP (0 = unlimited)")
	f.DurationVar(&rc.IdleTimeout, "idle-timeout", rc.IdleTimeout, "close connections with no message and no subscription for this long")
	return cmd
}

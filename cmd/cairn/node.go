package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-nostr/cairn/node"
	"github.com/cairn-nostr/cairn/p2p"
	"github.com/cairn-nostr/cairn/relay"
)

func nodeCmd() *cobra.Command {
	var common commonFlags
	cfg := node.DefaultConfig()
	rc := &cfg.Relay
	var auth, blobQuota, uploadRate, relayBytes, labNet string
	var noDHT bool
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a node: relay, web app and API on one port",
		Long: `Run a cairn node until interrupted (Ctrl-C or SIGTERM stop it gracefully).

The node serves, on one HTTP port:
  ws://HOST:PORT/          the Nostr relay (NIP-01, 09, 11, 13, 40, 42, 45, 77)
  http://HOST:PORT/        the web app
  http://HOST:PORT/api/status   what the node is doing, as JSON
  http://HOST:PORT/api/...      the media API that share, get, ls and pin use
  http://HOST:PORT/<sha256>     a shared file, with Range requests
  http://HOST:PORT/metrics      Prometheus metrics

Beside it a libp2p host (--p2p-listen, TCP and QUIC) serves and fetches
media chunks; its identity is derived from the node key. Browsers reach the
node over WebRTC DataChannels (--webrtc), signaled through its own relay:
it serves them its chunks, fetches from the swarm those of known media it
lacks, and fetches from them what they announce. Every shared file is also
a BitTorrent v1 torrent (GET /bt/<sha256>.torrent; magnet in its events)
that a BitTorrent client seeds from the chunk store (--bt, --bt-listen);
with --public-bootstrap=false it joins no public DHT.

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
			if cfg.BlobQuota, err = parseBytes(blobQuota); err != nil {
				return fmt.Errorf("--blob-quota: %w", err)
			}
			if cfg.P2P.UploadBytesPerSecond, err = parseBytes(uploadRate); err != nil {
				return fmt.Errorf("--upload-rate: %w", err)
			}
			if cfg.P2P.RelayCircuitBytes, err = parseBytes(relayBytes); err != nil {
				return fmt.Errorf("--relay-circuit-bytes: %w", err)
			}
			if labNet != "" {
				if err := p2p.TreatAsPublic(labNet); err != nil {
					return fmt.Errorf("--lab-public-net: %w", err)
				}
			}
			cfg.P2P.DHT = !noDHT
			n, err := node.New(cfg, log)
			if err != nil {
				return err
			}
			if err := n.Start(); err != nil {
				n.Stop(context.Background())
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cairn node ready: %s (relay %s)\n", n.URL(), n.RelayURL())
			if st := n.Status(); st.P2P != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "cairn p2p: peer %s on %s\n", st.P2P.PeerID, strings.Join(st.P2P.Addrs, " "))
			}

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
	f.StringSliceVar(&cfg.P2P.Listen, "p2p-listen", cfg.P2P.Listen, "libp2p listen multiaddrs, comma-separated (TCP and QUIC)")
	f.StringSliceVar(&cfg.P2P.Bootstrap, "bootstrap", nil, "libp2p peers to dial at start, /ip4/…/tcp/…/p2p/<peer ID>, comma-separated (another node's /api/status lists its addresses)")
	f.BoolVar(&noDHT, "no-dht", false, "do not run the Kademlia DHT (peers are then found only through cairn-p2p records)")
	f.StringVar(&cfg.P2P.DHTMode, "dht-mode", cfg.P2P.DHTMode, "DHT mode: auto (server once reachable from the internet), server or client")
	f.StringVar(&blobQuota, "blob-quota", "2GiB", "most bytes of media chunks kept; least recently used unpinned chunks go first (0 = unlimited)")
	f.StringVar(&uploadRate, "upload-rate", "0", "cap on chunk upload in bytes per second, e.g. 10MiB (0 = unlimited)")
	f.StringVar(&cfg.P2P.Reachability, "reachability", "auto", "libp2p reachability: auto (AutoNAT decides), public (a node others can dial: runs --relay-service at once) or private (behind a NAT: reserves a relay slot at once)")
	f.BoolVar(&cfg.P2P.RelayService, "relay-service", false, "run a circuit relay v2 for peers behind NATs (once reachable): they coordinate hole punches through it, and transfer through it when punching fails")
	f.StringVar(&relayBytes, "relay-circuit-bytes", "0", "bytes one relayed connection may carry each way before the relay ends it (0 = 32MiB)")
	f.DurationVar((*time.Duration)(&cfg.P2P.RelayCircuitDuration), "relay-circuit-duration", 0, "how long one relayed connection may last (0 = 2m)")
	f.BoolVar(&cfg.P2P.PublicBootstrap, "public-bootstrap", cfg.P2P.PublicBootstrap, "dial cairn's built-in public nodes at start (none exist yet); --public-bootstrap=false (CAIRN_PUBLIC_BOOTSTRAP=false) turns every built-in public contact off")
	f.StringSliceVar(&cfg.P2P.BootstrapDNS, "bootstrap-dns", nil, "domain names whose _dnsaddr TXT records (dnsaddr=/ip4/…/p2p/<peer ID>) list peers to dial at start, comma-separated")
	f.StringSliceVar(&cfg.P2P.Relays, "relays", nil, "circuit relays to reserve a slot on when behind a NAT, /ip4/…/p2p/<peer ID>, comma-separated (default: the --bootstrap peers)")
	f.StringVar(&labNet, "lab-public-net", "", "count this private IPv4 range as public: for the NAT lab only (test/natlab)")
	f.MarkHidden("lab-public-net")
	f.BoolVar(&cfg.WebRTC.Enabled, "webrtc", cfg.WebRTC.Enabled, "serve and fetch chunks over WebRTC DataChannels, for browsers (--webrtc=false or CAIRN_WEBRTC=false turns it off)")
	f.StringSliceVar(&cfg.WebRTC.ICEServers, "ice-server", nil, "STUN or TURN server for WebRTC, stun:host:port or turn:host:port[?transport=tcp]; repeat or comma-separate for several (default none: direct host candidates only, enough on a LAN)")
	f.StringVar(&cfg.WebRTC.ICEUsername, "ice-username", "", "username for the TURN servers of --ice-server")
	f.StringVar(&cfg.WebRTC.ICECredential, "ice-credential", "", "credential (password) for the TURN servers of --ice-server")
	f.BoolVar(&cfg.BT.Enabled, "bt", cfg.BT.Enabled, "seed every shared file as a BitTorrent v1 torrent (its magnet is in the share's events either way, its web seed this node); --bt=false turns the client off")
	f.StringVar(&cfg.BT.Listen, "bt-listen", cfg.BT.Listen, "host:port the BitTorrent client takes peers on (TCP; port 0 picks a free one)")
	f.BoolVar(&cfg.NIP95, "nip95", cfg.NIP95, "NIP-95: let clients register as super peers (PEER_* messages) that cache recent events and serve them peer to peer; --nip95=false turns it off")
	f.BoolVar(&cfg.WebRTC.Loopback, "webrtc-loopback", false, "offer only 127.0.0.1 WebRTC candidates: for tests with browsers on this machine")
	f.DurationVar((*time.Duration)(&cfg.AnnounceInterval), "announce-interval", time.Duration(cfg.AnnounceInterval), "how often to announce (kind 20002) the media this node seeds")
	f.StringVar(&rc.Name, "name", rc.Name, "relay name in the NIP-11 document")
	f.StringVar(&rc.Description, "description", rc.Description, "relay description in the NIP-11 document")
	f.StringVar(&rc.Contact, "contact", "", "operator contact in the NIP-11 document")
	f.StringVar(&rc.URL, "relay-url", "", "public websocket URL of this relay: checked in NIP-42 AUTH, the relay hint of shared nevents, and (as http/https) the base URL of shared files (default: the address clients connect to, or the listen address)")
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

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
	var auth, blobQuota, uploadRate, relayBytes, labNet, blossomMax, blossomQuota, turnRate, proxy, creditGrant, debtorRate string
	var noDHT bool
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a node: relay, web app and API on one port",
		Long: `Run a cairn node until interrupted (Ctrl-C or SIGTERM stop it gracefully).

The node serves, on one HTTP port:
  ws://HOST:PORT/          the Nostr relay (NIP-01, 09, 11, 13, 40, 42, 45, 77)
  http://HOST:PORT/        the web app
  http://HOST:PORT/api/status   what the node is doing, as JSON
  http://HOST:PORT/api/ice      ICE servers for the web app: the node's STUN/TURN with fresh credentials
  http://HOST:PORT/api/...      the media API that share, get, ls and pin use
  http://HOST:PORT/<sha256>     a shared file, with Range requests
  http://HOST:PORT/upload       a Blossom server (PUT /upload, /mirror, /list,
                                DELETE /<sha256>): every upload is shared to the
                                swarm like a file given to cairn share
  http://HOST:PORT/metrics      Prometheus metrics

Beside it a libp2p host (--p2p-listen, TCP and QUIC) serves and fetches
media chunks; its identity is derived from the node key. Browsers reach the
node over WebRTC DataChannels (--webrtc), signaled through its own relay:
it serves them its chunks, fetches from the swarm those of known media it
lacks, and fetches from them what they announce. A STUN/TURN server on UDP
(--turn, same port number as --listen by default) lets browsers behind NATs
find their public address and relay through the node when no direct path
works; open that UDP port (and the relay ports, any) to the internet.

With --personal npub1… the node is one user's personal server: only that
key may publish to its relay, and other people's events are kept up to
--personal-max-events. It follows whom the owner follows (the owner's kind
3): their posts arrive over libp2p GossipSub from their own nodes, and the
owner's posts go out the same way to the followers' nodes. It also serves
NostrP2P's client API (--np2p-listen, default port + 1), so NostrP2P's
clients work against it.

Every shared file is also a BitTorrent v1 torrent (GET /bt/<sha256>.torrent;
magnet in its events) that a BitTorrent client seeds from the chunk store
(--bt, --bt-listen); with --public-bootstrap=false it joins no public DHT.
Its Mainline DHT node (--bt-dht, --bt-dht-listen, --bt-dht-bootstrap) keeps
the owner's newest events there as a feed anyone finds from the npub alone
(cairn follow). With --bt-bridge every event the relay stores, of any author,
is archived into BitTorrent too (cairn follow --archive reads it).

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
			if err := useProxy(proxy); err != nil {
				return fmt.Errorf("--proxy: %w", err)
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
			if cfg.Credit.Grant, err = parseBytes(creditGrant); err != nil {
				return fmt.Errorf("--credit-grant: %w", err)
			}
			if cfg.Credit.DebtorRate, err = parseBytes(debtorRate); err != nil {
				return fmt.Errorf("--credit-debtor-rate: %w", err)
			}
			if cfg.P2P.RelayCircuitBytes, err = parseBytes(relayBytes); err != nil {
				return fmt.Errorf("--relay-circuit-bytes: %w", err)
			}
			if cfg.Blossom.MaxSize, err = parseBytes(blossomMax); err != nil {
				return fmt.Errorf("--blossom-max-size: %w", err)
			}
			if cfg.Blossom.Quota, err = parseBytes(blossomQuota); err != nil {
				return fmt.Errorf("--blossom-quota: %w", err)
			}
			if cfg.TURN.Rate, err = parseBytes(turnRate); err != nil {
				return fmt.Errorf("--turn-rate: %w", err)
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
			if u := n.NP2PURL(); u != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "cairn nostrp2p api: %s (POST /publish, POST /req)\n", u)
			}
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
	f.IntVar(&cfg.P2P.MaxServing, "max-serving", 0, "chunks served at once over libp2p; past it a request waits up to 5 s (else BUSY), peers holding this node's cold-storage chunks (premium credits) first (0 = unlimited)")
	f.BoolVar(&cfg.Credit.Gate, "credit-gate", cfg.Credit.Gate, "serve chunks over libp2p and WebRTC by the requester's balance with this node (its Nostr key): a peer past its grant that never uploads to this node is throttled, or refused while others in credit are being served (--credit-gate=false serves everyone alike)")
	f.StringVar(&creditGrant, "credit-grant", "0", "every peer's starting balance with this node, e.g. 100MiB (0 = 100MiB, Entropy's welcome grant)")
	f.StringVar(&debtorRate, "credit-debtor-rate", "0", "bytes per second a peer past its balance is served at, e.g. 512KiB (0 = 1MiB)")
	f.IntVar(&cfg.Credit.ScarceSeeders, "credit-scarce-seeders", 0, "content with at most this many known seeders (this node included) is scarce: a peer past its balance is throttled for it, never refused (0 = 2)")
	f.BoolVar(&cfg.Cold.Assign, "cold-assign", cfg.Cold.Assign, "cold storage: hand the chunks of the files this node holds and few others seed (fewer than --cold-min-seeders) to peers whose upload/download ratio with it is at least 2, and challenge them at random times to prove they still hold them")
	f.BoolVar(&cfg.Cold.Hold, "cold-hold", cfg.Cold.Hold, "cold storage: take up to 16 chunks other nodes offer to keep (fetched, pinned and served until their 24 h term ends unrenewed); --cold-hold=false declines every offer")
	f.IntVar(&cfg.Cold.MinSeeders, "cold-min-seeders", 0, "with --cold-assign: a file with fewer known seeders (this node included) gets cold holders (0 = 3)")
	f.IntVar(&cfg.Cold.Replicas, "cold-replicas", 0, "with --cold-assign: holders per chunk; any one fewer may leave and the chunk is still held (0 = 3)")
	f.IntVar(&cfg.Credit.SeedDemand, "seed-demand", 0, "fetch, and so seed, every file whose chunk map this node has and that at least this many peers signalled demand for (kind 20003) in the last 5 minutes (0 = never)")
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
	f.BoolVar(&cfg.TURN.Enabled, "turn", cfg.TURN.Enabled, "run a STUN/TURN server for the browsers of the web app (they get credentials from GET /api/ice and relay through it when no direct path works); --turn=false turns it off")
	f.StringVar(&cfg.TURN.Listen, "turn-listen", "", "UDP host:port of the STUN/TURN server (default: --listen's host and port number, over UDP)")
	f.StringVar(&cfg.TURN.TCPListen, "turn-tcp-listen", "", "also serve STUN/TURN over TCP on this host:port, for browsers whose network blocks UDP (default off; their relays are still UDP)")
	f.StringVar(&cfg.TURN.Host, "turn-host", "", "host name or IP browsers reach the TURN server at (default: the host they loaded the web app from)")
	f.StringVar(&cfg.TURN.RelayIP, "turn-relay-ip", "", "the node's public IPv4 address, written in relay candidates (default: the --turn-listen host, else the machine's first global address; set it behind a 1:1 NAT)")
	f.StringVar(&cfg.TURN.RelayPorts, "turn-relay-ports", "", "UDP port range MIN-MAX of the TURN relay sockets, to open in a firewall, e.g. 49152-65535 (default: any port)")
	f.StringVar(&turnRate, "turn-rate", "4MiB", "bytes per second one TURN allocation may relay each way; more is dropped (0 = unlimited)")
	f.DurationVar((*time.Duration)(&cfg.TURN.Session), "turn-session", time.Duration(cfg.TURN.Session), "how long one TURN allocation may last, refreshed or not")
	f.DurationVar((*time.Duration)(&cfg.TURN.CredentialTTL), "turn-credential-ttl", time.Duration(cfg.TURN.CredentialTTL), "how long the TURN credentials of GET /api/ice work")
	f.IntVar(&cfg.TURN.PerUser, "turn-user-allocations", 0, "live TURN allocations per credential (0 = 16)")
	f.IntVar(&cfg.TURN.PerIP, "turn-ip-allocations", 0, "live TURN allocations per client IP (0 = 32)")
	f.IntVar(&cfg.TURN.Total, "turn-allocations", 0, "live TURN allocations on the node (0 = 512)")
	f.BoolVar(&cfg.TURN.AllowPrivate, "turn-allow-private", false, "let TURN relay to private, link-local and CGNAT addresses: for a lab or tests only; on a public node it lets anyone with credentials reach your network (loopback and the node's own services stay refused)")
	registerProxy(f, &proxy)
	f.BoolVar(&cfg.BT.Enabled, "bt", cfg.BT.Enabled, "seed every shared file as a BitTorrent v1 torrent (its magnet is in the share's events either way, its web seed this node); --bt=false turns the client off")
	f.StringVar(&cfg.BT.Listen, "bt-listen", cfg.BT.Listen, "host:port the BitTorrent client takes peers on (TCP; port 0 picks a free one; when the default port is taken, a free one is used)")
	f.BoolVar(&cfg.BT.DHT, "bt-dht", cfg.BT.DHT, "run a Mainline DHT node: publish the owner's feed there (BEP-44 pointer, bundles seeded as torrents) and let cairn follow find feeds by pubkey; joins the public DHT's routers only with public bootstrap on")
	f.StringVar(&cfg.BT.DHTListen, "bt-dht-listen", cfg.BT.DHTListen, "UDP host:port of the Mainline DHT node (port 0 picks a free one)")
	f.StringSliceVar(&cfg.BT.DHTBootstrap, "bt-dht-bootstrap", nil, "DHT nodes (host:port,...) to join through: with --public-bootstrap=false, a private DHT of only these")
	f.BoolVar(&cfg.BT.Bridge, "bt-bridge", cfg.BT.Bridge, "archive every event the relay stores, of any author, into BitTorrent: every 5 s, one bundle (a torrent) per author of what was stored since, seeded by this node and listed by the archive whose BEP-44 pointer sits under this node's key (read it with cairn follow --archive NPUB). Works behind the store from a cursor kept on disk, so it never delays OK and catches up after a crash. Costs a second copy of every event under DATA_DIR/bridge, one seeded torrent per bundle, and DHT traffic for the pointer. Needs --bt and --bt-dht")
	f.BoolVar(&cfg.NIP95, "nip95", cfg.NIP95, "NIP-95: let clients register as super peers (PEER_* messages) that cache recent events and serve them peer to peer; --nip95=false turns it off")
	f.DurationVar((*time.Duration)(&cfg.NIP95MinUptime), "nip95-min-uptime", time.Duration(cfg.NIP95MinUptime), "NIP-95: how long a peer must stay registered before it can be promoted to super peer")
	f.IntVar(&cfg.NIP95SignalLimit, "nip95-signal-limit", cfg.NIP95SignalLimit, "NIP-95: PEER_SIGNALs one connection may send per 10 s before it is barred (a super peer sends 2-4 per new client)")
	f.BoolVar(&cfg.WebRTC.Loopback, "webrtc-loopback", false, "offer only 127.0.0.1 WebRTC candidates: for tests with browsers on this machine")
	f.StringSliceVar(&cfg.RoomPeers, "room-peer", nil, "relay of another cairn node to pull rooms from (NIP-77): its rooms and the ones hosted here, every --room-sync-interval; repeat or comma-separate for several")
	f.DurationVar((*time.Duration)(&cfg.RoomSyncInterval), "room-sync-interval", time.Duration(cfg.RoomSyncInterval), "how often to pull rooms from the --room-peer relays")
	f.DurationVar((*time.Duration)(&cfg.AnnounceInterval), "announce-interval", time.Duration(cfg.AnnounceInterval), "how often to announce (kind 20002) the media this node seeds")
	f.StringVar(&cfg.Blossom.Upload, "blossom-upload", cfg.Blossom.Upload, "who may upload Blossom blobs: owner (the node key only), allowlist (the owner and --blossom-allow) or everyone (any valid kind 24242 token)")
	f.StringSliceVar(&cfg.Blossom.Allow, "blossom-allow", nil, "pubkeys (npub or hex) that may upload with --blossom-upload allowlist, comma-separated")
	f.StringVar(&blossomMax, "blossom-max-size", "0", "largest Blossom blob accepted, e.g. 500MiB (0 = no limit)")
	f.StringVar(&blossomQuota, "blossom-quota", "0", "most bytes of Blossom blobs one pubkey may keep, e.g. 2GiB (0 = no limit)")
	f.BoolVar(&cfg.Blossom.MirrorLocal, "blossom-mirror-local", false, "let PUT /mirror fetch from loopback, private and link-local addresses (off: a public node cannot be made to reach into its own network)")
	f.BoolVar(&cfg.Blossom.PrivateGet, "blossom-private-get", false, "make blobs private: GET and HEAD /<sha256> need a kind 24242 t=get token (naming this server or the blob) from a pubkey --blossom-upload admits; the swarm still carries the chunks of what is shared")
	f.StringSliceVar(&cfg.Blossom.Types, "blossom-types", nil, "MIME types accepted for upload, e.g. image/*,video/mp4 (default: any)")
	f.StringVar(&cfg.Personal.Owner, "personal", "", "run as the personal server of this npub: the relay accepts writes only from it (plus the followed authors' posts the overlay delivers, verified)")
	f.BoolVar(&cfg.Personal.PrivateReads, "private-reads", false, "with --personal: serve reads only to a client authenticated (NIP-42 AUTH) as the owner")
	f.StringVar(&cfg.Personal.NP2PListen, "np2p-listen", "", "with --personal: host:port of NostrP2P's client API (POST /publish, POST /req), or off (default: the --listen host, its port + 1)")
	f.BoolVar(&cfg.Personal.Broadcast, "personal-broadcast", false, "with --personal: NostrP2P's mode for small networks: every node's posts go to every node on one topic, not only to followers")
	f.IntVar(&cfg.Personal.MaxEvents, "personal-max-events", node.DefaultPersonalMaxEvents, "with --personal: most events of other people kept; past it the oldest go (the owner's never)")
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

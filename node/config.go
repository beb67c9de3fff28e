package node

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr/nip19"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/blossom"
	"github.com/cairn-nostr/cairn/p2p"
	"github.com/cairn-nostr/cairn/peer"
	"github.com/cairn-nostr/cairn/relay"
	"github.com/cairn-nostr/cairn/superpeer"
)

// Config is everything a node needs. Start from DefaultConfig.
type Config struct {
	DataDir     string       // events, chunks and the key live here
	Listen      string       // host:port of the HTTP server (relay, web UI, API)
	KeyFile     string       // default: DataDir/key (created on first run)
	StoreEngine string       // "" for the default engine
	Relay       relay.Config // relay policy and limits
	Version     string
	// SweepInterval is how often expired (NIP-40) events are removed.
	SweepInterval Duration
	// P2P configures the libp2p host that serves and fetches media chunks.
	P2P P2PConfig
	// BlobQuota is the most bytes of media chunks kept in DataDir/blobs;
	// least recently used unpinned chunks are evicted beyond it. 0 means
	// unlimited. Default blobstore.DefaultQuota (2 GiB).
	BlobQuota int64
	// AnnounceInterval is how often the node announces (kind 20002) the
	// roots it holds in full; announcements heard are kept for twice it.
	// Default peer.DefaultAnnounceInterval (15 min, Entropy's).
	AnnounceInterval Duration
	// WebRTC is the node's WebRTC side, how browsers reach it.
	WebRTC WebRTCConfig
	// RoomPeers are relays (other cairn nodes) the node pulls its hosted
	// rooms from, every RoomSyncInterval (NIP-77); none by default.
	RoomPeers        []string
	RoomSyncInterval Duration
	// NIP95 lets clients register as super peers and ask for offers
	// (the PEER_* verbs; default on).
	NIP95 bool
	// NIP95MinUptime is how long a peer is registered before it can be
	// promoted (5 min, as the Nexus relay); NIP95SignalLimit the
	// PEER_SIGNALs one connection may send per 10 s (20, as Nexus; a
	// super peer answers 2-4 per new client).
	NIP95MinUptime   Duration
	NIP95SignalLimit int
	// Blossom is the upload policy of the Blossom endpoints.
	Blossom BlossomConfig
	// TURN is the node's STUN/TURN server for browsers (node/ice.go).
	TURN TURNConfig
	// Credit gates chunk requests over libp2p and WebRTC on the requester's balance.
	Credit CreditConfig
	// Cold is cold storage: holding and handing out the chunks of
	// unpopular files (cold.go).
	Cold ColdConfig
	// Personal makes the node one user's personal server (personal.go).
	Personal PersonalConfig
	// BT is the BitTorrent side (every share also a v1 torrent, seeded).
	BT BTConfig
}

// CreditConfig sets the credit gate (credits.go, credit.Gate).
type CreditConfig struct {
	// Gate decides every chunk request (libp2p and WebRTC) on the requester's
	// balance with this node: debtors are throttled or refused (default
	// on).
	Gate bool
	// Grant is every peer's starting balance in bytes (0: credit.
	// WelcomeGrant, 100 MiB).
	Grant int64
	// DebtorRate is the bytes a second a debtor is served at (0: 1 MiB/s).
	DebtorRate int64
	// ScarceSeeders: content whose known seeders, this node included,
	// number at most this many is scarce, and a debtor asking for it is
	// throttled, never refused (0: 2).
	ScarceSeeders int
	// SeedDemand, when above 0, fetches (and so seeds) every root that at
	// least this many peers signalled demand for (kind 20003) and whose
	// chunk map the node has; 0 (the default) seeds nothing unasked.
	SeedDemand int
	// DemandEvery is how often the node looks at the demand (0: 30 s).
	DemandEvery Duration
}

// BlossomConfig is who may upload blobs (PUT /upload, PUT /mirror) and
// how much.
type BlossomConfig struct {
	// Upload is everyone, owner (the node key's pubkey only) or
	// allowlist (the owner and Allow). Default owner.
	Upload string
	// Allow are the pubkeys (npub or hex) of allowlist mode.
	Allow []string
	// MaxSize is the largest blob in bytes; 0 is no limit.
	MaxSize int64
	// Quota is the most bytes one pubkey may keep; 0 is no limit.
	Quota int64
	// Types are the MIME types accepted (image/png, or image/* for a
	// whole kind); empty accepts any.
	Types []string
	// MirrorLocal lets PUT /mirror fetch from loopback, private and
	// link-local addresses; off, a public node cannot be made to reach
	// into its own network.
	MirrorLocal bool
	// PrivateGet makes GET and HEAD /<sha256> need a t=get token (BUD-01)
	// from a pubkey that may upload (Upload's mode).
	PrivateGet bool
}

// policy is the blossom.Policy of c for a node whose key is owner.
func (c BlossomConfig) policy(owner string) (blossom.Policy, error) {
	p := blossom.Policy{Mode: blossom.Mode(c.Upload), Owner: owner, MaxSize: c.MaxSize, Quota: c.Quota, PrivateGet: c.PrivateGet}
	for _, t := range c.Types {
		p.Types = append(p.Types, strings.ToLower(strings.TrimSpace(t)))
	}
	var errs []error
	for _, k := range c.Allow {
		if strings.HasPrefix(k, "npub1") {
			prefix, v, err := nip19.Decode(k)
			if s, ok := v.(string); err == nil && prefix == "npub" && ok {
				k = s
			} else {
				errs = append(errs, fmt.Errorf("blossom allowlist entry %q is not a valid npub", k))
				continue
			}
		}
		p.Allow = append(p.Allow, k)
	}
	if err := p.Validate(); err != nil {
		errs = append(errs, err)
	}
	return p, errors.Join(errs...)
}

// P2PConfig is the node's libp2p side.
type P2PConfig struct {
	// Listen are libp2p multiaddrs; default DefaultP2PListen.
	Listen []string
	// Bootstrap are peers dialled at start, as /ip4/…/tcp/…/p2p/<peer ID>
	// multiaddrs (another node's /api/status lists its own).
	Bootstrap []string
	// DHT runs cairn's Kademlia DHT (provider records for shared roots).
	DHT bool
	// DHTMode is auto, server or client.
	DHTMode string
	// PublicBootstrap dials the built-in public nodes (BuiltinBootstrap)
	// at start; --public-bootstrap=false (CAIRN_PUBLIC_BOOTSTRAP=false)
	// turns every built-in public contact off. Tests always do.
	PublicBootstrap bool
	// BootstrapDNS are domain names whose _dnsaddr TXT records list
	// peers to dial at start (libp2p's dnsaddr format).
	BootstrapDNS []string
	// Resolver answers BootstrapDNS (nil: the system's); tests set one.
	Resolver *net.Resolver `json:"-"`
	// UploadBytesPerSecond caps the chunk upload of the whole node; 0 is
	// unlimited.
	UploadBytesPerSecond int64
	// MaxServing bounds the chunks served at once over libp2p; past it a
	// request waits up to 5 s (else BUSY) and premium requesters (cold
	// storage holders for this node) go first. 0: unlimited.
	MaxServing int
	// Reachability is auto (AutoNAT decides), public or private.
	Reachability string
	// RelayService runs a circuit relay v2 for peers behind NATs, with
	// RelayCircuitBytes and RelayCircuitDuration per relayed connection
	// (0: p2p's defaults).
	RelayService         bool
	RelayCircuitBytes    int64
	RelayCircuitDuration Duration
	// Relays are the relays a node behind a NAT reserves a slot on, as
	// /ip4/…/p2p/<peer ID> multiaddrs; default the bootstrap peers.
	Relays []string
}

// nat is the host's NAT configuration (Validate checked it).
func (c P2PConfig) nat() p2p.NATConfig {
	r, _ := p2p.ParseReachability(c.Reachability)
	relays, _ := p2p.ParseAddrInfos(c.Relays...)
	return p2p.NATConfig{
		Reachability: r,
		RelayService: c.RelayService,
		RelayLimits:  p2p.RelayLimits{CircuitBytes: c.RelayCircuitBytes, CircuitDuration: time.Duration(c.RelayCircuitDuration)},
		Relays:       relays,
	}
}

// DefaultP2PListen is TCP and QUIC on every interface, port 4848.
var DefaultP2PListen = []string{"/ip4/0.0.0.0/tcp/4848", "/ip4/0.0.0.0/udp/4848/quic-v1"}

func parseDHTMode(s string) (p2p.DHTMode, error) {
	switch s {
	case "", "auto":
		return p2p.DHTAuto, nil
	case "server":
		return p2p.DHTServer, nil
	case "client":
		return p2p.DHTClient, nil
	}
	return 0, fmt.Errorf("dht mode %q: use auto, server or client", s)
}

// DefaultDataDir follows the XDG base directory spec: $XDG_DATA_HOME/cairn,
// else ~/.local/share/cairn.
func DefaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "cairn")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "cairn")
	}
	return "cairn-data"
}

// DefaultListen is a loopback address: a fresh node is private until its
// operator decides otherwise.
const DefaultListen = "127.0.0.1:7447"

// DefaultConfig returns a configuration that works on a fresh machine.
func DefaultConfig() Config {
	return Config{
		DataDir:       DefaultDataDir(),
		Listen:        DefaultListen,
		Relay:         relay.DefaultConfig(),
		SweepInterval: Duration(60e9),
		P2P: P2PConfig{
			Listen:          append([]string(nil), DefaultP2PListen...),
			DHT:             true,
			DHTMode:         "auto",
			PublicBootstrap: true,
		},
		BlobQuota:        blobstore.DefaultOptions().Quota,
		AnnounceInterval: Duration(peer.DefaultAnnounceInterval),
		RoomSyncInterval: Duration(time.Minute),
		WebRTC:           WebRTCConfig{Enabled: true},
		NIP95:            true,
		NIP95MinUptime:   Duration(superpeer.DefaultConfig().MinUptime),
		NIP95SignalLimit: superpeer.DefaultConfig().Limits[superpeer.VerbSignal],
		Blossom:          BlossomConfig{Upload: string(blossom.Owner)},
		TURN:             defaultTURN(),
		Credit:           CreditConfig{Gate: true},
		Cold:             ColdConfig{Hold: true},
		BT:               BTConfig{Enabled: true, Listen: DefaultBTListen, DHT: true, DHTListen: DefaultDHTListen},
	}
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir is empty: pass --data-dir"))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen address %q: want host:port, e.g. 127.0.0.1:7447", c.Listen))
	}
	if c.SweepInterval <= 0 {
		errs = append(errs, errors.New("sweep interval must be positive"))
	}
	if _, err := parseDHTMode(c.P2P.DHTMode); err != nil {
		errs = append(errs, err)
	}
	if _, err := p2p.ParseAddrInfos(c.P2P.Bootstrap...); err != nil {
		errs = append(errs, fmt.Errorf("bootstrap: %w", err))
	}
	if _, err := p2p.ParseReachability(c.P2P.Reachability); err != nil {
		errs = append(errs, err)
	}
	if _, err := p2p.ParseAddrInfos(c.P2P.Relays...); err != nil {
		errs = append(errs, fmt.Errorf("relays: %w", err))
	}
	if c.P2P.RelayCircuitBytes < 0 || c.P2P.RelayCircuitDuration < 0 {
		errs = append(errs, errors.New("relay circuit limits must not be negative (0 means the default)"))
	}
	if c.P2P.UploadBytesPerSecond < 0 {
		errs = append(errs, errors.New("upload rate must not be negative (0 means unlimited)"))
	}
	if c.P2P.MaxServing < 0 {
		errs = append(errs, errors.New("--max-serving must not be negative (0 means unlimited)"))
	}
	if c.AnnounceInterval < Duration(time.Second) {
		errs = append(errs, errors.New("announce interval must be at least 1s"))
	}
	if c.NIP95MinUptime < 0 || c.NIP95SignalLimit < 0 {
		errs = append(errs, errors.New("--nip95-min-uptime and --nip95-signal-limit must not be negative (0 uptime promotes at once; 0 signals means the default, 20)"))
	}
	if len(c.RoomPeers) > 0 && c.RoomSyncInterval < Duration(time.Second) {
		errs = append(errs, errors.New("room sync interval must be at least 1s"))
	}
	for _, u := range c.RoomPeers {
		if !strings.HasPrefix(u, "ws://") && !strings.HasPrefix(u, "wss://") {
			errs = append(errs, fmt.Errorf("room peer %q: want a relay URL, ws:// or wss://", u))
		}
	}
	if c.Credit.Grant < 0 || c.Credit.DebtorRate < 0 || c.Credit.ScarceSeeders < 0 || c.Credit.SeedDemand < 0 || c.Credit.DemandEvery < 0 {
		errs = append(errs, errors.New("credit grant, debtor rate and scarce seeders must not be negative (0 means the default)"))
	}
	if err := c.Cold.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.BlobQuota < 0 {
		errs = append(errs, errors.New("blob quota must not be negative (0 means unlimited)"))
	}
	if err := c.TURN.validate(); err != nil {
		errs = append(errs, err)
	}
	if _, _, err := net.SplitHostPort(c.BT.Listen); c.BT.Enabled && err != nil {
		errs = append(errs, fmt.Errorf("bittorrent listen address %q: want host:port, e.g. 0.0.0.0:6881", c.BT.Listen))
	}
	if err := c.WebRTC.Validate(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.Blossom.policy(""); err != nil {
		errs = append(errs, err)
	}
	if err := c.Personal.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Relay.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("relay: %w", err))
	}
	return errors.Join(errs...)
}

// EventsDir is where the event store lives inside a data dir.
func EventsDir(dataDir string) string { return filepath.Join(dataDir, "events") }

// BlobsDir is where media chunks live inside a data dir.
func BlobsDir(dataDir string) string { return filepath.Join(dataDir, "blobs") }

// BlossomDir is where the Blossom owner records (blossom.json) and
// uploads still streaming in (tmp/) live inside a data dir.
func BlossomDir(dataDir string) string { return filepath.Join(dataDir, "blossom") }

// MediaDir is where remuxed copies of shared files live inside a data dir.
func MediaDir(dataDir string) string { return filepath.Join(dataDir, "media") }

func (c *Config) keyFile() string {
	if c.KeyFile != "" {
		return c.KeyFile
	}
	return filepath.Join(c.DataDir, "key")
}

// TestingConfig is a node for tests: loopback, port 0, a temporary data dir,
// a DHT in server mode with no bootstrap peers, WebRTC on loopback
// candidates only.
func TestingConfig(t testing.TB) Config {
	c := DefaultConfig()
	c.DataDir = t.TempDir()
	c.Listen = "127.0.0.1:0"
	c.P2P.Listen = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
	c.P2P.DHTMode = "server"
	c.Version = "test"
	c.P2P.PublicBootstrap = false
	c.WebRTC.Loopback = true
	c.TURN.Listen = "127.0.0.1:0"
	c.BT.Listen = "127.0.0.1:0"
	c.BT.DHTListen = "127.0.0.1:0"
	return c
}

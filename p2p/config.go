package p2p

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/swarm/wire"
)

// DHTMode is the Kademlia mode of a Host.
type DHTMode int

const (
	// DHTAuto serves the DHT once the node learns it is publicly reachable
	// (AutoNAT) and is a client before that. On loopback it stays a client,
	// which cannot Provide: tests use DHTServer.
	DHTAuto DHTMode = iota
	// DHTServer answers queries and stores records: public nodes and tests.
	DHTServer
	// DHTClient only queries.
	DHTClient
)

func (m DHTMode) String() string {
	switch m {
	case DHTAuto:
		return "auto"
	case DHTServer:
		return "server"
	case DHTClient:
		return "client"
	}
	return fmt.Sprintf("DHTMode(%d)", int(m))
}

// Defaults.
const (
	// DefaultDHTPrefix is the protocol prefix of cairn's own Kademlia DHT
	// (/cairn/kad/1.0.0): cairn nodes form a DHT of their own rather than
	// joining IPFS's.
	DefaultDHTPrefix protocol.ID = "/cairn"

	// DefaultRequestsPerSecond is a DoS bound on request count, not on
	// bandwidth (UploadBytesPerSecond is that). Entropy's 10 a second
	// belongs to its WebRTC peers; over libp2p only cairn nodes speak the
	// chunk protocol, and 10 requests a second of 5 MiB chunks would cap
	// a peer at 50 MiB/s.
	DefaultRequestsPerSecond = 500
	// PeerRequestRate is how many requests a second this node sends one
	// peer (SwarmTransport.RequestRate): half the default limit. Nodes
	// older than this limit answer BUSY above 10 a second; the scheduler
	// backs them off.
	PeerRequestRate       = DefaultRequestsPerSecond / 2
	DefaultIdleTimeout    = 60 * time.Second
	DefaultMaxMessage     = wire.MaxMessageSize
	DefaultRequestTimeout = 15 * time.Second
	DefaultMaxStrikes     = 3
	DefaultBanDuration    = 30 * time.Minute
	DefaultConnectTimeout = 10 * time.Second
)

// DefaultListenAddrs are every interface, a free port, TCP and QUIC.
var DefaultListenAddrs = []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}

// Limits bound what a peer may ask of this node and how long a transfer may
// stall. The zero value of each field means its default.
type Limits struct {
	// RequestsPerSecond is how many REQUESTs (and custody challenges) one
	// remote peer may make in a fixed one-second window, over all its
	// streams; the rest are answered ERROR BUSY. Default
	// DefaultRequestsPerSecond (500); negative means unlimited
	// (benchmarks).
	RequestsPerSecond int
	// IdleTimeout closes a chunk stream on which no request arrived for
	// this long, and bounds how long the server waits for a slow reader to
	// take one fragment. Default 60 s.
	IdleTimeout time.Duration
	// MaxMessage bounds one frame, in both directions; a larger frame is a
	// protocol violation. Default and maximum 4 MiB (wire.MaxMessageSize).
	MaxMessage int
	// RequestTimeout is how long Fetch waits for the next frame of an
	// answer before giving up on the peer. Default 15 s.
	RequestTimeout time.Duration
	// MaxStrikes protocol violations (malformed or oversized frames) ban a
	// peer for BanDuration; the ban lifts by itself and clears the
	// strikes. Defaults 3 and 30 min.
	MaxStrikes  int
	BanDuration time.Duration
	// UploadBytesPerSecond caps the bytes the chunk server sends, over all
	// peers and streams together: a token bucket (bursts of a tenth of a
	// second, at least one 64 KiB fragment) paces every frame before it is
	// written. It counts frame bytes, as Stats' BytesUp does, and uses the
	// wall clock. Default 0: unlimited.
	UploadBytesPerSecond int64
	// MaxServing bounds the chunks served at once, over all peers; a
	// request past it waits up to 5 s for a slot (else ERROR BUSY), and
	// the waiter with the most premium credits (Credit.Premium) goes
	// first. Default 0: unlimited, nobody waits.
	MaxServing int
}

func (l *Limits) setDefaults() {
	if l.RequestsPerSecond == 0 {
		l.RequestsPerSecond = DefaultRequestsPerSecond
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.MaxMessage == 0 {
		l.MaxMessage = DefaultMaxMessage
	}
	if l.RequestTimeout == 0 {
		l.RequestTimeout = DefaultRequestTimeout
	}
	if l.MaxStrikes == 0 {
		l.MaxStrikes = DefaultMaxStrikes
	}
	if l.BanDuration == 0 {
		l.BanDuration = DefaultBanDuration
	}
}

// Validate reports limits that cannot work. Zero fields are fine (defaults).
func (l Limits) Validate() error {
	switch {
	case l.IdleTimeout < 0, l.RequestTimeout < 0, l.BanDuration < 0:
		return errors.New("p2p: limits: timeouts and the ban duration must not be negative (0 means the default)")
	case l.MaxMessage < 0 || l.MaxMessage > wire.MaxMessageSize:
		return fmt.Errorf("p2p: limits: MaxMessage %d must be 0 (default) to %d", l.MaxMessage, wire.MaxMessageSize)
	case l.MaxMessage > 0 && l.MaxMessage < wire.MaxDataLen+64:
		return fmt.Errorf("p2p: limits: MaxMessage %d is below one DATA message (%d bytes)", l.MaxMessage, wire.MaxDataLen+64)
	case l.MaxStrikes < 0:
		return errors.New("p2p: limits: MaxStrikes must not be negative (0 means the default)")
	case l.UploadBytesPerSecond < 0:
		return errors.New("p2p: limits: UploadBytesPerSecond must not be negative (0 means unlimited)")
	case l.MaxServing < 0:
		return errors.New("p2p: limits: MaxServing must not be negative (0 means unlimited)")
	}
	return nil
}

// Config configures a Host. The zero value plus a Key is a working node
// with the defaults below; TestingConfig gives a closed loopback one.
type Config struct {
	// Key is the node's libp2p identity; derive it from the Nostr key with
	// identity.Key.DeriveEd25519(identity.LabelLibp2p) so that the peer ID
	// is stable and bound to the user. Required.
	Key ed25519.PrivateKey
	// ListenAddrs are multiaddrs to listen on; default DefaultListenAddrs
	// (TCP and QUIC on every interface, free ports).
	ListenAddrs []string
	// Bootstrap peers are dialled at start (in the background) and seed
	// the DHT's routing table. ParseAddrInfos turns "/ip4/…/p2p/<id>"
	// strings into them.
	Bootstrap []peer.AddrInfo
	// DHT runs a Kademlia DHT (needed by Provide and FindProviders).
	DHT bool
	// DHTMode is the DHT's mode; default DHTAuto.
	DHTMode DHTMode
	// DHTPrefix is the DHT's protocol prefix; default DefaultDHTPrefix.
	DHTPrefix protocol.ID
	// NATPortMap asks the router for a port mapping (UPnP, NAT-PMP). Off by
	// default.
	NATPortMap bool
	// NAT is NAT traversal: AutoNAT v2, AutoRelay, hole punching, the
	// relay service (nat.go).
	NAT NATConfig
	// Blobs are the chunks this node serves; nil serves nothing (every
	// request is answered NOT_FOUND).
	Blobs blobstore.Blobs
	// Limits; zero fields take their defaults.
	Limits Limits
	// Credit: hellos and receipts on chunk streams (credit.go); the zero
	// value sends neither.
	Credit Credit
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock of the request-rate windows and bans; nil means
	// time.Now. (Stream deadlines always use the wall clock.)
	Now func() time.Time
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if len(c.Key) != ed25519.PrivateKeySize {
		return errors.New("p2p: Config.Key is required: derive it with identity.Key.DeriveEd25519(identity.LabelLibp2p)")
	}
	for _, s := range c.ListenAddrs {
		if _, err := ma.NewMultiaddr(s); err != nil {
			return fmt.Errorf("p2p: listen address %q: %w", s, err)
		}
	}
	for _, ai := range c.Bootstrap {
		if ai.ID == "" {
			return errors.New("p2p: a bootstrap peer has no peer ID (want /ip4/…/p2p/<id>)")
		}
	}
	if c.DHTMode < DHTAuto || c.DHTMode > DHTClient {
		return fmt.Errorf("p2p: unknown %v", c.DHTMode)
	}
	if err := c.NAT.Validate(); err != nil {
		return err
	}
	return c.Limits.Validate()
}

func (c *Config) setDefaults() {
	if len(c.ListenAddrs) == 0 {
		c.ListenAddrs = DefaultListenAddrs
	}
	if c.DHTPrefix == "" {
		c.DHTPrefix = DefaultDHTPrefix
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Limits.setDefaults()
}

// TestingConfig returns a configuration for tests: a fresh random key,
// loopback TCP and QUIC on free ports, a DHT in server mode under the
// /cairn prefix with no bootstrap peers (so nothing public is contacted),
// an empty in-memory blob store, and a discarding logger.
func TestingConfig(t testing.TB) Config {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		Key:         key,
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
		DHT:         true,
		DHTMode:     DHTServer,
		DHTPrefix:   DefaultDHTPrefix,
		Blobs:       blobstore.NewMemory(0),
	}
}

// ParseAddrInfos parses multiaddrs ending in /p2p/<peer ID> (as Host.Addrs
// prints them) into peers, merging addresses of the same peer.
func ParseAddrInfos(addrs ...string) ([]peer.AddrInfo, error) {
	mas := make([]ma.Multiaddr, 0, len(addrs))
	for _, s := range addrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("p2p: parsing peer address %q: %w", s, err)
		}
		mas = append(mas, m)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(mas...)
	if err != nil {
		return nil, fmt.Errorf("p2p: peer addresses must end in /p2p/<peer ID>: %w", err)
	}
	return infos, nil
}

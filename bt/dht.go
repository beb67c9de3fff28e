package bt

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/bep44"
	"github.com/anacrolix/dht/v2/exts/getput"
	"github.com/anacrolix/dht/v2/krpc"
	peer_store "github.com/anacrolix/dht/v2/peer-store"
	"golang.org/x/time/rate"
)

// Config is a Mainline DHT node.
type Config struct {
	// Addr is the UDP address to listen on ("127.0.0.1:0" in tests).
	Addr string
	// Public joins the public Mainline DHT through its routers. Off, the
	// node contacts only Bootstrap (--public-bootstrap=false,
	// CAIRN_PUBLIC_BOOTSTRAP=false: every test).
	Public bool
	// Bootstrap are host:port of DHT nodes to start from.
	Bootstrap []string
}

// DHT is one Mainline DHT node.
type DHT struct {
	s    *dht.Server
	conn net.PacketConn
}

// NewDHT listens and starts a node; it does not bootstrap (Bootstrap).
func NewDHT(cfg Config) (*DHT, error) {
	conn, err := net.ListenPacket("udp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("mainline DHT: %w", err)
	}
	boot := append([]string(nil), cfg.Bootstrap...)
	sc := dht.NewDefaultServerConfig()
	sc.Conn = conn
	sc.StartingNodes = func() ([]dht.Addr, error) {
		var out []dht.Addr
		for _, b := range boot {
			ua, err := net.ResolveUDPAddr("udp", b)
			if err != nil {
				continue
			}
			out = append(out, dht.NewAddr(ua))
		}
		if cfg.Public {
			if pub, err := dht.GlobalBootstrapAddrs("udp"); err == nil {
				out = append(out, pub...)
			}
		}
		return out, nil
	}
	// One limiter per node: the package's default is shared by every
	// node of the process. Unlimited when private (tests run many).
	// anacrolix/dht v2.24.0's own peer store is broken (one peer per IP):
	// ours keeps the announces that point followers at a feed's seeders.
	sc.PeerStore = newPeerStore()
	sc.SendLimiter = rate.NewLimiter(250, 25)
	if !cfg.Public {
		sc.SendLimiter = rate.NewLimiter(rate.Inf, 0)
	}
	s, err := dht.NewServer(sc)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("mainline DHT: %w", err)
	}
	return &DHT{s: s, conn: conn}, nil
}

// Addr is the node's UDP address.
func (d *DHT) Addr() string { return d.conn.LocalAddr().String() }

// Nodes is the size of the routing table.
func (d *DHT) Nodes() int { return d.s.NumNodes() }

// Bootstrap fills the routing table from the starting nodes (one round;
// call it again while the network forms).
//
// With no node to start from it returns an error at once: anacrolix/dht
// v2.24.0's BootstrapContext starts a traversal before it asks for the
// starting nodes and, when there are none, returns without stopping it,
// leaking its goroutines on every call.
func (d *DHT) Bootstrap(ctx context.Context) error {
	if nodes, err := d.s.TraversalStartingNodes(); err != nil || len(nodes) == 0 {
		return fmt.Errorf("mainline DHT: no node to bootstrap from (%v)", err)
	}
	_, err := d.s.BootstrapContext(ctx)
	return err
}

// Close stops the node.
func (d *DHT) Close() { d.s.Close() }

// PutFeed publishes p as the feed pointer of priv's key with a seq above
// any the network holds, and returns that seq.
func (d *DHT) PutFeed(ctx context.Context, priv ed25519.PrivateKey, p Pointer) (int64, error) {
	return d.putPointer(ctx, priv, nil, p)
}

func (d *DHT) putPointer(ctx context.Context, priv ed25519.PrivateKey, salt []byte, p Pointer) (int64, error) {
	if _, err := p.Marshal(); err != nil {
		return 0, err
	}
	var seq int64
	var serr error
	err := d.putMutable(ctx, saltedTarget(priv.Public().(ed25519.PublicKey), salt), salt, func(found int64) bep44.Put {
		seq = found + 1
		put, err := signSalted(priv, salt, p, seq)
		serr = err
		return put
	})
	if err == nil {
		err = serr
	}
	return seq, err
}

// ErrNoFeed: no node holds a feed pointer for the key.
var ErrNoFeed = errors.New("no feed pointer found")

// GetFeed finds the feed pointer of pub with the highest seq and checks it
// (Check: signature, shape, npk when given, seq at least minSeq).
func (d *DHT) GetFeed(ctx context.Context, pub ed25519.PublicKey, npk string, minSeq int64) (Pointer, int64, error) {
	return d.getPointer(ctx, pub, nil, npk, minSeq)
}

func (d *DHT) getPointer(ctx context.Context, pub ed25519.PublicKey, salt []byte, npk string, minSeq int64) (Pointer, int64, error) {
	if len(pub) != ed25519.PublicKeySize || allZero(pub) {
		// anacrolix/dht v2.24.0 dereferences a missing seq when the key is
		// all zeros (replies without an item carry a zero key): refuse it.
		return Pointer{}, 0, fmt.Errorf("%w: not an ed25519 public key", ErrPointer)
	}
	res, _, err := getput.Get(ctx, saltedTarget(pub, salt), d.s, nil, salt)
	if err != nil {
		return Pointer{}, 0, fmt.Errorf("%w: %v", ErrNoFeed, err)
	}
	if !res.Mutable {
		return Pointer{}, 0, fmt.Errorf("%w: an immutable item at a mutable target", ErrPointer)
	}
	p, err := CheckSalted(pub, salt, res.V, res.Seq, res.Sig, npk, minSeq)
	return p, res.Seq, err
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Announce tells the DHT that this host seeds ih on TCP port (BEP-5).
func (d *DHT) Announce(ctx context.Context, ih [20]byte, port int) error {
	a, err := d.s.AnnounceTraversal(ih, dht.AnnouncePeer(dht.AnnouncePeerOpts{Port: port}))
	if err != nil {
		return err
	}
	defer a.Close()
	for {
		select {
		case _, ok := <-a.Peers:
			if !ok {
				<-a.Finished()
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Peers looks up the seeders of ih (host:port), as many as the traversal
// finds before it stalls or ctx ends.
func (d *DHT) Peers(ctx context.Context, ih [20]byte) ([]string, error) {
	a, err := d.s.AnnounceTraversal(ih)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	seen := map[string]bool{}
	var out []string
	for {
		select {
		case pv, ok := <-a.Peers:
			if !ok {
				return out, nil
			}
			for _, p := range pv.Peers {
				s := p.String()
				if p.Port > 0 && !seen[s] {
					seen[s] = true
					out = append(out, s)
				}
			}
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
}

// peerStore keeps announced peers: at most maxPeers per infohash and
// maxHashes infohashes, the oldest dropped first.
type peerStore struct {
	mu    sync.Mutex
	peers map[peer_store.InfoHash][]krpc.NodeAddr
	order []peer_store.InfoHash
}

const (
	maxPeers  = 50
	maxHashes = 4096
)

func newPeerStore() *peerStore {
	return &peerStore{peers: map[peer_store.InfoHash][]krpc.NodeAddr{}}
}

func (s *peerStore) AddPeer(ih peer_store.InfoHash, a krpc.NodeAddr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.peers[ih]
	if !ok {
		if len(s.order) >= maxHashes {
			delete(s.peers, s.order[0])
			s.order = s.order[1:]
		}
		s.order = append(s.order, ih)
	}
	a = krpc.NodeAddr{IP: append(net.IP(nil), a.IP...), Port: a.Port}
	for i, p := range l {
		if p.String() == a.String() {
			l = append(l[:i], l[i+1:]...)
			break
		}
	}
	if len(l) >= maxPeers {
		l = l[1:]
	}
	s.peers[ih] = append(l, a)
}

func (s *peerStore) GetPeers(ih peer_store.InfoHash) []krpc.NodeAddr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]krpc.NodeAddr(nil), s.peers[ih]...)
}

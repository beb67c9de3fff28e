package bt

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/bep44"
	"github.com/anacrolix/dht/v2/exts/getput"
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
func (d *DHT) Bootstrap(ctx context.Context) error {
	_, err := d.s.BootstrapContext(ctx)
	return err
}

// Close stops the node.
func (d *DHT) Close() { d.s.Close() }

// PutFeed publishes p as the feed pointer of priv's key with a seq above
// any the network holds, and returns that seq.
func (d *DHT) PutFeed(ctx context.Context, priv ed25519.PrivateKey, p Pointer) (int64, error) {
	if _, err := p.Marshal(); err != nil {
		return 0, err
	}
	var seq int64
	var serr error
	_, err := getput.Put(ctx, Target(priv.Public().(ed25519.PublicKey)), d.s, nil, func(found int64) bep44.Put {
		seq = found + 1
		put, err := Sign(priv, p, seq)
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
	if len(pub) != ed25519.PublicKeySize || allZero(pub) {
		// anacrolix/dht v2.24.0 dereferences a missing seq when the key is
		// all zeros (replies without an item carry a zero key): refuse it.
		return Pointer{}, 0, fmt.Errorf("%w: not an ed25519 public key", ErrPointer)
	}
	res, _, err := getput.Get(ctx, Target(pub), d.s, nil, nil)
	if err != nil {
		return Pointer{}, 0, fmt.Errorf("%w: %v", ErrNoFeed, err)
	}
	if !res.Mutable {
		return Pointer{}, 0, fmt.Errorf("%w: an immutable item at a mutable target", ErrPointer)
	}
	p, err := Check(pub, res.V, res.Seq, res.Sig, npk, minSeq)
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

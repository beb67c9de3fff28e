package p2p

import (
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"
)

// Counters are the chunk protocol's traffic over one transport: bytes of
// frames sent and received on chunk streams, and whole chunks served to and
// fetched (verified) from peers.
type Counters struct {
	BytesUp       uint64 `json:"bytes_up"`
	BytesDown     uint64 `json:"bytes_down"`
	ChunksServed  uint64 `json:"chunks_served"`
	ChunksFetched uint64 `json:"chunks_fetched"`
}

func (c *Counters) add(o Counters) {
	c.BytesUp += o.BytesUp
	c.BytesDown += o.BytesDown
	c.ChunksServed += o.ChunksServed
	c.ChunksFetched += o.ChunksFetched
}

// Stats is a snapshot for /api/status.
type Stats struct {
	// Peers is the number of connected peers.
	Peers int `json:"peers"`
	// Transports holds the counters by transport: "tcp", "quic", "relay"
	// (circuit relay v2), "other", and "libp2p", the sum of all of them.
	// "tcp", "quic" and "libp2p" are always present.
	Transports map[string]Counters `json:"transports"`
}

// Transport names in Stats.
const (
	TransportTCP   = "tcp"
	TransportQUIC  = "quic"
	TransportRelay = "relay"
	TransportOther = "other"
	TransportAll   = "libp2p"
)

type transport int

const (
	trTCP transport = iota
	trQUIC
	trRelay
	trOther
	numTransports
)

var transportNames = [numTransports]string{TransportTCP, TransportQUIC, TransportRelay, TransportOther}

func transportOf(c network.Conn) transport {
	var tr transport = trOther
	ma.ForEach(c.RemoteMultiaddr(), func(p ma.Component) bool {
		switch p.Protocol().Code {
		case ma.P_CIRCUIT:
			tr = trRelay
			return false
		case ma.P_QUIC_V1:
			tr = trQUIC
		case ma.P_TCP:
			if tr == trOther {
				tr = trTCP
			}
		}
		return true
	})
	return tr
}

// counters are the live, atomically updated Counters of one transport.
type counters struct {
	up, down, served, fetched atomic.Uint64
}

func (c *counters) snapshot() Counters {
	return Counters{
		BytesUp:       c.up.Load(),
		BytesDown:     c.down.Load(),
		ChunksServed:  c.served.Load(),
		ChunksFetched: c.fetched.Load(),
	}
}

// Stats returns the host's counters.
func (h *Host) Stats() Stats {
	s := Stats{Peers: len(h.host.Network().Peers()), Transports: make(map[string]Counters, numTransports+1)}
	var all Counters
	for i := range numTransports {
		c := h.counters[i].snapshot()
		all.add(c)
		if c != (Counters{}) || i == trTCP || i == trQUIC {
			s.Transports[transportNames[i]] = c
		}
	}
	s.Transports[TransportAll] = all
	return s
}

// countedStream counts the bytes read from and written to a stream.
type countedStream struct {
	network.Stream
	c *counters
}

func (s countedStream) Read(p []byte) (int, error) {
	n, err := s.Stream.Read(p)
	s.c.down.Add(uint64(n))
	return n, err
}

func (s countedStream) Write(p []byte) (int, error) {
	n, err := s.Stream.Write(p)
	s.c.up.Add(uint64(n))
	return n, err
}

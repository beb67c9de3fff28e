package webrtc

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/swarm"
	"github.com/cairn-nostr/cairn/swarm/wire"
)

// Flow control (Entropy's): a sender pauses while more than MaxBuffered
// bytes are queued on the channel and resumes when the queue drains to
// LowThreshold.
const (
	MaxBuffered  = 4 << 20
	LowThreshold = 256 << 10
)

// ErrProtocol: the peer broke the chunk protocol.
var ErrProtocol = errors.New("webrtc: protocol violation")

// Conn is one open "entropy" DataChannel to a peer. Messages the peer sends
// are queued by pion's callback and handled by one goroutine: REQUESTs are
// answered from the node's Blobs, chunk data goes to Fetch.
type Conn struct {
	n    *Node
	peer string
	pc   *webrtc.PeerConnection
	dc   *webrtc.DataChannel

	opened    chan struct{}
	closed    chan struct{}
	closeOnce sync.Once

	qmu    sync.Mutex
	q      [][]byte
	qbytes int
	qsig   chan struct{}

	low chan struct{} // buffered amount fell to LowThreshold
	wmu sync.Mutex    // a chunk's messages go out together

	up, down atomic.Int64 // bytes of this channel's messages

	fmu      sync.Mutex // one Fetch at a time
	results  chan wire.Msg
	pmu      sync.Mutex
	prog     progressNote
	progSig  chan struct{}
	violated error
}

type progressNote struct {
	hash       [32]byte
	got, total int
}

func (n *Node) newConn(remote string, pc *webrtc.PeerConnection, dc *webrtc.DataChannel) *Conn {
	c := &Conn{
		n: n, peer: remote, pc: pc, dc: dc,
		opened: make(chan struct{}), closed: make(chan struct{}),
		qsig: make(chan struct{}, 1), low: make(chan struct{}, 1),
		results: make(chan wire.Msg, 8), progSig: make(chan struct{}, 1),
	}
	prepareChannel(dc)
	dc.SetBufferedAmountLowThreshold(LowThreshold)
	dc.OnBufferedAmountLow(func() { signal(c.low) })
	dc.OnMessage(func(m webrtc.DataChannelMessage) { c.enqueue(m.Data) })
	dc.OnClose(func() { c.Close() })
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			c.Close()
		}
	})
	dc.OnOpen(func() {
		n.mu.Lock()
		if n.ctx.Err() != nil {
			n.mu.Unlock()
			c.Close()
			return
		}
		n.conns[remote] = c
		n.wg.Add(1)
		n.mu.Unlock()
		close(c.opened)
		go func() {
			defer n.wg.Done()
			c.loop()
		}()
	})
	return c
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Peer returns the remote pubkey.
func (c *Conn) Peer() string { return c.peer }

// Close closes the channel and its peer connection.
func (c *Conn) Close() {
	c.closeOnce.Do(func() {
		close(c.closed)
		n := c.n
		n.mu.Lock()
		if n.conns[c.peer] == c {
			delete(n.conns, c.peer)
		}
		n.closing.Add(1)
		n.mu.Unlock()
		// pion must not be closed from inside its own callbacks.
		go func() {
			defer n.closing.Done()
			c.dc.Close()
			c.pc.Close()
		}()
	})
}

// enqueue is pion's OnMessage: it never blocks.
func (c *Conn) enqueue(b []byte) {
	c.n.down.Add(int64(len(b)))
	c.down.Add(int64(len(b)))
	c.qmu.Lock()
	if c.qbytes+len(b) > c.n.cfg.MaxQueued {
		c.qmu.Unlock()
		c.n.log.Debug("peer overran the receive queue", "peer", c.peer)
		c.Close()
		return
	}
	c.q = append(c.q, b)
	c.qbytes += len(b)
	c.qmu.Unlock()
	signal(c.qsig)
}

func (c *Conn) dequeue() ([]byte, bool) {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if len(c.q) == 0 {
		return nil, false
	}
	b := c.q[0]
	c.q[0] = nil
	c.q = c.q[1:]
	c.qbytes -= len(b)
	return b, true
}

// loop handles the peer's messages in order until the channel closes or
// sits idle for IdleTimeout.
func (c *Conn) loop() {
	defer c.Close()
	idle := time.NewTimer(c.n.cfg.IdleTimeout)
	defer idle.Stop()
	var asm wire.Reassembler // chunks coming to our Fetch
	for {
		b, ok := c.dequeue()
		if !ok {
			select {
			case <-c.qsig:
				continue
			case <-c.closed:
				return
			case <-idle.C:
				c.n.log.Debug("closing idle channel", "peer", c.peer)
				return
			}
		}
		idle.Reset(c.n.cfg.IdleTimeout)
		if !asm.Active() && len(b) > 0 {
			switch wire.Type(b[0]) {
			case wire.TypeRequest, wire.TypeCustodyChallenge, wire.TypeReceipt:
				if err := c.serve(b); err != nil {
					if errors.Is(err, ErrProtocol) {
						c.n.strike(c.peer, err)
						continue
					}
					c.n.log.Debug("serving", "peer", c.peer, "err", err)
					return
				}
				continue
			}
		}
		m, err := asm.Feed(b)
		switch {
		case errors.Is(err, wire.ErrUnsupportedType): // Entropy TAG_UPDATE
		case err != nil:
			c.pmu.Lock()
			c.violated = fmt.Errorf("%w: %w", ErrProtocol, err)
			c.pmu.Unlock()
			c.n.strike(c.peer, err)
			return
		case m == nil:
			h, got, total, _ := asm.Progress()
			c.pmu.Lock()
			c.prog = progressNote{h, got, total}
			c.pmu.Unlock()
			signal(c.progSig)
		default:
			select {
			case c.results <- m:
			default: // nobody is waiting for it
			}
		}
	}
}

// send sends one message, waiting while more than MaxBuffered bytes are
// queued.
func (c *Conn) send(b []byte) error {
	for c.dc.BufferedAmount() > MaxBuffered {
		select {
		case <-c.low:
		case <-c.closed:
			return ErrClosed
		case <-time.After(c.n.cfg.IdleTimeout):
			return fmt.Errorf("webrtc: peer %s stopped reading", c.peer)
		}
	}
	if err := c.dc.Send(b); err != nil {
		return err
	}
	c.n.up.Add(int64(len(b)))
	c.up.Add(int64(len(b)))
	return nil
}

func (c *Conn) sendAll(msgs [][]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for _, m := range msgs {
		if err := c.send(m); err != nil {
			return err
		}
	}
	return nil
}

// serve answers one message a client sends: ErrProtocol for a malformed
// one (a strike), another error when the channel must close.
func (c *Conn) serve(b []byte) error {
	m, err := wire.Decode(b)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	switch m := m.(type) {
	case *wire.Request:
		if !c.n.allow(c.peer) {
			return c.refuse(m.Hash, wire.ReasonBusy)
		}
		data, err := c.chunk(m.Hash)
		if err != nil {
			return c.refuse(m.Hash, wire.ReasonNotFound)
		}
		msgs, err := wire.EncodeChunk(m.Hash, data)
		if err != nil {
			return c.refuse(m.Hash, wire.ReasonNotFound)
		}
		return c.sendAll(msgs)
	case *wire.CustodyChallenge:
		if !c.n.allow(c.peer) {
			return c.refuse(m.Hash, wire.ReasonBusy)
		}
		data, err := c.chunk(m.Hash)
		if err != nil {
			return c.refuse(m.Hash, wire.ReasonNotFound)
		}
		proof, err := m.Answer(data)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		msg, _ := proof.Encode()
		return c.sendAll([][]byte{msg})
	default: // a receipt: the credit ledger is not wired yet
		return nil
	}
}

func (c *Conn) chunk(hash [32]byte) ([]byte, error) {
	if c.n.cfg.Blobs == nil {
		return nil, blobstore.ErrNotFound
	}
	data, err := c.n.cfg.Blobs.Get(hash)
	if err == nil && (len(data) == 0 || len(data) > wire.MaxChunkSize) {
		err = fmt.Errorf("chunk of unsendable size %d", len(data))
	}
	return data, err
}

func (c *Conn) refuse(hash [32]byte, r wire.Reason) error {
	msg, _ := (&wire.Error{Hash: hash, Reason: r}).Encode()
	return c.sendAll([][]byte{msg})
}

// Fetch asks the peer for chunk hash of root and returns its verified
// bytes. Refusals wrap swarm's sentinels (ErrNotFound, ErrBusy,
// ErrInsufficientCredit); bad data wraps swarm.ErrHashMismatch. A Fetch
// abandoned mid-chunk closes the channel (the rest of the chunk cannot be
// told apart from the next answer otherwise).
func (c *Conn) Fetch(ctx context.Context, hash, root [32]byte, progress func(got, total int)) ([]byte, error) {
	c.fmu.Lock()
	defer c.fmu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, c.n.cfg.RequestTimeout)
	defer cancel()
	for drained := false; !drained; { // answers to abandoned fetches
		select {
		case <-c.results:
		default:
			drained = true
		}
	}
	req, _ := (&wire.Request{Hash: hash, Root: root}).Encode()
	if err := c.sendAll([][]byte{req}); err != nil {
		return nil, fmt.Errorf("requesting %x from %s: %w", hash[:4], c.peer, err)
	}
	for {
		select {
		case m := <-c.results:
			switch m := m.(type) {
			case *wire.Data:
				if m.Hash != hash {
					continue // a late answer to an abandoned request
				}
				if sha256.Sum256(m.Data) != hash {
					return nil, fmt.Errorf("chunk %x from %s: %w", hash[:4], c.peer, swarm.ErrHashMismatch)
				}
				if progress != nil {
					progress(len(m.Data), len(m.Data))
				}
				return m.Data, nil
			case *wire.Error:
				if m.Hash != hash {
					continue
				}
				return nil, fmt.Errorf("chunk %x from %s: %w", hash[:4], c.peer, reasonErr(m.Reason))
			default:
				c.Close()
				return nil, fmt.Errorf("%v from a server: %w", m.Type(), ErrProtocol)
			}
		case <-c.progSig:
			c.pmu.Lock()
			p := c.prog
			c.pmu.Unlock()
			if progress != nil && p.hash == hash {
				progress(p.got, p.total)
			}
		case <-c.closed:
			c.pmu.Lock()
			err := c.violated
			c.pmu.Unlock()
			if err == nil {
				err = ErrClosed
			}
			return nil, fmt.Errorf("fetching %x from %s: %w", hash[:4], c.peer, err)
		case <-ctx.Done():
			c.Close()
			return nil, fmt.Errorf("fetching %x from %s: %w", hash[:4], c.peer, ctx.Err())
		}
	}
}

func reasonErr(r wire.Reason) error {
	switch r {
	case wire.ReasonBusy:
		return swarm.ErrBusy
	case wire.ReasonInsufficientCredit:
		return swarm.ErrInsufficientCredit
	default:
		return swarm.ErrNotFound
	}
}

package webrtc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-nostr/cairn/webrtc/rtc"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/credit"
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
// answered from the node's Blobs, chunk data goes to the Fetch waiting for
// it. Fetches are pipelined: each sends its REQUEST at once, so the peer
// always has the next request queued and the channel does not idle between
// chunks.
type Conn struct {
	n        *Node
	peer     string
	pc       *rtc.PeerConnection
	dc       *rtc.DataChannel
	outbound bool // this node dialled it

	opened    chan struct{}
	closed    chan struct{}
	closeOnce sync.Once

	qmu    sync.Mutex
	q      [][]byte
	qbytes int
	qsig   chan struct{}

	low  chan struct{} // buffered amount fell to LowThreshold
	turn chan struct{} // capacity 1: held while a chunk's messages (or a REQUEST) go out together

	up, down atomic.Int64 // bytes of this channel's messages

	pmu      sync.Mutex
	waiters  []*waiter // Fetches whose answer is due, in the order requested
	violated error
}

// waiter is one Fetch in flight: the loop hands it its answer and tells it
// the chunk's progress.
type waiter struct {
	hash    [32]byte
	res     chan wire.Msg // the answer (*wire.Data or *wire.Error); capacity 1
	head    chan struct{} // closed once it is first in line: its clock starts
	headed  bool          // head closed (under Conn.pmu)
	prog    progressNote  // under Conn.pmu
	progSig chan struct{}
}

type progressNote struct {
	hash       [32]byte
	got, total int
}

func (n *Node) newConn(remote string, pc *rtc.PeerConnection, dc *rtc.DataChannel, outbound bool) *Conn {
	c := &Conn{
		n: n, peer: remote, pc: pc, dc: dc, outbound: outbound,
		opened: make(chan struct{}), closed: make(chan struct{}),
		qsig: make(chan struct{}, 1), low: make(chan struct{}, 1), turn: make(chan struct{}, 1),
	}
	prepareChannel(dc)
	dc.SetBufferedAmountLowThreshold(LowThreshold)
	dc.OnBufferedAmountLow(func() { signal(c.low) })
	dc.OnMessage(func(m rtc.DataChannelMessage) { c.enqueue(m.Data) })
	dc.OnClose(func() { c.Close() })
	pc.OnConnectionStateChange(func(s rtc.PeerConnectionState) {
		if s == rtc.PeerConnectionStateFailed || s == rtc.PeerConnectionStateClosed {
			c.Close()
		}
	})
	dc.OnOpen(c.register)
	return c
}

// register makes an opened channel the node's connection to its peer, or
// closes it. One channel per peer is kept (Node.conns); when a second one
// opens while the first is still open, keepNew decides, and the one not
// kept is closed, so no live Conn is dropped from the map unclosed.
func (c *Conn) register() {
	n := c.n
	n.mu.Lock()
	if n.ctx.Err() != nil {
		n.mu.Unlock()
		c.Close()
		return
	}
	old := n.conns[c.peer]
	if old != nil && old.isClosed() {
		old = nil // closing: it leaves the map as soon as it gets n.mu
	}
	if old != nil && !keepNew(n.pub, c.peer, old.outbound, c.outbound) {
		n.mu.Unlock()
		n.log.Debug("refusing a second channel", "peer", c.peer, "outbound", c.outbound)
		c.Close()
		return
	}
	n.conns[c.peer] = c
	n.wg.Add(1)
	n.mu.Unlock()
	if old != nil {
		n.log.Debug("a new channel replaces the open one", "peer", c.peer, "outbound", c.outbound)
		old.Close()
	}
	close(c.opened)
	go func() {
		defer n.wg.Done()
		c.loop()
	}()
}

// keepNew decides between the open channel to a peer (old) and a second
// one that just opened, given which side dialled each. Dialled by the same
// side, the new one wins: that side started over (a reloaded tab, a node
// that lost the channel before this side noticed), so the old one is
// presumably dead. Dialled by each side at once, both sides keep the one
// dialled by the smaller pubkey, so they agree on it without a word.
func keepNew(me, peer string, oldOutbound, newOutbound bool) bool {
	if oldOutbound == newOutbound {
		return true
	}
	return newOutbound == (me < peer)
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (c *Conn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
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
		// pion calls its state handlers on goroutines of its own, which may
		// close c after Node.Close has begun waiting: those closes are not
		// tracked (Node.Close closes every PeerConnection itself), as a
		// WaitGroup must not grow while it is waited on.
		tracked := n.ctx.Err() == nil
		if tracked {
			n.closing.Add(1)
		}
		n.mu.Unlock()
		// pion must not be closed from inside its own callbacks.
		go func() {
			if tracked {
				defer n.closing.Done()
			}
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

// dequeue takes the next message: a custody challenge waiting anywhere in
// the queue first (Entropy's downloader allows 5 s for the proof and asks
// several chunks at once, so a challenge must not wait behind them), else
// the oldest. pending is the bytes of raw fragments still due for a chunk
// coming to us: they head the queue and are no messages of their own.
func (c *Conn) dequeue(pending int) ([]byte, bool) {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if len(c.q) == 0 {
		return nil, false
	}
	i := nextMessage(c.q, pending)
	b := c.q[i]
	copy(c.q[i:], c.q[i+1:])
	c.q[len(c.q)-1] = nil
	c.q = c.q[:len(c.q)-1]
	c.qbytes -= len(b)
	return b, true
}

// nextMessage is the index of the first custody challenge in q that is a
// message of its own (not raw bytes of a chunk's fragments: pending of them
// head q, and each DATA_HEADER announces its total), or 0.
func nextMessage(q [][]byte, pending int) int {
	rem := pending
	for i, b := range q {
		if rem > 0 {
			rem -= len(b)
			continue
		}
		if len(b) == 0 {
			continue
		}
		switch wire.Type(b[0]) {
		case wire.TypeDataHeader:
			if len(b) >= 1+wire.HashSize+4 {
				rem = int(binary.BigEndian.Uint32(b[1+wire.HashSize:]))
			}
		case wire.TypeCustodyChallenge:
			return i
		}
	}
	return 0
}

// loop handles the peer's messages in order until the channel closes or
// sits idle for IdleTimeout.
func (c *Conn) loop() {
	defer c.Close()
	idle := time.NewTimer(c.n.cfg.IdleTimeout)
	defer idle.Stop()
	var asm wire.Reassembler // chunks coming to our Fetch
	for {
		pending := 0
		if asm.Active() {
			_, got, total, _ := asm.Progress()
			pending = total - got
		}
		b, ok := c.dequeue(pending)
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
			if w := c.waiterLocked(h); w != nil {
				w.prog = progressNote{h, got, total}
				signal(w.progSig)
			}
			c.pmu.Unlock()
		default:
			if !c.answer(m) {
				return
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

// take waits for the turn to send; it gives up when ctx ends or the
// channel closes.
func (c *Conn) take(ctx context.Context) error {
	select {
	case c.turn <- struct{}{}:
		return nil
	case <-c.closed:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Conn) release() { <-c.turn }

func (c *Conn) sendAll(msgs [][]byte) error {
	if err := c.take(context.Background()); err != nil {
		return err
	}
	defer c.release()
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
		d := c.n.decide(c.peer, m.Root, len(data))
		switch {
		case d.Verdict == credit.Refuse:
			return c.refuse(m.Hash, wire.ReasonInsufficientCredit)
		case d.Verdict == credit.Throttle && d.Wait > 0:
			c.later(m.Hash, d.Wait)
			return nil
		case d.Verdict == credit.Serve && c.n.cfg.Gate != nil:
			c.n.inCredit.Add(1)
			defer c.n.inCredit.Add(-1)
		}
		return c.sendChunk(m.Hash, data)
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
	case *wire.Receipt:
		c.n.queueReceipt(c.peer, m)
		return nil
	default:
		return nil
	}
}

// sendChunk sends a chunk's messages together and books it served.
func (c *Conn) sendChunk(hash [32]byte, data []byte) error {
	msgs, err := wire.EncodeChunk(hash, data)
	if err != nil {
		return c.refuse(hash, wire.ReasonNotFound)
	}
	if err := c.sendAll(msgs); err != nil {
		return err
	}
	c.n.served(c.peer, hash, len(data))
	return nil
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

// answer hands a server's message to the Fetch waiting for it; answers
// nobody waits for (to abandoned fetches) are dropped. It returns false
// when the message breaks the protocol and the channel must close.
func (c *Conn) answer(m wire.Msg) bool {
	var h [32]byte
	switch m := m.(type) {
	case *wire.Data:
		h = m.Hash
	case *wire.Error:
		h = m.Hash
	default:
		c.pmu.Lock()
		defer c.pmu.Unlock()
		if len(c.waiters) == 0 {
			return true
		}
		c.violated = fmt.Errorf("%v from a server: %w", m.Type(), ErrProtocol)
		return false
	}
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if w := c.waiterLocked(h); w != nil {
		c.removeLocked(w)
		w.res <- m
	}
	return true
}

// waiterLocked returns the first Fetch waiting for hash, or nil.
func (c *Conn) waiterLocked(hash [32]byte) *waiter {
	for _, w := range c.waiters {
		if w.hash == hash {
			return w
		}
	}
	return nil
}

// removeLocked takes w out of line (if still in it) and starts the clock of
// the Fetch now first.
func (c *Conn) removeLocked(w *waiter) {
	for i, o := range c.waiters {
		if o == w {
			c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
			break
		}
	}
	if len(c.waiters) > 0 && !c.waiters[0].headed {
		c.waiters[0].headed = true
		close(c.waiters[0].head)
	}
}

// Fetch asks the peer for chunk hash of root and returns its verified
// bytes. Refusals wrap swarm's sentinels (ErrNotFound, ErrBusy,
// ErrInsufficientCredit); bad data wraps swarm.ErrHashMismatch. Concurrent
// Fetches are pipelined: each REQUEST goes out at once and the peer answers
// them in order. A Fetch's RequestTimeout runs from the moment the answers
// before it are in; when it expires the channel closes (the peer stalled).
// A Fetch whose ctx ends returns at once; the rest of its answer is
// received and dropped.
func (c *Conn) Fetch(ctx context.Context, hash, root [32]byte, progress func(got, total int)) ([]byte, error) {
	w := &waiter{hash: hash, res: make(chan wire.Msg, 1), head: make(chan struct{}), progSig: make(chan struct{}, 1)}
	req, _ := (&wire.Request{Hash: hash, Root: root}).Encode()
	// Join the line and send during one turn, so the line is in the order
	// the peer sees the requests.
	if err := c.take(ctx); err != nil {
		return nil, fmt.Errorf("requesting %x from %s: %w", hash[:4], c.peer, err)
	}
	c.pmu.Lock()
	c.waiters = append(c.waiters, w)
	if len(c.waiters) == 1 {
		w.headed = true
		close(w.head)
	}
	c.pmu.Unlock()
	err := c.send(req)
	c.release()
	defer func() {
		c.pmu.Lock()
		c.removeLocked(w)
		c.pmu.Unlock()
	}()
	if err != nil {
		return nil, fmt.Errorf("requesting %x from %s: %w", hash[:4], c.peer, err)
	}
	head := w.head
	var expired <-chan time.Time
	for {
		select {
		case <-head:
			head = nil
			t := time.NewTimer(c.n.cfg.RequestTimeout)
			defer t.Stop()
			expired = t.C
		case m := <-w.res:
			switch m := m.(type) {
			case *wire.Data:
				sum, err := c.n.cfg.Hasher.Sum256(m.Data)
				if err != nil {
					return nil, fmt.Errorf("chunk %x from %s: %w", hash[:4], c.peer, err)
				}
				if sum != hash {
					return nil, fmt.Errorf("chunk %x from %s: %w", hash[:4], c.peer, swarm.ErrHashMismatch)
				}
				if progress != nil {
					progress(len(m.Data), len(m.Data))
				}
				if g := c.n.cfg.Gate; g != nil {
					g.Received(c.peer, int64(len(m.Data)))
				}
				c.sendReceipt(hash, root, len(m.Data))
				return m.Data, nil
			case *wire.Error:
				return nil, fmt.Errorf("chunk %x from %s: %w", hash[:4], c.peer, reasonErr(m.Reason))
			}
		case <-w.progSig:
			c.pmu.Lock()
			p := w.prog
			c.pmu.Unlock()
			if progress != nil {
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
		case <-expired:
			c.Close()
			return nil, fmt.Errorf("fetching %x from %s: %w", hash[:4], c.peer, context.DeadlineExceeded)
		case <-ctx.Done():
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

package p2p

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairn-nostr/cairn/swarm/wire"
)

// Progress is told the bytes of a chunk received so far and its total, as
// fragments arrive (once for a chunk sent as one DATA message).
type Progress func(received, total int)

// MaxStreamsPerPeer bounds the fetches to one peer that run at once, each
// on a chunk stream of its own: the requests a download has in flight at
// a peer (the scheduler's pipeline depth, sized by the peer's rate) are on
// the wire together, instead of each waiting for the previous answer.
const MaxStreamsPerPeer = 8

// fetcher is this node's chunk streams to one peer: up to
// MaxStreamsPerPeer fetches run at once, each owning a stream; the others
// wait their turn. A stream goes back to the idle list after its answer,
// for the next fetch.
type fetcher struct {
	slots chan struct{} // holds a token per fetch running

	mu   sync.Mutex // guards the rest against kill
	idle []*chunkStream
	all  map[*chunkStream]struct{}
	dead bool
}

func newFetcher() *fetcher {
	return &fetcher{slots: make(chan struct{}, MaxStreamsPerPeer), all: make(map[*chunkStream]struct{})}
}

// take returns an idle stream, or a new one (which opens on first use).
func (f *fetcher) take() *chunkStream {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.idle); n > 0 {
		cs := f.idle[n-1]
		f.idle = f.idle[:n-1]
		return cs
	}
	cs := &chunkStream{dead: f.dead}
	f.all[cs] = struct{}{}
	return cs
}

// give hands a stream back after a fetch.
func (f *fetcher) give(cs *chunkStream) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead || cs.s == nil {
		delete(f.all, cs) // a fresh one costs nothing until used
		return
	}
	f.idle = append(f.idle, cs)
}

// kill resets every stream from any goroutine; the fetcher is not used
// again.
func (f *fetcher) kill() {
	f.mu.Lock()
	all := make([]*chunkStream, 0, len(f.all))
	for cs := range f.all {
		all = append(all, cs)
	}
	f.dead = true
	f.mu.Unlock()
	for _, cs := range all {
		cs.kill()
	}
}

// chunkStream is one chunk stream to a peer, owned by one Fetch at a time:
// every request on it is answered before the next is sent.
type chunkStream struct {
	// Owned by the Fetch holding it.
	s      network.Stream
	br     *bufio.Reader
	w      io.Writer
	c      *counters
	buf    []byte
	hasher hash.Hash
	last   time.Time // last answer on s
	seeder string    // the peer's Nostr pubkey, from its HELLO on s
	hello  bool      // our HELLO went out on s

	mu   sync.Mutex // guards dead and live against kill
	dead bool
	live network.Stream
}

func (f *chunkStream) setStream(s network.Stream) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead {
		return false
	}
	f.live = s
	return true
}

// kill resets the stream from any goroutine; it is not used again.
func (f *chunkStream) kill() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dead = true
	if f.live != nil {
		f.live.Reset()
	}
}

// drop resets the stream after an error that leaves it out of step.
func (f *chunkStream) drop() {
	if f.s != nil {
		f.s.Reset()
		f.s = nil
		f.setStream(nil)
	}
}

func (h *Host) fetcher(p peer.ID) (*fetcher, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	f := h.fetchers[p]
	if f == nil {
		f = newFetcher()
		h.fetchers[p] = f
	}
	return f, nil
}

// Fetch asks peer p for the chunk hash of the content with Merkle root
// root, and returns its bytes once their SHA-256 matches hash.
//
// Up to MaxStreamsPerPeer fetches to one peer run at once, each on a
// stream of its own (reused by later fetches); more queue for a turn.
// Fetches to different peers run in parallel. The refusals a peer can answer with come
// back as ErrNotFound, ErrBusy and ErrInsufficientCredit; bytes that fail
// the hash check as ErrHashMismatch (and are dropped); a peer breaking the
// protocol as ErrProtocol. When ctx ends the stream is reset and ctx's
// error is returned. A peer that sends nothing for Limits.RequestTimeout is
// given up on.
func (h *Host) Fetch(ctx context.Context, p peer.ID, hash, root [32]byte) ([]byte, error) {
	return h.FetchProgress(ctx, p, hash, root, nil)
}

// FetchProgress is Fetch reporting the bytes received as they arrive.
func (h *Host) FetchProgress(ctx context.Context, p peer.ID, hash, root [32]byte, progress Progress) ([]byte, error) {
	data, err := h.fetch(ctx, p, hash, root, progress)
	if err != nil {
		return nil, fmt.Errorf("fetching chunk %x from %s: %w", hash[:4], p.ShortString(), err)
	}
	return data, nil
}

func (h *Host) fetch(ctx context.Context, p peer.ID, hash, root [32]byte, progress Progress) ([]byte, error) {
	if p == h.ID() {
		return nil, errors.New("p2p: cannot fetch from ourselves")
	}
	if h.guard.banned(p) {
		return nil, ErrBanned
	}
	pf, err := h.fetcher(p)
	if err != nil {
		return nil, err
	}
	select {
	case pf.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-pf.slots }()
	f := pf.take()
	defer pf.give(f)

	for attempt := 0; ; attempt++ {
		reused, err := h.ready(ctx, f, p)
		if err != nil {
			return nil, err
		}
		data, answered, err := h.exchange(ctx, f, p, hash, root, progress)
		if err == nil {
			return data, nil
		}
		// A stream that sat unused may have been closed by the peer's
		// idle timeout: one more try on a new stream if nothing came back.
		if reused && !answered && f.s == nil && attempt == 0 && ctx.Err() == nil {
			h.log.Debug("chunk stream went stale; retrying on a new one", "peer", p, "err", err)
			continue
		}
		return nil, err
	}
}

// ready makes sure f has a stream, reporting whether it is one used before.
func (h *Host) ready(ctx context.Context, f *chunkStream, p peer.ID) (reused bool, err error) {
	if f.s != nil && time.Since(f.last) > h.cfg.Limits.IdleTimeout/2 {
		// The peer will close it soon, perhaps while our request is
		// in flight: start afresh.
		f.s.Close()
		f.s = nil
		f.setStream(nil)
	}
	if f.s != nil {
		return true, nil
	}
	s, err := h.host.NewStream(h.streamContext(ctx, p), p, ChunkProtocol)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, fmt.Errorf("opening chunk stream: %w", err)
	}
	if !f.setStream(s) { // the host closed, or banned p, meanwhile
		s.Reset()
		if h.guard.banned(p) {
			return false, ErrBanned
		}
		return false, ErrClosed
	}
	c := &h.counters[transportOf(s.Conn())]
	f.s, f.c = s, c
	f.w = countedStream{s, c}
	f.br = bufio.NewReaderSize(countedStream{s, c}, 4096)
	if f.buf == nil {
		f.buf = make([]byte, 0, wire.FrameHeaderLen+wire.MaxDataLen+64)
		f.hasher = sha256.New()
	}
	f.last = time.Now()
	f.seeder, f.hello = "", false
	if h.credit != nil {
		// Our HELLO goes first; the request follows without waiting.
		if err := s.SetWriteDeadline(time.Now().Add(h.cfg.Limits.RequestTimeout)); err != nil {
			f.drop()
			return false, err
		}
		if err := wire.WriteFrame(f.w, h.credit.hello); err != nil {
			f.drop()
			return false, fmt.Errorf("sending hello: %w", err)
		}
		f.hello = true
	}
	return false, nil
}

// exchange sends one request on f's stream and reads its answer. answered
// reports whether any of the answer arrived. On errors that leave the stream
// out of step it is reset and f.s cleared.
func (h *Host) exchange(ctx context.Context, f *chunkStream, p peer.ID, hash, root [32]byte, progress Progress) (data []byte, answered bool, err error) {
	s := f.s
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer func() {
		if !stop() { // ctx ended and reset the stream
			f.drop()
			if err != nil {
				err = fmt.Errorf("%w (stream reset)", ctx.Err())
			}
		}
	}()
	lim := h.cfg.Limits
	req, _ := (&wire.Request{Hash: hash, Root: root}).Encode()
	if err := s.SetWriteDeadline(time.Now().Add(lim.RequestTimeout)); err != nil {
		f.drop()
		return nil, false, err
	}
	if err := wire.WriteFrame(f.w, req); err != nil {
		f.drop()
		return nil, false, err
	}

	var (
		ra              wire.Reassembler
		received, total int
	)
	f.hasher.Reset()
	for {
		if err := s.SetReadDeadline(time.Now().Add(lim.RequestTimeout)); err != nil {
			f.drop()
			return nil, answered, err
		}
		b, err := readMessage(f.br, f.buf, lim.MaxMessage, &ra)
		if err != nil {
			f.drop()
			if isViolation(err) {
				h.strike(p, err)
				return nil, answered, fmt.Errorf("%w: %w", ErrProtocol, err)
			}
			if isTimeout(err) {
				return nil, answered, fmt.Errorf("peer sent nothing for %v: %w", lim.RequestTimeout, err)
			}
			if errors.Is(err, io.EOF) {
				if answered {
					err = io.ErrUnexpectedEOF
				}
				err = fmt.Errorf("peer closed the stream: %w", err)
			}
			return nil, answered, err
		}
		answered = true
		fragment := ra.Active()
		m, err := ra.Feed(b)
		if errors.Is(err, wire.ErrUnsupportedType) {
			continue // Entropy TAG_UPDATE
		}
		if err != nil {
			return nil, true, h.violation(f, p, err)
		}
		switch {
		case fragment:
			f.hasher.Write(b)
			received += len(b)
			if progress != nil {
				progress(received, total)
			}
		case m == nil: // a DATA_HEADER started a chunk
			var announced [32]byte
			announced, _, total, _ = ra.Progress()
			if announced != hash {
				return nil, true, h.violation(f, p, fmt.Errorf("DATA_HEADER for chunk %x, asked for %x", announced[:4], hash[:4]))
			}
			if progress != nil {
				progress(0, total)
			}
		}
		if m == nil {
			continue
		}
		switch m := m.(type) {
		case *wire.Data:
			if m.Hash != hash {
				return nil, true, h.violation(f, p, fmt.Errorf("DATA for chunk %x, asked for %x", m.Hash[:4], hash[:4]))
			}
			var sum [32]byte
			if fragment {
				f.hasher.Sum(sum[:0])
			} else {
				sum = sha256.Sum256(m.Data)
				if progress != nil {
					progress(len(m.Data), len(m.Data))
				}
			}
			f.last = time.Now()
			if sum != hash {
				return nil, true, ErrHashMismatch
			}
			f.c.fetched.Add(1)
			h.fetched(p, f.seeder, len(m.Data))
			h.sendReceipt(f, hash, root, len(m.Data))
			return m.Data, true, nil
		case *wire.Error:
			if m.Hash != hash {
				return nil, true, h.violation(f, p, fmt.Errorf("ERROR for chunk %x, asked for %x", m.Hash[:4], hash[:4]))
			}
			f.last = time.Now()
			return nil, true, reasonError(m.Reason)
		case *wire.Hello:
			if !f.hello || f.seeder != "" {
				return nil, true, h.violation(f, p, errors.New("HELLO not answering ours"))
			}
			pub, err := h.credit.checkHello(p, m)
			if err != nil {
				return nil, true, h.violation(f, p, err)
			}
			f.seeder = pub
		case *wire.Receipt:
			// Entropy seeders send their own receipt after a chunk;
			// cairn's receipts go the other way. Skip it.
		default:
			return nil, true, h.violation(f, p, fmt.Errorf("%v from a server", m.Type()))
		}
	}
}

func (h *Host) violation(f *chunkStream, p peer.ID, err error) error {
	f.drop()
	h.strike(p, err)
	if errors.Is(err, ErrProtocol) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrProtocol, err)
}

// sendReceipt sends the receipt of a verified chunk on f's stream, when
// the seeder said hello and receipts are on. It is best effort: a receipt
// lost costs the seeder its credit, not this download its chunk.
func (h *Host) sendReceipt(f *chunkStream, hash, root [32]byte, n int) {
	msg, r := h.receipt(f.seeder, hash, root, n)
	if msg == nil {
		return
	}
	err := f.s.SetWriteDeadline(time.Now().Add(h.cfg.Limits.RequestTimeout))
	if err == nil {
		err = wire.WriteFrame(f.w, msg)
	}
	if err != nil {
		h.log.Debug("sending a receipt", "err", err)
		f.drop()
		return
	}
	h.credit.book.Sent()
	if h.cfg.Credit.OnReceiptSent != nil {
		h.cfg.Credit.OnReceiptSent(r)
	}
}

// readMessage reads the next frame: a fragment of the size ra has due
// straight into its place in the chunk (no copy), anything else as
// readFrame does.
func readMessage(br *bufio.Reader, buf []byte, max int, ra *wire.Reassembler) ([]byte, error) {
	if due := ra.Due(); due > 0 {
		hdr, err := br.Peek(wire.FrameHeaderLen)
		if err == nil && int(binary.BigEndian.Uint32(hdr)) == due {
			br.Discard(wire.FrameHeaderLen)
			b := ra.Space()
			if _, err := io.ReadFull(br, b); err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return nil, fmt.Errorf("reading %d-byte frame: %w", due, err)
			}
			return b, nil
		}
	}
	return readFrame(br, buf, max)
}

package p2p

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/swarm/wire"
)

// opener is the optional fast path of a blob store: one open file for all
// the fragments of a chunk (blobstore.Store and blobstore.Memory have it).
type opener interface {
	Open(hash [32]byte) (blobstore.Reader, int64, error)
}

// readFrame reads one frame like wire.ReadFrame, but refuses a frame over
// max before reading it (max <= wire.MaxMessageSize).
func readFrame(br *bufio.Reader, buf []byte, max int) ([]byte, error) {
	hdr, err := br.Peek(wire.FrameHeaderLen)
	if err != nil {
		if errors.Is(err, io.EOF) && len(hdr) == 0 {
			return nil, io.EOF
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading frame length: %w", err)
	}
	if n := binary.BigEndian.Uint32(hdr); n > uint32(max) {
		return nil, fmt.Errorf("reading frame of %d bytes, limit %d: %w", n, max, wire.ErrTooLarge)
	}
	return wire.ReadFrame(br, buf)
}

// isTimeout reports whether err is a passed deadline (yamux and QUIC
// streams report it differently).
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &t) && t.Timeout())
}

// isViolation reports whether a read or decode error is the peer's fault
// (as opposed to a reset, a timeout or a closed connection).
func isViolation(err error) bool {
	for _, e := range []error{
		wire.ErrEmpty, wire.ErrTooLarge, wire.ErrUnknownType, wire.ErrLength,
		wire.ErrLengthField, wire.ErrDataTooLarge, wire.ErrChunkTooLarge, wire.ErrEmptyChunk,
		wire.ErrReceiptTooLarge, wire.ErrBadReceipt, wire.ErrUnknownReason,
		wire.ErrHelloTooLarge, wire.ErrBadHello,
		wire.ErrHeaderMidChunk, wire.ErrNoHeader, wire.ErrFragmentSize, wire.ErrFragmentOverrun,
		ErrProtocol,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// handleChunkStream serves one inbound chunk stream. Requests are answered
// in order; a custody challenge goes before the requests queued ahead of it
// (after the chunk being sent, which cannot be cut: its fragments carry no
// header).
func (h *Host) handleChunkStream(s network.Stream) {
	p := s.Conn().RemotePeer()
	if h.guard.banned(p) || !h.enter() {
		s.Reset()
		return
	}
	defer h.wg.Done()
	tr := transportOf(s.Conn())
	srv := &server{
		h:  h,
		p:  p,
		s:  s,
		w:  countedStream{s, &h.counters[tr]},
		c:  &h.counters[tr],
		br: bufio.NewReaderSize(countedStream{s, &h.counters[tr]}, 4096),
	}
	err := srv.loop()
	switch {
	case err == nil:
		s.Close()
	case isViolation(err):
		s.Reset()
		h.strike(p, err)
	default:
		s.Reset()
		h.log.Debug("chunk stream ended", "peer", p, "err", err)
	}
}

// maxQueued bounds the requests read ahead of the one being answered on a
// stream; past it the server stops reading (and the client's writes wait).
const maxQueued = 64

type server struct {
	h    *Host
	p    peer.ID
	s    network.Stream
	w    io.Writer // counted
	c    *counters
	br   *bufio.Reader
	in   []byte // request frames
	out  []byte // outgoing frames
	frag []byte // frame header + one fragment

	pending atomic.Int32 // requests read and not yet answered

	// Set by the reader from the client's HELLO, before it hands over any
	// request (the channel orders it before the answering loop reads it).
	remote string // the client's Nostr pubkey; "" when it said no hello
	greet  bool   // our HELLO is still to be sent, before the first answer
}

// inbound is what the stream's reader hands the answering loop, in order:
// a request, or the end of the stream (end is nil for a graceful one).
type inbound struct {
	req  *wire.Request
	done bool
	end  error
}

// loop returns nil when the stream should be closed gracefully (the client
// closed its side, or it sat idle), an error when it should be reset. A
// reader goroutine reads ahead, so that a custody challenge is seen while
// the requests before it are still being answered.
func (sv *server) loop() error {
	reqs := make(chan inbound, maxQueued+1)
	challenges := make(chan *wire.CustodyChallenge, maxQueued)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	defer func() {
		close(quit)
		sv.s.SetReadDeadline(time.Now()) // unblock the reader
		wg.Wait()
	}()
	wg.Go(func() { sv.read(reqs, challenges, quit) })
	for {
		// Challenges first: an Entropy downloader wants its proof within
		// 5 s while it has several chunks asked of us.
		select {
		case c := <-challenges:
			if err := sv.challenge(c); err != nil {
				return err
			}
			continue
		default:
		}
		select {
		case c := <-challenges:
			if err := sv.challenge(c); err != nil {
				return err
			}
		case in := <-reqs:
			if in.done {
				return in.end
			}
			root := in.req.Root
			err := sv.answer(in.req.Hash, func(h [32]byte) error { return sv.serveChunk(h, root) })
			sv.pending.Add(-1)
			if err != nil {
				return err
			}
		}
	}
}

func (sv *server) challenge(c *wire.CustodyChallenge) error {
	return sv.answer(c.Hash, func([32]byte) error { return sv.serveProof(c) })
}

// read reads and decodes frames until the stream ends, handing requests
// and challenges to loop. The stream counts as idle, and is closed, when
// no request arrived for IdleTimeout and none is being answered.
func (sv *server) read(reqs chan<- inbound, challenges chan<- *wire.CustodyChallenge, quit <-chan struct{}) {
	lim := sv.h.cfg.Limits
	sv.in = make([]byte, 0, 512)
	end := func(err error) {
		select {
		case reqs <- inbound{done: true, end: err}:
		case <-quit:
		}
	}
	for first := true; ; first = false {
		if err := sv.s.SetReadDeadline(time.Now().Add(lim.IdleTimeout)); err != nil {
			end(err)
			return
		}
		b, err := readFrame(sv.br, sv.in, lim.MaxMessage)
		select {
		case <-quit:
			return
		default:
		}
		if errors.Is(err, io.EOF) {
			end(nil)
			return
		}
		if isTimeout(err) {
			if sv.pending.Load() > 0 {
				continue // busy answering: not idle
			}
			sv.h.log.Debug("closing idle chunk stream", "peer", sv.p)
			end(nil)
			return
		}
		if err != nil {
			end(err)
			return
		}
		m, err := wire.Decode(b)
		if errors.Is(err, wire.ErrUnsupportedType) { // Entropy TAG_UPDATE
			continue
		}
		if err != nil {
			end(err)
			return
		}
		switch m := m.(type) {
		case *wire.Request:
			sv.pending.Add(1)
			select {
			case reqs <- inbound{req: m}:
			case <-quit:
				return
			}
		case *wire.CustodyChallenge:
			select {
			case challenges <- m:
			case <-quit:
				return
			}
		case *wire.Hello:
			if !first {
				end(fmt.Errorf("HELLO after the first frame: %w", ErrProtocol))
				return
			}
			if sv.h.credit != nil {
				pub, err := sv.h.credit.checkHello(sv.p, m)
				if err != nil {
					end(err)
					return
				}
				sv.remote, sv.greet = pub, true
			}
		case *wire.Receipt:
			sv.h.takeReceipt(sv.p, sv.remote, m)
		default:
			end(fmt.Errorf("%v from a client: %w", m.Type(), ErrProtocol))
			return
		}
	}
}

// answer applies the request limit, then serve; refusals the peer is told
// about (not found, busy) go back as ERROR messages.
func (sv *server) answer(hash [32]byte, serve func([32]byte) error) error {
	if sv.greet {
		sv.greet = false
		if err := sv.write(sv.h.credit.hello); err != nil {
			return err
		}
	}
	err := ErrBusy
	if sv.h.limit.allow(sv.p) {
		err = serve(hash)
	}
	if err == nil {
		return nil
	}
	reason, tell := errorReason(err)
	if !tell {
		return err
	}
	msg, _ := (&wire.Error{Hash: hash, Reason: reason}).Encode()
	return sv.write(msg)
}

func (sv *server) write(msg []byte) error {
	var err error
	sv.out, err = wire.AppendFrame(sv.out[:0], msg)
	if err != nil {
		return err
	}
	return sv.writeRaw(sv.out)
}

func (sv *server) writeRaw(frame []byte) error {
	if err := sv.h.upload.wait(sv.h.ctx, len(frame)); err != nil {
		return err
	}
	if err := sv.s.SetWriteDeadline(time.Now().Add(sv.h.cfg.Limits.IdleTimeout)); err != nil {
		return err
	}
	_, err := sv.w.Write(frame)
	return err
}

// open finds a chunk for reading. ErrNotFound if it is not served.
func (sv *server) open(hash [32]byte) (readAt func(p []byte, off int64) (int, error), size int64, done func(), err error) {
	blobs := sv.h.cfg.Blobs
	if blobs == nil {
		return nil, 0, nil, ErrNotFound
	}
	if o, ok := blobs.(opener); ok {
		r, size, err := o.Open(hash)
		if err != nil {
			return nil, 0, nil, notFound(hash, err)
		}
		return r.ReadAt, size, func() { r.Close() }, nil
	}
	size, err = blobs.Size(hash)
	if err != nil {
		return nil, 0, nil, notFound(hash, err)
	}
	return func(p []byte, off int64) (int, error) { return blobs.ReadAt(hash, p, off) }, size, func() {}, nil
}

func notFound(hash [32]byte, err error) error {
	if errors.Is(err, blobstore.ErrNotFound) {
		return ErrNotFound
	}
	// A store that fails otherwise (closed, I/O error) still answers
	// NOT_FOUND: the peer can do nothing else about it.
	return fmt.Errorf("%w (%x: %v)", ErrNotFound, hash[:4], err)
}

// serveChunk sends the chunk exactly as wire.EncodeChunk would lay it out —
// one DATA message up to 64 KiB, else a DATA_HEADER and raw 64 KiB
// fragments — reading each fragment from the store straight into the frame
// buffer rather than loading the whole chunk.
func (sv *server) serveChunk(hash, root [32]byte) error {
	readAt, size, done, err := sv.open(hash)
	if err != nil {
		return err
	}
	defer done()
	if size <= 0 || size > wire.MaxChunkSize {
		sv.h.log.Warn("not serving a chunk of unsendable size", "hash", fmt.Sprintf("%x", hash), "size", size)
		return ErrNotFound
	}
	slot, err := sv.h.serveSlot(sv.remote)
	if err != nil {
		return err
	}
	defer slot()
	booked, err := sv.h.gate(sv.p, sv.remote, root, size)
	if err != nil {
		return err
	}
	defer booked()
	if sv.frag == nil {
		sv.frag = make([]byte, wire.FrameHeaderLen+wire.FragmentSize)
	}
	if sv.remote != "" {
		// Before the bytes go out: the receipt may be back before the
		// last write returns.
		sv.h.credit.book.Served(sv.remote, hash, int(size))
	}
	if size <= wire.MaxDataLen {
		data := sv.frag[wire.FrameHeaderLen : wire.FrameHeaderLen+int(size)]
		if n, err := readAt(data, 0); n < len(data) {
			return notFound(hash, fmt.Errorf("short read of %d bytes: %v", n, err))
		}
		msg, err := (&wire.Data{Hash: hash, Data: data}).Encode()
		if err != nil {
			return err
		}
		if err := sv.write(msg); err != nil {
			return err
		}
		sv.c.served.Add(1)
		return nil
	}
	hdr, err := (&wire.DataHeader{Hash: hash, Total: uint32(size)}).Encode()
	if err != nil {
		return err
	}
	if err := sv.write(hdr); err != nil {
		return err
	}
	for off := int64(0); off < size; off += wire.FragmentSize {
		n := int(min(wire.FragmentSize, size-off))
		frame := sv.frag[:wire.FrameHeaderLen+n]
		binary.BigEndian.PutUint32(frame, uint32(n))
		if got, err := readAt(frame[wire.FrameHeaderLen:], off); got < n {
			// The header is out: there is no way to abort the chunk
			// but resetting the stream.
			return fmt.Errorf("reading chunk %x: %d of %d bytes at %d: %v", hash[:4], got, n, off, err)
		}
		if err := sv.writeRaw(frame); err != nil {
			return err
		}
	}
	sv.c.served.Add(1)
	return nil
}

// serveProof answers a custody challenge for a chunk we hold.
func (sv *server) serveProof(c *wire.CustodyChallenge) error {
	if sv.h.cfg.Blobs == nil {
		return ErrNotFound
	}
	data, err := sv.h.cfg.Blobs.Get(c.Hash)
	if err != nil {
		return notFound(c.Hash, err)
	}
	proof, err := c.Answer(data)
	if err != nil { // offset beyond the chunk
		return fmt.Errorf("custody challenge: %w: %w", ErrProtocol, err)
	}
	msg, _ := proof.Encode()
	return sv.write(msg)
}

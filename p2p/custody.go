package p2p

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/cairn-nostr/cairn/swarm/wire"
)

// Cold storage over libp2p: the offers of custody travel on a protocol of
// their own, one frame (u32 length + body) each way per stream; the
// challenges of custody are the chunk protocol's CUSTODY_CHALLENGE (0x05)
// and CUSTODY_PROOF (0x06), which every chunk server answers.

// CustodyProtocol carries custody offers: the assigner sends one frame,
// the holder answers with one, the stream closes.
const CustodyProtocol = protocol.ID("/cairn/custody/1.0.0")

// MaxCustodyMessage bounds a frame on CustodyProtocol.
const MaxCustodyMessage = 256 << 10

// CustodyHandler answers an offer from peer from (its body) with the
// answer's body; it may take a while (a holder fetches the chunks it
// accepts before it answers), within ctx.
type CustodyHandler func(ctx context.Context, from peer.ID, offer []byte) (answer []byte, err error)

// custodyAnswerTime bounds how long a holder takes to answer an offer.
const custodyAnswerTime = 50 * time.Second

// HandleCustody serves CustodyProtocol with fn; nil stops serving it.
func (h *Host) HandleCustody(fn CustodyHandler) {
	if fn == nil {
		h.host.RemoveStreamHandler(CustodyProtocol)
		return
	}
	h.host.SetStreamHandler(CustodyProtocol, func(s network.Stream) {
		p := s.Conn().RemotePeer()
		if h.guard.banned(p) || !h.enter() {
			s.Reset()
			return
		}
		defer h.wg.Done()
		ctx, cancel := context.WithTimeout(h.ctx, custodyAnswerTime)
		defer cancel()
		stop := context.AfterFunc(ctx, func() { s.Reset() })
		defer stop()
		s.SetReadDeadline(time.Now().Add(h.cfg.Limits.RequestTimeout))
		b, err := readFrame(bufio.NewReader(s), nil, MaxCustodyMessage)
		if err != nil {
			s.Reset()
			if isViolation(err) {
				h.strike(p, err)
			}
			return
		}
		ans, err := fn(ctx, p, b)
		if err != nil {
			h.log.Debug("custody offer", "peer", p, "err", err)
			s.Reset()
			return
		}
		s.SetWriteDeadline(time.Now().Add(h.cfg.Limits.RequestTimeout))
		if err := wire.WriteFrame(s, ans); err != nil {
			s.Reset()
			return
		}
		s.Close()
	})
}

// OfferCustody sends an offer body to p on CustodyProtocol and returns
// the answer's body; ctx bounds the wait (the holder may fetch chunks
// before it answers).
func (h *Host) OfferCustody(ctx context.Context, p peer.ID, offer []byte) ([]byte, error) {
	if len(offer) > MaxCustodyMessage {
		return nil, fmt.Errorf("custody offer of %d bytes, limit %d", len(offer), MaxCustodyMessage)
	}
	if h.guard.banned(p) {
		return nil, ErrBanned
	}
	s, err := h.host.NewStream(h.streamContext(ctx, p), p, CustodyProtocol)
	if err != nil {
		return nil, fmt.Errorf("opening a custody stream to %s: %w", p.ShortString(), err)
	}
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	if err := wire.WriteFrame(s, offer); err != nil {
		s.Reset()
		return nil, fmt.Errorf("sending a custody offer: %w", err)
	}
	s.CloseWrite()
	if d, ok := ctx.Deadline(); ok {
		s.SetReadDeadline(d)
	}
	b, err := readFrame(bufio.NewReader(s), nil, MaxCustodyMessage)
	if err != nil {
		s.Reset()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("reading the custody answer of %s: %w", p.ShortString(), err)
	}
	s.Close()
	return b, nil
}

// Challenge asks p, on a chunk stream of its own, to prove it holds chunk
// hash: CUSTODY_CHALLENGE with offset and nonce, answered by
// CUSTODY_PROOF, whose proof it returns (the caller checks it). A peer
// that lacks the chunk answers ErrNotFound. ctx bounds the wait.
func (h *Host) Challenge(ctx context.Context, p peer.ID, hash [32]byte, offset uint32, nonce [32]byte) ([32]byte, error) {
	var zero [32]byte
	if p == h.ID() {
		return zero, errors.New("p2p: cannot challenge ourselves")
	}
	if h.guard.banned(p) {
		return zero, ErrBanned
	}
	s, err := h.host.NewStream(h.streamContext(ctx, p), p, ChunkProtocol)
	if err != nil {
		return zero, fmt.Errorf("opening a chunk stream to %s: %w", p.ShortString(), err)
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	deadline := time.Now().Add(h.cfg.Limits.RequestTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	s.SetDeadline(deadline)
	c := &h.counters[transportOf(s.Conn())]
	w := countedStream{s, c}
	hello := false
	if h.credit != nil {
		if err := wire.WriteFrame(w, h.credit.hello); err != nil {
			s.Reset()
			return zero, fmt.Errorf("sending hello: %w", err)
		}
		hello = true
	}
	msg, _ := (&wire.CustodyChallenge{Hash: hash, Offset: offset, Nonce: nonce}).Encode()
	if err := wire.WriteFrame(w, msg); err != nil {
		s.Reset()
		return zero, fmt.Errorf("sending the challenge: %w", err)
	}
	br := bufio.NewReaderSize(countedStream{s, c}, 512)
	for greeted := false; ; {
		b, err := readFrame(br, nil, wire.MaxMessageSize)
		if err != nil {
			s.Reset()
			if ctx.Err() != nil {
				return zero, ctx.Err()
			}
			if isViolation(err) {
				h.strike(p, err)
			}
			return zero, fmt.Errorf("reading the custody proof: %w", err)
		}
		m, err := wire.Decode(b)
		if errors.Is(err, wire.ErrUnsupportedType) {
			continue
		}
		if err != nil {
			s.Reset()
			h.strike(p, err)
			return zero, fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		switch m := m.(type) {
		case *wire.Hello:
			if !hello || greeted {
				s.Reset()
				h.strike(p, ErrProtocol)
				return zero, fmt.Errorf("%w: HELLO not answering ours", ErrProtocol)
			}
			if _, err := h.credit.checkHello(p, m); err != nil {
				s.Reset()
				h.strike(p, err)
				return zero, err
			}
			greeted = true
		case *wire.CustodyProof:
			if m.Hash != hash {
				s.Reset()
				return zero, fmt.Errorf("%w: CUSTODY_PROOF for chunk %x, asked for %x", ErrProtocol, m.Hash[:4], hash[:4])
			}
			return m.Proof, nil
		case *wire.Error:
			return zero, reasonError(m.Reason)
		default:
			s.Reset()
			return zero, fmt.Errorf("%w: %v answering a challenge", ErrProtocol, m.Type())
		}
	}
}

// PeerOf is the libp2p peer that said hello as pubkey, when one did.
func (h *Host) PeerOf(pubkey string) (peer.ID, bool) {
	if h.credit == nil {
		return "", false
	}
	h.credit.mu.Lock()
	defer h.credit.mu.Unlock()
	for p, k := range h.credit.known {
		if k.pubkey == pubkey {
			return p, true
		}
	}
	return "", false
}

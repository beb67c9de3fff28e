package p2p

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/credit"
	"github.com/cairn-nostr/cairn/credit/tally"
	"github.com/cairn-nostr/cairn/swarm/wire"
)

// Receipts over the chunk protocol. A receipt names its seeder's Nostr
// pubkey and is signed by its receiver's, but a libp2p stream knows only
// peer IDs: so each side's first frame on a chunk stream is a HELLO
// (wire 0x09) carrying a kind credit.KindHello event, signed by its Nostr
// key, naming its peer ID. The client sends its hello with its first
// request; the server answers with its own before its first answer. After
// a chunk verifies the client signs a receipt naming the seeder's pubkey
// and sends it (0x07) on the same stream; the server checks it against the
// client's pubkey and counts it (tally.Counter, shared with WebRTC).
//
// Why a hello rather than the addressing records (kind 30078 cairn-p2p):
// a peer found through the DHT is a peer ID with no pubkey, a downloader
// need not have published a record, and either side may not have heard
// the other's. A hello costs one frame each way per stream (streams are
// kept and reused) and one signature check per peer, with no lookup.
// A peer without a hello (an older cairn) is served as before; no receipt
// goes either way.

// Credit turns on hellos and receipts on chunk streams.
type Credit struct {
	// SecretKey is the node's Nostr secret key (hex). It signs the hello
	// and the receipts. Empty: no hello is sent and no receipt counted.
	SecretKey string
	// Receipts signs and sends a receipt for every chunk Fetch verified
	// from a peer that said hello.
	Receipts bool
	// OnReceipt gets every receipt a peer sent for a chunk this host
	// served, once accepted; OnReceiptSent every receipt this host sent.
	// Both may be nil; they must not block for long.
	OnReceipt     func(credit.Receipt, *nostr.Event)
	OnReceiptSent func(credit.Receipt)
	// Gate, when set, decides every chunk request on its requester's
	// balance with this node (credit.Gate): a debtor is throttled, or
	// refused with ERROR INSUFFICIENT_CREDIT. The bytes this host serves
	// and fetches are booked on it. nil serves everyone.
	Gate *tally.Gate
	// Scarce reports whether few seeders hold the content of root: a
	// debtor is then throttled rather than refused. nil: never scarce.
	Scarce func(root [32]byte) bool
	// Busy reports whether the node's other uploads (WebRTC) are serving
	// peers in credit; this host's own count besides. nil: this host's only.
	Busy func() bool
	// OnBadHello, when set, is told of every hello that did not check
	// (forged, for another peer ID, stale): the peer gets a strike here
	// too. It must not block for long.
	OnBadHello func(p peer.ID, err error)
	// Premium, when set, gives the premium credits the peer speaking for
	// pubkey earned with this node (cold storage): with Limits.MaxServing
	// set, the waiter with the most is served first. Quick, non-blocking.
	Premium func(pubkey string) int64
}

// creditName is the name a peer's balance goes by: its Nostr pubkey when
// it said hello (as in the ledger), else its peer ID.
func creditName(pubkey string, p peer.ID) string {
	if pubkey != "" {
		return pubkey
	}
	return "libp2p:" + p.String()
}

// gate decides a request for a chunk of size bytes of root from the peer
// speaking for pubkey (or p), which books its bytes: it waits out a
// throttle, or refuses with ErrInsufficientCredit. done is called once the
// chunk is out.
func (h *Host) gate(p peer.ID, pubkey string, root [32]byte, size int64) (done func(), err error) {
	g := h.cfg.Credit.Gate
	if g == nil {
		return func() {}, nil
	}
	who := creditName(pubkey, p)
	scarce := h.cfg.Credit.Scarce != nil && h.cfg.Credit.Scarce(root)
	busy := h.inCredit.Load() > 0 || (h.cfg.Credit.Busy != nil && h.cfg.Credit.Busy())
	d := g.Decide(credit.Ask{Peer: who, Bytes: size, Scarce: scarce, Busy: busy})
	switch d.Verdict {
	case credit.Refuse:
		h.gated.refused.Add(1)
		return nil, fmt.Errorf("%w: balance %d bytes", ErrInsufficientCredit, d.Balance)
	case credit.Throttle:
		h.gated.throttled.Add(1)
		if d.Wait > 0 {
			t := time.NewTimer(d.Wait)
			defer t.Stop()
			select {
			case <-t.C:
			case <-h.ctx.Done():
				return nil, ErrClosed
			}
		}
		return func() {}, nil
	}
	h.inCredit.Add(1)
	return func() { h.inCredit.Add(-1) }, nil
}

// ServingInCredit reports whether a chunk is going out to a peer in credit
// now (the gate's "busy", for the node's WebRTC side).
func (h *Host) ServingInCredit() bool { return h.inCredit.Load() > 0 }

// GateStats counts the gate's decisions on this host.
type GateStats struct {
	Throttled int64 `json:"throttled"`
	Refused   int64 `json:"refused"`
}

type gateCounters struct{ throttled, refused atomic.Int64 }

// GateStats reports the requests the gate throttled and refused.
func (h *Host) GateStats() GateStats {
	return GateStats{Throttled: h.gated.throttled.Load(), Refused: h.gated.refused.Load()}
}

// fetched books n verified bytes from the peer speaking for pubkey (or p).
func (h *Host) fetched(p peer.ID, pubkey string, n int) {
	if g := h.cfg.Credit.Gate; g != nil {
		g.Received(creditName(pubkey, p), int64(n))
	}
}

// creditState is the host's side of it.
type creditState struct {
	pub   string // this node's Nostr pubkey
	hello []byte // this node's HELLO message
	book  *tally.Counter

	mu    sync.Mutex
	known map[peer.ID]knownHello // hellos already checked, by peer
	onBad func(peer.ID, error)   // Credit.OnBadHello
}

type knownHello struct {
	raw, pubkey string
}

// maxKnownHellos bounds the checked hellos remembered.
const maxKnownHellos = 4096

func newCreditState(c Credit, id peer.ID, now func() time.Time) (*creditState, error) {
	if c.SecretKey == "" {
		return nil, nil
	}
	pub, err := nostr.GetPublicKey(c.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("p2p: Credit.SecretKey: %w", err)
	}
	hello, err := tally.Hello(c.SecretKey, id.String(), now())
	if err != nil {
		return nil, err
	}
	return &creditState{pub: pub, hello: hello, book: tally.New(pub, now), known: map[peer.ID]knownHello{}, onBad: c.OnBadHello}, nil
}

// checkHello returns the pubkey that speaks for p, from its hello.
func (cs *creditState) checkHello(p peer.ID, m *wire.Hello) (string, error) {
	cs.mu.Lock()
	k, ok := cs.known[p]
	cs.mu.Unlock()
	if ok && k.raw == string(m.Event) {
		return k.pubkey, nil
	}
	pub, err := credit.ParseHello(m.Event, p.String())
	if err != nil {
		if cs.onBad != nil {
			cs.onBad(p, err)
		}
		return "", fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	cs.mu.Lock()
	if len(cs.known) >= maxKnownHellos {
		clear(cs.known)
	}
	cs.known[p] = knownHello{string(m.Event), pub}
	cs.mu.Unlock()
	return pub, nil
}

// ReceiptStats reports the receipts sent and taken on chunk streams.
func (h *Host) ReceiptStats() tally.Stats {
	if h.credit == nil {
		return tally.Stats{}
	}
	return h.credit.book.Stats()
}

// takeReceipt counts a receipt the peer speaking for pubkey sent.
func (h *Host) takeReceipt(p peer.ID, pubkey string, m *wire.Receipt) {
	if h.credit == nil || pubkey == "" {
		h.log.Debug("receipt from a peer that said no hello: dropped", "peer", p)
		return
	}
	r, ev, err := h.credit.book.Take(pubkey, m)
	if err != nil {
		h.log.Debug("receipt refused", "peer", p, "err", err)
		return
	}
	if h.cfg.Credit.OnReceipt != nil {
		h.cfg.Credit.OnReceipt(r, ev)
	}
}

// receipt signs the receipt for a chunk fetched from seeder and verified;
// nil when receipts are off or the seeder said no hello.
func (h *Host) receipt(seeder string, hash, root [32]byte, n int) ([]byte, credit.Receipt) {
	if h.credit == nil || !h.cfg.Credit.Receipts || seeder == "" {
		return nil, credit.Receipt{}
	}
	msg, r, err := tally.Sign(h.cfg.Credit.SecretKey, seeder, hash, root, n, h.cfg.Now())
	if err != nil {
		h.log.Warn("signing a receipt", "err", err)
		return nil, r
	}
	return msg, r
}

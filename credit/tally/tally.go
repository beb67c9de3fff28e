// Package tally is where the transports meet the credit core: a seeder's
// credit.Book behind a lock with its counts, the check of a RECEIPT message
// against the peer that sent it, and the signing of the receipt a receiver
// sends for a verified chunk. WebRTC (webrtc/receipts.go) and libp2p
// (p2p/credit.go) both use it, so that receipts are checked and made one
// way whatever carries them. package credit decides; this package holds
// its state for concurrent callers.
package tally

import (
	"fmt"
	"sync"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/credit"
	"github.com/cairn-nostr/cairn/swarm/wire"
)

// Stats counts receipts.
type Stats struct {
	Sent, Accepted, Refused int64
	LastRefusal             string
}

// Counter is a seeder's receipt book, safe for concurrent use.
type Counter struct {
	now func() time.Time

	mu    sync.Mutex
	book  *credit.Book
	stats Stats
}

// New returns the counter of the seeder self (its Nostr pubkey); now is
// its clock.
func New(self string, now func() time.Time) *Counter {
	if now == nil {
		now = time.Now
	}
	return &Counter{now: now, book: credit.NewBook(self)}
}

// Served records n bytes of chunk sent to peer (a Nostr pubkey), so that
// its receipt may count. Call it before the last byte goes out: the
// receipt may come back before the sender returns.
func (c *Counter) Served(peer string, chunk [32]byte, n int) {
	c.mu.Lock()
	c.book.Served(peer, chunk, int64(n), c.now())
	c.mu.Unlock()
}

// Take checks a RECEIPT message peer sent: signed by peer, for the chunk
// the message names, and accepted by the book (served, fresh, once). The
// error names the refusal; every call is counted.
func (c *Counter) Take(peer string, m *wire.Receipt) (credit.Receipt, *nostr.Event, error) {
	r, ev, err := credit.DecodeReceipt(m.Event)
	if err == nil && r.Receiver != peer {
		err = fmt.Errorf("receipt signed by %.16s, sent by %.16s", r.Receiver, peer)
	}
	if err == nil && r.Chunk != m.Hash {
		err = fmt.Errorf("receipt for chunk %x in a message for %x", r.Chunk[:4], m.Hash[:4])
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		r, err = c.book.Accept(r, c.now())
	}
	if err != nil {
		c.stats.Refused++
		c.stats.LastRefusal = err.Error()
		return r, ev, err
	}
	c.stats.Accepted++
	return r, ev, nil
}

// Refuse counts a receipt refused before its check, for err.
func (c *Counter) Refuse(err error) {
	c.mu.Lock()
	c.stats.Refused++
	c.stats.LastRefusal = err.Error()
	c.mu.Unlock()
}

// Sent counts a receipt this node sent.
func (c *Counter) Sent() {
	c.mu.Lock()
	c.stats.Sent++
	c.mu.Unlock()
}

// Stats reports the receipts sent and taken.
func (c *Counter) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Add sums two counts (a node's WebRTC and libp2p receipts).
func (s Stats) Add(o Stats) Stats {
	s.Sent += o.Sent
	s.Accepted += o.Accepted
	s.Refused += o.Refused
	if o.LastRefusal != "" {
		s.LastRefusal = o.LastRefusal
	}
	return s
}

// Sign signs, with the Nostr secret key, the receipt for n bytes of chunk
// (of root) received from seeder and verified, and returns its RECEIPT
// message and the receipt as the ledger records it.
func Sign(secret, seeder string, chunk, root [32]byte, n int, now time.Time) ([]byte, credit.Receipt, error) {
	ev := credit.ReceiptEvent(seeder, chunk, root, int64(n), now)
	if err := ev.Sign(secret); err != nil {
		return nil, credit.Receipt{}, fmt.Errorf("signing a receipt: %w", err)
	}
	raw, err := ev.MarshalJSON()
	if err != nil {
		return nil, credit.Receipt{}, err
	}
	msg, err := (&wire.Receipt{Hash: chunk, Event: raw}).Encode()
	if err != nil {
		return nil, credit.Receipt{}, err
	}
	r := credit.Receipt{ID: ev.ID, Receiver: ev.PubKey, Seeder: seeder, Chunk: chunk, Root: root, Bytes: int64(n), At: now.Unix(), Sig: ev.Sig}
	return msg, r, nil
}

// Hello signs the hello (credit.KindHello) of the node at libp2p peer ID
// peerID and returns its HELLO message.
func Hello(secret, peerID string, now time.Time) ([]byte, error) {
	ev := credit.HelloEvent(peerID, now)
	if err := ev.Sign(secret); err != nil {
		return nil, fmt.Errorf("signing the hello: %w", err)
	}
	raw, err := ev.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return (&wire.Hello{Event: raw}).Encode()
}

// Gate is a credit.Gate behind a lock, on a clock.
type Gate struct {
	now func() time.Time

	mu sync.Mutex
	g  *credit.Gate
}

// NewGate returns a gate with cfg's numbers; now is its clock (nil:
// time.Now).
func NewGate(cfg credit.GateConfig, now func() time.Time) *Gate {
	if now == nil {
		now = time.Now
	}
	return &Gate{now: now, g: credit.NewGate(cfg)}
}

// Decide decides on a request (credit.Gate.Decide).
func (g *Gate) Decide(ask credit.Ask) credit.Decision {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.g.Decide(ask, g.now())
}

// Served records n bytes sent to peer.
func (g *Gate) Served(peer string, n int64) {
	g.mu.Lock()
	g.g.Served(peer, n, g.now())
	g.mu.Unlock()
}

// Received records n verified bytes from peer.
func (g *Gate) Received(peer string, n int64) {
	g.mu.Lock()
	g.g.Received(peer, n, g.now())
	g.mu.Unlock()
}

// Load rebuilds the accounts from a ledger (credit.Gate.Load).
func (g *Gate) Load(entries []credit.Entry) {
	g.mu.Lock()
	g.g.Load(entries, g.now())
	g.mu.Unlock()
}

// Balance is peer's balance with this node.
func (g *Gate) Balance(peer string) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.g.Balance(peer)
}

// Accounts copies every peer's account.
func (g *Gate) Accounts() map[string]credit.Account {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.g.Accounts()
}

// Config is the gate's configuration, defaults filled in.
func (g *Gate) Config() credit.GateConfig {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.g.Config()
}

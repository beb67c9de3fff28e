package webrtc

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cairn-nostr/cairn/credit"
	"github.com/cairn-nostr/cairn/swarm/wire"
)

// Receipts (kind 7772, wire message 0x07). The receiver of a chunk signs a
// receipt naming the seeder once the chunk verified and sends it back on
// the same channel (Config.Receipts); the seeder counts it through a
// credit.Book (served by this node to that peer, fresh, once) and hands
// the ones it accepts to Config.OnReceipt. package credit decides; this
// file moves the bytes.

// ReceiptStats counts receipts.
type ReceiptStats struct {
	Sent, Accepted, Refused int64
	LastRefusal             string
}

type receipts struct {
	mu    sync.Mutex
	book  *credit.Book
	stats ReceiptStats
}

func (n *Node) receiptBook() *receipts {
	n.rcptOnce.Do(func() { n.rcpt = &receipts{book: credit.NewBook(n.pub)} })
	return n.rcpt
}

// ReceiptStats reports the receipts sent and received.
func (n *Node) ReceiptStats() ReceiptStats {
	r := n.receiptBook()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// served records a chunk sent to peer, so its receipt may count.
func (n *Node) served(peer string, hash [32]byte, size int) {
	r := n.receiptBook()
	r.mu.Lock()
	r.book.Served(peer, hash, int64(size), n.cfg.Now())
	r.mu.Unlock()
}

// takeReceipt checks a receipt peer sent for chunk hash: signed by that
// peer, for that chunk, and accepted by the book.
func (n *Node) takeReceipt(peer string, m *wire.Receipt) {
	r := n.receiptBook()
	rc, ev, err := credit.DecodeReceipt(m.Event)
	if err == nil && rc.Receiver != peer {
		err = fmt.Errorf("receipt signed by %.16s, sent by %.16s", rc.Receiver, peer)
	}
	if err == nil && rc.Chunk != m.Hash {
		err = fmt.Errorf("receipt for chunk %x in a message for %x", rc.Chunk[:4], m.Hash[:4])
	}
	if err == nil {
		r.mu.Lock()
		rc, err = r.book.Accept(rc, n.cfg.Now())
		r.mu.Unlock()
	}
	r.mu.Lock()
	if err != nil {
		r.stats.Refused++
		r.stats.LastRefusal = err.Error()
	} else {
		r.stats.Accepted++
	}
	r.mu.Unlock()
	if err != nil {
		n.log.Debug("receipt refused", "peer", peer, "err", err)
		return
	}
	if n.cfg.OnReceipt != nil {
		n.cfg.OnReceipt(rc, ev)
	}
}

// sendReceipt signs a receipt for a chunk that verified and sends it on c,
// in the background (best effort: a lost receipt costs its seeder credit,
// not the download).
func (c *Conn) sendReceipt(hash, root [32]byte, size int) {
	n := c.n
	if !n.cfg.Receipts {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ev := credit.ReceiptEvent(c.peer, hash, root, int64(size), n.cfg.Now())
		if err := ev.Sign(n.cfg.SecretKey); err != nil {
			return
		}
		raw, _ := ev.MarshalJSON()
		msg, err := (&wire.Receipt{Hash: hash, Event: raw}).Encode()
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
		defer cancel()
		if err := c.take(ctx); err != nil {
			return
		}
		err = c.send(msg)
		c.release()
		if err == nil {
			r := n.receiptBook()
			r.mu.Lock()
			r.stats.Sent++
			r.mu.Unlock()
			if n.cfg.OnReceiptSent != nil {
				if rc, err := credit.ParseReceipt(ev); err == nil {
					n.cfg.OnReceiptSent(rc)
				}
			}
		}
	}()
}

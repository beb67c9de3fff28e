package webrtc

import (
	"context"
	"errors"
	"time"

	"github.com/cairn-nostr/cairn/credit/tally"
	"github.com/cairn-nostr/cairn/swarm/wire"
)

// Receipts (kind 7772, wire message 0x07). The receiver of a chunk signs a
// receipt naming the seeder once the chunk verified and sends it back on
// the same channel (Config.Receipts); the seeder counts it through a
// tally.Counter (served by this node to that peer, fresh, once) and hands
// the ones it accepts to Config.OnReceipt. package credit decides, package
// tally holds its state (shared with libp2p); this file moves the bytes.

// ReceiptStats counts receipts.
type ReceiptStats = tally.Stats

func (n *Node) receiptBook() *tally.Counter {
	n.rcptOnce.Do(func() { n.rcpt = tally.New(n.pub, n.cfg.Now) })
	return n.rcpt
}

// ReceiptStats reports the receipts sent and received.
func (n *Node) ReceiptStats() ReceiptStats { return n.receiptBook().Stats() }

// served records a chunk sent to peer, so its receipt may count.
func (n *Node) served(peer string, hash [32]byte, size int) {
	n.receiptBook().Served(peer, hash, size)
}

// receiptQueue bounds the receipts waiting for their check; past it a
// receipt is refused unchecked.
const receiptQueue = 256

type pendingReceipt struct {
	peer string
	m    *wire.Receipt
}

// queueReceipt hands a receipt to the node's checker, off the channel's
// loop: the next request on the channel is not held up by a signature
// check.
func (n *Node) queueReceipt(peer string, m *wire.Receipt) {
	n.rcptQOnce.Do(func() {
		n.rcptQ = make(chan pendingReceipt, receiptQueue)
		if n.ctx.Err() == nil {
			n.wg.Add(1)
			go n.checkReceipts()
		}
	})
	select {
	case n.rcptQ <- pendingReceipt{peer, m}:
	default:
		n.receiptBook().Refuse(errors.New("receipt: too many waiting for their check"))
	}
}

// checkReceipts checks queued receipts until the node closes.
func (n *Node) checkReceipts() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case p := <-n.rcptQ:
			n.takeReceipt(p.peer, p.m)
		}
	}
}

// takeReceipt checks a receipt peer sent for chunk hash: signed by that
// peer, for that chunk, and accepted by the book.
func (n *Node) takeReceipt(peer string, m *wire.Receipt) {
	rc, ev, err := n.receiptBook().Take(peer, m)
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
		msg, rc, err := tally.Sign(n.cfg.SecretKey, c.peer, hash, root, size, n.cfg.Now())
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
			n.receiptBook().Sent()
			if n.cfg.OnReceiptSent != nil {
				n.cfg.OnReceiptSent(rc)
			}
		}
	}()
}

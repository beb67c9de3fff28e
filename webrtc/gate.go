package webrtc

import (
	"time"

	"github.com/cairn-nostr/cairn/credit"
	"github.com/cairn-nostr/cairn/swarm/wire"
)

// Gating over WebRTC (Config.Gate). package credit decides; this file
// asks it and carries out the verdict. A channel's messages are handled by
// one loop, so a throttled chunk is not waited for there: it is sent by a
// goroutine of its own once its turn comes (at most the gate's MaxWait
// away, under a requester's RequestTimeout), while the loop goes on with
// the peer's next messages. Answers are matched to requests by hash, so a
// chunk sent late may overtake none or several others.

// GateStats counts the gate's decisions on this node's channels.
type GateStats struct {
	Throttled int64 `json:"throttled"`
	Refused   int64 `json:"refused"`
}

// GateStats reports the requests the gate throttled and refused.
func (n *Node) GateStats() GateStats {
	return GateStats{Throttled: n.gated.throttled.Load(), Refused: n.gated.refused.Load()}
}

// ServingInCredit reports whether a chunk is going out to a peer in credit
// on a channel now (the gate's "busy", for the node's libp2p side).
func (n *Node) ServingInCredit() bool { return n.inCredit.Load() > 0 }

// decide asks the gate about a request of peer for size bytes of root.
// Without a gate every request is served.
func (n *Node) decide(peer string, root [32]byte, size int) credit.Decision {
	g := n.cfg.Gate
	if g == nil {
		return credit.Decision{Verdict: credit.Serve}
	}
	ask := credit.Ask{
		Peer:   peer,
		Bytes:  int64(size),
		Scarce: n.cfg.Scarce != nil && n.cfg.Scarce(root),
		Busy:   n.inCredit.Load() > 0 || (n.cfg.Busy != nil && n.cfg.Busy()),
	}
	d := g.Decide(ask)
	switch d.Verdict {
	case credit.Refuse:
		n.gated.refused.Add(1)
		n.log.Debug("gate refused a request", "peer", peer, "balance", d.Balance, "wait", d.Wait)
	case credit.Throttle:
		n.gated.throttled.Add(1)
	}
	return d
}

// later sends chunk hash to the peer after wait, off the channel's loop.
// The chunk is read again then (not held in memory meanwhile); one gone by
// then is answered NOT_FOUND. A channel that closes first drops it.
func (c *Conn) later(hash [32]byte, wait time.Duration) {
	n := c.n
	n.mu.Lock()
	if n.ctx.Err() != nil {
		n.mu.Unlock()
		return
	}
	n.wg.Add(1)
	n.mu.Unlock()
	go func() {
		defer n.wg.Done()
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.closed:
			return
		case <-n.ctx.Done():
			return
		}
		var err error
		if data, gerr := c.chunk(hash); gerr != nil {
			err = c.refuse(hash, wire.ReasonNotFound)
		} else {
			err = c.sendChunk(hash, data)
		}
		if err != nil {
			n.log.Debug("sending a throttled chunk", "peer", c.peer, "err", err)
			c.Close()
		}
	}()
}

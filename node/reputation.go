package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairn-nostr/cairn/credit/rep"
	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/swarm"
	"github.com/cairn-nostr/cairn/swarm/sched"
)

// Reputation (package credit/rep) outlives a restart: what each peer
// served this node (verified bytes, counted as its chunks arrive over
// libp2p or WebRTC), its strikes (chunks that failed verification, hellos
// that did not check) and
// the custody verdicts this node gave it as a cold-storage assigner are
// kept in DATA_DIR/reputation.json, written atomically (a temporary file,
// fsync'd, renamed) every repSaveEvery and when the node stops, and read
// at start. A file that does not decode is set aside
// (reputation.json.broken-<unix>) with a warning and the node starts
// afresh: reputation is a preference, not data. The score orders peers of
// equal rate in every download's scheduler (sched.Config.Score).
//
// A peer is named by its Nostr pubkey: a WebRTC peer's ID is one; a
// libp2p peer's is the pubkey the node dialled it for (its addressing
// record) or the one it said hello as, else "libp2p:<peer ID>".

const (
	// repSaveEvery is how often the reputation is written.
	repSaveEvery = 5 * time.Minute
	// repCustodyEvery is how often the assigner's custody verdicts are
	// read into the reputation.
	repCustodyEvery = 10 * time.Second
	// maxRepBinds bounds the remembered peer ID → pubkey bindings.
	maxRepBinds = 4096
)

func repFile(dataDir string) string { return filepath.Join(dataDir, "reputation.json") }

type reputation struct {
	mu    sync.Mutex
	book  *rep.Book
	binds map[swarm.PeerID]string // libp2p peer ID → the pubkey dialled for
	// custody are the assigner's passed and failed counts per holder
	// already counted.
	custody map[string][2]int
	// premium are the premium credits each holder earned with this node
	// as assigner, read with the custody counts: the priority they buy
	// when the node is busy (p2p's Limits.MaxServing).
	premium map[string]int64
	path    string
	reset   string // why the file found at start was set aside
	rtc     swarm.Transport
	rtcOnce sync.Once
}

// openReputation reads DATA_DIR/reputation.json, setting a broken one
// aside.
func openReputation(dataDir string, log *slog.Logger) *reputation {
	r := &reputation{book: rep.New(rep.Config{}), binds: map[swarm.PeerID]string{}, custody: map[string][2]int{}, premium: map[string]int64{}, path: repFile(dataDir)}
	data, err := os.ReadFile(r.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return r
	case err == nil:
		var b *rep.Book
		if b, err = rep.Decode(rep.Config{}, data); err == nil {
			r.book = b
			return r
		}
	}
	aside := fmt.Sprintf("%s.broken-%d", r.path, time.Now().Unix())
	if rerr := os.Rename(r.path, aside); rerr != nil {
		r.reset = fmt.Sprintf("%v; could not set it aside (%v): it will be overwritten", err, rerr)
	} else {
		r.reset = fmt.Sprintf("%v; set aside as %s", err, aside)
	}
	log.Warn("starting with no peer reputation: the saved one is unreadable", "file", r.path, "err", r.reset)
	return r
}

// save writes the reputation atomically: a temporary file, fsync'd,
// renamed over the old one, the directory fsync'd.
func (r *reputation) save() error {
	r.mu.Lock()
	data := r.book.Encode(time.Now())
	r.mu.Unlock()
	if err := writeSynced(r.path, data); err != nil {
		return fmt.Errorf("saving the peer reputation: %w", err)
	}
	if d, err := os.Open(filepath.Dir(r.path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// bind remembers that the libp2p peer id was dialled for pubkey.
func (r *reputation) bind(id swarm.PeerID, pubkey string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.binds) >= maxRepBinds {
		clear(r.binds)
	}
	r.binds[id] = pubkey
}

// repName is the name of a download's peer in the reputation.
func (n *Node) repName(id swarm.PeerID) string {
	s := string(id)
	if event.IsHex(s, 64) {
		return s // a WebRTC peer: its pubkey
	}
	n.rep.mu.Lock()
	pk, ok := n.rep.binds[id]
	n.rep.mu.Unlock()
	if ok {
		return pk
	}
	if n.host != nil {
		if p, err := peer.Decode(s); err == nil {
			if pk, ok := n.host.PubKeyOf(p); ok {
				return pk
			}
		}
	}
	return "libp2p:" + s
}

// repScore is the scheduler's Config.Score: the peer's reputation now.
func (n *Node) repScore(id swarm.PeerID) float64 {
	name := n.repName(id)
	n.rep.mu.Lock()
	defer n.rep.mu.Unlock()
	return n.rep.book.Score(name, time.Now())
}

// rtcTransport is the WebRTC transport with its fetches counted.
func (n *Node) rtcTransport() swarm.Transport {
	n.rep.rtcOnce.Do(func() { n.rep.rtc = n.repTransport(n.rtc.Transport()) })
	return n.rep.rtc
}

// repTransport wraps a download transport so that what its peers deliver
// counts in their reputation: a verified chunk's bytes, or a strike for
// bytes that did not match their hash. RequestRate and Verifies are the
// wrapped transport's (sched.DefaultRequestRate and false when it has
// none).
func (n *Node) repTransport(tr swarm.Transport) swarm.Transport {
	return &repTransport{Transport: tr, n: n}
}

type repTransport struct {
	swarm.Transport
	n *Node
}

func (t *repTransport) Fetch(ctx context.Context, p swarm.PeerID, hash, root [32]byte, progress func(got, total int)) ([]byte, error) {
	b, err := t.Transport.Fetch(ctx, p, hash, root, progress)
	switch {
	case err == nil:
		name := t.n.repName(p)
		t.n.rep.mu.Lock()
		t.n.rep.book.Served(name, int64(len(b)), time.Now())
		t.n.rep.mu.Unlock()
	case errors.Is(err, swarm.ErrHashMismatch):
		name := t.n.repName(p)
		t.n.rep.mu.Lock()
		t.n.rep.book.Strike(name, rep.BadChunk, time.Now())
		t.n.rep.mu.Unlock()
	}
	return b, err
}

func (t *repTransport) RequestRate() float64 {
	if r, ok := t.Transport.(swarm.RequestRater); ok {
		return r.RequestRate()
	}
	return sched.DefaultRequestRate
}

func (t *repTransport) Verifies() bool {
	v, ok := t.Transport.(swarm.Verifier)
	return ok && v.Verifies()
}

// repBadHello strikes a libp2p peer whose hello did not check (p2p's
// Credit.OnBadHello). The pubkey a bad hello claims is not trusted: the
// peer goes by the pubkey it was dialled for, a good hello it said
// before, or its peer ID.
func (n *Node) repBadHello(p peer.ID, _ error) {
	name := n.repName(swarm.PeerID(p.String()))
	n.rep.mu.Lock()
	defer n.rep.mu.Unlock()
	n.rep.book.Strike(name, rep.BadHello, time.Now())
}

// repCustody counts the custody verdicts the assigner gave since the last
// call: each proof passed or failed, per holder; and keeps each holder's
// premium credits.
func (n *Node) repCustody() {
	c := n.cold
	if c == nil {
		return
	}
	c.mu.Lock()
	if c.a == nil {
		c.mu.Unlock()
		return
	}
	hs := c.a.Holders(time.Now())
	c.mu.Unlock()
	now := time.Now()
	n.rep.mu.Lock()
	defer n.rep.mu.Unlock()
	for _, h := range hs {
		seen := n.rep.custody[h.Holder]
		for range max(0, h.Passed-seen[0]) {
			n.rep.book.Custody(h.Holder, true, now)
		}
		for range max(0, h.Failed-seen[1]) {
			n.rep.book.Custody(h.Holder, false, now)
		}
		n.rep.custody[h.Holder] = [2]int{h.Passed, h.Failed}
		n.rep.premium[h.Holder] = h.Premium
	}
}

// premium is p2p's Credit.Premium: the premium credits pubkey earned
// holding this node's cold-storage chunks (as of the last read, at most
// 10 s old).
func (n *Node) premium(pubkey string) int64 {
	n.rep.mu.Lock()
	defer n.rep.mu.Unlock()
	return n.rep.premium[pubkey]
}

// repLoop reads custody verdicts and saves the reputation now and then.
func (n *Node) repLoop() error {
	custody := time.NewTicker(repCustodyEvery)
	defer custody.Stop()
	save := time.NewTicker(repSaveEvery)
	defer save.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return nil
		case <-custody.C:
			n.repCustody()
		case <-save.C:
			if err := n.rep.save(); err != nil {
				n.log.Warn("saving the peer reputation", "err", err)
			}
		}
	}
}

// PeerReputation is one peer in /api/credits's "reputation".
type PeerReputation = rep.Peer

// maxRepPeers bounds the peers /api/credits lists.
const maxRepPeers = 50

// Reputation lists the peers by score, the best first (at most 50), and
// why the saved reputation was set aside at start, if it was.
func (n *Node) Reputation() ([]PeerReputation, string) {
	n.rep.mu.Lock()
	defer n.rep.mu.Unlock()
	ps := n.rep.book.Peers(time.Now())
	if len(ps) > maxRepPeers {
		// The best and the worst matter most: keep both ends.
		ps = append(ps[:maxRepPeers/2], ps[len(ps)-maxRepPeers/2:]...)
	}
	return ps, n.rep.reset
}

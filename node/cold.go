package node

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/credit"
	"github.com/cairn-nostr/cairn/credit/cold"
	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/p2p"
)

// Cold storage (package credit/cold). As an assigner (--cold-assign) the
// node hands the chunks of the files it holds in full and few others seed
// to the peers whose ratio with it is at least 2 (from its ledger: what
// the peer uploaded to it against what it downloaded from it), offering
// them over /cairn/custody/1.0.0 (a signed kind 27773 with the file's
// chunk map); it challenges each holder at random times with
// CUSTODY_CHALLENGE over a chunk stream and checks the proof against its
// own copy; a wrong or missing proof ends the assignment and benches the
// holder, and the chunk goes to another. As a holder (--cold-hold, on by
// default) the node takes at most 16 assignments: it fetches the chunks
// it accepts from the assigner (verified as every fetch is), pins them
// ("cold"), keeps the chunk map, provides the root on the DHT so that
// downloaders find it, answers (a signed kind 27774) and unpins them
// when their term ends unrenewed; with --cold-hold=false it declines every
// offer. Both sides outlive a restart: DATA_DIR/cold.json (cold.Saved,
// written atomically with fsync after every review, every offer taken and
// at stop) keeps the assigner's held assignments, its holders' benches,
// counts, premium and libp2p peer IDs, and the holder's holdings. At start
// a holder keeps the pins of its holdings and provides their roots again
// (a holding whose chunk is gone is dropped, and its challenge fails), and
// lifts the other cold pins; an assigner challenges its restored
// assignments afresh. A file that cannot be read is logged, set aside as
// cold.json.broken-<unix>, and the node starts with nothing held.

// ColdConfig sets cold storage.
type ColdConfig struct {
	// Assign hands out the chunks of unpopular files this node holds to
	// eligible peers and challenges them (default off).
	Assign bool
	// Hold takes assignments offered by other nodes (default on).
	Hold bool
	// MinSeeders: a file with fewer known seeders (this node included)
	// is unpopular (0: 3). Replicas: holders per chunk (0: 3).
	MinSeeders, Replicas int
	// Every is how often assignments are reviewed (0: 1 min).
	Every Duration
	// ChallengeEvery is the mean time between two challenges of one
	// assignment (0: 30 min). Bench is how long a holder that failed one
	// gets no assignment (0: 24 h).
	ChallengeEvery, Bench Duration
}

func (c ColdConfig) validate() error {
	if c.MinSeeders < 0 || c.Replicas < 0 || c.Every < 0 || c.ChallengeEvery < 0 || c.Bench < 0 {
		return errors.New("cold storage settings must not be negative (0 means the default)")
	}
	return nil
}

// PinCold is the pin reason of chunks held for an assigner.
const PinCold = "cold"

// maxColdEnded bounds the ended assignments remembered for the status.
const maxColdEnded = 50

type coldState struct {
	mu    sync.Mutex
	a     *cold.Assigner // nil unless Assign
	hold  cold.Holdings
	maps  map[[32]byte]*nostr.Event // the chunk maps of the files assigned, by root
	ended []cold.Ended
	// offered are the chunks offered to each holder: its fetching them
	// is a service to this node, not a download that lowers its ratio.
	offered map[string]map[string]bool
	// Counts: challenges sent, proofs that matched, challenges failed
	// (wrong proof or NOT_FOUND; a missed one ends at the next tick).
	challenged, proved, failed int64
	// contacts are the holders' peer IDs from the saved state: a
	// restarted assigner reaches them before they said hello again.
	contacts map[string]peer.ID
	saveMu   sync.Mutex // one write of cold.json at a time
	saved    []byte     // what was last written
}

// startCold serves custody offers and starts the review loop.
func (n *Node) startCold() {
	c := &coldState{maps: map[[32]byte]*nostr.Event{}, offered: map[string]map[string]bool{}}
	cc := n.cfg.Cold
	if cc.Assign {
		var seed [32]byte
		crand.Read(seed[:])
		c.a = cold.NewAssigner(cold.Config{
			MinSeeders:     cc.MinSeeders,
			Replicas:       cc.Replicas,
			ChallengeEvery: time.Duration(cc.ChallengeEvery),
			Bench:          time.Duration(cc.Bench),
		}, seed)
	}
	n.cold = c
	n.loadCold()
	n.unpinColdLeft()
	n.host.HandleCustody(n.takeOffer) // declines every offer unless Hold
	if cc.Assign || cc.Hold {
		n.group.Go(n.coldLoop)
	}
}

func (n *Node) coldLoop() error {
	every := time.Duration(n.cfg.Cold.Every)
	if every <= 0 {
		every = time.Minute
	}
	select {
	case <-n.peer.Started():
	case <-n.ctx.Done():
		return nil
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return nil
		case <-t.C:
		}
		if n.cold.a != nil {
			n.assignTick()
		}
		n.expireHoldings()
		n.saveColdLogged()
	}
}

// maxOffered bounds the chunks remembered as offered to holders.
const maxOffered = 1 << 14

// coldEvidence is each peer's give and take as the ledger shows it: what
// it uploaded to this node (debits, receipted by this node) and what it
// downloaded from it (credits, receipted by the peer), less the chunks it
// fetched because this node offered them. Called with c.mu held.
func (n *Node) coldEvidence() map[string]cold.Evidence {
	n.credits.mu.Lock()
	es := n.credits.ledger.Entries()
	n.credits.mu.Unlock()
	out := map[string]cold.Evidence{}
	for _, e := range es {
		ev := out[e.Peer]
		switch {
		case e.Direction == credit.Down:
			ev.Up += e.Bytes
		case !n.cold.offered[e.Peer][e.Chunk]:
			ev.Down += e.Bytes
		}
		out[e.Peer] = ev
	}
	return out
}

// noteOffered remembers the chunks of an offer. Called with c.mu held.
func (c *coldState) noteOffered(o cold.Offer) {
	n := 0
	for _, m := range c.offered {
		n += len(m)
	}
	if n+len(o.Chunks) > maxOffered {
		clear(c.offered)
	}
	m := c.offered[o.Holder]
	if m == nil {
		m = map[string]bool{}
		c.offered[o.Holder] = m
	}
	for _, h := range o.Chunks {
		m[hex.EncodeToString(h[:])] = true
	}
}

// assignTick tells the assigner the files and peers of now and carries out
// what it decides.
func (n *Node) assignTick() {
	files := n.peer.SeededFiles(n.ctx)
	c := n.cold
	c.mu.Lock()
	evidence := n.coldEvidence()
	held := map[[32]byte]bool{}
	for _, f := range files {
		root := f.Map.Root
		held[root] = true
		chunks := make([]cold.Chunk, 0, len(f.Map.Chunks))
		for _, h := range f.Map.Chunks {
			size, _ := n.blobs.Size(h)
			chunks = append(chunks, cold.Chunk{Hash: h, Size: size})
		}
		seeders := 1
		for _, s := range n.peer.Seeders(root) {
			if s.PubKey != n.key.Public {
				seeders++
			}
		}
		c.a.SetFile(root, chunks, seeders)
		c.maps[root] = f.Event
	}
	for _, root := range c.a.Files() {
		if !held[root] {
			c.a.DropFile(root)
			delete(c.maps, root)
		}
	}
	for pk, ev := range evidence {
		p, ok := n.coldPeerLocked(pk)
		c.a.SetPeer(pk, ev, ok && !n.host.Banned(p))
	}
	acts := c.a.Tick(time.Now())
	c.ended = append(c.ended, acts.Ended...)
	if len(c.ended) > maxColdEnded {
		c.ended = c.ended[len(c.ended)-maxColdEnded:]
	}
	maps := make([]*nostr.Event, len(acts.Offers))
	for i, o := range acts.Offers {
		maps[i] = c.maps[o.Root]
		c.noteOffered(o)
	}
	c.mu.Unlock()
	for _, e := range acts.Ended {
		n.log.Info("cold storage assignment ended", "holder", e.Holder[:16], "chunk", hex.EncodeToString(e.Chunk[:8]), "reason", e.Reason)
	}
	for i, o := range acts.Offers {
		n.spawn(func(ctx context.Context) { n.sendOffer(ctx, o, maps[i]) })
	}
	for _, ch := range acts.Challenges {
		n.spawn(func(ctx context.Context) { n.challenge(ctx, ch) })
	}
}

// sendOffer offers o to its holder and records the answer. An offer that
// cannot be sent, or gets no valid answer, lapses in the assigner.
func (n *Node) sendOffer(ctx context.Context, o cold.Offer, mapEv *nostr.Event) {
	p, ok := n.coldPeer(o.Holder)
	if !ok || mapEv == nil {
		return
	}
	ev := cold.OfferEvent(o, mapEv.ID, time.Now())
	if err := ev.Sign(n.key.Secret); err != nil {
		n.log.Error("signing a custody offer", "err", err)
		return
	}
	body, _ := json.Marshal(cold.Message{Offer: ev, Map: mapEv})
	ctx, cancel := context.WithTimeout(ctx, 55*time.Second)
	defer cancel()
	ans, err := n.host.OfferCustody(ctx, p, body)
	if err != nil {
		n.log.Debug("custody offer", "holder", o.Holder[:16], "err", err)
		return
	}
	m, err := cold.DecodeMessage(ans)
	var acc [][32]byte
	var why string
	if err == nil {
		acc, why, err = cold.ParseAnswer(m.Answer, o, ev.ID, n.key.Public)
	}
	if err != nil {
		n.log.Debug("custody answer refused", "holder", o.Holder[:16], "err", err)
		return
	}
	if why != "" {
		n.log.Debug("custody offer declined in part", "holder", o.Holder[:16], "accepted", len(acc), "of", len(o.Chunks), "why", why)
	}
	n.cold.mu.Lock()
	n.cold.a.Answered(o.Holder, o.Root, acc, time.Now())
	n.cold.mu.Unlock()
	n.saveColdLogged()
}

// challengeRetry is the pause before a challenge that did not reach the
// holder (BUSY, no connection) is sent again.
const challengeRetry = 300 * time.Millisecond

// challenge asks a holder for a custody proof and checks it against this
// node's copy of the chunk. A holder that answers NOT_FOUND or a wrong
// proof fails; one that does not answer in time fails at the next tick.
// Until the deadline, a challenge that did not reach the holder (busy, the
// connection gone) is sent again.
func (n *Node) challenge(ctx context.Context, ch cold.Challenge) {
	n.cold.mu.Lock()
	n.cold.challenged++
	n.cold.mu.Unlock()
	data, err := n.blobs.Get(ch.Chunk)
	if err != nil { // this node lost its copy: it cannot judge
		n.cold.mu.Lock()
		n.cold.a.DropFile(ch.Root)
		n.cold.mu.Unlock()
		return
	}
	p, ok := n.coldPeer(ch.Holder)
	if !ok {
		return
	}
	ctx, cancel := context.WithDeadline(ctx, ch.Deadline)
	defer cancel()
	proof, err := n.host.Challenge(ctx, p, ch.Chunk, ch.Offset, ch.Nonce)
	for err != nil && !errors.Is(err, p2p.ErrNotFound) && time.Until(ch.Deadline) > challengeRetry {
		// Its request limit, or a connection that dropped (a holder
		// restarting): not its custody. Ask again within the 5 s, at the
		// address it is known by now.
		select {
		case <-ctx.Done():
			return
		case <-time.After(challengeRetry):
		}
		if q, ok := n.coldPeer(ch.Holder); ok {
			p = q
		}
		proof, err = n.host.Challenge(ctx, p, ch.Chunk, ch.Offset, ch.Nonce)
	}
	var good bool
	switch {
	case err == nil:
		good = proof == ch.Want(data)
	case errors.Is(err, p2p.ErrNotFound):
	default:
		n.log.Debug("custody challenge", "holder", ch.Holder[:16], "err", err)
		return // missed: it fails once the deadline passed
	}
	n.cold.mu.Lock()
	if good {
		n.cold.proved++
	} else {
		n.cold.failed++
	}
	n.cold.a.Proved(ch.Holder, ch.Chunk, ch.Nonce, good, time.Now())
	n.cold.mu.Unlock()
	if !good {
		n.log.Info("custody challenge failed", "holder", ch.Holder[:16], "chunk", hex.EncodeToString(ch.Chunk[:8]), "err", err)
	}
}

// takeOffer answers an offer of custody from peer from: the chunks it
// takes are fetched from from, pinned, and the root provided on the DHT.
func (n *Node) takeOffer(ctx context.Context, from peer.ID, body []byte) ([]byte, error) {
	m, err := cold.DecodeMessage(body)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	o, err := cold.ParseOffer(m.Offer, n.key.Public, now)
	if err != nil {
		return nil, err
	}
	var acc [][32]byte
	why := n.checkOfferMap(o, m.Map)
	if why == "" {
		n.cold.mu.Lock()
		acc, why = n.cold.hold.Take(o.Offer, o.Assigner, now)
		n.cold.mu.Unlock()
	}
	var got [][32]byte
	if len(acc) > 0 {
		if err := n.relay.Publish(ctx, m.Map); err != nil {
			n.log.Debug("keeping a held file's chunk map", "err", err)
		}
		for _, h := range acc {
			if err := n.keepChunk(ctx, from, o.Root, h); err != nil {
				n.cold.mu.Lock()
				n.cold.hold.Drop(o.Assigner, h)
				n.cold.mu.Unlock()
				why = fmt.Sprintf("fetching chunk %x: %v", h[:4], err)
				continue
			}
			got = append(got, h)
		}
		if len(got) > 0 {
			n.provide(o.Root)
		}
		n.saveColdLogged()
	}
	ans := cold.AnswerEvent(o, got, why, time.Now())
	if err := ans.Sign(n.key.Secret); err != nil {
		return nil, err
	}
	return json.Marshal(cold.Message{Answer: ans})
}

// checkOfferMap says why the chunk map sent with an offer does not do:
// not the one the offer names, not validly signed, another root, or
// missing a chunk offered. "" when it does.
func (n *Node) checkOfferMap(o cold.ReceivedOffer, ev *nostr.Event) string {
	if !n.cfg.Cold.Hold {
		return "this node holds nothing for others"
	}
	if ev == nil || ev.ID != o.MapID {
		return "the offer came without the chunk map it names"
	}
	if err := event.Verify(ev); err != nil {
		return fmt.Sprintf("chunk map: %v", err)
	}
	cm, err := chunkmap.Parse(ev)
	if err != nil {
		return fmt.Sprintf("chunk map: %v", err)
	}
	if cm.Root != o.Root {
		return "the chunk map is of another root"
	}
	in := map[[32]byte]bool{}
	for _, h := range cm.Chunks {
		in[h] = true
	}
	for _, h := range o.Chunks {
		if !in[h] {
			return fmt.Sprintf("chunk %x is not in the map", h[:4])
		}
	}
	return ""
}

// keepChunk fetches a chunk from the assigner unless it is held, and pins
// it for cold storage.
func (n *Node) keepChunk(ctx context.Context, from peer.ID, root, h [32]byte) error {
	if !n.blobs.Has(h) {
		data, err := n.host.Fetch(ctx, from, h, root)
		if err != nil {
			return err
		}
		if err := n.blobs.Put(h, data); err != nil {
			return err
		}
	}
	return n.blobs.Pin(h, PinCold)
}

// unpinColdLeft lifts the cold pins no holding names (held for an
// assigner in a run whose state was not kept, or with --cold-hold=false):
// their chunks stay only until the quota evicts them.
func (n *Node) unpinColdLeft() {
	n.cold.mu.Lock()
	defer n.cold.mu.Unlock()
	for _, h := range n.blobs.List() {
		for _, r := range n.blobs.Pins(h) {
			if r == PinCold && !n.cold.hold.Holds(h) {
				if err := n.blobs.Unpin(h, PinCold); err != nil {
					n.log.Warn("lifting a cold pin of the last run", "err", err)
				}
			}
		}
	}
}

// expireHoldings unpins the chunks whose term ended unrenewed.
func (n *Node) expireHoldings() {
	c := n.cold
	c.mu.Lock()
	gone := c.hold.Expire(time.Now())
	var unpin [][32]byte
	for _, h := range gone {
		if !c.hold.Holds(h.Chunk) {
			unpin = append(unpin, h.Chunk)
		}
	}
	c.mu.Unlock()
	for _, h := range unpin {
		if err := n.blobs.Unpin(h, PinCold); err != nil {
			n.log.Debug("unpinning a chunk held cold", "err", err)
		}
	}
}

// ColdStatus is cold storage in /api/credits: the assignments this node
// gave (as assigner) and holds (as holder).
type ColdStatus struct {
	Assign bool `json:"assign"`
	Hold   bool `json:"hold"`
	// Given are the assignments this node handed out, Holders what it
	// knows of each peer, Ended the latest assignments that ended and why.
	Given      []ColdAssignment    `json:"given"`
	Holders    []cold.HolderStatus `json:"holders"`
	Ended      []ColdAssignment    `json:"ended"`
	Challenged int64               `json:"challenged"`
	Proved     int64               `json:"proved"`
	Failed     int64               `json:"failed"`
	// Held are the chunks this node keeps for others.
	Held []ColdHolding `json:"held"`
}

// ColdAssignment is one chunk given to a holder.
type ColdAssignment struct {
	cold.Assignment
	Root   string `json:"root"`
	Chunk  string `json:"chunk"`
	Reason string `json:"reason,omitempty"` // why it ended
}

// ColdHolding is one chunk held for an assigner.
type ColdHolding struct {
	cold.Holding
	Root  string `json:"root"`
	Chunk string `json:"chunk"`
}

// ColdStatus reports cold storage.
func (n *Node) ColdStatus() *ColdStatus {
	c := n.cold
	if c == nil {
		return nil
	}
	st := &ColdStatus{Assign: c.a != nil, Hold: n.cfg.Cold.Hold, Given: []ColdAssignment{}, Holders: []cold.HolderStatus{}, Ended: []ColdAssignment{}, Held: []ColdHolding{}}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.a != nil {
		for _, a := range c.a.Assignments() {
			st.Given = append(st.Given, ColdAssignment{a, hex.EncodeToString(a.Root[:]), hex.EncodeToString(a.Chunk[:]), ""})
		}
		st.Holders = c.a.Holders(time.Now())
		for i := len(c.ended) - 1; i >= 0; i-- {
			e := c.ended[i]
			st.Ended = append(st.Ended, ColdAssignment{e.Assignment, hex.EncodeToString(e.Root[:]), hex.EncodeToString(e.Chunk[:]), e.Reason})
		}
	}
	st.Challenged, st.Proved, st.Failed = c.challenged, c.proved, c.failed
	for _, h := range c.hold.List() {
		st.Held = append(st.Held, ColdHolding{h, hex.EncodeToString(h.Root[:]), hex.EncodeToString(h.Chunk[:])})
	}
	return st
}

// coldFile is where cold storage is kept across restarts.
func coldFile(dataDir string) string { return filepath.Join(dataDir, "cold.json") }

// coldPeer is the libp2p peer of a holder: the one whose hello named its
// pubkey, else the one saved by the last run.
func (n *Node) coldPeer(pubkey string) (peer.ID, bool) {
	n.cold.mu.Lock()
	defer n.cold.mu.Unlock()
	return n.coldPeerLocked(pubkey)
}

func (n *Node) coldPeerLocked(pubkey string) (peer.ID, bool) {
	if p, ok := n.host.PeerOf(pubkey); ok {
		return p, true
	}
	p, ok := n.cold.contacts[pubkey]
	return p, ok
}

// loadCold restores the state the last run kept (see the top of this
// file). A missing file is a first start; a broken one is set aside.
func (n *Node) loadCold() {
	c := n.cold
	path := coldFile(n.cfg.DataDir)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var s cold.Saved
	if err == nil {
		s, err = cold.DecodeSaved(b)
	}
	if err != nil {
		aside := fmt.Sprintf("%s.broken-%d", path, time.Now().Unix())
		if rerr := os.Rename(path, aside); rerr != nil {
			n.log.Error("cold storage state unreadable and not set aside: starting with nothing held", "file", path, "err", err, "rename", rerr)
			return
		}
		n.log.Error("cold storage state unreadable: set aside, starting with nothing held (its chunks stay in the blob store)", "file", path, "moved_to", aside, "err", err)
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.a != nil {
		c.a.Load(s, now)
		c.contacts = map[string]peer.ID{}
		for _, h := range s.Holders {
			if p, err := peer.Decode(h.Contact); err == nil {
				c.contacts[h.Holder] = p
			}
		}
	}
	if !n.cfg.Cold.Hold {
		return
	}
	c.hold.Load(s)
	roots := map[[32]byte]bool{}
	kept := 0
	for _, h := range c.hold.List() {
		if !n.blobs.Has(h.Chunk) {
			n.log.Warn("a chunk held cold is gone from the blob store: its holding is dropped", "chunk", hex.EncodeToString(h.Chunk[:8]))
			c.hold.Drop(h.Assigner, h.Chunk)
			continue
		}
		if err := n.blobs.Pin(h.Chunk, PinCold); err != nil {
			n.log.Warn("pinning a chunk held cold", "err", err)
		}
		roots[h.Root] = true
		kept++
	}
	for r := range roots {
		n.provide(r)
	}
	if kept > 0 || c.a != nil {
		n.log.Info("cold storage kept from the last run", "held", kept, "given", len(s.Assignments))
	}
}

// saveColdLogged saves the state, logging a failure (the next save tries
// again).
func (n *Node) saveColdLogged() {
	if err := n.saveCold(); err != nil {
		n.log.Error("saving cold storage state", "err", err)
	}
}

// saveCold writes the state to cold.json when it changed: a temporary
// file, fsync'd, renamed over it, the directory fsync'd.
func (n *Node) saveCold() error {
	c := n.cold
	if c == nil {
		return nil
	}
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	var s cold.Saved
	c.mu.Lock()
	if c.a != nil {
		c.a.Save(&s)
		for i, h := range s.Holders {
			if p, ok := n.coldPeerLocked(h.Holder); ok {
				s.Holders[i].Contact = p.String()
			}
		}
	}
	c.hold.Save(&s)
	c.mu.Unlock()
	b, err := cold.Encode(s)
	if err != nil {
		return err
	}
	if bytes.Equal(b, c.saved) {
		return nil
	}
	if err := writeSynced(coldFile(n.cfg.DataDir), b); err != nil {
		return fmt.Errorf("writing %s: %w", coldFile(n.cfg.DataDir), err)
	}
	c.saved = b
	return nil
}

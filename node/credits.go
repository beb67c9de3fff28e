package node

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/credit"
	"github.com/cairn-nostr/cairn/credit/tally"
	"github.com/cairn-nostr/cairn/p2p"
	"github.com/cairn-nostr/cairn/peer"
)

// The node's credit ledger (package credit): every receipt a peer signed
// for a chunk this node served (over WebRTC or libp2p), once accepted, is
// a credit; every receipt this node sent for a chunk it fetched is a
// debit. The ledger is a hash chain kept in DATA_DIR/ledger.jsonl, one
// entry a line, written and fsync'd in the background, the entries added
// meanwhile together (an entry not yet on disk when the node dies is lost,
// as a receipt lost on the wire is: its seeder loses that credit, and the
// chain stays whole); a credit's line
// also carries the receipt event behind it ("receipt", outside the hash),
// so that the node can show its balance proof (GET /api/credits/proof). A ledger whose
// chain does not verify at start is set aside (ledger.jsonl.broken-<unix>)
// and the node starts a new one, as Entropy resets a broken ledger to zero.

type credits struct {
	mu       sync.Mutex
	ledger   *credit.Ledger
	receipts map[string]*nostr.Event // the receipts behind the credits, by signature
	f        *os.File
	reset    string // why the ledger found at start was set aside

	// The writer (started by the first add): lines queued, entries queued
	// and on disk, the last write error.
	queue          []byte
	queued, onDisk int
	werr           error
	wake           chan struct{}
	done           chan struct{}
	written        *sync.Cond
	closing        bool
}

// ledgerLine is one line of ledger.jsonl: the entry, and for a credit the
// receipt event that backs it.
type ledgerLine struct {
	credit.Entry
	Receipt *nostr.Event `json:"receipt,omitempty"`
}

func ledgerFile(dataDir string) string { return filepath.Join(dataDir, "ledger.jsonl") }

// openCredits loads and verifies the ledger, setting a broken one aside.
func openCredits(dataDir string) (*credits, error) {
	path := ledgerFile(dataDir)
	c := &credits{receipts: map[string]*nostr.Event{}}
	var entries []credit.Entry
	if data, err := os.ReadFile(path); err == nil {
		var good int
		entries, c.receipts, good = readLedger(data)
		if good < len(data) {
			if err := os.Truncate(path, int64(good)); err != nil {
				return nil, fmt.Errorf("cutting a torn line off the credit ledger: %w", err)
			}
		}
	}
	l, err := credit.Load(entries)
	if err != nil {
		aside := fmt.Sprintf("%s.broken-%d", path, time.Now().Unix())
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("the credit ledger is broken (%v) and could not be set aside: %w", err, rerr)
		}
		c.reset = fmt.Sprintf("%v; set aside as %s", err, aside)
		l = &credit.Ledger{}
		clear(c.receipts)
	}
	c.ledger = l
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the credit ledger: %w", err)
	}
	c.f = f
	return c, nil
}

// readLedger reads the lines of a ledger file: the entries, the receipts
// behind the credits (by signature) and the length of the whole, readable
// lines (what follows is a torn last line, a crash mid-write).
func readLedger(data []byte) (entries []credit.Entry, receipts map[string]*nostr.Event, good int) {
	receipts = map[string]*nostr.Event{}
	for good < len(data) {
		end := bytes.IndexByte(data[good:], '\n')
		if end < 0 {
			break
		}
		var e ledgerLine
		if json.Unmarshal(data[good:good+end], &e) != nil {
			break
		}
		entries = append(entries, e.Entry)
		if e.Receipt != nil && e.Direction == credit.Up {
			receipts[e.ReceiptSig] = e.Receipt
		}
		good += end + 1
	}
	return entries, receipts, good
}

// add appends an entry (with the receipt behind a credit) to the ledger
// in memory and queues its line for the writer, which writes and fsyncs
// the lines queued meanwhile together (a group commit): a receipt taken on
// a chunk stream does not hold that stream for an fsync.
func (c *credits) add(e credit.Entry, receipt *nostr.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil || c.closing {
		return fmt.Errorf("the credit ledger is closed")
	}
	e = c.ledger.Append(e)
	b, _ := json.Marshal(ledgerLine{e, receipt})
	if receipt != nil {
		c.receipts[e.ReceiptSig] = receipt
	}
	c.queue = append(append(c.queue, b...), '\n')
	c.queued++
	if c.wake == nil {
		c.wake, c.done = make(chan struct{}, 1), make(chan struct{})
		c.written = sync.NewCond(&c.mu)
		go c.writer()
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

// writer writes and fsyncs what add queued until close.
func (c *credits) writer() {
	defer close(c.done)
	for range c.wake {
		c.mu.Lock()
		buf, n, f, closing := c.queue, c.queued, c.f, c.closing
		c.queue = nil
		c.mu.Unlock()
		var err error
		if len(buf) > 0 {
			if _, err = f.Write(buf); err == nil {
				err = f.Sync()
			}
		}
		c.mu.Lock()
		c.onDisk, c.werr = n, err
		c.written.Broadcast()
		c.mu.Unlock()
		if closing {
			return
		}
	}
}

// flush waits until every entry added so far is on disk (or failed to be).
func (c *credits) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.written != nil && c.onDisk < c.queued && c.werr == nil {
		c.written.Wait()
	}
	return c.werr
}

func (c *credits) close() error {
	c.mu.Lock()
	if c.f == nil {
		c.mu.Unlock()
		return nil
	}
	c.closing = true
	started := c.wake != nil
	c.mu.Unlock()
	if started {
		select { // a token already waiting does as well: the writer sees closing
		case c.wake <- struct{}{}:
		default:
		}
		<-c.done // the writer drained the queue and returned
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.werr
	if cerr := c.f.Close(); err == nil {
		err = cerr
	}
	c.f = nil
	return err
}

// CreditStatus is the JSON of GET /api/credits.
type CreditStatus struct {
	credit.Summary
	Head     string      `json:"head"` // the last entry's hash
	Received int64       `json:"receipts_accepted"`
	Refused  int64       `json:"receipts_refused"`
	Sent     int64       `json:"receipts_sent"`
	Refusal  string      `json:"last_refusal,omitempty"`
	Reset    string      `json:"reset,omitempty"` // why a broken ledger was set aside at start
	Gate     *GateStatus `json:"gate,omitempty"`  // nil when the gate is off
	// Demand: the roots peers signalled demand for lately (kind 20003),
	// the most wanted first.
	Demand []DemandRoot `json:"demand"`
	// Cold is cold storage: assignments given and held (nil before start).
	Cold *ColdStatus `json:"cold,omitempty"`
	// Reputation lists peers by their reputation with this node, the best
	// first (at most 25 best and 25 worst): verified bytes they served it,
	// strikes, custody proofs, each halved every 7 days, and the score
	// that orders them in downloads (reputation.go). ReputationReset says
	// why the saved reputation was set aside at start.
	Reputation      []PeerReputation `json:"reputation"`
	ReputationReset string           `json:"reputation_reset,omitempty"`
}

// DemandRoot is a root in demand and how many peers signalled it.
type DemandRoot struct {
	Root       string `json:"root"`
	Requesters int    `json:"requesters"`
}

// GateStatus is the credit gate in /api/credits: its numbers, what it did,
// and the peers it knows, the most served first.
type GateStatus struct {
	Grant      int64        `json:"grant"`
	DebtorRate int64        `json:"debtor_rate"`
	Throttled  int64        `json:"throttled"`
	Refused    int64        `json:"refused"`
	Peers      []PeerCredit `json:"peers"`
}

// PeerCredit is one peer's account with this node.
type PeerCredit struct {
	Peer    string `json:"peer"` // a pubkey, or libp2p:<peer ID> for a peer that said no hello
	Balance int64  `json:"balance"`
	credit.Account
}

// maxPeerCredits bounds the peers /api/credits lists.
const maxPeerCredits = 50

// Credits reports the ledger and the receipts.
func (n *Node) Credits() CreditStatus {
	n.credits.mu.Lock()
	es := n.credits.ledger.Entries()
	reset := n.credits.reset
	n.credits.mu.Unlock()
	st := CreditStatus{Summary: credit.Summarize(es), Head: credit.Head(es), Reset: reset}
	var rs tally.Stats
	if n.host != nil {
		rs = rs.Add(n.host.ReceiptStats())
	}
	if n.rtc != nil {
		rs = rs.Add(n.rtc.ReceiptStats())
	}
	st.Received, st.Refused, st.Sent, st.Refusal = rs.Accepted, rs.Refused, rs.Sent, rs.LastRefusal
	st.Demand = []DemandRoot{}
	st.Cold = n.ColdStatus()
	st.Reputation, st.ReputationReset = n.Reputation()
	for i, d := range n.peer.InDemand(1) {
		if i == maxPeerCredits {
			break
		}
		st.Demand = append(st.Demand, DemandRoot{hex.EncodeToString(d.Root[:]), d.Requesters})
	}
	if n.gate != nil {
		cfg := n.gate.Config()
		g := &GateStatus{Grant: cfg.Grant, DebtorRate: cfg.DebtorRate, Peers: []PeerCredit{}}
		if n.host != nil {
			gs := n.host.GateStats()
			g.Throttled, g.Refused = gs.Throttled, gs.Refused
		}
		if n.rtc != nil {
			rs := n.rtc.GateStats()
			g.Throttled += rs.Throttled
			g.Refused += rs.Refused
		}
		for p, a := range n.gate.Accounts() {
			g.Peers = append(g.Peers, PeerCredit{Peer: p, Balance: cfg.Grant + a.Received - a.Served, Account: a})
		}
		sort.Slice(g.Peers, func(i, j int) bool {
			if g.Peers[i].Served != g.Peers[j].Served {
				return g.Peers[i].Served > g.Peers[j].Served
			}
			return g.Peers[i].Peer < g.Peers[j].Peer
		})
		if len(g.Peers) > maxPeerCredits {
			g.Peers = g.Peers[:maxPeerCredits]
		}
		st.Gate = g
	}
	return st
}

func (n *Node) serveCredits(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, n.Credits())
}

// CreditEntries is the JSON of GET /api/credits/entries: the newest
// entries first.
type CreditEntries struct {
	Total   int            `json:"total"`
	Entries []credit.Entry `json:"entries"`
}

// limitParam reads ?limit= (1 to max, default def).
func limitParam(r *http.Request, def, max int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, fmt.Errorf("limit must be a whole number from 1 to %d", max)
	}
	return n, nil
}

func (n *Node) serveCreditEntries(w http.ResponseWriter, r *http.Request) {
	limit, err := limitParam(r, 50, 10_000)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	n.credits.mu.Lock()
	es := n.credits.ledger.Entries()
	n.credits.mu.Unlock()
	out := CreditEntries{Total: len(es), Entries: []credit.Entry{}}
	for i := len(es) - 1; i >= 0 && len(out.Entries) < limit; i-- {
		out.Entries = append(out.Entries, es[i])
	}
	writeJSON(w, http.StatusOK, out)
}

// CreditCheck is the JSON of GET /api/credits/verify: the ledger as it is
// on disk, read again and checked: the hash chain, the head against the
// one in memory (a truncated file), and that every credit's line carries
// a validly signed receipt for its peer, chunk and bytes.
type CreditCheck struct {
	OK       bool   `json:"ok"`
	Entries  int    `json:"entries"`
	Head     string `json:"head"`
	BadEntry int    `json:"bad_entry"` // -1 when none
	Error    string `json:"error,omitempty"`
}

// VerifyCredits checks the ledger file.
func (n *Node) VerifyCredits() CreditCheck {
	if err := n.credits.flush(); err != nil {
		return CreditCheck{BadEntry: -1, Error: fmt.Sprintf("writing the ledger: %v", err)}
	}
	n.credits.mu.Lock()
	head := credit.Head(n.credits.ledger.Entries())
	n.credits.mu.Unlock()
	out := CreditCheck{BadEntry: -1}
	data, err := os.ReadFile(ledgerFile(n.cfg.DataDir))
	if err != nil && !os.IsNotExist(err) {
		out.Error = err.Error()
		return out
	}
	es, evs, good := readLedger(data)
	out.Entries, out.Head = len(es), credit.Head(es)
	receipts := map[string]credit.Receipt{}
	for sig, ev := range evs {
		if r, err := credit.ParseReceipt(ev); err == nil && r.Sig == sig {
			receipts[sig] = r
		}
	}
	switch i, err := credit.Verify(es); {
	case good < len(data):
		out.BadEntry, out.Error = len(es), "an unreadable line follows the last entry"
	case err != nil:
		out.BadEntry, out.Error = i, err.Error()
	case out.Head != head:
		out.Error = fmt.Sprintf("the file ends at %.16s, the node's ledger at %.16s: entries are missing (truncated)", out.Head, head)
	default:
		if i, err := credit.CheckBacked(es, receipts, func(string) bool { return true }); err != nil {
			out.BadEntry, out.Error = i, err.Error()
		}
	}
	out.OK = out.Error == ""
	return out
}

func (n *Node) serveCreditVerify(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, n.VerifyCredits())
}

// CreditProof is the JSON of GET /api/credits/proof: this node's balance
// proof, the receipts behind its newest credits, which anyone can check
// with credit.VerifyProof (cairn credits check).
type CreditProof struct {
	Prover   string         `json:"prover"`
	Receipts []*nostr.Event `json:"receipts"`
}

func (n *Node) serveCreditProof(w http.ResponseWriter, r *http.Request) {
	limit, err := limitParam(r, 1000, 100_000)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	out := CreditProof{Prover: n.key.Public, Receipts: []*nostr.Event{}}
	n.credits.mu.Lock()
	es := n.credits.ledger.Entries()
	for i := len(es) - 1; i >= 0 && len(out.Receipts) < limit; i-- {
		if ev := n.credits.receipts[es[i].ReceiptSig]; ev != nil && es[i].Direction == credit.Up {
			out.Receipts = append(out.Receipts, ev)
		}
	}
	n.credits.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// p2pCredit turns on hellos and receipts on the libp2p chunk streams, and
// the gate: each peer's balance with this node starts from the ledger (its
// receipted uploads to this node and this node's to it).
func (n *Node) p2pCredit() p2p.Credit {
	c := p2p.Credit{SecretKey: n.key.Secret, Receipts: true, OnReceipt: n.onReceipt, OnReceiptSent: n.onReceiptSent, OnBadHello: n.repBadHello, Premium: n.premium}
	if n.cfg.Credit.Gate {
		n.gate = tally.NewGate(credit.GateConfig{Grant: n.cfg.Credit.Grant, DebtorRate: n.cfg.Credit.DebtorRate}, nil)
		n.credits.mu.Lock()
		n.gate.Load(n.credits.ledger.Entries())
		n.credits.mu.Unlock()
		c.Gate, c.Scarce = n.gate, n.scarce
		c.Busy = n.rtcServingInCredit
	}
	return c
}

// rtcServingInCredit reports whether WebRTC is sending a chunk to a peer
// in credit (started after the libp2p host, hence looked up each time).
func (n *Node) rtcServingInCredit() bool {
	r := n.rtcGate.Load()
	return r != nil && r.ServingInCredit()
}

// scarce reports whether few seeders are known of root: the announcers
// heard, plus this node.
func (n *Node) scarce(root [32]byte) bool {
	most := n.cfg.Credit.ScarceSeeders
	if most == 0 {
		most = 2
	}
	known := 1 // this node
	for _, s := range n.peer.Seeders(root) {
		if s.PubKey != n.key.Public {
			known++
		}
	}
	return known <= most
}

// demandLoop fetches, every DemandEvery, the roots in demand (kind 20003
// from at least Credit.SeedDemand peers) whose chunk map the node has: a
// node earns credit by seeding what is wanted.
func (n *Node) demandLoop() error {
	every := time.Duration(n.cfg.Credit.DemandEvery)
	if every <= 0 {
		every = peer.DemandInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return nil
		case <-t.C:
			for _, root := range n.peer.SeedInDemand(n.ctx, n.cfg.Credit.SeedDemand) {
				n.log.Info("seeding a root in demand", "root", hex.EncodeToString(root[:]))
			}
		}
	}
}

// onReceipt credits an accepted receipt.
func (n *Node) onReceipt(r credit.Receipt, ev *nostr.Event) {
	if err := n.credits.add(credit.Credit(r, r.ID), ev); err != nil {
		n.log.Error("writing a credit to the ledger", "err", err)
	}
}

// onReceiptSent debits a chunk this node fetched and signed for.
func (n *Node) onReceiptSent(r credit.Receipt) {
	if err := n.credits.add(credit.Debit(r.ID, r.Seeder, r.Chunk, r.Root, r.Bytes, r.At, r.Sig), nil); err != nil {
		n.log.Error("writing a debit to the ledger", "err", err)
	}
}

package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/credit"
	"github.com/cairn-nostr/cairn/credit/tally"
	"github.com/cairn-nostr/cairn/p2p"
)

// The node's credit ledger (package credit): every receipt a peer signed
// for a chunk this node served (over WebRTC or libp2p), once accepted, is
// a credit; every receipt this node sent for a chunk it fetched is a
// debit. The ledger is a hash chain kept in DATA_DIR/ledger.jsonl, one
// entry a line, each written and fsync'd before it counts. A ledger whose
// chain does not verify at start is set aside (ledger.jsonl.broken-<unix>)
// and the node starts a new one, as Entropy resets a broken ledger to zero.

type credits struct {
	mu     sync.Mutex
	ledger *credit.Ledger
	f      *os.File
	reset  string // why the ledger found at start was set aside
}

func ledgerFile(dataDir string) string { return filepath.Join(dataDir, "ledger.jsonl") }

// openCredits loads and verifies the ledger, setting a broken one aside.
func openCredits(dataDir string) (*credits, error) {
	path := ledgerFile(dataDir)
	c := &credits{}
	var entries []credit.Entry
	if data, err := os.ReadFile(path); err == nil {
		good := 0 // bytes of whole, readable lines
		for good < len(data) {
			end := bytes.IndexByte(data[good:], '\n')
			if end < 0 {
				break // a torn last line (a crash mid-write): dropped below
			}
			var e credit.Entry
			if json.Unmarshal(data[good:good+end], &e) != nil {
				break
			}
			entries = append(entries, e)
			good += end + 1
		}
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
	}
	c.ledger = l
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the credit ledger: %w", err)
	}
	c.f = f
	return c, nil
}

// add appends an entry and returns once it is on disk.
func (c *credits) add(e credit.Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return fmt.Errorf("the credit ledger is closed")
	}
	e = c.ledger.Append(e)
	b, _ := json.Marshal(e)
	if _, err := c.f.Write(append(b, '\n')); err != nil {
		return err
	}
	return c.f.Sync()
}

func (c *credits) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}

// CreditStatus is the JSON of GET /api/credits.
type CreditStatus struct {
	credit.Summary
	Head     string `json:"head"` // the last entry's hash
	Received int64  `json:"receipts_accepted"`
	Refused  int64  `json:"receipts_refused"`
	Sent     int64  `json:"receipts_sent"`
	Refusal  string `json:"last_refusal,omitempty"`
	Reset    string `json:"reset,omitempty"` // why a broken ledger was set aside at start
}

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
	return st
}

func (n *Node) serveCredits(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, n.Credits())
}

// p2pCredit turns on hellos and receipts on the libp2p chunk streams.
func (n *Node) p2pCredit() p2p.Credit {
	return p2p.Credit{SecretKey: n.key.Secret, Receipts: true, OnReceipt: n.onReceipt, OnReceiptSent: n.onReceiptSent}
}

// onReceipt credits an accepted receipt.
func (n *Node) onReceipt(r credit.Receipt, _ *nostr.Event) {
	if err := n.credits.add(credit.Credit(r, r.ID)); err != nil {
		n.log.Error("writing a credit to the ledger", "err", err)
	}
}

// onReceiptSent debits a chunk this node fetched and signed for.
func (n *Node) onReceiptSent(r credit.Receipt) {
	if err := n.credits.add(credit.Debit(r.ID, r.Seeder, r.Chunk, r.Root, r.Bytes, r.At, r.Sig)); err != nil {
		n.log.Error("writing a debit to the ledger", "err", err)
	}
}

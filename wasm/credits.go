//go:build js && wasm

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/cairn-nostr/cairn/credit"
	"github.com/cairn-nostr/cairn/wasm/idb"
)

// The tab's credit ledger: every receipt a peer signed for a chunk this
// tab served over WebRTC (accepted by its credit.Book) is a credit, every
// receipt it sent for a chunk it fetched a debit, hash-chained as the
// node's ledger is (package credit). Each entry is kept in IndexedDB as
// the record "ledger:<sequence, 12 digits>", written in order by one
// goroutine (a receipt never waits for IndexedDB). At start the records
// are read back in order and the chain checked; a broken one is dropped
// (Entropy resets a broken ledger to zero) and the reason kept for
// status().

const recLedger = "ledger:"

type tabCredits struct {
	mu     sync.Mutex
	ledger *credit.Ledger
	seq    int      // the next record's sequence number
	reset  string   // why the ledger found at start was dropped
	queue  []string // records to write, as key, value pairs
	wake   chan struct{}
}

func ledgerKey(seq int) string { return fmt.Sprintf("%s%012d", recLedger, seq) }

// loadCredits rebuilds the ledger from the records read at start; it
// returns the keys of a broken ledger's records, to delete.
func loadCredits(recs map[string]string) (*tabCredits, []string) {
	var keys []string
	for k := range recs {
		if strings.HasPrefix(k, recLedger) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	c := &tabCredits{ledger: &credit.Ledger{}, wake: make(chan struct{}, 1)}
	var entries []credit.Entry
	for i, k := range keys {
		var e credit.Entry
		if k != ledgerKey(i) || json.Unmarshal([]byte(recs[k]), &e) != nil {
			c.reset = fmt.Sprintf("ledger record %s is missing or unreadable", ledgerKey(i))
			return c, keys
		}
		entries = append(entries, e)
	}
	l, err := credit.Load(entries)
	if err != nil {
		c.reset = err.Error()
		return c, keys
	}
	c.ledger, c.seq = l, len(entries)
	return c, nil
}

// newCredits is an empty ledger for the time IndexedDB opens: load adds
// the stored one under what it got meanwhile.
func newCredits() *tabCredits {
	return &tabCredits{ledger: &credit.Ledger{}, wake: make(chan struct{}, 1)}
}

// load puts the ledger read back from the records first and the entries
// added since start after it, re-chained; it returns the keys of a broken
// stored ledger's records, to delete before the writer starts.
func (c *tabCredits) load(recs map[string]string) []string {
	stored, broken := loadCredits(recs)
	c.mu.Lock()
	since := c.ledger.Entries()
	c.ledger, c.seq, c.reset, c.queue = stored.ledger, stored.seq, stored.reset, nil
	for _, e := range since {
		e = c.ledger.Append(e)
		b, _ := json.Marshal(e)
		c.queue = append(c.queue, ledgerKey(c.seq), string(b))
		c.seq++
	}
	c.mu.Unlock()
	if len(since) > 0 {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return broken
}

// add appends an entry and queues its record.
func (c *tabCredits) add(e credit.Entry) {
	c.mu.Lock()
	e = c.ledger.Append(e)
	b, _ := json.Marshal(e)
	c.queue = append(c.queue, ledgerKey(c.seq), string(b))
	c.seq++
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// writer writes the queued records in order until ctx ends.
func (c *tabCredits) writer(ctx context.Context, st *idb.Store) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		c.mu.Lock()
		q := c.queue
		c.queue = nil
		c.mu.Unlock()
		for i := 0; i+1 < len(q); i += 2 {
			if err := st.PutFile(q[i], q[i+1]); err != nil {
				return // the store is closing; the rest is lost with it
			}
		}
	}
}

// summary is the credits part of status().
func (c *tabCredits) summary() map[string]any {
	c.mu.Lock()
	es := c.ledger.Entries()
	reset := c.reset
	c.mu.Unlock()
	s := credit.Summarize(es)
	out := map[string]any{"up": s.Up, "down": s.Down, "balance": s.Balance, "ratio": s.Ratio, "entries": s.Entries, "head": credit.Head(es)}
	if reset != "" {
		out["reset"] = reset
	}
	return out
}

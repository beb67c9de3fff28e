package credit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Direction says whether an entry credits (bytes this peer uploaded, backed
// by a receipt its receiver signed) or debits (bytes it downloaded and
// verified).
type Direction string

const (
	Up   Direction = "up"
	Down Direction = "down"
)

// Entry is one line of the ledger, with Entropy's fields and integrity
// hash: sha256 of the previous entry's hash, ":", and the fields joined by
// "|" (id, peer, direction, bytes, chunk, root, receipt signature,
// timestamp), in lowercase hex. The first entry's previous hash is "".
type Entry struct {
	ID         string    `json:"id"`
	Peer       string    `json:"peerPubkey"`
	Direction  Direction `json:"direction"`
	Bytes      int64     `json:"bytes"`
	Chunk      string    `json:"chunkHash"`
	Root       string    `json:"rootHash,omitempty"`
	ReceiptSig string    `json:"receiptSignature"`
	Timestamp  int64     `json:"timestamp"`
	Hash       string    `json:"integrityHash"`
}

func (e *Entry) serialize() string {
	return strings.Join([]string{
		e.ID, e.Peer, string(e.Direction), strconv.FormatInt(e.Bytes, 10),
		e.Chunk, e.Root, e.ReceiptSig, strconv.FormatInt(e.Timestamp, 10),
	}, "|")
}

// hashAfter is the entry's integrity hash after prev.
func (e *Entry) hashAfter(prev string) string {
	sum := sha256.Sum256([]byte(prev + ":" + e.serialize()))
	return hex.EncodeToString(sum[:])
}

// Credit is the entry of an accepted receipt.
func Credit(r Receipt, id string) Entry {
	e := Entry{ID: id, Peer: r.Receiver, Direction: Up, Bytes: r.Bytes, Chunk: hex.EncodeToString(r.Chunk[:]), ReceiptSig: r.Sig, Timestamp: r.At}
	if r.Root != ([32]byte{}) {
		e.Root = hex.EncodeToString(r.Root[:])
	}
	return e
}

// Debit is the entry of a chunk downloaded from seeder and verified; sig is
// the signature of the receipt this peer sent for it.
func Debit(id, seeder string, chunk, root [32]byte, bytes, at int64, sig string) Entry {
	e := Entry{ID: id, Peer: seeder, Direction: Down, Bytes: bytes, Chunk: hex.EncodeToString(chunk[:]), ReceiptSig: sig, Timestamp: at}
	if root != ([32]byte{}) {
		e.Root = hex.EncodeToString(root[:])
	}
	return e
}

// Ledger is a hash-chained log: Append links each entry to the previous.
type Ledger struct {
	last    string
	entries []Entry
}

// Append hashes e after the last entry and adds it.
func (l *Ledger) Append(e Entry) Entry {
	e.Hash = e.hashAfter(l.last)
	l.last = e.Hash
	l.entries = append(l.entries, e)
	return e
}

// Entries are the ledger's entries, oldest first.
func (l *Ledger) Entries() []Entry { return append([]Entry(nil), l.entries...) }

// ErrBrokenChain: an entry's hash does not follow from the ones before it
// (an entry was changed, removed from the middle or moved).
var ErrBrokenChain = errors.New("ledger: broken hash chain")

// Load rebuilds a ledger from stored entries, checking the chain.
func Load(entries []Entry) (*Ledger, error) {
	if i, err := Verify(entries); err != nil {
		return nil, fmt.Errorf("entry %d: %w", i, err)
	}
	l := &Ledger{entries: append([]Entry(nil), entries...)}
	if n := len(entries); n > 0 {
		l.last = entries[n-1].Hash
	}
	return l, nil
}

// Verify checks the chain and returns the index of the first bad entry.
// A truncated tail cannot be seen from the entries alone: compare the last
// hash with one kept elsewhere (Head).
func Verify(entries []Entry) (int, error) {
	prev := ""
	for i := range entries {
		e := &entries[i]
		if e.Direction != Up && e.Direction != Down || e.Bytes <= 0 {
			return i, fmt.Errorf("%w: malformed entry", ErrBrokenChain)
		}
		if e.Hash != e.hashAfter(prev) {
			return i, ErrBrokenChain
		}
		prev = e.Hash
	}
	return -1, nil
}

// Head is the hash of the last entry ("" for none): kept apart from the
// entries, it reveals a truncated ledger.
func Head(entries []Entry) string {
	if len(entries) == 0 {
		return ""
	}
	return entries[len(entries)-1].Hash
}

// Summary is a ledger's totals. Balance = WelcomeGrant + up - down.
type Summary struct {
	Up      int64   `json:"up"`
	Down    int64   `json:"down"`
	Balance int64   `json:"balance"`
	Ratio   float64 `json:"ratio"` // up/down; 0 when nothing was downloaded
	Entries int     `json:"entries"`
}

// Summarize totals the entries.
func Summarize(entries []Entry) Summary {
	s := Summary{Entries: len(entries)}
	for _, e := range entries {
		if e.Direction == Up {
			s.Up += e.Bytes
		} else {
			s.Down += e.Bytes
		}
	}
	s.Balance = WelcomeGrant + s.Up - s.Down
	if s.Down > 0 {
		s.Ratio = float64(s.Up) / float64(s.Down)
	}
	return s
}

// ErrUnbacked: a credit whose receipt is missing, or whose chunk this peer
// never held.
var ErrUnbacked = errors.New("ledger: credit without its receipt or chunk")

// CheckBacked checks every credit of a verified chain against the receipts
// kept (by signature) and the chunks held: a credit for a chunk never held,
// or with no receipt, is reported by index.
func CheckBacked(entries []Entry, receipts map[string]Receipt, held func(chunk string) bool) (int, error) {
	for i, e := range entries {
		if e.Direction != Up {
			continue
		}
		r, ok := receipts[e.ReceiptSig]
		if !ok || r.Receiver != e.Peer || hex.EncodeToString(r.Chunk[:]) != e.Chunk || r.Bytes != e.Bytes {
			return i, fmt.Errorf("%w: no matching receipt", ErrUnbacked)
		}
		if !held(e.Chunk) {
			return i, fmt.Errorf("%w: chunk %.16s never held", ErrUnbacked, e.Chunk)
		}
	}
	return -1, nil
}

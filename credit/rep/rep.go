// Package rep keeps per-peer reputation as a pure core: what a peer did for
// this node (verified bytes it served), what it did wrong (strikes: a chunk
// that failed verification, a bad hello) and how it kept cold-storage
// assignments (custody proofs passed and failed), each decaying with a
// half-life, and a score from them that orders peers. It does no I/O: the
// caller passes now, and persists what Encode returns.
//
// The caller's loop (the node, node/reputation.go):
//
//	b, err := rep.Decode(rep.Config{}, data) // DATA_DIR/reputation.json, or rep.New
//	b.Served(peer, n, now)                    // a chunk of n bytes verified from peer
//	b.Strike(peer, rep.BadChunk, now)         // its bytes failed verification
//	b.Custody(peer, ok, now)                  // a custody verdict on peer
//	s := b.Score(peer, now)                   // the scheduler's order among equals
//	data := b.Encode(now)                     // written atomically at stop
//
// A peer is named by its Nostr pubkey (64 hex) when known, else by
// "libp2p:<peer ID>".
package rep

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Strike is a kind of misbehaviour.
type Strike int

const (
	// BadChunk: bytes that did not hash to the chunk asked for.
	BadChunk Strike = iota
	// BadHello: a hello forged, for another peer, late or unasked.
	BadHello
)

func (s Strike) String() string {
	switch s {
	case BadChunk:
		return "bad chunk"
	case BadHello:
		return "bad hello"
	}
	return fmt.Sprintf("strike %d", int(s))
}

// Config tunes the book; the zero value of each field means its default.
type Config struct {
	// HalfLife halves every count this long after it was made.
	// Default 7 days.
	HalfLife time.Duration
	// MaxPeers bounds the peers kept; past it the record updated longest
	// ago goes. Default 4096.
	MaxPeers int
}

// Defaults.
const (
	DefaultHalfLife = 7 * 24 * time.Hour
	DefaultMaxPeers = 4096
	// StrikeWeight is what one strike or failed custody proof takes off
	// the score; a passed proof adds 1, served bytes log2(1 + MiB): one
	// strike outweighs 64 GiB served.
	StrikeWeight = 16
	// maxPeerName bounds a peer's name in a decoded file.
	maxPeerName = 128
)

func (c Config) withDefaults() Config {
	if c.HalfLife <= 0 {
		c.HalfLife = DefaultHalfLife
	}
	if c.MaxPeers <= 0 {
		c.MaxPeers = DefaultMaxPeers
	}
	return c
}

// Record is one peer's counts, decayed to At.
type Record struct {
	Bytes         float64   `json:"bytes"`          // verified bytes it served this node
	Strikes       float64   `json:"strikes"`        // bad chunks and bad hellos
	CustodyPassed float64   `json:"custody_passed"` // custody proofs it gave right
	CustodyFailed float64   `json:"custody_failed"` // custody proofs wrong or missing
	At            time.Time `json:"-"`
}

// Peer is a record with its name and score, as Peers lists it.
type Peer struct {
	Peer  string  `json:"peer"`
	Score float64 `json:"score"`
	Record
}

// Book holds the records. It is not safe for concurrent use.
type Book struct {
	cfg   Config
	peers map[string]*Record
}

// New returns an empty book.
func New(cfg Config) *Book {
	return &Book{cfg: cfg.withDefaults(), peers: map[string]*Record{}}
}

// decayed returns r's counts decayed to now (never grown: a record from
// the future is taken as of now).
func (b *Book) decayed(r Record, now time.Time) Record {
	dt := now.Sub(r.At)
	if dt > 0 {
		f := math.Exp2(-float64(dt) / float64(b.cfg.HalfLife))
		r.Bytes *= f
		r.Strikes *= f
		r.CustodyPassed *= f
		r.CustodyFailed *= f
	}
	r.At = now
	return r
}

// update applies f to peer's record, decayed to now, making it if needed.
func (b *Book) update(peer string, now time.Time, f func(*Record)) {
	if peer == "" {
		return
	}
	r, ok := b.peers[peer]
	if !ok {
		if len(b.peers) >= b.cfg.MaxPeers {
			b.evict()
		}
		r = &Record{At: now}
		b.peers[peer] = r
	}
	*r = b.decayed(*r, now)
	f(r)
}

// evict drops the record updated longest ago (ties by name).
func (b *Book) evict() {
	var old string
	var at time.Time
	for p, r := range b.peers {
		if old == "" || r.At.Before(at) || (r.At.Equal(at) && p < old) {
			old, at = p, r.At
		}
	}
	delete(b.peers, old)
}

// Served counts n verified bytes peer served this node.
func (b *Book) Served(peer string, n int64, now time.Time) {
	if n <= 0 {
		return
	}
	b.update(peer, now, func(r *Record) { r.Bytes += float64(n) })
}

// Strike counts a misbehaviour of peer.
func (b *Book) Strike(peer string, _ Strike, now time.Time) {
	b.update(peer, now, func(r *Record) { r.Strikes++ })
}

// Custody counts a custody verdict on peer: a proof given right, or one
// wrong or missing.
func (b *Book) Custody(peer string, passed bool, now time.Time) {
	b.update(peer, now, func(r *Record) {
		if passed {
			r.CustodyPassed++
		} else {
			r.CustodyFailed++
		}
	})
}

// score of a decayed record: log2(1 + MiB served) + custody proofs passed
// − StrikeWeight × (strikes + custody proofs failed). An unknown peer
// scores 0; any strike outweighs a pass.
func score(r Record) float64 {
	return math.Log2(1+r.Bytes/(1<<20)) + r.CustodyPassed - StrikeWeight*(r.Strikes+r.CustodyFailed)
}

// Score is peer's score now: higher is better, 0 for a peer not known.
func (b *Book) Score(peer string, now time.Time) float64 {
	r, ok := b.peers[peer]
	if !ok {
		return 0
	}
	return score(b.decayed(*r, now))
}

// Get returns peer's record decayed to now.
func (b *Book) Get(peer string, now time.Time) (Record, bool) {
	r, ok := b.peers[peer]
	if !ok {
		return Record{}, false
	}
	return b.decayed(*r, now), true
}

// Len is the number of peers kept.
func (b *Book) Len() int { return len(b.peers) }

// Peers lists the records decayed to now, the best score first (ties by
// name).
func (b *Book) Peers(now time.Time) []Peer {
	out := make([]Peer, 0, len(b.peers))
	for p, r := range b.peers {
		d := b.decayed(*r, now)
		out = append(out, Peer{Peer: p, Score: score(d), Record: d})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].Peer < out[j].Peer
	})
	return out
}

// file is the persisted form.
type file struct {
	Version int                   `json:"version"`
	At      int64                 `json:"at"` // unix seconds the counts are decayed to
	Peers   map[string]fileRecord `json:"peers"`
}

type fileRecord struct {
	Bytes         float64 `json:"bytes"`
	Strikes       float64 `json:"strikes"`
	CustodyPassed float64 `json:"custody_passed"`
	CustodyFailed float64 `json:"custody_failed"`
}

// ErrFile is wrapped by every Decode refusal.
var ErrFile = errors.New("rep: bad reputation file")

// Encode returns the book, every record decayed to now, as JSON.
func (b *Book) Encode(now time.Time) []byte {
	f := file{Version: 1, At: now.Unix(), Peers: make(map[string]fileRecord, len(b.peers))}
	for p, r := range b.peers {
		d := b.decayed(*r, now)
		f.Peers[p] = fileRecord{d.Bytes, d.Strikes, d.CustodyPassed, d.CustodyFailed}
	}
	out, _ := json.Marshal(f)
	return out
}

// Decode reads what Encode wrote, strictly: an unknown field, a version
// other than 1, a count negative or not finite, a peer name empty or longer
// than 128 bytes or with a control character, more peers than MaxPeers, or
// anything after the object is refused (ErrFile) and nothing is kept.
func Decode(cfg Config, data []byte) (*Book, error) {
	b := New(cfg)
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var f file
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFile, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the object", ErrFile)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("%w: version %d (this node reads 1)", ErrFile, f.Version)
	}
	if f.At <= 0 {
		return nil, fmt.Errorf("%w: no time (at)", ErrFile)
	}
	if len(f.Peers) > b.cfg.MaxPeers {
		return nil, fmt.Errorf("%w: %d peers, more than %d", ErrFile, len(f.Peers), b.cfg.MaxPeers)
	}
	at := time.Unix(f.At, 0)
	for p, r := range f.Peers {
		if err := checkName(p); err != nil {
			return nil, err
		}
		for _, v := range []float64{r.Bytes, r.Strikes, r.CustodyPassed, r.CustodyFailed} {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) || v > math.MaxFloat64/2 {
				return nil, fmt.Errorf("%w: peer %q has a count %v (must be finite and not negative)", ErrFile, p, v)
			}
		}
		b.peers[p] = &Record{r.Bytes, r.Strikes, r.CustodyPassed, r.CustodyFailed, at}
	}
	return b, nil
}

func checkName(p string) error {
	if p == "" || len(p) > maxPeerName {
		return fmt.Errorf("%w: a peer name of %d bytes (1 to %d)", ErrFile, len(p), maxPeerName)
	}
	for _, c := range p {
		if c < 0x21 || c > 0x7e {
			return fmt.Errorf("%w: peer name %q has a character outside printable ASCII", ErrFile, p)
		}
	}
	return nil
}

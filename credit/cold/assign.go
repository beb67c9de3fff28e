package cold

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"sort"
	"time"
)

// Config sets the assigner. Zero fields take the defaults named.
type Config struct {
	// MinSeeders: a file with fewer known seeders (this node included) is
	// unpopular and gets cold holders (default 3).
	MinSeeders int
	// Replicas is the holders wanted per chunk (default 3): any
	// Replicas-1 of them may leave and the chunk is still held.
	Replicas int
	// MaxPerHolder bounds the assignments one holder has from this node
	// (default 16, Entropy's).
	MaxPerHolder int
	// TTL is an assignment's term (default 24 h); it is renewed when less
	// than RenewBefore is left (default TTL/4) and the holder is still
	// eligible and its file still unpopular.
	TTL, RenewBefore time.Duration
	// ChallengeEvery is the mean time between challenges of one
	// assignment (default 30 min, Entropy's cycle); each gap is drawn
	// uniformly from half to one and a half times it.
	ChallengeEvery time.Duration
	// ProofTimeout is how long a holder has to answer (default 5 s).
	ProofTimeout time.Duration
	// OfferTimeout: an offer not answered within it lapses (default 1
	// min), and the holder is not offered that file again for Cool.
	OfferTimeout time.Duration
	// Cool is how long a holder that declined (or let an offer lapse)
	// is left alone for that file (default 10 min).
	Cool time.Duration
	// Bench is how long a holder that failed a challenge is not eligible
	// (default 24 h).
	Bench time.Duration
	// MinRatio is the upload/download ratio that makes a peer eligible
	// (default 2.0).
	MinRatio float64
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.MinSeeders <= 0 {
		c.MinSeeders = 3
	}
	if c.Replicas <= 0 {
		c.Replicas = 3
	}
	if c.MaxPerHolder <= 0 {
		c.MaxPerHolder = MaxAssignments
	}
	def(&c.TTL, TTL)
	def(&c.RenewBefore, c.TTL/4)
	def(&c.ChallengeEvery, 30*time.Minute)
	def(&c.ProofTimeout, ProofTimeout)
	def(&c.OfferTimeout, time.Minute)
	def(&c.Cool, 10*time.Minute)
	def(&c.Bench, 24*time.Hour)
	if c.MinRatio <= 0 {
		c.MinRatio = 2.0
	}
}

// Entropy's limits.
const (
	MaxAssignments = 16
	TTL            = 24 * time.Hour
	ProofTimeout   = 5 * time.Second
)

// Evidence is what this node can verify of a peer's give and take: the
// bytes it uploaded (receipted to this node, or shown by a balance proof)
// and the bytes it downloaded (from this node).
type Evidence struct {
	Up, Down int64
}

// Eligible reports whether e earns a peer cold storage: at least one upload
// and an upload/download ratio of at least minRatio (nothing downloaded
// counts as an infinite ratio).
func Eligible(e Evidence, minRatio float64) bool {
	if e.Up <= 0 {
		return false
	}
	return e.Down <= 0 || float64(e.Up)/float64(e.Down) >= minRatio
}

// Chunk is one chunk of a file, as the assigner knows it.
type Chunk struct {
	Hash [32]byte
	Size int64
}

// State is where an assignment stands.
type State string

const (
	Offered State = "offered" // sent, not yet answered
	Held    State = "held"    // accepted: the holder keeps the chunk
)

// Assignment is one chunk of a file given to one holder.
type Assignment struct {
	Holder  string    `json:"holder"`
	Root    [32]byte  `json:"-"`
	Chunk   [32]byte  `json:"-"`
	Size    int64     `json:"size"`
	State   State     `json:"state"`
	Since   time.Time `json:"since"`   // offered, or accepted
	Expires time.Time `json:"expires"` // end of the term (of the offer while Offered)
	Passed  int       `json:"passed"`  // challenges passed
	Renewed int       `json:"renewed"` // terms renewed

	next    time.Time // next challenge
	pending *Challenge
	renew   bool // a renewal offer is out
}

// Offer asks a holder to keep chunks of root until Expires (a renewal when
// Renew: it holds them already).
type Offer struct {
	Holder  string
	Root    [32]byte
	Chunks  [][32]byte
	Expires time.Time
	Renew   bool
}

// Challenge asks a holder to prove it holds Chunk: the answer must be
// sha256(chunk[:Offset] + Nonce + chunk[Offset:]) before Deadline.
type Challenge struct {
	Holder   string
	Root     [32]byte
	Chunk    [32]byte
	Offset   uint32
	Nonce    [32]byte
	Deadline time.Time
}

// Want is the proof a holder of data must send.
func (c Challenge) Want(data []byte) [32]byte {
	h := sha256.New()
	off := min(int(c.Offset), len(data))
	h.Write(data[:off])
	h.Write(c.Nonce[:])
	h.Write(data[off:])
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// Ended is an assignment that ended: failed a challenge, expired, or was
// offered and not taken.
type Ended struct {
	Assignment
	Reason string
}

// Actions are what a Tick asks of the caller.
type Actions struct {
	Offers     []Offer
	Challenges []Challenge
	Ended      []Ended // for the record; nothing to send
}

// HolderStatus is what the assigner knows of one holder.
type HolderStatus struct {
	Holder   string    `json:"holder"`
	Eligible bool      `json:"eligible"`
	Held     int       `json:"held"`
	Passed   int       `json:"passed"`
	Failed   int       `json:"failed"`
	Premium  int64     `json:"premium"`
	Benched  time.Time `json:"benched_until,omitzero"`
}

type file struct {
	chunks  []Chunk
	seeders int
}

type holder struct {
	ev        Evidence
	reachable bool
	bench     time.Time
	cool      map[[32]byte]time.Time // by root
	passed    int
	failed    int
	premium   int64
}

type akey struct {
	holder string
	chunk  [32]byte
}

// Assigner is the node's side as the one that hands chunks out.
type Assigner struct {
	cfg     Config
	rng     *rand.Rand
	files   map[[32]byte]*file
	holders map[string]*holder
	as      map[akey]*Assignment
	ended   []Ended
}

// NewAssigner returns an assigner; seed (from crypto/rand) drives the
// challenge times, offsets and nonces, which holders must not predict.
func NewAssigner(cfg Config, seed [32]byte) *Assigner {
	cfg.setDefaults()
	return &Assigner{
		cfg:     cfg,
		rng:     rand.New(rand.NewChaCha8(seed)),
		files:   map[[32]byte]*file{},
		holders: map[string]*holder{},
		as:      map[akey]*Assignment{},
	}
}

// Config is the assigner's configuration, defaults filled in.
func (a *Assigner) Config() Config { return a.cfg }

// SetFile tells the assigner a file it holds in full: its chunks and the
// seeders known of it, this node included.
func (a *Assigner) SetFile(root [32]byte, chunks []Chunk, seeders int) {
	a.files[root] = &file{chunks: append([]Chunk(nil), chunks...), seeders: seeders}
}

// DropFile forgets a file this node no longer holds: its assignments are
// not renewed, nor challenged (the node could not check a proof).
func (a *Assigner) DropFile(root [32]byte) {
	delete(a.files, root)
	for k, as := range a.as {
		if as.Root == root {
			delete(a.as, k)
		}
	}
}

// Files are the roots the assigner knows.
func (a *Assigner) Files() [][32]byte {
	out := make([][32]byte, 0, len(a.files))
	for r := range a.files {
		out = append(out, r)
	}
	return out
}

// SetPeer tells the assigner a peer's evidence and whether it can be
// reached now.
func (a *Assigner) SetPeer(id string, ev Evidence, reachable bool) {
	h := a.holder(id)
	h.ev, h.reachable = ev, reachable
}

func (a *Assigner) holder(id string) *holder {
	h := a.holders[id]
	if h == nil {
		h = &holder{cool: map[[32]byte]time.Time{}}
		a.holders[id] = h
	}
	return h
}

// eligible: ratio, reachable, not benched.
func (a *Assigner) eligible(id string, now time.Time) bool {
	h := a.holders[id]
	return h != nil && h.reachable && !now.Before(h.bench) && Eligible(h.ev, a.cfg.MinRatio)
}

func (a *Assigner) unpopular(f *file) bool { return f.seeders < a.cfg.MinSeeders }

// end removes an assignment and records why.
func (a *Assigner) end(k akey, reason string) {
	as := a.as[k]
	delete(a.as, k)
	a.ended = append(a.ended, Ended{*as, reason})
}

func (a *Assigner) gap() time.Duration {
	e := a.cfg.ChallengeEvery
	return e/2 + time.Duration(a.rng.Int64N(int64(e)))
}

// Tick decides what to do at now: lapse unanswered offers, fail
// challenges past their deadline, end expired terms, challenge the
// assignments due, renew the terms ending soon and offer the chunks of
// unpopular files that have fewer than Replicas holders.
func (a *Assigner) Tick(now time.Time) Actions {
	var acts Actions
	keys := make([]akey, 0, len(a.as))
	for k := range a.as {
		keys = append(keys, k)
	}
	sortKeys(keys)
	renew := map[[2]string]*Offer{}
	for _, k := range keys {
		as := a.as[k]
		h := a.holder(k.holder)
		switch {
		case as.State == Offered && !now.Before(as.Since.Add(a.cfg.OfferTimeout)):
			h.cool[as.Root] = now.Add(a.cfg.Cool)
			a.end(k, "offer not answered")
		case as.pending != nil && now.After(as.pending.Deadline):
			a.fail(k, now, "no proof by the deadline")
		case as.State == Held && !now.Before(as.Expires):
			h.premium += Premium(as.Expires.Sub(as.Since), a.replicas(as.Chunk), true)
			a.end(k, "term ended unrenewed")
		case as.State == Held && as.pending == nil && !now.Before(as.next):
			f := a.files[as.Root]
			size := as.Size
			if size <= 0 || f == nil {
				size = 0
			}
			c := Challenge{Holder: k.holder, Root: as.Root, Chunk: as.Chunk, Deadline: now.Add(a.cfg.ProofTimeout)}
			c.Offset = uint32(a.rng.Int64N(size + 1))
			for i := 0; i < 32; i += 8 {
				binary.LittleEndian.PutUint64(c.Nonce[i:], a.rng.Uint64())
			}
			as.pending = &c
			acts.Challenges = append(acts.Challenges, c)
		}
		as, ok := a.as[k]
		if !ok || as.State != Held || as.renew || as.Expires.Sub(now) > a.cfg.RenewBefore {
			continue
		}
		if f := a.files[as.Root]; f == nil || !a.unpopular(f) || !a.eligible(k.holder, now) {
			continue
		}
		rk := [2]string{k.holder, string(as.Root[:])}
		o := renew[rk]
		if o == nil {
			o = &Offer{Holder: k.holder, Root: as.Root, Expires: now.Add(a.cfg.TTL), Renew: true}
			renew[rk] = o
		}
		if len(o.Chunks) < MaxAssignments {
			o.Chunks = append(o.Chunks, as.Chunk)
			as.renew = true
		}
	}
	for _, k := range sortedOffers(renew) {
		acts.Offers = append(acts.Offers, *renew[k])
	}
	acts.Offers = append(acts.Offers, a.place(now)...)
	acts.Ended, a.ended = a.ended, nil
	return acts
}

// place offers the chunks of unpopular files short of Replicas holders to
// the eligible holders with the fewest assignments (ties broken by a hash
// of holder and chunk, so that replicas spread).
func (a *Assigner) place(now time.Time) []Offer {
	count := map[string]int{}
	holds := map[[32]byte]map[string]bool{}
	for k := range a.as {
		count[k.holder]++
		if holds[k.chunk] == nil {
			holds[k.chunk] = map[string]bool{}
		}
		holds[k.chunk][k.holder] = true
	}
	var cands []string
	for id := range a.holders {
		if a.eligible(id, now) {
			cands = append(cands, id)
		}
	}
	sort.Strings(cands)
	roots := a.Files()
	sort.Slice(roots, func(i, j int) bool { return string(roots[i][:]) < string(roots[j][:]) })
	offers := map[[2]string]*Offer{}
	var order [][2]string
	for _, root := range roots {
		f := a.files[root]
		if !a.unpopular(f) {
			continue
		}
		for _, c := range f.chunks {
			need := a.cfg.Replicas - len(holds[c.Hash])
			if need <= 0 {
				continue
			}
			pick := make([]string, 0, len(cands))
			for _, id := range cands {
				if holds[c.Hash][id] || count[id] >= a.cfg.MaxPerHolder || now.Before(a.holders[id].cool[root]) {
					continue
				}
				pick = append(pick, id)
			}
			sort.SliceStable(pick, func(i, j int) bool {
				if count[pick[i]] != count[pick[j]] {
					return count[pick[i]] < count[pick[j]]
				}
				return spread(pick[i], c.Hash) < spread(pick[j], c.Hash)
			})
			for _, id := range pick[:min(need, len(pick))] {
				k := akey{id, c.Hash}
				a.as[k] = &Assignment{Holder: id, Root: root, Chunk: c.Hash, Size: c.Size, State: Offered, Since: now, Expires: now.Add(a.cfg.TTL)}
				count[id]++
				if holds[c.Hash] == nil {
					holds[c.Hash] = map[string]bool{}
				}
				holds[c.Hash][id] = true
				ok := [2]string{id, string(root[:])}
				o := offers[ok]
				if o == nil {
					o = &Offer{Holder: id, Root: root, Expires: now.Add(a.cfg.TTL)}
					offers[ok] = o
					order = append(order, ok)
				}
				o.Chunks = append(o.Chunks, c.Hash)
			}
		}
	}
	out := make([]Offer, 0, len(order))
	for _, k := range order {
		out = append(out, *offers[k])
	}
	return out
}

func spread(id string, chunk [32]byte) uint64 {
	s := sha256.Sum256(append([]byte(id), chunk[:]...))
	return binary.BigEndian.Uint64(s[:])
}

func (a *Assigner) replicas(chunk [32]byte) int {
	n := 0
	for k, as := range a.as {
		if k.chunk == chunk && as.State == Held {
			n++
		}
	}
	return n
}

// Answered records a holder's answer to an offer of root: the chunks it
// accepted (a renewal extends their term, and earns the premium of the
// term held); the others offered are dropped, and the holder left alone
// for that file for Cool.
func (a *Assigner) Answered(holder string, root [32]byte, accepted [][32]byte, now time.Time) {
	h := a.holder(holder)
	took := map[[32]byte]bool{}
	for _, c := range accepted {
		took[c] = true
	}
	declined := false
	for k, as := range a.as {
		if k.holder != holder || as.Root != root || (as.State != Offered && !as.renew) {
			continue
		}
		if !took[k.chunk] {
			if as.State == Offered {
				declined = true
				a.end(k, "declined")
			} else {
				as.renew = false // stays until its term ends
			}
			continue
		}
		if as.State == Held { // renewed
			h.premium += Premium(now.Sub(as.Since), a.replicas(as.Chunk), false)
			as.Renewed++
		} else {
			as.next = now.Add(a.gap())
		}
		as.State, as.Since, as.Expires, as.renew = Held, now, now.Add(a.cfg.TTL), false
	}
	if declined {
		h.cool[root] = now.Add(a.cfg.Cool)
	}
}

// Proved records the outcome of a challenge: ok when the proof matched.
// An answer to no challenge pending (late, or for another nonce) is
// ignored. A failure ends the assignment and benches the holder.
func (a *Assigner) Proved(holder string, chunk, nonce [32]byte, ok bool, now time.Time) {
	k := akey{holder, chunk}
	as := a.as[k]
	if as == nil || as.pending == nil || as.pending.Nonce != nonce || now.After(as.pending.Deadline) {
		return
	}
	if !ok {
		a.fail(k, now, "wrong proof")
		return
	}
	as.pending = nil
	as.Passed++
	a.holder(holder).passed++
	as.next = now.Add(a.gap())
}

// fail ends an assignment for a failed challenge and benches its holder.
func (a *Assigner) fail(k akey, now time.Time, reason string) {
	h := a.holder(k.holder)
	h.failed++
	h.bench = now.Add(a.cfg.Bench)
	a.end(k, "custody challenge failed: "+reason)
}

// Assignments lists the live assignments, by holder then chunk.
func (a *Assigner) Assignments() []Assignment {
	keys := make([]akey, 0, len(a.as))
	for k := range a.as {
		keys = append(keys, k)
	}
	sortKeys(keys)
	out := make([]Assignment, 0, len(keys))
	for _, k := range keys {
		as := *a.as[k]
		as.pending = nil
		out = append(out, as)
	}
	return out
}

// Holders reports every peer the assigner has heard of, by id.
func (a *Assigner) Holders(now time.Time) []HolderStatus {
	held := map[string]int{}
	for k, as := range a.as {
		if as.State == Held {
			held[k.holder]++
		}
	}
	out := make([]HolderStatus, 0, len(a.holders))
	for id, h := range a.holders {
		s := HolderStatus{Holder: id, Eligible: a.eligible(id, now), Held: held[id], Passed: h.passed, Failed: h.failed, Premium: h.premium}
		if now.Before(h.bench) {
			s.Benched = h.bench
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Holder < out[j].Holder })
	return out
}

func sortKeys(keys []akey) {
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].holder != keys[j].holder {
			return keys[i].holder < keys[j].holder
		}
		return string(keys[i].chunk[:]) < string(keys[j].chunk[:])
	})
}

func sortedOffers(m map[[2]string]*Offer) [][2]string {
	out := make([][2]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0]+out[i][1] < out[j][0]+out[j][1] })
	return out
}

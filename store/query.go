package store

import (
	"bytes"
	"cmp"
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/nbd-wtf/go-nostr"
)

// plan is how one filter is answered: either direct id lookups or a set of
// index ranges (all keyed prefix+ts+serial) merged newest first. Conditions
// the chosen index does not guarantee are checked on the record's header
// (ids, kinds, authors, time) or, for tags, on the decoded event.
type plan struct {
	none bool // the filter can match nothing

	ids      [][32]byte // lookup plan when non-nil
	prefixes [][]byte   // range plan otherwise
	// perKind: each prefix is a `k` or `p pubkey` table prefix whose ranges
	// are one per kind; the walk opens one for every kind present (of
	// kinds, when set).
	perKind bool

	since, until int64
	kinds        []uint32              // nil: any
	authors      [][32]byte            // nil: any
	authorSet    map[[32]byte]struct{} // for long author lists
	decode       bool                  // tag conditions need nostr.Filter.Matches
	f            nostr.Filter
}

// maxPairRanges caps authors x kinds before the planner stops listing every
// pair and instead looks up, author by author, which kinds each has in the
// `p` index (one skip per kind present), keeping those of the filter.
const maxPairRanges = 8192

// planFilter decides how to answer f. Filter semantics follow
// nostr.Filter.Matches: a nil list is no condition, an empty non-nil list
// matches nothing, and values compare as exact strings (ids and pubkeys must
// be 64 lowercase hex to match anything). Search (NIP-50) and Limit are
// ignored: Query takes its limit as an argument.
func planFilter(f nostr.Filter) *plan {
	p := &plan{f: f, since: math.MinInt64, until: math.MaxInt64}
	if f.Since != nil {
		p.since = int64(*f.Since)
	}
	if f.Until != nil {
		p.until = int64(*f.Until)
	}
	if p.since > p.until {
		return &plan{none: true}
	}
	if f.IDs != nil {
		if p.ids, _ = decodeHexList(f.IDs); len(p.ids) == 0 {
			return &plan{none: true}
		}
	}
	if f.Authors != nil {
		if p.authors, p.authorSet = decodeHexList(f.Authors); len(p.authors) == 0 {
			return &plan{none: true}
		}
	}
	if f.Kinds != nil {
		p.kinds = make([]uint32, 0, len(f.Kinds))
		for _, k := range f.Kinds {
			if k >= 0 && k <= math.MaxUint32 && !slices.Contains(p.kinds, uint32(k)) {
				p.kinds = append(p.kinds, uint32(k))
			}
		}
		if len(p.kinds) == 0 {
			return &plan{none: true}
		}
		slices.Sort(p.kinds)
	}
	tagConds, tagKey := 0, ""
	for k, vals := range f.Tags {
		if vals == nil {
			continue
		}
		if len(vals) == 0 {
			return &plan{none: true}
		}
		tagConds++
		if len(k) != 1 {
			continue
		}
		if tagKey == "" || len(vals) < len(f.Tags[tagKey]) ||
			(len(vals) == len(f.Tags[tagKey]) && k < tagKey) {
			tagKey = k
		}
	}

	switch {
	case p.ids != nil:
		p.decode = tagConds > 0
	case p.authors != nil && p.kinds != nil && len(p.authors)*len(p.kinds) <= maxPairRanges:
		for _, pk := range p.authors {
			for _, k := range p.kinds {
				p.prefixes = append(p.prefixes, appendU32(append([]byte{pfxAuthorKind}, pk[:]...), k))
			}
		}
		p.decode = tagConds > 0
	case p.authors != nil:
		for _, pk := range p.authors {
			p.prefixes = append(p.prefixes, append([]byte{pfxAuthorKind}, pk[:]...))
		}
		p.perKind = true
		p.decode = tagConds > 0
	case tagKey != "":
		seen := make(map[string]struct{}, len(f.Tags[tagKey]))
		for _, v := range f.Tags[tagKey] {
			pre := appendTagValue([]byte{pfxTag, tagKey[0]}, v)
			if _, dup := seen[string(pre)]; !dup {
				seen[string(pre)] = struct{}{}
				p.prefixes = append(p.prefixes, pre)
			}
		}
		p.decode = tagConds > 1
	case p.kinds != nil:
		for _, k := range p.kinds {
			p.prefixes = append(p.prefixes, appendU32([]byte{pfxKind}, k))
		}
		p.decode = tagConds > 0
	default:
		p.prefixes = [][]byte{{pfxKind}}
		p.perKind = true
		p.decode = tagConds > 0
	}
	return p
}

// decodeHexList decodes the valid 64-char lowercase hex strings of list,
// without repeats. For long lists it also returns them as a set.
func decodeHexList(list []string) ([][32]byte, map[[32]byte]struct{}) {
	out := make([][32]byte, 0, len(list))
	set := make(map[[32]byte]struct{}, len(list))
	for _, s := range list {
		var b [32]byte
		if !decodeHex32(s, &b) {
			continue
		}
		if _, dup := set[b]; !dup {
			set[b] = struct{}{}
			out = append(out, b)
		}
	}
	if len(out) <= 16 {
		set = nil
	}
	return out, set
}

// matchHeader checks every condition readable from the header.
func (p *plan) matchHeader(h *header) bool {
	if h.createdAt < p.since || h.createdAt > p.until {
		return false
	}
	if p.kinds != nil {
		if _, ok := slices.BinarySearch(p.kinds, h.kind); !ok {
			return false
		}
	}
	if p.authorSet != nil {
		if _, ok := p.authorSet[h.pubkey]; !ok {
			return false
		}
	} else if p.authors != nil && !slices.Contains(p.authors, h.pubkey) {
		return false
	}
	return true
}

// match reports whether a record satisfies the filter and is unexpired.
func (p *plan) match(h *header, raw []byte, now int64) (bool, error) {
	if h.expired(now) || !p.matchHeader(h) {
		return false, nil
	}
	if !p.decode {
		return true, nil
	}
	var ev nostr.Event
	if err := ev.UnmarshalJSON(raw); err != nil {
		return false, fmt.Errorf("%w: decoding JSON: %v", errCorrupt, err)
	}
	return p.f.MatchesIgnoringTimestampConstraints(&ev), nil
}

// ctxCheckEvery is how many candidates a query examines between looks at
// its context.
const ctxCheckEvery = 256

// find calls visit with the header and raw JSON of every stored, unexpired
// event matching f, newest first (on a created_at tie, lowest id first). visit
// returning errStop ends the walk without error.
func (s *eventStore) find(ctx context.Context, tx kvReader, f nostr.Filter, visit func(h *header, raw []byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p := planFilter(f)
	if p.none {
		return nil
	}
	now := s.now().Unix()
	var err error
	if p.ids != nil {
		err = findByID(ctx, tx, p, now, visit)
	} else {
		err = findInRanges(ctx, tx, p, now, visit)
	}
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

// emit loads the record at serial and passes it to visit if it matches.
func emit(tx kvReader, p *plan, serial uint64, now int64, visit func(*header, []byte) error) error {
	rec, err := tx.Get(eventKey(serial))
	if err != nil {
		return err
	}
	if rec == nil {
		return fmt.Errorf("%w: index entry for missing record %d", errCorrupt, serial)
	}
	h, raw, err := parseRecord(rec)
	if err != nil {
		return fmt.Errorf("record %d: %w", serial, err)
	}
	ok, err := p.match(&h, raw, now)
	if err != nil {
		return fmt.Errorf("record %d: %w", serial, err)
	}
	if !ok {
		return nil
	}
	return visit(&h, raw)
}

func findByID(ctx context.Context, tx kvReader, p *plan, now int64, visit func(*header, []byte) error) error {
	type hit struct {
		createdAt int64
		id        [32]byte
		serial    uint64
	}
	hits := make([]hit, 0, len(p.ids))
	for i, id := range p.ids {
		if i%ctxCheckEvery == ctxCheckEvery-1 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		v, err := tx.Get(idKey(id))
		if err != nil {
			return err
		}
		if v == nil {
			continue
		}
		serial, err := decodeU64(v, "id index value")
		if err != nil {
			return err
		}
		h, err := readHeader(tx, serial)
		if err != nil {
			return err
		}
		hits = append(hits, hit{h.createdAt, h.id, serial})
	}
	slices.SortFunc(hits, func(a, b hit) int {
		return cmp.Or(cmp.Compare(b.createdAt, a.createdAt), bytes.Compare(a.id[:], b.id[:]))
	})
	for _, h := range hits {
		if err := emit(tx, p, h.serial, now, visit); err != nil {
			return err
		}
	}
	return nil
}

// rangeCursor is one index range being walked newest first.
type rangeCursor struct {
	it         kvIter
	ts, serial uint64
}

func (c *rangeCursor) advance() (bool, error) {
	if !c.it.Next() {
		return false, nil
	}
	ts, serial, ok := keySuffix(c.it.Key())
	if !ok {
		return false, fmt.Errorf("%w: index key of %d bytes", errCorrupt, len(c.it.Key()))
	}
	c.ts, c.serial = ts, serial
	return true, nil
}

// cursorHeap orders cursors newest first.
type cursorHeap []*rangeCursor

func (h cursorHeap) Len() int { return len(h) }
func (h cursorHeap) Less(i, j int) bool {
	if h[i].ts != h[j].ts {
		return h[i].ts > h[j].ts
	}
	return h[i].serial > h[j].serial
}
func (h cursorHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)   { *h = append(*h, x.(*rangeCursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

func findInRanges(ctx context.Context, tx kvReader, p *plan, now int64, visit func(*header, []byte) error) (err error) {
	var open []*rangeCursor
	defer func() {
		for _, c := range open {
			if cerr := c.it.Close(); err == nil && cerr != nil {
				err = cerr
			}
		}
	}()
	prefixes := p.prefixes
	if p.perKind {
		prefixes = nil
		for i, pre := range p.prefixes {
			if i%ctxCheckEvery == ctxCheckEvery-1 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if prefixes, err = appendKindPrefixes(tx, pre, p.kinds, prefixes); err != nil {
				return err
			}
		}
	}
	h := make(cursorHeap, 0, len(prefixes))
	for _, pre := range prefixes {
		lo := appendU64(bytes.Clone(pre), encTime(p.since))
		hi := prefixEnd(appendU64(bytes.Clone(pre), encTime(p.until)))
		c := &rangeCursor{it: tx.Iter(lo, hi, true)}
		open = append(open, c)
		ok, err := c.advance()
		if err != nil {
			return err
		}
		if ok {
			h = append(h, c)
		}
	}
	heap.Init(&h)

	// Candidates arrive newest first; those sharing a created_at are held
	// in run and emitted by id (NIP-01: on a tie the lowest id comes first).
	var run []uint64
	var runTS uint64
	var last uint64
	seen := 0
	for len(h) > 0 {
		c := h[0]
		ts, serial := c.ts, c.serial
		ok, err := c.advance()
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
		if seen > 0 && serial == last {
			continue // the same event reached through another range
		}
		last = serial
		seen++
		if seen%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if len(run) > 0 && ts != runTS {
			if err := emitTies(tx, p, run, now, visit); err != nil {
				return err
			}
			run = run[:0]
		}
		run, runTS = append(run, serial), ts
	}
	return emitTies(tx, p, run, now, visit)
}

// appendKindPrefixes appends pre+kind(4) to out for every kind with an
// entry under pre (a table whose keys go on with kind(4) ts serial) and in
// kinds (nil: any), skipping from one kind to the next: one seek per kind
// present, however many events each has.
func appendKindPrefixes(tx kvReader, pre []byte, kinds []uint32, out [][]byte) ([][]byte, error) {
	hi := prefixEnd(pre)
	lo := pre
	for {
		it := tx.Iter(lo, hi, false)
		found := it.Next()
		var kind uint32
		if found {
			k := it.Key()
			if len(k) < len(pre)+4 {
				it.Close()
				return out, fmt.Errorf("%w: index key of %d bytes", errCorrupt, len(k))
			}
			kind = binary.BigEndian.Uint32(k[len(pre):])
		}
		if err := it.Close(); err != nil || !found {
			return out, err
		}
		if kinds == nil {
			out = append(out, appendU32(bytes.Clone(pre), kind))
		} else if i, ok := slices.BinarySearch(kinds, kind); ok {
			out = append(out, appendU32(bytes.Clone(pre), kind))
		} else if i == len(kinds) {
			return out, nil // no wanted kind beyond this one
		} else {
			kind = kinds[i] - 1 // skip straight to the next wanted kind
		}
		if kind == math.MaxUint32 {
			return out, nil
		}
		lo = appendU32(bytes.Clone(pre), kind+1)
	}
}

// emitTies emits events that share a created_at, lowest id first.
func emitTies(tx kvReader, p *plan, serials []uint64, now int64, visit func(*header, []byte) error) error {
	if len(serials) == 1 {
		return emit(tx, p, serials[0], now, visit)
	}
	type tie struct {
		id     [32]byte
		serial uint64
	}
	ties := make([]tie, 0, len(serials))
	for _, serial := range serials {
		h, err := readHeader(tx, serial)
		if err != nil {
			return err
		}
		ties = append(ties, tie{h.id, serial})
	}
	slices.SortFunc(ties, func(a, b tie) int { return bytes.Compare(a.id[:], b.id[:]) })
	for _, t := range ties {
		if err := emit(tx, p, t.serial, now, visit); err != nil {
			return err
		}
	}
	return nil
}

// readHeader reads the header of the record at serial.
func readHeader(tx kvReader, serial uint64) (header, error) {
	rec, err := tx.Get(eventKey(serial))
	if err != nil {
		return header{}, err
	}
	if rec == nil {
		return header{}, fmt.Errorf("%w: index entry for missing record %d", errCorrupt, serial)
	}
	h, _, err := parseRecord(rec)
	if err != nil {
		return header{}, fmt.Errorf("record %d: %w", serial, err)
	}
	return h, nil
}

func (s *eventStore) Query(ctx context.Context, f nostr.Filter, limit int, fn func(raw []byte) error) error {
	return s.view(func(tx kvReader) error {
		n := 0
		return s.find(ctx, tx, f, func(_ *header, raw []byte) error {
			if err := fn(raw); err != nil {
				return err
			}
			n++
			if limit > 0 && n >= limit {
				return errStop
			}
			return nil
		})
	})
}

func (s *eventStore) Count(ctx context.Context, f nostr.Filter) (int64, error) {
	var n int64
	err := s.view(func(tx kvReader) error {
		return s.find(ctx, tx, f, func(*header, []byte) error {
			n++
			return nil
		})
	})
	return n, err
}

func (s *eventStore) IDs(ctx context.Context, f nostr.Filter, max int, fn func(createdAt nostr.Timestamp, id [32]byte) error) error {
	type hit struct {
		createdAt nostr.Timestamp
		id        [32]byte
	}
	var hits []hit
	err := s.view(func(tx kvReader) error {
		return s.find(ctx, tx, f, func(h *header, _ []byte) error {
			if max <= 0 {
				return fn(nostr.Timestamp(h.createdAt), h.id)
			}
			if len(hits) == max {
				return ErrTooMany
			}
			hits = append(hits, hit{nostr.Timestamp(h.createdAt), h.id})
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, h := range hits {
		if err := fn(h.createdAt, h.id); err != nil {
			return err
		}
	}
	return nil
}

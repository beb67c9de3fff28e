package cold

import (
	"fmt"
	"sort"
	"time"
)

// Holding is a chunk this node keeps for an assigner.
type Holding struct {
	Assigner string    `json:"assigner"`
	Root     [32]byte  `json:"-"`
	Chunk    [32]byte  `json:"-"`
	Since    time.Time `json:"since"`
	Expires  time.Time `json:"expires"`
}

// Holdings is the holder's side: which chunks it keeps, for whom, until
// when. It takes at most Max assignments in all (default 16).
type Holdings struct {
	Max  int
	held map[hkey]*Holding
}

type hkey struct {
	assigner string
	chunk    [32]byte
}

// Take decides an offer (already checked by ParseOffer): the chunks it
// accepts (renewals of its own holdings first, then new ones while there
// is room) and, when it declined some, why.
func (hs *Holdings) Take(o Offer, assigner string, now time.Time) (accepted [][32]byte, declined string) {
	if hs.held == nil {
		hs.held = map[hkey]*Holding{}
	}
	limit := hs.Max
	if limit <= 0 {
		limit = MaxAssignments
	}
	var fresh [][32]byte
	for _, c := range o.Chunks {
		if h := hs.held[hkey{assigner, c}]; h != nil && h.Root == o.Root {
			h.Expires = o.Expires
			accepted = append(accepted, c)
			continue
		}
		fresh = append(fresh, c)
	}
	for i, c := range fresh {
		if len(hs.held) >= limit {
			return accepted, fmt.Sprintf("holding %d assignments, the most this node takes: %d chunks declined", len(hs.held), len(fresh)-i)
		}
		hs.held[hkey{assigner, c}] = &Holding{Assigner: assigner, Root: o.Root, Chunk: c, Since: now, Expires: o.Expires}
		accepted = append(accepted, c)
	}
	return accepted, ""
}

// Drop forgets a holding (its chunk could not be fetched, or was lost).
func (hs *Holdings) Drop(assigner string, chunk [32]byte) {
	delete(hs.held, hkey{assigner, chunk})
}

// Expire removes the holdings whose term ended at now and returns them:
// the caller unpins their chunks (unless another holding names the same
// chunk: see Holds).
func (hs *Holdings) Expire(now time.Time) []Holding {
	var out []Holding
	for k, h := range hs.held {
		if !now.Before(h.Expires) {
			out = append(out, *h)
			delete(hs.held, k)
		}
	}
	sortHoldings(out)
	return out
}

// Holds reports whether any holding names chunk.
func (hs *Holdings) Holds(chunk [32]byte) bool {
	for k := range hs.held {
		if k.chunk == chunk {
			return true
		}
	}
	return false
}

// List is every holding, by assigner then chunk.
func (hs *Holdings) List() []Holding {
	out := make([]Holding, 0, len(hs.held))
	for _, h := range hs.held {
		out = append(out, *h)
	}
	sortHoldings(out)
	return out
}

func sortHoldings(l []Holding) {
	sort.Slice(l, func(i, j int) bool {
		if l[i].Assigner != l[j].Assigner {
			return l[i].Assigner < l[j].Assigner
		}
		return string(l[i].Chunk[:]) < string(l[j].Chunk[:])
	})
}

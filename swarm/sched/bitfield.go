package sched

import "math/bits"

// Bitfield is a set of chunk indexes: the chunks a peer has, or the chunks
// already verified when a download resumes. The zero value is an empty set of
// length 0; indexes at or beyond Len are never set.
type Bitfield struct {
	n     int
	words []uint64
}

// NewBitfield returns an empty set over chunk indexes [0, n).
func NewBitfield(n int) Bitfield {
	if n < 0 {
		n = 0
	}
	return Bitfield{n: n, words: make([]uint64, (n+63)/64)}
}

// FullBitfield returns the set of all chunk indexes [0, n).
func FullBitfield(n int) Bitfield {
	b := NewBitfield(n)
	for i := range b.words {
		b.words[i] = ^uint64(0)
	}
	if r := n % 64; r != 0 {
		b.words[len(b.words)-1] = (1 << r) - 1
	}
	return b
}

// BitfieldOf returns a set over [0, n) holding the given indexes; indexes
// outside [0, n) are ignored.
func BitfieldOf(n int, idx ...int) Bitfield {
	b := NewBitfield(n)
	for _, i := range idx {
		b.Set(i)
	}
	return b
}

// Len is the number of indexes the set ranges over.
func (b Bitfield) Len() int { return b.n }

// Has reports whether i is in the set.
func (b Bitfield) Has(i int) bool {
	if i < 0 || i >= b.n {
		return false
	}
	return b.words[i/64]&(1<<(uint(i)%64)) != 0
}

// Set adds i; it does nothing if i is out of range.
func (b *Bitfield) Set(i int) {
	if i < 0 || i >= b.n {
		return
	}
	b.words[i/64] |= 1 << (uint(i) % 64)
}

// Clear removes i.
func (b *Bitfield) Clear(i int) {
	if i < 0 || i >= b.n {
		return
	}
	b.words[i/64] &^= 1 << (uint(i) % 64)
}

// Count is the number of indexes in the set.
func (b Bitfield) Count() int {
	c := 0
	for _, w := range b.words {
		c += bits.OnesCount64(w)
	}
	return c
}

// Clone returns an independent copy.
func (b Bitfield) Clone() Bitfield {
	return Bitfield{n: b.n, words: append([]uint64(nil), b.words...)}
}

// reset empties the set, keeping its length.
func (b *Bitfield) reset() {
	clear(b.words)
}

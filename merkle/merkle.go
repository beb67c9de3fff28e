// Package merkle computes Entropy-compatible SHA-256 Merkle roots over chunk
// hashes and builds and checks inclusion proofs for them.
//
// It is pure: plain functions over byte arrays, no I/O, no goroutines, so it
// runs the same in the node, in wasm and in simulations.
//
// # Tree layout (Entropy compatible, must not change)
//
//   - A leaf is a 32-byte chunk hash (sha256 of the chunk bytes), used as is.
//   - A parent is sha256(left || right) over the two raw 32-byte children.
//   - An odd node at the end of a level is paired with itself:
//     parent = sha256(x || x).
//   - One leaf is its own root; no leaves give sha256 of the empty string.
//
// For leaves a, b, c:
//
//	root = sha256( sha256(a||b) || sha256(c||c) )
//
// # Caveats of this layout
//
// Leaves and inner nodes are hashed the same way, and self-pairing means the
// root does not commit to the number of leaves: [a b c] and [a b c c] have
// the same root (the weakness known from Bitcoin, CVE-2012-2459). Entropy
// fixed this format, so cairn keeps it and instead always checks a root
// together with its leaf count: [Verify] takes the count, and a chunk map
// carries its full chunk list and size. Never identify content by its root
// alone when the leaf count comes from an untrusted source.
//
// # Proof encoding
//
// A [Proof] lists the sibling hashes on the path from a leaf to the root,
// bottom up, leaving out the levels where the node is the odd one out and
// is paired with itself (the verifier knows those levels from the leaf's
// index and the leaf count). Its binary form ([Proof.MarshalBinary]) is:
//
//	n   u8          number of siblings, 0..MaxProofLen
//	n × [32]byte    the siblings, bottom up
//
// so an encoded proof is exactly 1+32n bytes; anything else is refused. The
// index and count are not in the encoding: the caller knows them (from the
// chunk map) and passes them to [Verify].
package merkle

import (
	"crypto/sha256"
	"errors"
	"fmt"
)

// MaxProofLen is the largest number of siblings a proof may carry: a tree over
// at most 2^64 leaves is at most 64 levels deep.
const MaxProofLen = 64

// Sentinel errors.
var (
	// ErrNoLeaves is returned when a proof is asked of an empty tree.
	ErrNoLeaves = errors.New("merkle: no leaves")
	// ErrIndexRange is returned when a leaf index is outside the tree.
	ErrIndexRange = errors.New("merkle: leaf index out of range")
	// ErrProofEncoding is returned by UnmarshalBinary for malformed input.
	ErrProofEncoding = errors.New("merkle: malformed proof encoding")
)

// Root returns the Merkle root of leaves (see the package doc for the layout).
// It does not modify leaves.
func Root(leaves [][32]byte) [32]byte {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	}
	level := make([][32]byte, (len(leaves)+1)/2)
	for i := range level {
		level[i] = pair(leaves, 2*i)
	}
	for len(level) > 1 {
		n := (len(level) + 1) / 2
		for i := 0; i < n; i++ {
			level[i] = pair(level, 2*i)
		}
		level = level[:n]
	}
	return level[0]
}

// pair hashes level[i] with its right neighbour, or with itself when it is the
// last node of an odd level.
func pair(level [][32]byte, i int) [32]byte {
	if i+1 < len(level) {
		return hashPair(level[i], level[i+1])
	}
	return hashPair(level[i], level[i])
}

func hashPair(left, right [32]byte) [32]byte {
	var buf [64]byte
	copy(buf[:32], left[:])
	copy(buf[32:], right[:])
	return sha256.Sum256(buf[:])
}

// Proof is an inclusion proof for one leaf: the sibling hashes from the leaf
// level up, without the self-paired levels. The zero Proof is the valid proof
// for a tree of one leaf.
type Proof struct {
	Siblings [][32]byte
}

// ProofLen returns how many siblings a proof for leaf index in a tree of count
// leaves has, or -1 if index is not in such a tree.
func ProofLen(index, count int) int {
	if count <= 0 || index < 0 || index >= count {
		return -1
	}
	n := 0
	for count > 1 {
		if !(index%2 == 0 && index == count-1) {
			n++
		}
		index /= 2
		count -= count / 2
	}
	return n
}

// Prove returns the inclusion proof for leaves[index].
func Prove(leaves [][32]byte, index int) (Proof, error) {
	if len(leaves) == 0 {
		return Proof{}, ErrNoLeaves
	}
	if index < 0 || index >= len(leaves) {
		return Proof{}, fmt.Errorf("proving leaf %d of %d: %w", index, len(leaves), ErrIndexRange)
	}
	var p Proof
	if n := ProofLen(index, len(leaves)); n > 0 {
		p.Siblings = make([][32]byte, 0, n)
	}
	level := leaves
	for len(level) > 1 {
		sib := index ^ 1
		if sib < len(level) {
			p.Siblings = append(p.Siblings, level[sib])
		}
		next := make([][32]byte, (len(level)+1)/2)
		for i := range next {
			next[i] = pair(level, 2*i)
		}
		level = next
		index /= 2
	}
	return p, nil
}

// Verify reports whether proof shows that leaf is the leaf at index in the tree
// of count leaves whose root is root. It never panics; a proof of the wrong
// length for (index, count) is refused.
func Verify(root, leaf [32]byte, index, count int, proof Proof) bool {
	if ProofLen(index, count) != len(proof.Siblings) {
		return false
	}
	h := leaf
	k := 0
	for count > 1 {
		switch {
		case index%2 == 1:
			h = hashPair(proof.Siblings[k], h)
			k++
		case index == count-1:
			h = hashPair(h, h)
		default:
			h = hashPair(h, proof.Siblings[k])
			k++
		}
		index /= 2
		count -= count / 2
	}
	return h == root
}

// MarshalBinary encodes p as described in the package doc.
func (p Proof) MarshalBinary() ([]byte, error) {
	if len(p.Siblings) > MaxProofLen {
		return nil, fmt.Errorf("encoding proof of %d siblings (max %d): %w", len(p.Siblings), MaxProofLen, ErrProofEncoding)
	}
	out := make([]byte, 1, 1+32*len(p.Siblings))
	out[0] = byte(len(p.Siblings))
	for _, s := range p.Siblings {
		out = append(out, s[:]...)
	}
	return out, nil
}

// UnmarshalBinary decodes a proof encoded by MarshalBinary. It refuses a
// sibling count over MaxProofLen and any length other than 1+32n.
func (p *Proof) UnmarshalBinary(b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("decoding proof: empty input: %w", ErrProofEncoding)
	}
	n := int(b[0])
	if n > MaxProofLen {
		return fmt.Errorf("decoding proof: %d siblings (max %d): %w", n, MaxProofLen, ErrProofEncoding)
	}
	if len(b) != 1+32*n {
		return fmt.Errorf("decoding proof: %d bytes for %d siblings, want %d: %w", len(b), n, 1+32*n, ErrProofEncoding)
	}
	var sibs [][32]byte
	if n > 0 {
		sibs = make([][32]byte, n)
		for i := range sibs {
			copy(sibs[i][:], b[1+32*i:])
		}
	}
	p.Siblings = sibs
	return nil
}

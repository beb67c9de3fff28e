package merkle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// leaves returns n deterministic leaves: sha256("chunk i").
func testLeaves(n int) [][32]byte {
	out := make([][32]byte, n)
	for i := range out {
		out[i] = sha256.Sum256([]byte(fmt.Sprintf("chunk %d", i)))
	}
	return out
}

func h2(a, b [32]byte) [32]byte {
	return sha256.Sum256(append(append([]byte{}, a[:]...), b[:]...))
}

// TestRootByHand pins the pairing rule by building the small trees by hand.
func TestRootByHand(t *testing.T) {
	l := testLeaves(5)
	a, b, c, d, e := l[0], l[1], l[2], l[3], l[4]
	cases := []struct {
		n    int
		want [32]byte
	}{
		{0, sha256.Sum256(nil)},
		{1, a},
		{2, h2(a, b)},
		{3, h2(h2(a, b), h2(c, c))},
		{4, h2(h2(a, b), h2(c, d))},
		{5, h2(h2(h2(a, b), h2(c, d)), h2(h2(e, e), h2(e, e)))},
	}
	for _, tc := range cases {
		if got := Root(l[:tc.n]); got != tc.want {
			t.Errorf("Root(%d leaves) = %x, want %x", tc.n, got, tc.want)
		}
	}
}

// TestRootVectors pins roots computed independently (Python hashlib) for
// leaves sha256("chunk i").
func TestRootVectors(t *testing.T) {
	vectors := map[int]string{
		0: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		1: "3887e4ff4cb117983b927fde9da0c0818813a3d587b053db40fe6d951f6a3f47",
		2: "47d9759b9ab2b52268fb05bb498c5f695c326d38c9329d9c90bb44d39009c7d9",
		3: "5d9cf5319205f3eef47d8f9ac1e6890d3fbd17816594f868f66da363a5555976",
		5: "1aaba527ec81804730891cee060d9ad2a09747ba1d8ee3efabd45c6a16b40c7c",
		7: "0584e38c27ba05bb51110db5b0e4593b56fdb5ecc570c9ce058aacd868fc596d",
	}
	for n, want := range vectors {
		got := Root(testLeaves(n))
		if hex.EncodeToString(got[:]) != want {
			t.Errorf("Root(%d leaves) = %x, want %s", n, got, want)
		}
	}
}

func TestRootDoesNotModifyLeaves(t *testing.T) {
	l := testLeaves(9)
	orig := append([][32]byte(nil), l...)
	Root(l)
	if !reflect.DeepEqual(l, orig) {
		t.Fatal("Root modified its input")
	}
}

// TestRootIgnoresDuplicatedLast documents the layout's known weakness: the
// root does not commit to the leaf count.
func TestRootIgnoresDuplicatedLast(t *testing.T) {
	l := testLeaves(3)
	if Root(l) != Root(append(l, l[2])) {
		t.Fatal("expected [a b c] and [a b c c] to share a root")
	}
}

func TestProveVerifyAll(t *testing.T) {
	for count := 1; count <= 33; count++ {
		l := testLeaves(count)
		root := Root(l)
		for i := 0; i < count; i++ {
			p, err := Prove(l, i)
			if err != nil {
				t.Fatalf("Prove(%d of %d): %v", i, count, err)
			}
			if len(p.Siblings) != ProofLen(i, count) {
				t.Fatalf("proof %d of %d has %d siblings, ProofLen says %d", i, count, len(p.Siblings), ProofLen(i, count))
			}
			if !Verify(root, l[i], i, count, p) {
				t.Fatalf("Verify(%d of %d) = false", i, count)
			}
			enc, err := p.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if len(enc) != 1+32*len(p.Siblings) {
				t.Fatalf("encoded proof is %d bytes", len(enc))
			}
			var q Proof
			if err := q.UnmarshalBinary(enc); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if !reflect.DeepEqual(p, q) {
				t.Fatalf("round trip changed proof %d of %d", i, count)
			}
			if !Verify(root, l[i], i, count, q) {
				t.Fatalf("decoded proof %d of %d does not verify", i, count)
			}
		}
	}
}

func TestTamperedProofsFail(t *testing.T) {
	for count := 1; count <= 33; count++ {
		l := testLeaves(count)
		root := Root(l)
		for i := 0; i < count; i++ {
			p, _ := Prove(l, i)
			other := sha256.Sum256([]byte("other"))
			if Verify(root, other, i, count, p) {
				t.Fatalf("wrong leaf verified (%d of %d)", i, count)
			}
			if Verify(other, l[i], i, count, p) {
				t.Fatalf("wrong root verified (%d of %d)", i, count)
			}
			for k := range p.Siblings {
				q := Proof{Siblings: append([][32]byte(nil), p.Siblings...)}
				q.Siblings[k][k%32] ^= 0x01
				if Verify(root, l[i], i, count, q) {
					t.Fatalf("flipped sibling %d verified (%d of %d)", k, i, count)
				}
			}
			// Extra or missing siblings.
			longer := Proof{Siblings: append(append([][32]byte(nil), p.Siblings...), other)}
			if Verify(root, l[i], i, count, longer) {
				t.Fatalf("proof with extra sibling verified (%d of %d)", i, count)
			}
			if len(p.Siblings) > 0 {
				shorter := Proof{Siblings: p.Siblings[:len(p.Siblings)-1]}
				if Verify(root, l[i], i, count, shorter) {
					t.Fatalf("truncated proof verified (%d of %d)", i, count)
				}
			}
			// Wrong index (when the leaf differs).
			for j := 0; j < count; j++ {
				if j != i && l[j] != l[i] && Verify(root, l[i], j, count, p) {
					t.Fatalf("proof for %d verified at index %d (count %d)", i, j, count)
				}
			}
		}
	}
}

func TestVerifyOutOfRange(t *testing.T) {
	l := testLeaves(4)
	root := Root(l)
	p, _ := Prove(l, 0)
	for _, tc := range []struct{ index, count int }{{-1, 4}, {4, 4}, {0, 0}, {0, -1}, {5, 4}} {
		if Verify(root, l[0], tc.index, tc.count, p) {
			t.Errorf("Verify(index %d, count %d) = true", tc.index, tc.count)
		}
	}
}

func TestProveErrors(t *testing.T) {
	if _, err := Prove(nil, 0); !errors.Is(err, ErrNoLeaves) {
		t.Errorf("Prove(nil) error = %v, want ErrNoLeaves", err)
	}
	l := testLeaves(3)
	for _, i := range []int{-1, 3, 100} {
		if _, err := Prove(l, i); !errors.Is(err, ErrIndexRange) {
			t.Errorf("Prove(index %d) error = %v, want ErrIndexRange", i, err)
		}
	}
}

func TestOneLeafProof(t *testing.T) {
	l := testLeaves(1)
	p, err := Prove(l, 0)
	if err != nil || len(p.Siblings) != 0 {
		t.Fatalf("Prove(1 leaf) = %v, %v", p, err)
	}
	enc, _ := p.MarshalBinary()
	if !bytes.Equal(enc, []byte{0}) {
		t.Fatalf("empty proof encodes to %x", enc)
	}
	if !Verify(l[0], l[0], 0, 1, Proof{}) {
		t.Fatal("zero proof for one leaf does not verify")
	}
}

func TestUnmarshalRefusals(t *testing.T) {
	cases := map[string][]byte{
		"empty":          {},
		"short":          {1, 0, 0},
		"long":           append([]byte{0}, make([]byte, 32)...),
		"count too big":  append([]byte{MaxProofLen + 1}, make([]byte, 32*(MaxProofLen+1))...),
		"count 255":      {255},
		"trailing bytes": append([]byte{1}, make([]byte, 33)...),
	}
	for name, b := range cases {
		var p Proof
		if err := p.UnmarshalBinary(b); !errors.Is(err, ErrProofEncoding) {
			t.Errorf("%s: error = %v, want ErrProofEncoding", name, err)
		}
	}
	if _, err := (Proof{Siblings: make([][32]byte, MaxProofLen+1)}).MarshalBinary(); !errors.Is(err, ErrProofEncoding) {
		t.Errorf("marshal of oversized proof: error = %v", err)
	}
	var p Proof
	if err := p.UnmarshalBinary(append([]byte{MaxProofLen}, make([]byte, 32*MaxProofLen)...)); err != nil {
		t.Errorf("max-size proof refused: %v", err)
	}
}

func FuzzProof(f *testing.F) {
	f.Add([]byte{0}, uint16(1), uint16(0))
	f.Add(append([]byte{1}, make([]byte, 32)...), uint16(2), uint16(1))
	f.Add([]byte{2, 1, 2, 3}, uint16(5), uint16(4))
	f.Fuzz(func(t *testing.T, enc []byte, n, idx uint16) {
		var fp Proof
		fuzzOK := fp.UnmarshalBinary(enc) == nil
		if fuzzOK {
			again, err := fp.MarshalBinary()
			if err != nil || !bytes.Equal(again, enc) {
				t.Fatalf("round trip: %x -> %x (%v)", enc, again, err)
			}
		}

		count := int(n%300) + 1
		index := int(idx) % count
		l := testLeaves(count)
		root := Root(l)
		p, err := Prove(l, index)
		if err != nil {
			t.Fatal(err)
		}
		if !Verify(root, l[index], index, count, p) {
			t.Fatalf("genuine proof %d of %d does not verify", index, count)
		}
		// An arbitrary decoded proof must never panic Verify, and may only
		// verify if it is the genuine proof (anything else is a collision).
		if fuzzOK && Verify(root, l[index], index, count, fp) && !reflect.DeepEqual(normalize(fp), normalize(p)) {
			t.Fatalf("forged proof verified for %d of %d", index, count)
		}
		// Verify against arbitrary (index, count) must not panic either.
		_ = Verify(root, l[index], int(idx), int(n), fp)
	})
}

func normalize(p Proof) Proof {
	if len(p.Siblings) == 0 {
		return Proof{}
	}
	return p
}

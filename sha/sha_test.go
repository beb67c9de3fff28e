package sha

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// vectors are FIPS 180-2 test vectors.
var vectors = []struct{ in, want string }{
	{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	{"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
}

// testHasher checks h against the vectors and crypto/sha256 on random
// inputs of awkward sizes.
func testHasher(t *testing.T, h Hasher) {
	t.Helper()
	for _, v := range vectors {
		got, err := h.Sum256([]byte(v.in))
		if err != nil {
			t.Fatalf("Sum256(%q): %v", v.in, err)
		}
		if hex.EncodeToString(got[:]) != v.want {
			t.Errorf("Sum256(%q) = %x, want %s", v.in, got, v.want)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 55, 56, 63, 64, 65, 4095, 1 << 16, 1<<20 + 3} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		got, err := h.Sum256(b)
		if err != nil {
			t.Fatalf("Sum256(%d bytes): %v", n, err)
		}
		if want := sha256.Sum256(b); got != want {
			t.Errorf("Sum256(%d bytes) = %x, want %x", n, got, want)
		}
	}
}

func TestGo(t *testing.T) { testHasher(t, Go{}) }

func TestDefault(t *testing.T) { testHasher(t, Default()) }

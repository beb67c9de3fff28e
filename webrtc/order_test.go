package webrtc

import (
	"testing"

	"github.com/cairn-nostr/cairn/swarm/wire"
)

// TestChallengeFirst: a custody challenge queued behind requests is taken
// first; bytes of a chunk's raw fragments that happen to start with the
// challenge's type byte are never mistaken for one.
func TestChallengeFirst(t *testing.T) {
	enc := func(m interface{ Encode() ([]byte, error) }) []byte {
		b, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	req := func(n byte) []byte { return enc(&wire.Request{Hash: [32]byte{n}}) }
	ch := enc(&wire.CustodyChallenge{Hash: [32]byte{9}, Offset: 1})
	fake := append([]byte{byte(wire.TypeCustodyChallenge)}, make([]byte, 99)...) // a raw fragment
	hdr := enc(&wire.DataHeader{Hash: [32]byte{5}, Total: 200})
	for _, c := range []struct {
		name    string
		q       [][]byte
		pending int
		want    int
	}{
		{"behind three requests", [][]byte{req(1), req(2), req(3), ch}, 0, 3},
		{"none queued", [][]byte{req(1), req(2)}, 0, 0},
		{"a fragment of the chunk in progress", [][]byte{fake, req(1)}, 100, 0},
		{"after the fragments in progress", [][]byte{fake, req(1), ch}, 100, 2},
		{"inside a queued chunk", [][]byte{hdr, fake, fake, ch}, 0, 3},
		{"a fragment of a queued chunk", [][]byte{hdr, fake, req(1)}, 0, 0},
	} {
		if got := nextMessage(c.q, c.pending); got != c.want {
			t.Errorf("%s: took %d, want %d", c.name, got, c.want)
		}
	}
}

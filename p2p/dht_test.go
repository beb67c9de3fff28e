package p2p

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestDHT: five hosts in a private DHT, all bootstrapped from host 0. Host
// 2 provides a root; host 4, which never dialled host 2, finds it through
// the DHT and fetches the chunk from it.
func TestDHT(t *testing.T) {
	boot := newHost(t, nil)
	hosts := []*Host{boot}
	for range 4 {
		hosts = append(hosts, newHost(t, func(c *Config) { c.Bootstrap = []peer.AddrInfo{boot.AddrInfo()} }))
	}
	for i, h := range hosts {
		waitFor(t, func() bool { return h.DHT().RoutingTable().Size() > 0 }, "routing table of host "+string(rune('0'+i)))
	}
	seeder, leecher := hosts[2], hosts[4]
	data, hash := chunk(11, 300<<10)
	put(t, seeder, data)
	root := sha256.Sum256(hash[:]) // any root: the DHT key is the root, the request names both

	ctx := ctxTimeout(t, 30*time.Second)
	if err := seeder.Provide(ctx, root); err != nil {
		t.Fatal(err)
	}
	var found []peer.AddrInfo
	waitFor(t, func() bool {
		provs, err := leecher.FindProviders(ctx, root, 5)
		if err != nil {
			t.Fatal(err)
		}
		found = provs
		return slices.ContainsFunc(provs, func(ai peer.AddrInfo) bool { return ai.ID == seeder.ID() })
	}, "the provider record")
	if len(found) != 1 {
		t.Fatalf("providers %v, want only %s", found, seeder.ID())
	}
	if err := leecher.Connect(ctx, found[0]); err != nil {
		t.Fatal(err)
	}
	got, err := leecher.Fetch(ctx, found[0].ID, hash, root)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("fetch from the provider: %v", err)
	}

	// Nobody provides another root; the provider does not find itself.
	other := sha256.Sum256([]byte("nobody"))
	if provs, err := leecher.FindProviders(ctxTimeout(t, 5*time.Second), other, 5); err != nil || len(provs) != 0 {
		t.Fatalf("unprovided root: %v, %v", provs, err)
	}
	if provs, err := seeder.FindProviders(ctx, root, 5); err != nil || slices.ContainsFunc(provs, func(ai peer.AddrInfo) bool { return ai.ID == seeder.ID() }) {
		t.Fatalf("the provider found itself: %v, %v", provs, err)
	}
}

func TestNoDHT(t *testing.T) {
	h := newHost(t, noDHT)
	if err := h.Provide(context.Background(), [32]byte{}); !errors.Is(err, ErrNoDHT) {
		t.Fatal(err)
	}
	if _, err := h.FindProviders(context.Background(), [32]byte{}, 1); !errors.Is(err, ErrNoDHT) {
		t.Fatal(err)
	}
}

func TestRootCID(t *testing.T) {
	root := sha256.Sum256([]byte("root"))
	c := RootCID(root)
	if c.Version() != 1 || c.Type() != 0x55 { // raw
		t.Fatalf("cid %v: version %d codec %#x", c, c.Version(), c.Type())
	}
	// 0x12 sha2-256, 0x20 32 bytes, then the root itself.
	if want := append([]byte{0x12, 0x20}, root[:]...); !bytes.Equal(c.Hash(), want) {
		t.Fatalf("multihash %x, want %x", []byte(c.Hash()), want)
	}
	if got := c.String(); got[0] != 'b' { // base32 CIDv1
		t.Fatalf("cid string %q", got)
	}
}

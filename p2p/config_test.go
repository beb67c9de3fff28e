package p2p

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairn-nostr/cairn/identity"
)

func TestConfigValidate(t *testing.T) {
	good := TestingConfig(t)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mut  func(*Config)
		want string
	}{
		{"no key", func(c *Config) { c.Key = nil }, "DeriveEd25519"},
		{"bad listen addr", func(c *Config) { c.ListenAddrs = []string{"127.0.0.1:4001"} }, "listen address"},
		{"bootstrap without ID", func(c *Config) { c.Bootstrap = []peer.AddrInfo{{}} }, "peer ID"},
		{"DHT mode", func(c *Config) { c.DHTMode = 7 }, "DHTMode(7)"},
		{"negative timeout", func(c *Config) { c.Limits.IdleTimeout = -1 }, "negative"},
		{"huge MaxMessage", func(c *Config) { c.Limits.MaxMessage = 5 << 20 }, "MaxMessage"},
		{"tiny MaxMessage", func(c *Config) { c.Limits.MaxMessage = 1000 }, "below one DATA"},
	} {
		c := TestingConfig(t)
		tc.mut(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
		if _, err := New(context.Background(), c); err == nil {
			t.Errorf("%s: New accepted it", tc.name)
		}
	}
	var l Limits
	l.setDefaults()
	if l != (Limits{RequestsPerSecond: DefaultRequestsPerSecond, IdleTimeout: DefaultIdleTimeout, MaxMessage: 4 << 20,
		RequestTimeout: DefaultRequestTimeout, MaxStrikes: 3, BanDuration: DefaultBanDuration}) {
		t.Fatalf("defaults %+v", l)
	}
}

// TestIdentity: the peer ID follows from the Nostr key, so it survives a
// restart, and Addrs round-trip through ParseAddrInfos.
func TestIdentity(t *testing.T) {
	id := identity.Generate()
	key := id.DeriveEd25519(identity.LabelLibp2p)
	var ids []peer.ID
	for range 2 {
		h := newHost(t, func(c *Config) { c.DHT = false; c.Key = key })
		ids = append(ids, h.ID())
		want, err := peer.IDFromPublicKey(mustPub(t, key))
		if err != nil || h.ID() != want {
			t.Fatalf("peer ID %s, want %s from the derived key (%v)", h.ID(), want, err)
		}
		var addrs []string
		for _, a := range h.Addrs() {
			addrs = append(addrs, a.String())
		}
		infos, err := ParseAddrInfos(addrs...)
		if err != nil || len(infos) != 1 || infos[0].ID != h.ID() || len(infos[0].Addrs) != len(addrs) {
			t.Fatalf("ParseAddrInfos(%v) = %v, %v", addrs, infos, err)
		}
		h.Close()
	}
	if ids[0] != ids[1] {
		t.Fatal("peer ID changed across a restart")
	}
	if _, err := ParseAddrInfos("/ip4/127.0.0.1/tcp/1"); err == nil {
		t.Fatal("an address without /p2p/ was accepted")
	}
}

func mustPub(t *testing.T, k ed25519.PrivateKey) crypto.PubKey {
	t.Helper()
	pub, err := crypto.UnmarshalEd25519PublicKey(k.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

package bt

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/identity"
)

// golden is what nostr-over-bt's own code (IdentityManager with
// nostr-tools and tweetnacl, bencode as bittorrent-dht uses it) made for
// the secret 01..01: its attestation and a feed pointer signed at seq 7.
type golden struct {
	Secret          string      `json:"secret"`
	NostrPubkey     string      `json:"nostrPubkey"`
	TransportPubkey string      `json:"transportPubkey"`
	Attestation     nostr.Event `json:"attestation"`
	Seq             int64       `json:"seq"`
	V               string      `json:"v"`
	Sig             string      `json:"sig"`
}

func loadGolden(t *testing.T) golden {
	t.Helper()
	b, err := os.ReadFile("testdata/nostr-over-bt.json")
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// TestReadsNostrOverBT: nostr-over-bt's attestation and signed feed
// pointer are read and verified; our encoding of the same pointer is
// byte-identical to theirs.
func TestReadsNostrOverBT(t *testing.T) {
	g := loadGolden(t)
	pub, err := ParseAttestation(&g.Attestation)
	if err != nil || hex.EncodeToString(pub) != g.TransportPubkey {
		t.Fatalf("attestation: %x, %v", pub, err)
	}
	v, _ := hex.DecodeString(g.V)
	sigb, _ := hex.DecodeString(g.Sig)
	var sig [64]byte
	copy(sig[:], sigb)
	p, err := Check(pub, v, g.Seq, sig, g.NostrPubkey, 0)
	if err != nil {
		t.Fatal(err)
	}
	mine, err := p.Marshal()
	if err != nil || hex.EncodeToString(mine) != g.V {
		t.Fatalf("our bencoding %x differs from theirs %s", mine, g.V)
	}
	// Their transport key is the raw secret used as a seed; ours is
	// derived, so the two never coincide.
	k, _ := identity.FromSecret(g.Secret)
	if hex.EncodeToString(Key(k).Public().(ed25519.PublicKey)) == g.TransportPubkey {
		t.Fatal("the BEP-44 key is the raw Nostr secret reused")
	}
	// A changed attestation is refused.
	bad := g.Attestation
	bad.Content = g.NostrPubkey
	if _, err := ParseAttestation(&bad); !errors.Is(err, ErrAttestation) {
		t.Fatalf("tampered attestation: %v", err)
	}
}

// TestPointerRefusals: a bad signature, a lower seq, another user's npk and
// a malformed value are refused.
func TestPointerRefusals(t *testing.T) {
	k, _ := identity.FromSecret(loadGolden(t).Secret)
	priv := Key(k)
	pub := priv.Public().(ed25519.PublicKey)
	p := Pointer{IH: [20]byte{1}, TS: 1700000000, NPK: k.Public}
	put, err := Sign(priv, p, 5)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := p.Marshal()
	if _, err := Check(pub, v, 5, put.Sig, k.Public, 0); err != nil {
		t.Fatal(err)
	}
	badSig := put.Sig
	badSig[0] ^= 1
	other := Pointer{IH: [20]byte{2}, TS: 1, NPK: nostr.GeneratePrivateKey()}
	ov, _ := other.Marshal()
	for name, c := range map[string]func() error{
		"bad signature": func() error { _, err := Check(pub, v, 5, badSig, "", 0); return err },
		"lower seq":     func() error { _, err := Check(pub, v, 5, put.Sig, "", 6); return err },
		"other npk": func() error {
			op, _ := Sign(priv, other, 5)
			_, err := Check(pub, ov, 5, op.Sig, k.Public, 0)
			return err
		},
		"malformed": func() error { _, err := UnmarshalPointer([]byte("d2:ih3:abce")); return err },
	} {
		if err := c(); !errors.Is(err, ErrPointer) {
			t.Errorf("%s: %v, want ErrPointer", name, err)
		}
	}
}

// TestFeedOverPrivateDHT: twenty DHT nodes on loopback, none public; A
// publishes its feed pointer twice; B, knowing only A's BEP-44 key (from
// its attestation), finds the newest.
func TestFeedOverPrivateDHT(t *testing.T) {
	if testing.Short() {
		t.Skip("20 DHT nodes")
	}
	var nodes []*DHT
	for i := range 20 {
		var boot []string
		if i > 0 {
			boot = []string{nodes[0].Addr()}
		}
		d, err := NewDHT(Config{Addr: "127.0.0.1:0", Bootstrap: boot})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Close)
		nodes = append(nodes, d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for range 3 { // a node hands out only peers that answered it: bootstrap in rounds
		for _, d := range nodes {
			d.Bootstrap(ctx)
		}
	}
	k, _ := identity.FromSecret(loadGolden(t).Secret)
	priv := Key(k)
	a, b := nodes[3], nodes[17]
	p1 := Pointer{IH: [20]byte{1}, TS: 1700000000, NPK: k.Public}
	s1, err := a.PutFeed(ctx, priv, p1)
	if err != nil {
		t.Fatal(err)
	}
	p2 := Pointer{IH: [20]byte{2}, TS: 1700000100, NPK: k.Public}
	s2, err := a.PutFeed(ctx, priv, p2)
	if err != nil || s2 <= s1 {
		t.Fatalf("second put: seq %d after %d, %v", s2, s1, err)
	}
	start := time.Now()
	got, seq, err := b.GetFeed(ctx, priv.Public().(ed25519.PublicKey), k.Public, s1)
	if err != nil || got != p2 || seq != s2 {
		t.Fatalf("get: %+v seq %d, %v; want %+v seq %d", got, seq, err, p2, s2)
	}
	t.Logf("20 nodes: put seq %d and %d, get in %s", s1, s2, time.Since(start).Round(time.Millisecond))
	if _, _, err := b.GetFeed(ctx, ed25519.PublicKey(make([]byte, 32)), "", 0); !errors.Is(err, ErrPointer) {
		t.Fatalf("the all-zero key: %v", err)
	}
	other, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	if _, _, err := b.GetFeed(sctx, other, "", 0); err == nil {
		t.Fatal("a key with no pointer gave one")
	}
}

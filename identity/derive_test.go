package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// hkdfByHand is RFC 5869 written out with HMAC, as an independent check of
// the library call: PRK = HMAC(salt, IKM); T(1) = HMAC(PRK, info || 0x01).
func hkdfByHand(secret, salt []byte, info string) []byte {
	ext := hmac.New(sha256.New, salt)
	ext.Write(secret)
	prk := ext.Sum(nil)
	exp := hmac.New(sha256.New, prk)
	exp.Write([]byte(info))
	exp.Write([]byte{1})
	return exp.Sum(nil) // 32 bytes = one block = the ed25519 seed
}

func TestDeriveEd25519Vectors(t *testing.T) {
	for _, tc := range []struct {
		secret, label string
		seed, pub     string // hex; seeds also checked with Python hmac
	}{
		{
			secret: "0000000000000000000000000000000000000000000000000000000000000001",
			label:  LabelLibp2p,
			seed:   "fd308d951d0cf399e7ad148ba08be011ef6d171b00fa8125e9fee5c330c52956",
			pub:    "61eed3fd7128fb369b66ef20d279feaf1ee51706d5448058cfe8eba02cf1c2c8",
		},
		{
			secret: "0000000000000000000000000000000000000000000000000000000000000001",
			label:  "cairn/bep44/v1",
			seed:   "a881fee2e85bf7809a89d16902a9ebdb3c9c7bb2d61fe7b150dd54da2d76fbfd",
			pub:    "d45a6e1b3f30c5a695e926939fc92bdefb2563cf468126a9c6a2bc37a87514b2",
		},
		{
			secret: "7f7ff03d123792d6ac594bfa67bf6d0c0ab55b6b1fdb6249303fe861f1ccba9a",
			label:  LabelLibp2p,
			seed:   "2e8703ca71856a2c6d1e8a548ddc2b9fc6f7f644916dfa5a04af5559f723ab28",
			pub:    "3820a68b1fe0f5b4e1698528153381d6565703db6bb75e4cacb91468eb2a5ada",
		},
	} {
		k, err := FromSecret(tc.secret)
		if err != nil {
			t.Fatal(err)
		}
		priv := k.DeriveEd25519(tc.label)
		secret, _ := hex.DecodeString(tc.secret)
		byHand := hkdfByHand(secret, []byte("cairn"), tc.label)
		if !bytes.Equal(priv.Seed(), byHand) {
			t.Errorf("%s/%s: seed %x, RFC 5869 by hand %x", tc.secret[:8], tc.label, priv.Seed(), byHand)
		}
		seed := hex.EncodeToString(priv.Seed())
		pub := hex.EncodeToString(priv.Public().(ed25519.PublicKey))
		if seed != tc.seed || pub != tc.pub {
			t.Errorf("%s/%s: seed %s pub %s; want seed %s pub %s", tc.secret[:8], tc.label, seed, pub, tc.seed, tc.pub)
		}
	}
}

func TestDeriveEd25519(t *testing.T) {
	k := Generate()
	a, b := k.DeriveEd25519(LabelLibp2p), k.DeriveEd25519(LabelLibp2p)
	if !a.Equal(b) {
		t.Fatal("derivation is not deterministic")
	}
	if c := k.DeriveEd25519("cairn/bep44/v1"); a.Equal(c) {
		t.Fatal("different labels gave the same key")
	}
	if d := Generate().DeriveEd25519(LabelLibp2p); a.Equal(d) {
		t.Fatal("different secrets gave the same key")
	}
	secret, _ := hex.DecodeString(k.Secret)
	if bytes.Equal(a.Seed(), secret) {
		t.Fatal("the raw secret was reused as the seed")
	}
	sig := ed25519.Sign(a, []byte("hello"))
	if !ed25519.Verify(a.Public().(ed25519.PublicKey), []byte("hello"), sig) {
		t.Fatal("derived key does not sign")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("malformed secret did not panic")
		}
	}()
	Key{Secret: "zz"}.DeriveEd25519(LabelLibp2p)
}

package webrtc

import (
	"encoding/hex"

	"github.com/cairn-nostr/cairn/nostr"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// PublicKey returns the Nostr public key (x-only, lowercase hex) of a hex
// secret key, as nostr.GetPublicKey does, but by a generic scalar
// multiplication of the curve's generator. nostr.GetPublicKey multiplies
// through secp256k1's precomputed base-point tables, which are decompressed
// on first use: about 100 ms on a page's one thread under wasm, paid before
// a tab can start. This costs about 2 ms there; the tables are then first
// needed to sign, which a tab does later (its first WebRTC offer).
func PublicKey(secret string) (string, error) {
	b, err := hex.DecodeString(secret)
	if err != nil || len(b) != 32 {
		return nostr.GetPublicKey(secret) // its errors and its reading of odd lengths
	}
	var k secp256k1.ModNScalar
	k.SetByteSlice(b) // reduced mod N, as btcec.PrivKeyFromBytes does
	var g, p secp256k1.JacobianPoint
	params := secp256k1.Params()
	g.X.SetByteSlice(params.Gx.Bytes())
	g.Y.SetByteSlice(params.Gy.Bytes())
	g.Z.SetInt(1)
	secp256k1.ScalarMultNonConst(&k, &g, &p)
	p.ToAffine()
	x := p.X.Bytes()
	return hex.EncodeToString(x[:]), nil
}

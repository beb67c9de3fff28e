package bt

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/anacrolix/dht/v2/bep44"
	"github.com/anacrolix/torrent/bencode"
)

// Pointer is the value of a feed pointer: where a user's feed index is.
type Pointer struct {
	IH  [20]byte // infohash of the feed index torrent
	TS  int64    // Unix seconds of the update
	NPK string   // the Nostr pubkey (hex) whose feed it is
}

// wirePointer is Pointer as nostr-over-bt bencodes it (byte strings).
type wirePointer struct {
	IH  string `bencode:"ih"`
	TS  int64  `bencode:"ts"`
	NPK string `bencode:"npk,omitempty"`
}

// Marshal bencodes p as nostr-over-bt does.
func (p Pointer) Marshal() ([]byte, error) {
	w := wirePointer{IH: string(p.IH[:]), TS: p.TS}
	if p.NPK != "" {
		b, err := hex.DecodeString(p.NPK)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("npk %q is not a pubkey", p.NPK)
		}
		w.NPK = string(b)
	}
	return bencode.Marshal(w)
}

// ErrPointer: a feed pointer that is malformed, wrongly signed, of another
// user, or older than one already seen.
var ErrPointer = errors.New("feed pointer refused")

// UnmarshalPointer decodes a pointer's bencoded value.
func UnmarshalPointer(v []byte) (Pointer, error) {
	var w wirePointer
	if err := bencode.Unmarshal(v, &w); err != nil {
		return Pointer{}, fmt.Errorf("%w: %v", ErrPointer, err)
	}
	if len(w.IH) != 20 || w.TS <= 0 || w.NPK != "" && len(w.NPK) != 32 {
		return Pointer{}, fmt.Errorf("%w: want ih of 20 bytes, a positive ts and npk of 32 bytes", ErrPointer)
	}
	p := Pointer{TS: w.TS}
	copy(p.IH[:], w.IH)
	if w.NPK != "" {
		p.NPK = hex.EncodeToString([]byte(w.NPK))
	}
	return p, nil
}

// Target is where a user's feed pointer lives: SHA-1 of the BEP-44 public
// key (no salt).
func Target(pub ed25519.PublicKey) bep44.Target { return saltedTarget(pub, nil) }

// saltedTarget is SHA-1 of the key and salt (BEP-44).
func saltedTarget(pub ed25519.PublicKey, salt []byte) bep44.Target {
	var k [32]byte
	copy(k[:], pub)
	return bep44.MakeMutableTarget(k, salt)
}

// Item is a feed pointer as signed for the DHT.
type Item struct {
	Pointer Pointer
	Seq     int64
	Sig     [64]byte
	Key     ed25519.PublicKey
}

// Sign makes the BEP-44 put of p at seq.
func Sign(priv ed25519.PrivateKey, p Pointer, seq int64) (bep44.Put, error) {
	return signSalted(priv, nil, p, seq)
}

func signSalted(priv ed25519.PrivateKey, salt []byte, p Pointer, seq int64) (bep44.Put, error) {
	v, err := p.Marshal()
	if err != nil {
		return bep44.Put{}, err
	}
	var k [32]byte
	copy(k[:], priv.Public().(ed25519.PublicKey))
	put := bep44.Put{V: bencode.Bytes(v), K: &k, Seq: seq, Salt: salt}
	put.Sign(priv)
	return put, nil
}

// Check verifies a pointer item fetched for pub: the signature over seq and
// v, the value's shape, that it names npk (when the reader knows whose feed
// it asked for) and that seq is not below minSeq.
func Check(pub ed25519.PublicKey, v []byte, seq int64, sig [64]byte, npk string, minSeq int64) (Pointer, error) {
	return CheckSalted(pub, nil, v, seq, sig, npk, minSeq)
}

// CheckSalted is Check for an item put under a salt (the bridge's archive
// pointer: ArchiveSalt).
func CheckSalted(pub ed25519.PublicKey, salt, v []byte, seq int64, sig [64]byte, npk string, minSeq int64) (Pointer, error) {
	if !bep44.Verify(pub, salt, seq, v, sig[:]) {
		return Pointer{}, fmt.Errorf("%w: bad signature", ErrPointer)
	}
	if seq < minSeq {
		return Pointer{}, fmt.Errorf("%w: seq %d is lower than %d, seen before", ErrPointer, seq, minSeq)
	}
	p, err := UnmarshalPointer(v)
	if err != nil {
		return p, err
	}
	if npk != "" && p.NPK != "" && p.NPK != npk {
		return p, fmt.Errorf("%w: it names the feed of %.16s, not %.16s", ErrPointer, p.NPK, npk)
	}
	return p, nil
}

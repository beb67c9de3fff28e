package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/nbd-wtf/go-nostr"
)

// Key layout. Every key starts with a one-byte table prefix. Integers are
// big-endian so that byte order is numeric order; created_at is stored with
// its sign bit flipped (enc) so that negative timestamps sort first. ts is
// enc(created_at), serial is the record's 8-byte sequence number.
//
//	m name                       -> meta value (format version, next serial, event count)
//	e serial                     -> record: header + the event's compact JSON
//	i id(32)                     -> serial
//	k kind(4) ts serial          -> (empty)
//	p pubkey(32) kind(4) ts serial -> (empty)
//	t letter(1) tagval ts serial -> (empty) every tag whose name is one byte
//	x expiration(8) serial       -> (empty) NIP-40
//	r address                    -> serial of the live version of a replaceable
//	                                or addressable event
//	d id(32) pubkey(32)          -> (empty) NIP-09: pubkey asked to delete id
//	D address                    -> enc(created_at) of the newest NIP-09 `a`
//	                                deletion of that address
//
// There is no index by time alone nor by author alone: a filter without
// kinds reads the `k` or `p` ranges of every kind present (query.go finds
// them by skipping from kind to kind), which costs a few more ranges per
// query and saves two keys per stored event. Format version 1 had both
// (`c ts serial` and `a pubkey ts serial`); opening such a store deletes
// them (migrate.go).
//
// address is pubkey(32) kind(4), followed by tagval(d) for addressable kinds.
// tagval is prefix-free: 0x01 + 32 bytes for a 64-char lowercase hex value,
// 0x00 + length(1) + bytes for a value of at most maxInlineTagValue bytes,
// 0x02 + SHA-256(value) for longer values. All three are exact (up to SHA-256
// collisions), so a `t` range returns exactly the events with that tag value.
const (
	pfxMeta        = 'm'
	pfxEvent       = 'e'
	pfxID          = 'i'
	pfxCreatedV1   = 'c' // format version 1 only
	pfxAuthorV1    = 'a' // format version 1 only
	pfxKind        = 'k'
	pfxAuthorKind  = 'p'
	pfxTag         = 't'
	pfxExpiry      = 'x'
	pfxReplaceable = 'r'
	pfxDeletedID   = 'd'
	pfxDeletedAddr = 'D'
)

const (
	tagValInline = 0x00
	tagValHex    = 0x01
	tagValHash   = 0x02

	maxInlineTagValue = 128
)

// Meta keys.
var (
	metaVersion = []byte{pfxMeta, 'v'}
	metaSerial  = []byte{pfxMeta, 's'}
	metaEvents  = []byte{pfxMeta, 'n'}
)

// formatVersion is the on-disk layout version in metaVersion. A store of
// version 1 is migrated on open (migrate.go); any other version is refused
// rather than misread.
const formatVersion = 2

// encTime maps a timestamp to an unsigned integer with the same order.
func encTime(t int64) uint64 { return uint64(t) ^ (1 << 63) }

func decTime(u uint64) int64 { return int64(u ^ (1 << 63)) }

func appendU64(dst []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(dst, v) }

func appendU32(dst []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(dst, v) }

// appendTagValue appends the prefix-free encoding of a tag value.
func appendTagValue(dst []byte, v string) []byte {
	if len(v) == 64 {
		var raw [32]byte
		if decodeHex32(v, &raw) {
			dst = append(dst, tagValHex)
			return append(dst, raw[:]...)
		}
	}
	if len(v) <= maxInlineTagValue {
		dst = append(dst, tagValInline, byte(len(v)))
		return append(dst, v...)
	}
	h := sha256.Sum256([]byte(v))
	dst = append(dst, tagValHash)
	return append(dst, h[:]...)
}

// decodeHex32 decodes 64 lowercase hex characters. Uppercase is refused so
// that every accepted string has exactly one encoding, as string comparison
// in nostr.Filter.Matches expects.
func decodeHex32(s string, out *[32]byte) bool {
	if len(s) != 64 {
		return false
	}
	for i := range 32 {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		out[i] = hi<<4 | lo
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// header is the fixed part of a record, readable without decoding JSON.
type header struct {
	expiration uint64 // NIP-40 unix seconds; 0 = none
	createdAt  int64
	kind       uint32
	id         [32]byte
	pubkey     [32]byte
}

const (
	recordVersion = 1
	headerLen     = 1 + 8 + 8 + 4 + 32 + 32
)

var errCorrupt = errors.New("corrupt record")

func (h *header) appendTo(dst []byte) []byte {
	dst = append(dst, recordVersion)
	dst = appendU64(dst, h.expiration)
	dst = appendU64(dst, encTime(h.createdAt))
	dst = appendU32(dst, h.kind)
	dst = append(dst, h.id[:]...)
	return append(dst, h.pubkey[:]...)
}

// parseRecord splits a record into its header and raw JSON (which aliases rec).
func parseRecord(rec []byte) (header, []byte, error) {
	var h header
	if len(rec) < headerLen || rec[0] != recordVersion {
		return h, nil, fmt.Errorf("%w: bad header (%d bytes)", errCorrupt, len(rec))
	}
	h.expiration = binary.BigEndian.Uint64(rec[1:])
	h.createdAt = decTime(binary.BigEndian.Uint64(rec[9:]))
	h.kind = binary.BigEndian.Uint32(rec[17:])
	copy(h.id[:], rec[21:53])
	copy(h.pubkey[:], rec[53:85])
	return h, rec[headerLen:], nil
}

// expired reports whether h has a NIP-40 expiration at or before now.
func (h *header) expired(now int64) bool {
	return h.expiration != 0 && int64(h.expiration) <= now
}

// indexed is everything the indexes need to know about one event: enough
// to write its keys on Save and to find them again on delete.
type indexed struct {
	hdr     header
	tagKeys [][]byte // pfxTag letter tagval, deduplicated
	addr    []byte   // address of a replaceable/addressable event, else nil
}

// indexEvent validates ev and derives its index data.
func indexEvent(ev *nostr.Event) (indexed, error) {
	var ix indexed
	if !decodeHex32(ev.ID, &ix.hdr.id) {
		return ix, fmt.Errorf("%w: id is not 64 lowercase hex characters", ErrInvalid)
	}
	if !decodeHex32(ev.PubKey, &ix.hdr.pubkey) {
		return ix, fmt.Errorf("%w: pubkey is not 64 lowercase hex characters", ErrInvalid)
	}
	if ev.Kind < 0 || ev.Kind > math.MaxUint32 {
		return ix, fmt.Errorf("%w: kind %d out of range", ErrInvalid, ev.Kind)
	}
	if nostr.IsEphemeralKind(ev.Kind) {
		return ix, fmt.Errorf("%w: ephemeral kind %d is not stored", ErrInvalid, ev.Kind)
	}
	ix.hdr.kind = uint32(ev.Kind)
	ix.hdr.createdAt = int64(ev.CreatedAt)
	ix.hdr.expiration = expirationOf(ev.Tags)

	var seen map[string]struct{} // for events with many tags (contact lists)
	for _, tag := range ev.Tags {
		if len(tag) < 2 || len(tag[0]) != 1 {
			continue
		}
		k := make([]byte, 0, 3+len(tag[1]))
		k = append(k, pfxTag, tag[0][0])
		k = appendTagValue(k, tag[1])
		if len(ix.tagKeys) < 16 {
			if containsKey(ix.tagKeys, k) {
				continue
			}
		} else {
			if seen == nil {
				seen = make(map[string]struct{}, len(ev.Tags))
				for _, x := range ix.tagKeys {
					seen[string(x)] = struct{}{}
				}
			}
			if _, dup := seen[string(k)]; dup {
				continue
			}
			seen[string(k)] = struct{}{}
		}
		ix.tagKeys = append(ix.tagKeys, k)
	}
	switch {
	case nostr.IsReplaceableKind(ev.Kind):
		ix.addr = appendAddress(nil, ix.hdr.pubkey, ix.hdr.kind, "", false)
	case nostr.IsAddressableKind(ev.Kind):
		ix.addr = appendAddress(nil, ix.hdr.pubkey, ix.hdr.kind, ev.Tags.GetD(), true)
	}
	return ix, nil
}

func containsKey(keys [][]byte, k []byte) bool {
	for _, x := range keys {
		if bytes.Equal(x, k) {
			return true
		}
	}
	return false
}

func appendAddress(dst []byte, pubkey [32]byte, kind uint32, d string, addressable bool) []byte {
	dst = append(dst, pubkey[:]...)
	dst = appendU32(dst, kind)
	if addressable {
		dst = appendTagValue(dst, d)
	}
	return dst
}

// expirationOf returns the NIP-40 expiration of tags, 0 if none or invalid.
// A time at or before the epoch counts as 1 (long expired).
func expirationOf(tags nostr.Tags) uint64 {
	for _, tag := range tags {
		if len(tag) >= 2 && tag[0] == "expiration" {
			v, err := strconv.ParseInt(tag[1], 10, 64)
			if err != nil {
				return 0
			}
			if v <= 0 {
				return 1
			}
			return uint64(v)
		}
	}
	return 0
}

// eachIndexKey calls fn with every index key of the event stored at serial
// (all but the record, id and address keys). fn must not keep k.
func (ix *indexed) eachIndexKey(serial uint64, fn func(k []byte) error) error {
	var buf [256]byte
	var suffix [16]byte
	binary.BigEndian.PutUint64(suffix[:8], encTime(ix.hdr.createdAt))
	binary.BigEndian.PutUint64(suffix[8:], serial)
	h := &ix.hdr

	k := append(appendU32(append(buf[:0], pfxKind), h.kind), suffix[:]...)
	if err := fn(k); err != nil {
		return err
	}
	k = append(appendU32(append(append(buf[:0], pfxAuthorKind), h.pubkey[:]...), h.kind), suffix[:]...)
	if err := fn(k); err != nil {
		return err
	}
	for _, tk := range ix.tagKeys {
		if err := fn(append(append(buf[:0], tk...), suffix[:]...)); err != nil {
			return err
		}
	}
	if h.expiration != 0 {
		k = appendU64(appendU64(append(buf[:0], pfxExpiry), h.expiration), serial)
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}

func eventKey(serial uint64) []byte {
	return appendU64([]byte{pfxEvent}, serial)
}

func idKey(id [32]byte) []byte {
	return append([]byte{pfxID}, id[:]...)
}

func deletedIDKey(id, pubkey [32]byte) []byte {
	k := make([]byte, 0, 65)
	k = append(k, pfxDeletedID)
	k = append(k, id[:]...)
	return append(k, pubkey[:]...)
}

func prefixed(p byte, rest []byte) []byte {
	return append([]byte{p}, rest...)
}

// decodeU64 reads an 8-byte big-endian value stored under key (for errors).
func decodeU64(v []byte, what string) (uint64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: %s has %d bytes, want 8", errCorrupt, what, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// keySuffix extracts (ts, serial) from the last 16 bytes of an index key.
func keySuffix(k []byte) (ts, serial uint64, ok bool) {
	if len(k) < 17 {
		return 0, 0, false
	}
	n := len(k)
	return binary.BigEndian.Uint64(k[n-16:]), binary.BigEndian.Uint64(k[n-8:]), true
}

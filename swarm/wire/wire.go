// Package wire is the codec of the chunk protocol spoken between peers: the
// Entropy DataChannel messages, byte for byte, plus cairn's length-prefixed
// framing for byte streams. It is pure: bytes in, values out, no I/O beyond
// the io.Reader/io.Writer handed to the framing helpers.
//
// # Messages (Entropy compatible, big-endian, type byte first)
//
//	type  name               body after the type byte                 total
//	0x01  REQUEST            hash[32] root[32]                          65
//	0x02  DATA               hash[32] len:u32 data[len], len <= 64 KiB  37+len
//	0x03  ERROR              hash[32] reason:u8 (0 NOT_FOUND,           34
//	                         1 INSUFFICIENT_CREDIT, 2 BUSY)
//	0x04  DATA_HEADER        hash[32] total:u32, 0 < total <= 7 MiB     37
//	0x05  CUSTODY_CHALLENGE  hash[32] offset:u32 nonce[32]              69
//	0x06  CUSTODY_PROOF      hash[32] proof[32]                         65
//	0x07  RECEIPT            hash[32] len:u32 json[len], len <= 8 KiB   37+len
//	0x08  TAG_UPDATE         Entropy only; recognised, not decoded
//	0x09  HELLO              len:u32 json[len], len <= 8 KiB            5+len
//
// A chunk of at most 64 KiB travels as one DATA message. A larger chunk
// travels as a DATA_HEADER followed by total bytes of raw fragments: separate
// messages with no type byte and no header, every one exactly [FragmentSize]
// bytes except the last, which carries the remainder. While a chunk is being
// reassembled, every message is a fragment (whatever its first byte), so the
// receiver must route messages through a [Reassembler].
//
// CUSTODY_PROOF's proof is sha256(chunk[:offset] || nonce || chunk[offset:])
// for the challenge's offset (0 <= offset <= len(chunk)) and nonce; see
// [CustodyHash].
//
// RECEIPT carries a signed kind 7772 Nostr event as JSON: the receiver of
// the bytes signs it (naming the seeder) and sends it back (package credit
// decides what counts). HELLO is cairn's own, on libp2p streams only: a
// signed event binding the sender's Nostr pubkey to its libp2p peer ID, so
// that receipts can name and be checked against the peer at the other end
// (package credit). This package only moves the bytes of both and checks
// that they are non-empty, valid JSON of at most 8 KiB.
//
// # Decoding is strict
//
// [Decode] refuses an empty message, a message over [MaxMessageSize] (4 MiB),
// an unknown type, any length other than the exact one above, a DATA or
// RECEIPT whose length field differs from the bytes that follow, DATA over
// 64 KiB, a DATA_HEADER over 7 MiB (or of zero bytes), a RECEIPT over 8 KiB,
// and an unknown ERROR reason. Every refusal wraps a sentinel error that
// callers can test with errors.Is. Entropy's decoder tolerates trailing bytes;
// Entropy's encoder never produces them, so being strict costs no
// compatibility. Decode(Encode(m)) == m and Encode(Decode(b)) == b.
//
// # Transports
//
// On a WebRTC DataChannel (label "entropy") every message, header or fragment
// is one DataChannel message, with no prefix. On a byte stream (a libp2p
// stream between nodes) cairn frames the very same messages with a 4-byte
// big-endian length prefix:
//
//	len:u32  message[len]      0 < len <= MaxMessageSize
//
// one frame per DataChannel message (fragments included); see [WriteFrame]
// and [ReadFrame]. A frame announcing more than 4 MiB, or zero bytes, is
// refused before anything is read into memory.
package wire

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// Limits.
const (
	// HashSize is the size of chunk hashes, roots, nonces and proofs.
	HashSize = 32
	// MaxMessageSize bounds any single message (and stream frame).
	MaxMessageSize = 4 << 20
	// MaxDataLen is the largest chunk sent as a single DATA message; it is
	// also the fragment size of larger chunks.
	MaxDataLen = 64 << 10
	// FragmentSize is the size of every raw fragment but the last.
	FragmentSize = MaxDataLen
	// MaxChunkSize is the largest total a DATA_HEADER may announce.
	MaxChunkSize = 7 << 20
	// MaxReceiptLen bounds the receipt JSON of a RECEIPT message.
	MaxReceiptLen = 8 << 10
)

// Encoded sizes of the fixed-size messages and of the variable messages'
// fixed part.
const (
	RequestLen          = 1 + 2*HashSize     // 65
	DataHeaderLen       = 1 + HashSize + 4   // 37
	ErrorLen            = 1 + HashSize + 1   // 34
	CustodyChallengeLen = 1 + 2*HashSize + 4 // 69
	CustodyProofLen     = 1 + 2*HashSize     // 65
	dataPrefixLen       = 1 + HashSize + 4   // 37, DATA and RECEIPT
	helloPrefixLen      = 1 + 4              // 5, HELLO
)

// Type is the first byte of a message.
type Type byte

// Message types.
const (
	TypeRequest          Type = 0x01
	TypeData             Type = 0x02
	TypeError            Type = 0x03
	TypeDataHeader       Type = 0x04
	TypeCustodyChallenge Type = 0x05
	TypeCustodyProof     Type = 0x06
	TypeReceipt          Type = 0x07
	// TypeTagUpdate is Entropy's TAG_UPDATE (content tag gossip), which an
	// Entropy seeder may send after a chunk. cairn does not decode it:
	// Decode reports ErrUnsupportedType, which callers should skip rather
	// than hold against the peer.
	TypeTagUpdate Type = 0x08
	// TypeHello is cairn's HELLO (libp2p streams only): the sender's
	// signed pubkey binding, first frame each way on a chunk stream.
	TypeHello Type = 0x09
)

func (t Type) String() string {
	switch t {
	case TypeRequest:
		return "REQUEST"
	case TypeData:
		return "DATA"
	case TypeError:
		return "ERROR"
	case TypeDataHeader:
		return "DATA_HEADER"
	case TypeCustodyChallenge:
		return "CUSTODY_CHALLENGE"
	case TypeCustodyProof:
		return "CUSTODY_PROOF"
	case TypeReceipt:
		return "RECEIPT"
	case TypeTagUpdate:
		return "TAG_UPDATE"
	case TypeHello:
		return "HELLO"
	}
	return fmt.Sprintf("type 0x%02x", byte(t))
}

// Reason is the reason byte of an ERROR message.
type Reason byte

// Error reasons.
const (
	ReasonNotFound           Reason = 0
	ReasonInsufficientCredit Reason = 1
	ReasonBusy               Reason = 2
)

// Valid reports whether r is a known reason.
func (r Reason) Valid() bool { return r <= ReasonBusy }

func (r Reason) String() string {
	switch r {
	case ReasonNotFound:
		return "not found"
	case ReasonInsufficientCredit:
		return "insufficient credit"
	case ReasonBusy:
		return "busy"
	}
	return fmt.Sprintf("reason %d", byte(r))
}

// Sentinel errors. Decode and the Reassembler wrap them with context.
var (
	ErrEmpty           = errors.New("wire: empty message")
	ErrTooLarge        = errors.New("wire: message over 4 MiB")
	ErrUnknownType     = errors.New("wire: unknown message type")
	ErrUnsupportedType = errors.New("wire: unsupported message type")
	ErrLength          = errors.New("wire: wrong message length")
	ErrLengthField     = errors.New("wire: length field does not match payload")
	ErrDataTooLarge    = errors.New("wire: DATA over 64 KiB")
	ErrChunkTooLarge   = errors.New("wire: chunk over 7 MiB")
	ErrEmptyChunk      = errors.New("wire: DATA_HEADER announces zero bytes")
	ErrReceiptTooLarge = errors.New("wire: receipt over 8 KiB")
	ErrBadReceipt      = errors.New("wire: receipt is not valid JSON")
	ErrHelloTooLarge   = errors.New("wire: hello over 8 KiB")
	ErrBadHello        = errors.New("wire: hello is not valid JSON")
	ErrUnknownReason   = errors.New("wire: unknown ERROR reason")
	ErrCustodyOffset   = errors.New("wire: custody offset beyond chunk")

	ErrHeaderMidChunk  = errors.New("wire: DATA_HEADER while a chunk is in progress")
	ErrNoHeader        = errors.New("wire: fragment without DATA_HEADER")
	ErrFragmentSize    = errors.New("wire: fragment of the wrong size")
	ErrFragmentOverrun = errors.New("wire: fragment overruns announced total")
)

// Msg is one decoded message.
type Msg interface {
	// Type returns the message's type byte.
	Type() Type
	// AppendTo appends the encoded message to dst. It fails, leaving dst
	// unchanged, if the message breaks a limit Decode would enforce.
	AppendTo(dst []byte) ([]byte, error)
	// Encode returns the encoded message.
	Encode() ([]byte, error)
}

// Request asks a peer for the chunk Hash of the content whose Merkle root is
// Root.
type Request struct {
	Hash [32]byte
	Root [32]byte
}

// Data carries a whole chunk. As a single DATA message it holds at most
// MaxDataLen bytes; a Data returned by a Reassembler may be larger (up to
// MaxChunkSize) and is then sent again with EncodeChunk, not Encode.
type Data struct {
	Hash [32]byte
	Data []byte
}

// Error is a peer's refusal of a request for chunk Hash.
type Error struct {
	Hash   [32]byte
	Reason Reason
}

// DataHeader announces a chunk of Total bytes arriving as raw fragments.
type DataHeader struct {
	Hash  [32]byte
	Total uint32
}

// CustodyChallenge asks a peer to prove it holds chunk Hash by hashing it with
// Nonce spliced in at Offset.
type CustodyChallenge struct {
	Hash   [32]byte
	Offset uint32
	Nonce  [32]byte
}

// CustodyProof answers a CustodyChallenge; see CustodyHash.
type CustodyProof struct {
	Hash  [32]byte
	Proof [32]byte
}

// Receipt carries a signed transfer receipt (a kind 7772 event as JSON) for
// chunk Hash.
type Receipt struct {
	Hash  [32]byte
	Event []byte
}

// Hello carries the sender's signed pubkey binding (JSON of a Nostr event;
// package credit signs and checks it).
type Hello struct {
	Event []byte
}

func (*Hello) Type() Type            { return TypeHello }
func (*Request) Type() Type          { return TypeRequest }
func (*Data) Type() Type             { return TypeData }
func (*Error) Type() Type            { return TypeError }
func (*DataHeader) Type() Type       { return TypeDataHeader }
func (*CustodyChallenge) Type() Type { return TypeCustodyChallenge }
func (*CustodyProof) Type() Type     { return TypeCustodyProof }
func (*Receipt) Type() Type          { return TypeReceipt }

func (m *Request) AppendTo(dst []byte) ([]byte, error) {
	dst = append(dst, byte(TypeRequest))
	dst = append(dst, m.Hash[:]...)
	return append(dst, m.Root[:]...), nil
}

func (m *Data) AppendTo(dst []byte) ([]byte, error) {
	if len(m.Data) > MaxDataLen {
		return dst, fmt.Errorf("encoding DATA of %d bytes: %w", len(m.Data), ErrDataTooLarge)
	}
	dst = append(dst, byte(TypeData))
	dst = append(dst, m.Hash[:]...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(m.Data)))
	return append(dst, m.Data...), nil
}

func (m *Error) AppendTo(dst []byte) ([]byte, error) {
	if !m.Reason.Valid() {
		return dst, fmt.Errorf("encoding ERROR: %v: %w", m.Reason, ErrUnknownReason)
	}
	dst = append(dst, byte(TypeError))
	dst = append(dst, m.Hash[:]...)
	return append(dst, byte(m.Reason)), nil
}

func (m *DataHeader) AppendTo(dst []byte) ([]byte, error) {
	if err := checkTotal(m.Total); err != nil {
		return dst, fmt.Errorf("encoding DATA_HEADER: %w", err)
	}
	dst = append(dst, byte(TypeDataHeader))
	dst = append(dst, m.Hash[:]...)
	return binary.BigEndian.AppendUint32(dst, m.Total), nil
}

func (m *CustodyChallenge) AppendTo(dst []byte) ([]byte, error) {
	dst = append(dst, byte(TypeCustodyChallenge))
	dst = append(dst, m.Hash[:]...)
	dst = binary.BigEndian.AppendUint32(dst, m.Offset)
	return append(dst, m.Nonce[:]...), nil
}

func (m *CustodyProof) AppendTo(dst []byte) ([]byte, error) {
	dst = append(dst, byte(TypeCustodyProof))
	dst = append(dst, m.Hash[:]...)
	return append(dst, m.Proof[:]...), nil
}

func (m *Receipt) AppendTo(dst []byte) ([]byte, error) {
	if err := checkReceipt(m.Event); err != nil {
		return dst, fmt.Errorf("encoding RECEIPT: %w", err)
	}
	dst = append(dst, byte(TypeReceipt))
	dst = append(dst, m.Hash[:]...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(m.Event)))
	return append(dst, m.Event...), nil
}

func (m *Hello) AppendTo(dst []byte) ([]byte, error) {
	if err := checkJSON(m.Event, ErrHelloTooLarge, ErrBadHello); err != nil {
		return dst, fmt.Errorf("encoding HELLO: %w", err)
	}
	dst = append(dst, byte(TypeHello))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(m.Event)))
	return append(dst, m.Event...), nil
}

func (m *Hello) Encode() ([]byte, error) {
	return m.AppendTo(make([]byte, 0, helloPrefixLen+len(m.Event)))
}
func (m *Request) Encode() ([]byte, error) { return m.AppendTo(make([]byte, 0, RequestLen)) }
func (m *Data) Encode() ([]byte, error) {
	return m.AppendTo(make([]byte, 0, dataPrefixLen+len(m.Data)))
}
func (m *Error) Encode() ([]byte, error)      { return m.AppendTo(make([]byte, 0, ErrorLen)) }
func (m *DataHeader) Encode() ([]byte, error) { return m.AppendTo(make([]byte, 0, DataHeaderLen)) }
func (m *CustodyChallenge) Encode() ([]byte, error) {
	return m.AppendTo(make([]byte, 0, CustodyChallengeLen))
}
func (m *CustodyProof) Encode() ([]byte, error) {
	return m.AppendTo(make([]byte, 0, CustodyProofLen))
}
func (m *Receipt) Encode() ([]byte, error) {
	return m.AppendTo(make([]byte, 0, dataPrefixLen+len(m.Event)))
}

// Verify reports whether the chunk's bytes hash to its Hash.
func (m *Data) Verify() bool { return sha256.Sum256(m.Data) == m.Hash }

func checkTotal(total uint32) error {
	if total == 0 {
		return ErrEmptyChunk
	}
	if total > MaxChunkSize {
		return fmt.Errorf("total %d bytes: %w", total, ErrChunkTooLarge)
	}
	return nil
}

func checkReceipt(js []byte) error { return checkJSON(js, ErrReceiptTooLarge, ErrBadReceipt) }

// checkJSON checks the JSON of a RECEIPT or HELLO: at most MaxReceiptLen
// bytes, valid.
func checkJSON(js []byte, tooLarge, bad error) error {
	if len(js) > MaxReceiptLen {
		return fmt.Errorf("%d bytes of JSON: %w", len(js), tooLarge)
	}
	if !json.Valid(js) {
		return bad
	}
	return nil
}

// Decode decodes one message. It is strict (see the package doc) and never
// panics. The returned message does not alias b.
//
// A DATA_HEADER is returned as *DataHeader; to receive chunks, feed messages
// to a Reassembler instead, which knows when a message is a raw fragment.
func Decode(b []byte) (Msg, error) {
	if len(b) == 0 {
		return nil, ErrEmpty
	}
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("decoding %d-byte message: %w", len(b), ErrTooLarge)
	}
	t := Type(b[0])
	switch t {
	case TypeRequest:
		if err := wantLen(t, b, RequestLen); err != nil {
			return nil, err
		}
		m := &Request{}
		copy(m.Hash[:], b[1:])
		copy(m.Root[:], b[1+HashSize:])
		return m, nil

	case TypeData:
		payload, err := lengthPrefixed(t, b)
		if err != nil {
			return nil, err
		}
		if len(payload) > MaxDataLen {
			return nil, fmt.Errorf("decoding DATA of %d bytes: %w", len(payload), ErrDataTooLarge)
		}
		m := &Data{Data: append([]byte{}, payload...)}
		copy(m.Hash[:], b[1:])
		return m, nil

	case TypeError:
		if err := wantLen(t, b, ErrorLen); err != nil {
			return nil, err
		}
		m := &Error{Reason: Reason(b[1+HashSize])}
		if !m.Reason.Valid() {
			return nil, fmt.Errorf("decoding ERROR: reason byte %d: %w", b[1+HashSize], ErrUnknownReason)
		}
		copy(m.Hash[:], b[1:])
		return m, nil

	case TypeDataHeader:
		if err := wantLen(t, b, DataHeaderLen); err != nil {
			return nil, err
		}
		m := &DataHeader{Total: binary.BigEndian.Uint32(b[1+HashSize:])}
		if err := checkTotal(m.Total); err != nil {
			return nil, fmt.Errorf("decoding DATA_HEADER: %w", err)
		}
		copy(m.Hash[:], b[1:])
		return m, nil

	case TypeCustodyChallenge:
		if err := wantLen(t, b, CustodyChallengeLen); err != nil {
			return nil, err
		}
		m := &CustodyChallenge{Offset: binary.BigEndian.Uint32(b[1+HashSize:])}
		copy(m.Hash[:], b[1:])
		copy(m.Nonce[:], b[1+HashSize+4:])
		return m, nil

	case TypeCustodyProof:
		if err := wantLen(t, b, CustodyProofLen); err != nil {
			return nil, err
		}
		m := &CustodyProof{}
		copy(m.Hash[:], b[1:])
		copy(m.Proof[:], b[1+HashSize:])
		return m, nil

	case TypeReceipt:
		payload, err := lengthPrefixed(t, b)
		if err != nil {
			return nil, err
		}
		if err := checkReceipt(payload); err != nil {
			return nil, fmt.Errorf("decoding RECEIPT: %w", err)
		}
		m := &Receipt{Event: append([]byte{}, payload...)}
		copy(m.Hash[:], b[1:])
		return m, nil

	case TypeHello:
		if len(b) < helloPrefixLen {
			return nil, fmt.Errorf("decoding %v: %d bytes, want at least %d: %w", t, len(b), helloPrefixLen, ErrLength)
		}
		n := binary.BigEndian.Uint32(b[1:])
		if uint64(n) != uint64(len(b)-helloPrefixLen) {
			return nil, fmt.Errorf("decoding %v: length field %d, %d bytes follow: %w", t, n, len(b)-helloPrefixLen, ErrLengthField)
		}
		js := b[helloPrefixLen:]
		if err := checkJSON(js, ErrHelloTooLarge, ErrBadHello); err != nil {
			return nil, fmt.Errorf("decoding HELLO: %w", err)
		}
		return &Hello{Event: append([]byte{}, js...)}, nil

	case TypeTagUpdate:
		return nil, fmt.Errorf("decoding %v: %w", t, ErrUnsupportedType)
	}
	return nil, fmt.Errorf("decoding %v: %w", t, ErrUnknownType)
}

func wantLen(t Type, b []byte, n int) error {
	if len(b) != n {
		return fmt.Errorf("decoding %v: %d bytes, want %d: %w", t, len(b), n, ErrLength)
	}
	return nil
}

// lengthPrefixed returns the payload of a DATA or RECEIPT message after
// checking that its u32 length field matches exactly.
func lengthPrefixed(t Type, b []byte) ([]byte, error) {
	if len(b) < dataPrefixLen {
		return nil, fmt.Errorf("decoding %v: %d bytes, want at least %d: %w", t, len(b), dataPrefixLen, ErrLength)
	}
	n := binary.BigEndian.Uint32(b[1+HashSize:])
	if uint64(n) != uint64(len(b)-dataPrefixLen) {
		return nil, fmt.Errorf("decoding %v: length field %d, %d bytes follow: %w", t, n, len(b)-dataPrefixLen, ErrLengthField)
	}
	return b[dataPrefixLen:], nil
}

// CustodyHash returns sha256(chunk[:offset] || nonce || chunk[offset:]), the
// answer to a custody challenge. offset may equal len(chunk) (the nonce is
// appended); a larger offset is refused with ErrCustodyOffset.
func CustodyHash(chunk []byte, offset uint32, nonce [32]byte) ([32]byte, error) {
	if uint64(offset) > uint64(len(chunk)) {
		return [32]byte{}, fmt.Errorf("custody offset %d, chunk of %d bytes: %w", offset, len(chunk), ErrCustodyOffset)
	}
	h := sha256.New()
	h.Write(chunk[:offset])
	h.Write(nonce[:])
	h.Write(chunk[offset:])
	var out [32]byte
	h.Sum(out[:0])
	return out, nil
}

// Answer returns the proof answering c for the chunk's bytes.
func (c *CustodyChallenge) Answer(chunk []byte) (*CustodyProof, error) {
	p, err := CustodyHash(chunk, c.Offset, c.Nonce)
	if err != nil {
		return nil, err
	}
	return &CustodyProof{Hash: c.Hash, Proof: p}, nil
}

// Check reports whether p answers c for the chunk's bytes.
func (c *CustodyChallenge) Check(chunk []byte, p *CustodyProof) bool {
	if p == nil || p.Hash != c.Hash {
		return false
	}
	want, err := CustodyHash(chunk, c.Offset, c.Nonce)
	return err == nil && want == p.Proof
}

// EncodeChunk returns the messages that send one chunk, as Entropy sends it:
// a single DATA message when len(data) <= MaxDataLen, otherwise a DATA_HEADER
// followed by raw fragments of FragmentSize bytes (the last one shorter). The
// fragments alias data.
func EncodeChunk(hash [32]byte, data []byte) ([][]byte, error) {
	if len(data) <= MaxDataLen {
		m, err := (&Data{Hash: hash, Data: data}).Encode()
		if err != nil {
			return nil, err
		}
		return [][]byte{m}, nil
	}
	if len(data) > MaxChunkSize {
		return nil, fmt.Errorf("encoding chunk of %d bytes: %w", len(data), ErrChunkTooLarge)
	}
	hdr, err := (&DataHeader{Hash: hash, Total: uint32(len(data))}).Encode()
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, 1+(len(data)+FragmentSize-1)/FragmentSize)
	out = append(out, hdr)
	for off := 0; off < len(data); off += FragmentSize {
		end := min(off+FragmentSize, len(data))
		out = append(out, data[off:end:end])
	}
	return out, nil
}

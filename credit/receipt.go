package credit

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/event"
)

// Receipts, Entropy's kind 7772.
const (
	KindReceipt = 7772
	// MaxReceiptAge is how long a receipt may take to arrive.
	MaxReceiptAge = 30 * time.Minute
	// MaxReceiptSkew is how far in the future a receipt may be dated.
	MaxReceiptSkew = 60 * time.Second
	// MaxReceiptJSON bounds a receipt's JSON (wire message 0x07's limit).
	MaxReceiptJSON = 8 << 10
	// WelcomeGrant is the credit every new identity starts with (Entropy's
	// 100 MiB).
	WelcomeGrant int64 = 104_857_600
)

// Refusals: Accept and VerifyProof say why a receipt does not count.
var (
	ErrForged      = errors.New("receipt: bad id or signature")
	ErrMalformed   = errors.New("receipt: malformed")
	ErrWrongSeeder = errors.New("receipt: names another seeder")
	ErrSelfSigned  = errors.New("receipt: signed by the seeder itself")
	ErrReplay      = errors.New("receipt: already counted for this receiver, seeder and chunk")
	ErrExpired     = errors.New("receipt: older than 30 minutes")
	ErrFuture      = errors.New("receipt: dated more than 60 s ahead")
	ErrTooLarge    = errors.New("receipt: over 8 KiB")
	ErrNotServed   = errors.New("receipt: for a chunk not served to its signer, or for more bytes than were served")
)

// Receipt is a parsed, signed kind 7772.
type Receipt struct {
	ID       string
	Receiver string // the signer: who got the bytes
	Seeder   string // p: who sent them
	Chunk    [32]byte
	Root     [32]byte // zero when the receipt names none
	Bytes    int64
	At       int64 // the receipt tag, Unix seconds
	Sig      string
}

// ReceiptEvent is the unsigned receipt a receiver signs after a chunk of
// bytes from seeder verified.
func ReceiptEvent(seeder string, chunk, root [32]byte, bytes int64, now time.Time) *nostr.Event {
	at := strconv.FormatInt(now.Unix(), 10)
	tags := nostr.Tags{
		{"p", seeder},
		{"x", hex.EncodeToString(chunk[:])},
		{"bytes", strconv.FormatInt(bytes, 10)},
		{"receipt", at},
	}
	if root != ([32]byte{}) {
		tags = append(tags, nostr.Tag{"x-hash", hex.EncodeToString(root[:])})
	}
	return &nostr.Event{Kind: KindReceipt, CreatedAt: nostr.Timestamp(now.Unix()), Tags: tags, Content: ""}
}

// ParseReceipt checks a receipt's id and signature and reads its tags:
// exactly one p (64 hex), x (64 hex) and positive bytes; receipt (the
// time) defaults to created_at, as Entropy's reader does; x-hash optional.
func ParseReceipt(ev *nostr.Event) (Receipt, error) {
	r := Receipt{ID: ev.ID, Receiver: ev.PubKey, Sig: ev.Sig, At: int64(ev.CreatedAt)}
	if ev.Kind != KindReceipt {
		return r, fmt.Errorf("%w: kind %d, want %d", ErrMalformed, ev.Kind, KindReceipt)
	}
	if err := event.Verify(ev); err != nil {
		return r, fmt.Errorf("%w: %v", ErrForged, err)
	}
	seen := map[string]bool{}
	for _, t := range ev.Tags {
		if len(t) < 2 {
			continue
		}
		switch t[0] {
		case "p", "x", "bytes", "receipt", "x-hash":
			if seen[t[0]] {
				return r, fmt.Errorf("%w: two %s tags", ErrMalformed, t[0])
			}
			seen[t[0]] = true
		}
		var err error
		switch t[0] {
		case "p":
			if !event.IsHex(t[1], 64) {
				err = errors.New("p is not a pubkey")
			}
			r.Seeder = t[1]
		case "x":
			r.Chunk, err = event.ParseHex32(t[1])
		case "x-hash":
			r.Root, err = event.ParseHex32(t[1])
		case "bytes":
			r.Bytes, err = strconv.ParseInt(t[1], 10, 64)
			if err == nil && r.Bytes <= 0 {
				err = errors.New("bytes must be positive")
			}
		case "receipt":
			r.At, err = strconv.ParseInt(t[1], 10, 64)
			if err == nil && r.At <= 0 {
				err = errors.New("receipt time must be positive")
			}
		}
		if err != nil {
			return r, fmt.Errorf("%w: %s: %v", ErrMalformed, t[0], err)
		}
	}
	if !seen["p"] || !seen["x"] || !seen["bytes"] {
		return r, fmt.Errorf("%w: p, x and bytes tags are required", ErrMalformed)
	}
	if r.Receiver == r.Seeder {
		return r, ErrSelfSigned
	}
	return r, nil
}

// DecodeReceipt parses a receipt from the JSON of a RECEIPT message.
func DecodeReceipt(raw []byte) (Receipt, *nostr.Event, error) {
	if len(raw) > MaxReceiptJSON {
		return Receipt{}, nil, ErrTooLarge
	}
	ev, err := event.Decode(raw)
	if err != nil {
		return Receipt{}, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	r, err := ParseReceipt(ev)
	return r, ev, err
}

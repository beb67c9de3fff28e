package cold

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/event"
)

// The custody offer protocol's events, both ephemeral (never stored by a
// relay: they travel on a libp2p stream, /cairn/custody/1.0.0).
//
// KindOffer, signed by the assigner: ["p", holder], ["x", root],
// ["e", id of the file's kind 7001 chunk map], one ["c", chunk] per chunk
// offered (1 to 16, each listed in the map), ["expiration", unix end of
// the term]. KindAnswer, signed by the holder: ["e", offer id],
// ["p", assigner], one ["c", chunk] per chunk accepted; content says why
// the others were declined.
const (
	KindOffer  = 27773
	KindAnswer = 27774
	// MaxMessage bounds an offer or answer message (the offer's JSON
	// carries the chunk map's event, which a 64-chunk map keeps well
	// under it).
	MaxMessage = 256 << 10
	// MaxSkew is how far an offer's created_at may be from the holder's
	// clock.
	MaxSkew = 60 * time.Second
)

// ErrOffer: an offer or answer that is not valid, with the reason wrapped.
var ErrOffer = errors.New("custody offer")

// OfferEvent is the unsigned event of o, naming the chunk map event mapID.
func OfferEvent(o Offer, mapID string, now time.Time) *nostr.Event {
	tags := nostr.Tags{{"p", o.Holder}, {"x", hex.EncodeToString(o.Root[:])}, {"e", mapID}}
	for _, c := range o.Chunks {
		tags = append(tags, nostr.Tag{"c", hex.EncodeToString(c[:])})
	}
	tags = append(tags, nostr.Tag{"expiration", strconv.FormatInt(o.Expires.Unix(), 10)})
	return &nostr.Event{Kind: KindOffer, CreatedAt: nostr.Timestamp(now.Unix()), Tags: tags}
}

// Message is what goes each way on a custody stream, as JSON: the offer
// with the chunk map it names, then the answer.
type Message struct {
	Offer  *nostr.Event `json:"offer,omitempty"`
	Map    *nostr.Event `json:"map,omitempty"`
	Answer *nostr.Event `json:"answer,omitempty"`
}

// DecodeMessage reads a message, refusing one over MaxMessage or with
// fields it does not know.
func DecodeMessage(b []byte) (Message, error) {
	var m Message
	if len(b) > MaxMessage {
		return m, fmt.Errorf("%w: message of %d bytes, limit %d", ErrOffer, len(b), MaxMessage)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%w: %v", ErrOffer, err)
	}
	return m, nil
}

// ReceivedOffer is a checked offer.
type ReceivedOffer struct {
	Offer
	ID       string
	Assigner string
	MapID    string
}

// ParseOffer checks an offer received by self at now: validly signed, kind
// KindOffer, addressed to self, not by self, one root and map, 1 to 16
// distinct chunks, created within MaxSkew of now, a term ending after now
// and at most TTL + MaxSkew ahead.
func ParseOffer(ev *nostr.Event, self string, now time.Time) (ReceivedOffer, error) {
	var o ReceivedOffer
	bad := func(f string, a ...any) (ReceivedOffer, error) {
		return ReceivedOffer{}, fmt.Errorf("%w: %s", ErrOffer, fmt.Sprintf(f, a...))
	}
	if ev == nil {
		return bad("no offer event")
	}
	if ev.Kind != KindOffer {
		return bad("kind %d, want %d", ev.Kind, KindOffer)
	}
	if err := event.Verify(ev); err != nil {
		return bad("%v", err)
	}
	at := time.Unix(int64(ev.CreatedAt), 0)
	if d := now.Sub(at); d > MaxSkew || d < -MaxSkew {
		return bad("created %v from now, more than %v", d.Round(time.Second), MaxSkew)
	}
	o.ID, o.Assigner = ev.ID, ev.PubKey
	var ps, xs, es, exps []string
	seen := map[[32]byte]bool{}
	for _, t := range ev.Tags {
		if len(t) < 2 {
			continue
		}
		switch t[0] {
		case "p":
			ps = append(ps, t[1])
		case "x":
			xs = append(xs, t[1])
		case "e":
			es = append(es, t[1])
		case "expiration":
			exps = append(exps, t[1])
		case "c":
			c, err := event.ParseHex32(t[1])
			if err != nil {
				return bad("chunk %.70q: %v", t[1], err)
			}
			if seen[c] {
				return bad("chunk %x offered twice", c[:4])
			}
			seen[c] = true
			o.Chunks = append(o.Chunks, c)
		}
	}
	switch {
	case len(ps) != 1 || ps[0] != self:
		return bad("not addressed to this node")
	case ev.PubKey == self:
		return bad("offered by this node to itself")
	case len(xs) != 1:
		return bad("%d x (root) tags, want 1", len(xs))
	case len(es) != 1 || !event.IsHex(es[0], 64):
		return bad("want one e tag naming the chunk map")
	case len(exps) != 1:
		return bad("%d expiration tags, want 1", len(exps))
	case len(o.Chunks) == 0 || len(o.Chunks) > MaxAssignments:
		return bad("%d chunks, want 1 to %d", len(o.Chunks), MaxAssignments)
	}
	root, err := event.ParseHex32(xs[0])
	if err != nil {
		return bad("root: %v", err)
	}
	o.Root, o.MapID, o.Holder = root, es[0], self
	exp, err := strconv.ParseInt(exps[0], 10, 64)
	if err != nil {
		return bad("expiration %.30q is not a number", exps[0])
	}
	o.Expires = time.Unix(exp, 0)
	if !o.Expires.After(now) {
		return bad("the term ended already")
	}
	if o.Expires.Sub(now) > TTL+MaxSkew {
		return bad("a term of %v, more than %v", o.Expires.Sub(now).Round(time.Second), TTL)
	}
	return o, nil
}

// AnswerEvent is the unsigned answer to offer: the chunks accepted, and
// why the others were not.
func AnswerEvent(o ReceivedOffer, accepted [][32]byte, why string, now time.Time) *nostr.Event {
	tags := nostr.Tags{{"e", o.ID}, {"p", o.Assigner}}
	for _, c := range accepted {
		tags = append(tags, nostr.Tag{"c", hex.EncodeToString(c[:])})
	}
	return &nostr.Event{Kind: KindAnswer, CreatedAt: nostr.Timestamp(now.Unix()), Tags: tags, Content: why}
}

// ParseAnswer checks the answer to the offer offerID sent by assigner to
// holder: validly signed by holder, naming the offer and the assigner,
// accepting only chunks that were offered. It returns the chunks accepted
// and the holder's reason for the others.
func ParseAnswer(ev *nostr.Event, offer Offer, offerID, assigner string) ([][32]byte, string, error) {
	bad := func(f string, a ...any) ([][32]byte, string, error) {
		return nil, "", fmt.Errorf("%w answer: %s", ErrOffer, fmt.Sprintf(f, a...))
	}
	if ev == nil {
		return bad("no answer event")
	}
	if ev.Kind != KindAnswer {
		return bad("kind %d, want %d", ev.Kind, KindAnswer)
	}
	if ev.PubKey != offer.Holder {
		return bad("signed by %.16s, not the holder %.16s", ev.PubKey, offer.Holder)
	}
	if err := event.Verify(ev); err != nil {
		return bad("%v", err)
	}
	offered := map[[32]byte]bool{}
	for _, c := range offer.Chunks {
		offered[c] = true
	}
	var es, ps []string
	var acc [][32]byte
	for _, t := range ev.Tags {
		if len(t) < 2 {
			continue
		}
		switch t[0] {
		case "e":
			es = append(es, t[1])
		case "p":
			ps = append(ps, t[1])
		case "c":
			c, err := event.ParseHex32(t[1])
			if err != nil {
				return bad("chunk %.70q: %v", t[1], err)
			}
			if !offered[c] {
				return bad("accepts chunk %x, which was not offered", c[:4])
			}
			delete(offered, c)
			acc = append(acc, c)
		}
	}
	if len(es) != 1 || es[0] != offerID || len(ps) != 1 || ps[0] != assigner {
		return bad("does not name this offer and its assigner")
	}
	return acc, ev.Content, nil
}

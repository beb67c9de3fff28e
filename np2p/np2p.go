// Package np2p is NostrP2P's client API, served by a personal node so that
// NostrP2P's clients work against it: `POST /publish` takes a JSON event,
// `POST /req` a JSON filter and answers in MessagePack (gzip when asked),
// with CORS on. The shapes (Event, EventsResp, the request's fields) are
// those NostrP2P's server encodes with vmihailenco/msgpack; the golden
// vectors in testdata were produced by NostrP2P's own code.
//
//	h := np2p.Handler(np2p.Backend{Publish: ..., Query: ..., Allowed: ...})
//	http.ListenAndServe(addr, h)
package np2p

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nbd-wtf/go-nostr"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/cairn-nostr/cairn/event"
)

// Kinds NostrP2P's API handles: profile, post, follow list, repost,
// reaction.
var Kinds = []int{0, 1, 3, 6, 7}

// KindShareAll asks for the latest events (NostrP2P's custom kind).
const KindShareAll = 40000

// DefaultLatest is how many events a share-all request without a time range
// answers with (NostrP2P's 50).
const DefaultLatest = 50

// Event is NostrP2P's Np2pEvent as it travels in MessagePack: a map whose
// keys are NostrP2P's Go field names, binary id, pubkey and signature, tag
// values as binary, created_at as a float64. Sig is nil in the answers to
// a request for one post, profile or follow list (as NostrP2P answers).
type Event struct {
	ID        [32]byte   `msgpack:"Id"`
	Pubkey    [32]byte   `msgpack:"Pubkey"`
	CreatedAt float64    `msgpack:"Created_at"`
	Kind      uint16     `msgpack:"Kind"`
	Tags      [][][]byte `msgpack:"Tags"`
	Content   string     `msgpack:"Content"`
	Sig       *[64]byte  `msgpack:"Sig"`
}

// EventsResp is the MessagePack answer of /req.
type EventsResp struct {
	Evts []Event `msgpack:"Evts"`
}

// Encode is the answer's MessagePack bytes.
func (r EventsResp) Encode() ([]byte, error) {
	if r.Evts == nil {
		r.Evts = []Event{}
	}
	return msgpack.Marshal(&r)
}

// DecodeEvents reads an answer of /req.
func DecodeEvents(b []byte) (EventsResp, error) {
	var r EventsResp
	if err := msgpack.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("not a NostrP2P events answer: %w", err)
	}
	return r, nil
}

// FromNostr converts a Nostr event (kind at most 65535, hex fields already
// checked) to NostrP2P's shape; withSig false leaves Sig nil.
func FromNostr(ev *nostr.Event, withSig bool) (Event, error) {
	var e Event
	if _, err := hex.Decode(e.ID[:], []byte(ev.ID)); err != nil || len(ev.ID) != 64 {
		return e, fmt.Errorf("event id %q is not 64 hex digits", ev.ID)
	}
	if _, err := hex.Decode(e.Pubkey[:], []byte(ev.PubKey)); err != nil || len(ev.PubKey) != 64 {
		return e, fmt.Errorf("pubkey %q is not 64 hex digits", ev.PubKey)
	}
	if ev.Kind < 0 || ev.Kind > 65535 {
		return e, fmt.Errorf("kind %d does not fit NostrP2P's 16 bits", ev.Kind)
	}
	e.Kind = uint16(ev.Kind)
	e.CreatedAt = float64(ev.CreatedAt)
	e.Content = ev.Content
	e.Tags = make([][][]byte, 0, len(ev.Tags))
	for _, t := range ev.Tags {
		elems := make([][]byte, 0, len(t))
		for _, v := range t {
			elems = append(elems, []byte(v))
		}
		e.Tags = append(e.Tags, elems)
	}
	if withSig {
		var sig [64]byte
		if _, err := hex.Decode(sig[:], []byte(ev.Sig)); err != nil || len(ev.Sig) != 128 {
			return e, fmt.Errorf("signature %q is not 128 hex digits", ev.Sig)
		}
		e.Sig = &sig
	}
	return e, nil
}

// ToNostr converts back; an event without Sig gets an empty one.
func (e Event) ToNostr() *nostr.Event {
	ev := &nostr.Event{
		ID:        hex.EncodeToString(e.ID[:]),
		PubKey:    hex.EncodeToString(e.Pubkey[:]),
		CreatedAt: nostr.Timestamp(e.CreatedAt),
		Kind:      int(e.Kind),
		Content:   e.Content,
		Tags:      nostr.Tags{},
	}
	for _, t := range e.Tags {
		tag := nostr.Tag{}
		for _, v := range t {
			tag = append(tag, string(v))
		}
		ev.Tags = append(ev.Tags, tag)
	}
	if e.Sig != nil {
		ev.Sig = hex.EncodeToString(e.Sig[:])
	}
	return ev
}

// Request is the JSON body of /req: NostrP2P's filter, whose one tag
// condition ("#x": values) becomes Tag = ["#x", values...].
type Request struct {
	IDs     []string `json:"ids"`
	Tag     []string `json:"tag"`
	Authors []string `json:"authors"`
	Kinds   []int    `json:"kinds"`
	Since   int64    `json:"since"`
	Until   int64    `json:"until"`
	Limit   int64    `json:"limit"`
}

// ParseRequest reads a /req body, refusing what is not a JSON object of the
// right types and hex that is not 64 digits.
func ParseRequest(b []byte) (Request, error) {
	var r Request
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("the request must be a JSON filter object: %w", err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return r, fmt.Errorf("the request must be a JSON filter object: %w", err)
	}
	for k, v := range all {
		if len(k) != 2 || k[0] != '#' {
			continue
		}
		var vals []string
		if err := json.Unmarshal(v, &vals); err != nil {
			return r, fmt.Errorf("%s must be a list of strings", strconv.Quote(k))
		}
		if vals == nil {
			continue
		}
		r.Tag = append([]string{k}, vals...)
	}
	for _, h := range append(append([]string{}, r.IDs...), r.Authors...) {
		if !event.IsHex(h, 64) {
			return r, fmt.Errorf("ids and authors must be 64 lowercase hex digits, not %q", h)
		}
	}
	if r.Since < 0 || r.Until < 0 || r.Limit < 0 {
		return r, errors.New("since, until and limit must not be negative")
	}
	return r, nil
}

// Query is what a request asks of the store.
type Query struct {
	Filter nostr.Filter
	// Latest: keep only the newest N of what matches (0: all).
	Latest int
	// WithSig: whether the answer carries signatures.
	WithSig bool
}

// Plan turns a request into the query NostrP2P's server would run, in its
// order of precedence: share-all (40000), a post by id (1), a profile (0),
// a follow list (3); anything else is answered with no events (ok false,
// no error). max bounds a time range's answer.
func Plan(r Request, max int) (q Query, ok bool, err error) {
	has := func(k int) bool {
		for _, x := range r.Kinds {
			if x == k {
				return true
			}
		}
		return false
	}
	switch {
	case has(KindShareAll):
		f := nostr.Filter{Kinds: Kinds}
		switch {
		case r.Limit > 0:
			// NostrP2P: the latest limit events, at most 50 without a
			// range; a limit ignores since and until.
			n := int(r.Limit)
			if r.Since == 0 && n > DefaultLatest {
				n = DefaultLatest
			}
			f.Limit = n
			return Query{Filter: f, Latest: n, WithSig: true}, true, nil
		case r.Since > 0:
			s := nostr.Timestamp(r.Since)
			f.Since = &s
			if r.Until > 0 {
				u := nostr.Timestamp(r.Until)
				f.Until = &u
			}
			f.Limit = max
			return Query{Filter: f, Latest: max, WithSig: true}, true, nil
		default:
			f.Limit = DefaultLatest
			return Query{Filter: f, Latest: DefaultLatest, WithSig: true}, true, nil
		}
	case has(1):
		if len(r.IDs) == 0 || len(r.Authors) == 0 {
			return q, false, errors.New("Ids and Authors are needed: a post is asked for by its id and its author")
		}
		return Query{Filter: nostr.Filter{IDs: r.IDs[:1], Authors: r.Authors[:1], Limit: 1}, Latest: 1}, true, nil
	case has(0), has(3):
		if len(r.Authors) == 0 {
			return q, false, errors.New("authors is needed: a profile or follow list is asked for by its author")
		}
		k := 0
		if !has(0) {
			k = 3
		}
		return Query{Filter: nostr.Filter{Kinds: []int{k}, Authors: r.Authors[:1], Limit: 1}, Latest: 1}, true, nil
	}
	return q, false, nil
}

// CheckPublish checks a /publish body: a well-formed event of one of Kinds
// with a valid id and signature (NostrP2P also wants content in a post and
// tags, which the decoder demands of every event).
func CheckPublish(b []byte) (*nostr.Event, error) {
	ev, err := event.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("the body must be a signed Nostr event in JSON: %w", err)
	}
	ok := false
	for _, k := range Kinds {
		ok = ok || ev.Kind == k
	}
	if !ok {
		return nil, fmt.Errorf("kind %d is not one NostrP2P's API publishes: use 0, 1, 3, 6 or 7 (or the relay's websocket)", ev.Kind)
	}
	if ev.Kind == 1 && strings.TrimSpace(ev.Content) == "" {
		return nil, errors.New("Content is required: a post needs text")
	}
	if err := event.Verify(ev); err != nil {
		return nil, fmt.Errorf("Invalid Sig: %w", err)
	}
	return ev, nil
}

package relay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nbd-wtf/go-nostr"
)

// Errors from parsing client messages. Their text reaches clients after an
// "invalid: " prefix, so it says what was wrong.
var (
	errNotArray   = errors.New("a message must be a JSON array whose first element is a verb string")
	errNoVerb     = errors.New("the first element of a message must be a verb string such as \"EVENT\" or \"REQ\"")
	errNotHex     = errors.New("must be lowercase hex")
	errBadSubID   = errors.New("subscription id must be a non-empty string")
	errArgCount   = errors.New("wrong number of elements")
	errBadKind    = errors.New("kind must be between 0 and 65535")
	errBadTag     = errors.New("every tag must be a non-empty array of strings")
	errEmptyEvent = errors.New("an event object is required")
)

// parseMessage splits a client message into its verb and raw arguments. It
// does not look inside the arguments; each verb's handler does.
func parseMessage(b []byte) (verb string, args []json.RawMessage, err error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '[' {
		return "", nil, errNotArray
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(b, &arr); err != nil {
		return "", nil, fmt.Errorf("malformed JSON: %w", err)
	}
	if len(arr) == 0 {
		return "", nil, errNoVerb
	}
	if err := json.Unmarshal(arr[0], &verb); err != nil || verb == "" {
		return "", nil, errNoVerb
	}
	return verb, arr[1:], nil
}

// parseSubID reads a subscription id argument.
func parseSubID(raw json.RawMessage, maxLen int) (string, error) {
	var id string
	if err := json.Unmarshal(raw, &id); err != nil || id == "" {
		return "", errBadSubID
	}
	if len(id) > maxLen {
		return "", fmt.Errorf("subscription id is %d bytes; the limit is %d", len(id), maxLen)
	}
	return id, nil
}

// parseEvent decodes an event object and checks its shape: hex fields of the
// right length, kind range, tags of strings. It does not check the id or the
// signature.
func parseEvent(raw json.RawMessage) (*nostr.Event, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, errEmptyEvent
	}
	// encoding/json first: it is strict about types (a number where a string
	// belongs is an error), which easyjson's lenient decoder is not.
	var shape struct {
		ID        *string      `json:"id"`
		PubKey    *string      `json:"pubkey"`
		CreatedAt *json.Number `json:"created_at"`
		Kind      *json.Number `json:"kind"`
		Tags      *[][]string  `json:"tags"`
		Content   *string      `json:"content"`
		Sig       *string      `json:"sig"`
	}
	if err := json.Unmarshal(raw, &shape); err != nil {
		return nil, fmt.Errorf("malformed event: %w", err)
	}
	switch {
	case shape.ID == nil:
		return nil, errors.New("event has no id")
	case shape.PubKey == nil:
		return nil, errors.New("event has no pubkey")
	case shape.CreatedAt == nil:
		return nil, errors.New("event has no created_at")
	case shape.Kind == nil:
		return nil, errors.New("event has no kind")
	case shape.Tags == nil:
		return nil, errors.New("event has no tags (use [] for none)")
	case shape.Content == nil:
		return nil, errors.New("event has no content (use \"\" for none)")
	case shape.Sig == nil:
		return nil, errors.New("event has no sig")
	}
	if !isHex(*shape.ID, 64) {
		return nil, fmt.Errorf("id %w of 64 characters", errNotHex)
	}
	if !isHex(*shape.PubKey, 64) {
		return nil, fmt.Errorf("pubkey %w of 64 characters", errNotHex)
	}
	if !isHex(*shape.Sig, 128) {
		return nil, fmt.Errorf("sig %w of 128 characters", errNotHex)
	}
	kind, err := strconv.ParseInt(shape.Kind.String(), 10, 64)
	if err != nil || kind < 0 || kind > 65535 {
		return nil, errBadKind
	}
	ts, err := strconv.ParseInt(shape.CreatedAt.String(), 10, 64)
	if err != nil || ts < 0 {
		return nil, errors.New("created_at must be a non-negative integer of unix seconds")
	}
	tags := make(nostr.Tags, len(*shape.Tags))
	for i, t := range *shape.Tags {
		if len(t) == 0 {
			return nil, errBadTag
		}
		tags[i] = nostr.Tag(t)
	}
	return &nostr.Event{
		ID:        *shape.ID,
		PubKey:    *shape.PubKey,
		CreatedAt: nostr.Timestamp(ts),
		Kind:      int(kind),
		Tags:      tags,
		Content:   *shape.Content,
		Sig:       *shape.Sig,
	}, nil
}

// parseFilter decodes a NIP-01 filter strictly: ids and authors are full
// 64-character hex, kinds in range, tag filters keyed "#x" with one letter.
func parseFilter(raw json.RawMessage) (nostr.Filter, error) {
	var f nostr.Filter
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return f, errors.New("a filter must be a JSON object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return f, fmt.Errorf("malformed filter: %w", err)
	}
	for k, v := range m {
		var err error
		switch {
		case k == "ids":
			f.IDs, err = hexList(v, "ids")
		case k == "authors":
			f.Authors, err = hexList(v, "authors")
		case k == "kinds":
			if err = json.Unmarshal(v, &f.Kinds); err != nil {
				err = errors.New("kinds must be an array of integers")
			}
			for _, kd := range f.Kinds {
				if kd < 0 || kd > 65535 {
					err = errBadKind
				}
			}
		case k == "since" || k == "until":
			var ts int64
			if err = json.Unmarshal(v, &ts); err != nil {
				err = fmt.Errorf("%s must be an integer of unix seconds", k)
				break
			}
			t := nostr.Timestamp(ts)
			if k == "since" {
				f.Since = &t
			} else {
				f.Until = &t
			}
		case k == "limit":
			if err = json.Unmarshal(v, &f.Limit); err != nil || f.Limit < 0 {
				err = errors.New("limit must be a non-negative integer")
			}
			f.LimitZero = f.Limit == 0
		case k == "search":
			if err = json.Unmarshal(v, &f.Search); err != nil {
				err = errors.New("search must be a string")
			}
		case len(k) == 2 && k[0] == '#':
			var vals []string
			if err = json.Unmarshal(v, &vals); err != nil {
				err = fmt.Errorf("%s must be an array of strings", k)
				break
			}
			if f.Tags == nil {
				f.Tags = nostr.TagMap{}
			}
			f.Tags[k[1:]] = vals
		default:
			// Unknown fields are ignored, as NIP-01 clients extend filters.
		}
		if err != nil {
			return f, err
		}
	}
	return f, nil
}

func hexList(v json.RawMessage, name string) ([]string, error) {
	var l []string
	if err := json.Unmarshal(v, &l); err != nil {
		return nil, fmt.Errorf("%s must be an array of strings", name)
	}
	for _, s := range l {
		if !isHex(s, 64) {
			return nil, fmt.Errorf("%s must be 64-character lowercase hex (prefixes are not supported): %.70q", name, s)
		}
	}
	return l, nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// idOfRaw finds the id in an event's JSON as the store returns it.
func idOfRaw(raw []byte) string {
	i := bytes.Index(raw, []byte(`"id":"`))
	if i < 0 || i+6+64 > len(raw) {
		return ""
	}
	return string(raw[i+6 : i+6+64])
}

// Messages the relay sends. Each builder appends to b and returns it.

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

func msgOK(id string, ok bool, reason string) []byte {
	b := make([]byte, 0, 96+len(reason))
	b = append(b, `["OK","`...)
	b = append(b, id...)
	b = append(b, `",`...)
	b = strconv.AppendBool(b, ok)
	b = append(b, ',')
	b = appendJSONString(b, reason)
	return append(b, ']')
}

func msgEvent(quotedSubID []byte, raw []byte) []byte {
	b := make([]byte, 0, 11+len(quotedSubID)+len(raw))
	b = append(b, `["EVENT",`...)
	b = append(b, quotedSubID...)
	b = append(b, ',')
	b = append(b, raw...)
	return append(b, ']')
}

func msgWithSub(verb, subID string, rest ...string) []byte {
	b := make([]byte, 0, 64)
	b = append(b, `["`...)
	b = append(b, verb...)
	b = append(b, `",`...)
	b = appendJSONString(b, subID)
	for _, r := range rest {
		b = append(b, ',')
		b = appendJSONString(b, r)
	}
	return append(b, ']')
}

func msgNotice(text string) []byte {
	b := append([]byte(`["NOTICE",`), appendJSONString(nil, text)...)
	return append(b, ']')
}

package relay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/event"
)

// Errors from parsing client messages. Their text reaches clients after an
// "invalid: " prefix, so it says what was wrong.
var (
	errNotArray = errors.New("a message must be a JSON array whose first element is a verb string")
	errNoVerb   = errors.New("the first element of a message must be a verb string such as \"EVENT\" or \"REQ\"")
	errNotHex   = event.ErrNotHex
	errBadSubID = errors.New("subscription id must be a non-empty string")
	errArgCount = errors.New("wrong number of elements")
	errBadKind  = event.ErrKind
)

// parseMessage splits a client message into its verb and raw arguments. It
// does not look inside the arguments; each verb's handler does, with a
// decoder that validates what it reads. The split is one pass over the bytes
// that respects strings and nesting, instead of a generic JSON decode that
// would scan every event twice before its handler scans it again.
func parseMessage(b []byte) (verb string, args []json.RawMessage, err error) {
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '[' {
		return "", nil, errNotArray
	}
	elems, err := splitArray(b)
	if err != nil {
		return "", nil, err
	}
	if len(elems) == 0 {
		return "", nil, errNoVerb
	}
	if err := json.Unmarshal(elems[0], &verb); err != nil || verb == "" {
		return "", nil, errNoVerb
	}
	return verb, elems[1:], nil
}

// splitArray returns the top-level elements of a JSON array. It checks the
// array's own syntax (commas, brackets, strings closed) but not the
// elements': their decoders do.
func splitArray(b []byte) ([]json.RawMessage, error) {
	malformed := func(what string) error {
		return fmt.Errorf("malformed JSON: %s", what)
	}
	var elems []json.RawMessage
	i := skipSpace(b, 1)
	if i < len(b) && b[i] == ']' {
		if skipSpace(b, i+1) != len(b) {
			return nil, malformed("data after the closing bracket")
		}
		return elems, nil
	}
	for {
		start := i
		end, err := scanValue(b, i)
		if err != nil {
			return nil, err
		}
		if end == start {
			return nil, malformed("missing value")
		}
		elems = append(elems, json.RawMessage(b[start:end]))
		i = skipSpace(b, end)
		if i >= len(b) {
			return nil, malformed("unterminated array")
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			if skipSpace(b, i+1) != len(b) {
				return nil, malformed("data after the closing bracket")
			}
			return elems, nil
		default:
			return nil, malformed(fmt.Sprintf("unexpected %q between elements", b[i]))
		}
	}
}

// scanValue returns the end of the JSON value starting at b[i]: a string, an
// object or array (balanced, strings respected), or a bare literal.
func scanValue(b []byte, i int) (int, error) {
	depth := 0
	for j := i; j < len(b); j++ {
		switch c := b[j]; c {
		case '"':
			k, err := scanString(b, j)
			if err != nil {
				return 0, err
			}
			j = k - 1
			if depth == 0 {
				return k, nil
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return j, nil // end of the enclosing array: a bare literal ends here
			}
			depth--
			if depth == 0 {
				return j + 1, nil
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return j, nil
			}
		}
	}
	return 0, errors.New("malformed JSON: unexpected end of message")
}

// scanString returns the index after the closing quote of the string that
// opens at b[i].
func scanString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errors.New("malformed JSON: unterminated string")
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
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

func isHex(s string, n int) bool { return event.IsHex(s, n) }

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
	if s == "" { // an accepted event's OK
		return append(b, `""`...)
	}
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

// slab holds the EVENT messages of one query's results: they are cut from
// shared blocks rather than allocated one by one (a REQ may return
// thousands). A message stays valid, and unchanged, as long as it is held.
type slab struct{ buf []byte }

// slabBlock is the size of a slab's blocks.
const slabBlock = 64 << 10

func (s *slab) msgEvent(quotedSubID []byte, raw []byte) []byte {
	n := 11 + len(quotedSubID) + len(raw)
	if n > slabBlock/4 {
		return msgEvent(quotedSubID, raw)
	}
	if cap(s.buf)-len(s.buf) < n {
		s.buf = make([]byte, 0, slabBlock)
	}
	start := len(s.buf)
	s.buf = append(s.buf, `["EVENT",`...)
	s.buf = append(s.buf, quotedSubID...)
	s.buf = append(s.buf, ',')
	s.buf = append(s.buf, raw...)
	s.buf = append(s.buf, ']')
	return s.buf[start:len(s.buf):len(s.buf)]
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

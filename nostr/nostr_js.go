//go:build js

package nostr

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
)

// Event is a Nostr event (NIP-01).
type Event struct {
	ID        string    `json:"id"`
	PubKey    string    `json:"pubkey"`
	CreatedAt Timestamp `json:"created_at"`
	Kind      int       `json:"kind"`
	Tags      Tags      `json:"tags"`
	Content   string    `json:"content"`
	Sig       string    `json:"sig"`
}

// Tag is one tag: a name and its values.
type Tag []string

// Tags are an event's tags.
type Tags []Tag

// Timestamp is a time in seconds since the Unix epoch.
type Timestamp int64

// TagMap is a filter's tag conditions: "e" for "#e", and so on.
type TagMap map[string][]string

// Filter is a NIP-01 subscription filter. LimitZero is set when "limit":0
// was given (and then sent), not when the limit is just absent.
type Filter struct {
	IDs       []string
	Kinds     []int
	Authors   []string
	Tags      TagMap
	Since     *Timestamp
	Until     *Timestamp
	Limit     int
	Search    string
	LimitZero bool `json:"-"`
}

// Filters matches an event when any of its filters does.
type Filters []Filter

// ProfilePointer is an nprofile: a public key and relays.
type ProfilePointer struct {
	PublicKey string   `json:"pubkey"`
	Relays    []string `json:"relays,omitempty"`
}

// EventPointer is an nevent: an event id and, optionally, relays, its
// author and kind.
type EventPointer struct {
	ID     string   `json:"id"`
	Relays []string `json:"relays,omitempty"`
	Author string   `json:"author,omitempty"`
	Kind   int      `json:"kind,omitempty"`
}

// EntityPointer is an naddr: an addressable event's author, kind and d tag.
type EntityPointer struct {
	PublicKey  string   `json:"pubkey"`
	Kind       int      `json:"kind,omitempty"`
	Identifier string   `json:"identifier,omitempty"`
	Relays     []string `json:"relays,omitempty"`
}

// KindClientAuthentication is NIP-42's AUTH event kind.
const KindClientAuthentication = 22242

// Now is the current time in seconds.
func Now() Timestamp { return Timestamp(time.Now().Unix()) }

// Time is t as a time.Time.
func (t Timestamp) Time() time.Time { return time.Unix(int64(t), 0) }

// IsReplaceableKind reports whether kind is replaceable (0, 3, 10000-19999).
func IsReplaceableKind(kind int) bool {
	return kind == 0 || kind == 3 || (10000 <= kind && kind < 20000)
}

// IsEphemeralKind reports whether kind is ephemeral (20000-29999).
func IsEphemeralKind(kind int) bool { return 20000 <= kind && kind < 30000 }

// IsAddressableKind reports whether kind is addressable (30000-39999).
func IsAddressableKind(kind int) bool { return 30000 <= kind && kind < 40000 }

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// IsValid32ByteHex reports whether s is 64 lowercase hex digits.
func IsValid32ByteHex(s string) bool { return len(s) == 64 && isLowerHex(s) }

// IsValidPublicKey reports whether pk is 64 lowercase hex digits naming a
// point on the curve.
func IsValidPublicKey(pk string) bool {
	if !IsValid32ByteHex(pk) {
		return false
	}
	b, _ := hex.DecodeString(pk)
	_, err := schnorr.ParsePubKey(b)
	return err == nil
}

// GeneratePrivateKey returns a new secret key, 64 lowercase hex digits, or
// "" when the system has no randomness to give.
func GeneratePrivateKey() string {
	k, err := btcec.NewPrivateKey()
	if err != nil {
		return ""
	}
	b := k.Key.Bytes()
	return hex.EncodeToString(b[:])
}

// GetPublicKey returns the x-only public key of the secret key sk (hex).
func GetPublicKey(sk string) (string, error) {
	b, err := hex.DecodeString(sk)
	if err != nil {
		return "", err
	}
	_, pk := btcec.PrivKeyFromBytes(b)
	return hex.EncodeToString(schnorr.SerializePubKey(pk)), nil
}

// appendString appends s as a JSON string with NIP-01's escapes: \" \\ \b
// \t \n \f \r, other control characters as \u00xx, everything else as is.
func appendString(dst []byte, s string) []byte {
	const digits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c >= 0x20:
			dst = append(dst, c)
		case c == '\b':
			dst = append(dst, '\\', 'b')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\f':
			dst = append(dst, '\\', 'f')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', digits[c>>4], digits[c&0xf])
		}
	}
	return append(dst, '"')
}

func appendTags(dst []byte, tags Tags) []byte {
	dst = append(dst, '[')
	for i, tag := range tags {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '[')
		for j, s := range tag {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, s)
		}
		dst = append(dst, ']')
	}
	return append(dst, ']')
}

// Serialize returns the NIP-01 serialization whose SHA-256 is the id.
func (evt *Event) Serialize() []byte {
	dst := make([]byte, 0, 100+len(evt.Content)+len(evt.Tags)*80)
	dst = append(dst, `[0,"`...)
	dst = append(dst, evt.PubKey...)
	dst = append(dst, `",`...)
	dst = strconv.AppendInt(dst, int64(evt.CreatedAt), 10)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, int64(evt.Kind), 10)
	dst = append(dst, ',')
	dst = appendTags(dst, evt.Tags)
	dst = append(dst, ',')
	dst = appendString(dst, evt.Content)
	return append(dst, ']')
}

// GetID computes the event's id.
func (evt *Event) GetID() string {
	h := sha256.Sum256(evt.Serialize())
	return hex.EncodeToString(h[:])
}

// CheckID reports whether ID is the id the event's content hashes to.
func (evt *Event) CheckID() bool { return len(evt.ID) == 64 && evt.GetID() == evt.ID }

// CheckSignature recomputes the id from the event's content and checks the
// BIP-340 signature against the pubkey; err says what was malformed.
func (evt Event) CheckSignature() (bool, error) {
	pk, err := hex.DecodeString(evt.PubKey)
	if err != nil {
		return false, fmt.Errorf("event pubkey %q is invalid hex: %w", evt.PubKey, err)
	}
	pub, err := schnorr.ParsePubKey(pk)
	if err != nil {
		return false, fmt.Errorf("event has invalid pubkey %q: %w", evt.PubKey, err)
	}
	s, err := hex.DecodeString(evt.Sig)
	if err != nil {
		return false, fmt.Errorf("signature %q is invalid hex: %w", evt.Sig, err)
	}
	sig, err := schnorr.ParseSignature(s)
	if err != nil {
		return false, fmt.Errorf("failed to parse signature: %w", err)
	}
	h := sha256.Sum256(evt.Serialize())
	return sig.Verify(h[:], pub), nil
}

// Sign sets the event's PubKey, ID and Sig from the secret key (hex).
func (evt *Event) Sign(secretKey string) error {
	s, err := hex.DecodeString(secretKey)
	if err != nil || len(s) != 32 {
		return fmt.Errorf("sign: the secret key must be 64 hex digits")
	}
	if evt.Tags == nil {
		evt.Tags = Tags{}
	}
	sk, pk := btcec.PrivKeyFromBytes(s)
	evt.PubKey = hex.EncodeToString(schnorr.SerializePubKey(pk))
	h := sha256.Sum256(evt.Serialize())
	sig, err := schnorr.Sign(sk, h[:], schnorr.FastSign())
	if err != nil {
		return err
	}
	evt.ID = hex.EncodeToString(h[:])
	evt.Sig = hex.EncodeToString(sig.Serialize())
	return nil
}

// MarshalJSON encodes the event as a NIP-01 event object.
func (evt Event) MarshalJSON() ([]byte, error) {
	dst := make([]byte, 0, 300+len(evt.Content)+len(evt.Tags)*80)
	dst = append(dst, `{"kind":`...)
	dst = strconv.AppendInt(dst, int64(evt.Kind), 10)
	dst = append(dst, `,"id":`...)
	dst = appendString(dst, evt.ID)
	dst = append(dst, `,"pubkey":`...)
	dst = appendString(dst, evt.PubKey)
	dst = append(dst, `,"created_at":`...)
	dst = strconv.AppendInt(dst, int64(evt.CreatedAt), 10)
	dst = append(dst, `,"tags":`...)
	dst = appendTags(dst, evt.Tags)
	dst = append(dst, `,"content":`...)
	dst = appendString(dst, evt.Content)
	dst = append(dst, `,"sig":`...)
	dst = appendString(dst, evt.Sig)
	return append(dst, '}'), nil
}

// UnmarshalJSON decodes an event object leniently (missing fields stay
// zero); package event is the strict decoder.
func (evt *Event) UnmarshalJSON(b []byte) error {
	type plain Event
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*evt = Event(p)
	return nil
}

// String is the event's JSON.
func (evt Event) String() string {
	b, _ := evt.MarshalJSON()
	return string(b)
}

// StartsWith reports whether tag begins with prefix, its last element
// matching as a string prefix.
func (tag Tag) StartsWith(prefix []string) bool {
	n := len(prefix)
	if n == 0 {
		return true
	}
	if n > len(tag) {
		return false
	}
	for i := 0; i < n-1; i++ {
		if prefix[i] != tag[i] {
			return false
		}
	}
	return strings.HasPrefix(tag[n-1], prefix[n-1])
}

// Key is the tag's name, or "".
func (tag Tag) Key() string {
	if len(tag) > 0 {
		return tag[0]
	}
	return ""
}

// Value is the tag's first value, or "".
func (tag Tag) Value() string {
	if len(tag) > 1 {
		return tag[1]
	}
	return ""
}

// GetD is the value of the first "d" tag, or "".
func (tags Tags) GetD() string {
	for _, t := range tags {
		if len(t) >= 2 && t[0] == "d" {
			return t[1]
		}
	}
	return ""
}

// GetFirst is the first tag starting with prefix (see Tag.StartsWith), or nil.
func (tags Tags) GetFirst(prefix []string) *Tag {
	for _, t := range tags {
		if t.StartsWith(prefix) {
			return &t
		}
	}
	return nil
}

// GetAll is every tag starting with prefix.
func (tags Tags) GetAll(prefix []string) Tags {
	var out Tags
	for _, t := range tags {
		if t.StartsWith(prefix) {
			out = append(out, t)
		}
	}
	return out
}

// Find is the first tag named key with at least one value, or nil.
func (tags Tags) Find(key string) Tag {
	for _, t := range tags {
		if len(t) >= 2 && t[0] == key {
			return t
		}
	}
	return nil
}

// FindWithValue is the first tag named key whose first value is value, or nil.
func (tags Tags) FindWithValue(key, value string) Tag {
	for _, t := range tags {
		if len(t) >= 2 && t[0] == key && t[1] == value {
			return t
		}
	}
	return nil
}

// ContainsAny reports whether a tag named name has one of values as its
// first value.
func (tags Tags) ContainsAny(name string, values []string) bool {
	for _, t := range tags {
		if len(t) >= 2 && t[0] == name && slices.Contains(values, t[1]) {
			return true
		}
	}
	return false
}

// Matches reports whether the event passes every condition of the filter.
func (ef Filter) Matches(evt *Event) bool {
	if !ef.MatchesIgnoringTimestampConstraints(evt) {
		return false
	}
	if ef.Since != nil && evt.CreatedAt < *ef.Since {
		return false
	}
	if ef.Until != nil && evt.CreatedAt > *ef.Until {
		return false
	}
	return true
}

// MatchesIgnoringTimestampConstraints is Matches without since and until.
func (ef Filter) MatchesIgnoringTimestampConstraints(evt *Event) bool {
	if evt == nil {
		return false
	}
	if ef.IDs != nil && !slices.Contains(ef.IDs, evt.ID) {
		return false
	}
	if ef.Kinds != nil && !slices.Contains(ef.Kinds, evt.Kind) {
		return false
	}
	if ef.Authors != nil && !slices.Contains(ef.Authors, evt.PubKey) {
		return false
	}
	for name, values := range ef.Tags {
		if values != nil && !evt.Tags.ContainsAny(name, values) {
			return false
		}
	}
	return true
}

// Match reports whether any filter matches the event.
func (eff Filters) Match(evt *Event) bool {
	for _, f := range eff {
		if f.Matches(evt) {
			return true
		}
	}
	return false
}

// Clone copies the filter, its slices and tag map included.
func (ef Filter) Clone() Filter {
	c := ef
	c.IDs = slices.Clone(ef.IDs)
	c.Kinds = slices.Clone(ef.Kinds)
	c.Authors = slices.Clone(ef.Authors)
	if ef.Tags != nil {
		c.Tags = make(TagMap, len(ef.Tags))
		for k, v := range ef.Tags {
			c.Tags[k] = slices.Clone(v)
		}
	}
	if ef.Since != nil {
		s := *ef.Since
		c.Since = &s
	}
	if ef.Until != nil {
		u := *ef.Until
		c.Until = &u
	}
	return c
}

func appendStrings(dst []byte, name string, vs []string) []byte {
	if len(dst) > 1 {
		dst = append(dst, ',')
	}
	dst = appendString(dst, name)
	dst = append(dst, ":["...)
	for i, v := range vs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, v)
	}
	return append(dst, ']')
}

func appendNumber(dst []byte, name string, n int64) []byte {
	if len(dst) > 1 {
		dst = append(dst, ',')
	}
	dst = appendString(dst, name)
	dst = append(dst, ':')
	return strconv.AppendInt(dst, n, 10)
}

// MarshalJSON encodes the filter as NIP-01 does: empty lists left out,
// tag conditions as "#<name>", "limit" when non-zero or LimitZero.
func (ef Filter) MarshalJSON() ([]byte, error) {
	dst := append(make([]byte, 0, 128), '{')
	if len(ef.IDs) != 0 {
		dst = appendStrings(dst, "ids", ef.IDs)
	}
	if len(ef.Kinds) != 0 {
		if len(dst) > 1 {
			dst = append(dst, ',')
		}
		dst = append(dst, `"kinds":[`...)
		for i, k := range ef.Kinds {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendInt(dst, int64(k), 10)
		}
		dst = append(dst, ']')
	}
	if len(ef.Authors) != 0 {
		dst = appendStrings(dst, "authors", ef.Authors)
	}
	if ef.Since != nil {
		dst = appendNumber(dst, "since", int64(*ef.Since))
	}
	if ef.Until != nil {
		dst = appendNumber(dst, "until", int64(*ef.Until))
	}
	if ef.Limit != 0 || ef.LimitZero {
		dst = appendNumber(dst, "limit", int64(ef.Limit))
	}
	if ef.Search != "" {
		if len(dst) > 1 {
			dst = append(dst, ',')
		}
		dst = append(dst, `"search":`...)
		dst = appendString(dst, ef.Search)
	}
	names := make([]string, 0, len(ef.Tags))
	for name := range ef.Tags {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		dst = appendStrings(dst, "#"+name, ef.Tags[name])
	}
	return append(dst, '}'), nil
}

// UnmarshalJSON decodes a NIP-01 filter object; unknown fields are ignored.
func (ef *Filter) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	if fields == nil {
		return errors.New("a filter must be a JSON object")
	}
	var f Filter
	for name, raw := range fields {
		var err error
		switch {
		case name == "ids":
			err = json.Unmarshal(raw, &f.IDs)
		case name == "kinds":
			err = json.Unmarshal(raw, &f.Kinds)
		case name == "authors":
			err = json.Unmarshal(raw, &f.Authors)
		case name == "since":
			f.Since = new(Timestamp)
			err = json.Unmarshal(raw, f.Since)
		case name == "until":
			f.Until = new(Timestamp)
			err = json.Unmarshal(raw, f.Until)
		case name == "limit":
			err = json.Unmarshal(raw, &f.Limit)
			f.LimitZero = err == nil && f.Limit == 0
		case name == "search":
			err = json.Unmarshal(raw, &f.Search)
		case len(name) > 1 && name[0] == '#':
			var vs []string
			err = json.Unmarshal(raw, &vs)
			if f.Tags == nil {
				f.Tags = TagMap{}
			}
			f.Tags[name[1:]] = vs
		}
		if err != nil {
			return fmt.Errorf("filter field %q: %w", name, err)
		}
	}
	*ef = f
	return nil
}

// String is the filter's JSON.
func (ef Filter) String() string {
	b, _ := ef.MarshalJSON()
	return string(b)
}

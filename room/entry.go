package room

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/event"
)

// Kinds of the authority log (NIP-29's moderation kinds) and of chat.
const (
	KindChat       = 9    // a chat message (NIP-29 / NIP-C7)
	KindPutUser    = 9000 // GRANT
	KindRemoveUser = 9001 // REVOKE, BAN, UNBAN
	KindEditMeta   = 9002 // SET_POLICY, DEFINE_ROLE
	KindDelete     = 9005 // delete-event: a moderation message, not a log entry
	KindCreate     = 9007 // the genesis
	KindInvite     = 9009 // create-invite: INVITE
	// KindSequence is cairn's: the creator's sequencer entry (SEQUENCER
	// mode on or off, countersignatures). In NIP-29's moderation range,
	// which NIP-29 leaves unused there.
	KindSequence = 9018
	// Requests a host places into the log (see Place): NIP-29's join and
	// leave requests, and kinds 9000-9002 sent without prev, seq and
	// lamport.
	KindJoinRequest  = 9021
	KindLeaveRequest = 9022
)

// Limits of the strict decoder.
const (
	MaxEntryJSON = 16 << 10 // an entry's JSON
	MaxTags      = 32       // tags of one entry
	MaxName      = 64       // bytes of a room's name
	MaxRoleName  = 32       // bytes of a role's name: [a-z0-9_-]
	MaxCode      = 64       // bytes of an invite code: [A-Za-z0-9_-]
	MaxText      = 1024     // bytes of about, picture and reason values
	MaxEntries   = 10_000   // entries Replay considers; the rest are refused
	// MaxSkew is how far ahead of now an entry may be dated.
	MaxSkew = 10 * time.Minute
	// MaxRequestJSON bounds the request a placement carries.
	MaxRequestJSON = 8 << 10
	// MaxPlaceDelay is how long before its placement a request may be
	// dated (and MaxSkew how long after): an old request cannot be placed.
	MaxPlaceDelay = 10 * time.Minute
	// MaxSequencerWait bounds a sequencer mode's absence delay (a week).
	MaxSequencerWait = 7 * 24 * time.Hour
)

// roomLabel separates room ids from every other sha256 in cairn.
const roomLabel = "cairn-room-v1"

// RoomID is a room's id: the lowercase hex of
//
//	sha256("cairn-room-v1" || 0x00 || creator (32 bytes) ||
//	       len(name) (uint16, big-endian) || name (UTF-8) || nonce (16 bytes))
//
// The length prefix keeps (name, nonce) pairs from colliding; the label
// keeps the hash from being any other cairn hash. 64 hex digits fit
// NIP-29's group-id alphabet (a-z0-9-_).
func RoomID(creator [32]byte, name string, nonce [16]byte) string {
	h := sha256.New()
	h.Write([]byte(roomLabel))
	h.Write([]byte{0})
	h.Write(creator[:])
	var n [2]byte
	binary.BigEndian.PutUint16(n[:], uint16(len(name)))
	h.Write(n[:])
	h.Write([]byte(name))
	h.Write(nonce[:])
	return hex.EncodeToString(h.Sum(nil))
}

// Op is what a log entry does.
type Op uint8

// The actions of the log. Genesis is the room's creation.
const (
	OpGenesis Op = iota + 1
	OpGrant
	OpRevoke
	OpBan
	OpUnban
	OpSetPolicy
	OpDefineRole
	OpInvite
	OpSequence // the creator's: sequencer mode, countersignatures
	OpChannel  // CHANNEL: define, rename or archive a text channel
)

var opNames = [...]string{"", "genesis", "grant", "revoke", "ban", "unban", "policy", "role", "invite", "sequence", "channel"}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "op" + strconv.Itoa(int(o))
}

// Policy is a room's settable state (NIP-29's metadata and flags). The
// zero value of each flag is NIP-29's default reading: Open false means
// restricted (members only write), which is a room's default.
type Policy struct {
	Name, About, Picture string
	Open                 bool // anyone not banned may post (NIP-29 "unrestricted")
	Public               bool // anyone may read (NIP-29 "public" vs "private")
	JoinOpen             bool // join requests honoured (NIP-29 "open" vs "closed")
}

// PolicyChange is what a SET_POLICY entry changes; nil fields stay.
type PolicyChange struct {
	Name, About, Picture   *string
	Open, Public, JoinOpen *bool
}

// Action is the decoded meaning of a log entry.
type Action struct {
	Op     Op
	Target string       // GRANT, REVOKE, BAN, UNBAN: the pubkey acted on
	Role   string       // GRANT: the role given; DEFINE_ROLE: the role defined
	Caps   Caps         // DEFINE_ROLE
	Rank   int          // DEFINE_ROLE
	Policy PolicyChange // SET_POLICY; genesis: the room's name in Name
	Code   string       // INVITE: the invite code
	Reason string       // optional, free text
	// SEQUENCE: Wait, if not nil, sets sequencer mode (0: off; otherwise
	// how long the creator must be absent before others act alone); Acks
	// are the entries the creator countersigns (e tags).
	Wait *time.Duration
	Acks []string
	// CHANNEL: the channel's id, its name, and whether it is archived.
	Channel, ChannelName string
	Archived             bool
}

// Grant, Revoke, Ban, Unban, SetPolicy and DefineRole build actions.
func Grant(pubkey, role string) Action { return Action{Op: OpGrant, Target: pubkey, Role: role} }
func Revoke(pubkey string) Action      { return Action{Op: OpRevoke, Target: pubkey} }
func Ban(pubkey string) Action         { return Action{Op: OpBan, Target: pubkey} }
func Unban(pubkey string) Action       { return Action{Op: OpUnban, Target: pubkey} }
func SetPolicy(c PolicyChange) Action  { return Action{Op: OpSetPolicy, Policy: c} }
func DefineRole(name string, caps Caps, rank int) Action {
	return Action{Op: OpDefineRole, Role: name, Caps: caps, Rank: rank}
}

// Invite builds an INVITE: a join request carrying code admits its signer.
func Invite(code string) Action { return Action{Op: OpInvite, Code: code} }

// SetChannel builds a CHANNEL: define or rename the text channel id
// (archived: close it to new messages).
func SetChannel(id, name string, archived bool) Action {
	return Action{Op: OpChannel, Channel: id, ChannelName: name, Archived: archived}
}

// CheckChannel says what is wrong with a channel's id (1-32 of a-z, 0-9,
// - and _) or name (1-64 bytes), if anything.
func CheckChannel(id, name string) error {
	if err := checkRoleName(id); err != nil {
		return fmt.Errorf("channel id %q: %v", id, err)
	}
	if name == "" || len(name) > MaxName {
		return fmt.Errorf("channel name: 1 to %d bytes", MaxName)
	}
	return nil
}

// Sequencer builds the creator's SEQUENCE entry turning sequencer mode on
// (wait > 0: others act alone after the creator's absence for wait) or
// off (wait 0).
func Sequencer(wait time.Duration) Action { return Action{Op: OpSequence, Wait: &wait} }

// Countersign builds the creator's SEQUENCE entry countersigning the
// entries ids (pending in sequencer mode): they take effect there.
func Countersign(ids ...string) Action { return Action{Op: OpSequence, Acks: ids} }

// Entry is a verified, decoded log entry (or genesis).
//
// A placement is an entry whose chain tags are signed by a host (any key:
// in practice the node that received the request) and whose action is
// authorized by a request it carries in a request tag: a NIP-29 join
// (9021) or leave (9022) request, or a moderation event of kind 9000-9002
// sent without prev, seq and lamport. Its Author is the request's signer,
// whose capability Replay checks; Placer is the host, whose signature
// vouches only for the position in the chain.
//
// Compatibility rules. An entry is a Nostr event of kind 9000, 9001, 9002,
// 9007 or 9009 carrying exactly one h (the room), and, except the genesis,
// exactly one prev (64 hex: the event id of the entry it extends), seq
// (decimal, its prev's seq plus one; the genesis is 0) and lamport
// (decimal, above its prev's; the genesis is 0). Tags this version does
// not know are ignored, so later versions may add tags that older
// replayers can skip; a tag this version knows, repeated or malformed,
// refuses the entry; so does an unknown capability name or role flag,
// because an older replayer that skipped it would reach another state.
// Changing what a known tag means needs new kinds, never new readings of
// these.
type Entry struct {
	ID        string
	Room      string
	Author    string
	Kind      int
	Prev      string // "" for the genesis
	Seq       uint64
	Lamport   uint64
	CreatedAt int64
	Action    Action
	Event     *nostr.Event
	// Placements only (see above): the host that signed the entry, the
	// request that authorizes it and that request's kind.
	Placer  string
	Request *nostr.Event
	Via     int
	Code    string // a join request's invite code
}

// Errors of the decoder and the replay. Rejected entries carry one of
// these (wrapped with the detail) so callers can branch with errors.Is.
var (
	ErrTooLarge  = errors.New("room: entry over 16 KiB")
	ErrForged    = errors.New("room: bad id or signature")
	ErrMalformed = errors.New("room: malformed entry")
	ErrWrongRoom = errors.New("room: entry of another room")
	ErrOrphan    = errors.New("room: extends an entry not in the log")
	ErrChain     = errors.New("room: seq or lamport does not follow its prev")
	ErrFuture    = errors.New("room: dated more than 10 minutes ahead")
	ErrDenied    = errors.New("room: signer lacks the capability")
	// ErrConcurrent: an entry by a signer whose revocation did not build
	// on it (it was concurrent with or later than the revocation, however
	// it was dated); see Replay.
	ErrConcurrent = errors.New("room: not seen by the revocation of its signer")
	ErrGenesis    = errors.New("room: no valid genesis")
	ErrTooMany    = errors.New("room: over 10,000 entries")
	// ErrUnplaced: a moderation event without prev, seq and lamport is a
	// request a host places (Place), not an entry; Replay skips it.
	ErrUnplaced = errors.New("room: a moderation event without prev, seq and lamport is a request for a host to place")
	// ErrReused: a placement whose request already took effect.
	ErrReused = errors.New("room: its request already took effect")
	// ErrPending: in sequencer mode, an entry that waits for the
	// creator's countersignature (it holds its place in the chain and
	// takes effect when the creator countersigns it).
	ErrPending = errors.New("room: awaits the creator's countersignature (sequencer mode)")
)

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// DecodeEntry decodes an entry from JSON: size limit, the strict event
// decoder, then ParseEntry.
func DecodeEntry(raw []byte) (Entry, error) {
	if len(raw) > MaxEntryJSON {
		return Entry{}, ErrTooLarge
	}
	ev, err := event.Decode(raw)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return ParseEntry(ev)
}

// LogKinds are the kinds of a room's log, for filters.
var LogKinds = []int{KindCreate, KindPutUser, KindRemoveUser, KindEditMeta, KindInvite, KindSequence}

// IsEntryKind reports whether kind is one of the log's.
func IsEntryKind(kind int) bool {
	switch kind {
	case KindPutUser, KindRemoveUser, KindEditMeta, KindCreate, KindInvite, KindSequence:
		return true
	}
	return false
}

// ParseEntry checks an entry's id and signature and reads its tags.
func ParseEntry(ev *nostr.Event) (Entry, error) {
	e := Entry{ID: ev.ID, Author: ev.PubKey, Kind: ev.Kind, CreatedAt: int64(ev.CreatedAt), Event: ev}
	if !IsEntryKind(ev.Kind) {
		return e, malformed("kind %d is not a log entry", ev.Kind)
	}
	if err := event.Verify(ev); err != nil {
		return e, fmt.Errorf("%w: %v", ErrForged, err)
	}
	if len(ev.Tags) > MaxTags {
		return e, malformed("%d tags, at most %d", len(ev.Tags), MaxTags)
	}
	e, req, err := decodeTags(e, ev, false)
	if err != nil || req == "" {
		return e, err
	}
	return placed(e, req)
}

// decodeTags reads an entry's tags (or, chainless, a request's: no prev,
// seq, lamport or request; put-user's role defaults to member). req is
// the value of a request tag.
func decodeTags(e Entry, ev *nostr.Event, chainless bool) (_ Entry, req string, _ error) {
	seen := map[string]bool{}
	var pTag nostr.Tag
	var flags []string
	a := &e.Action
	for _, t := range ev.Tags {
		if len(t) == 0 {
			return e, req, malformed("an empty tag")
		}
		if t[0] == "e" && ev.Kind == KindSequence {
			// countersignatures: only on a sequence entry (elsewhere an e
			// tag is not the log's)
			if len(t) < 2 || !event.IsHex(t[1], 64) {
				return e, req, malformed("e: not an event id (64 hex)")
			}
			for _, id := range a.Acks {
				if id == t[1] {
					return e, req, malformed("e: %.16s countersigned twice", id)
				}
			}
			a.Acks = append(a.Acks, t[1])
			continue
		}
		switch t[0] {
		case "h", "prev", "seq", "lamport", "p", "name", "about", "picture", "nonce", "role", "reason", "ban", "unban", "request", "code", "sequencer", "channel":
			if seen[t[0]] {
				return e, req, malformed("two %s tags", t[0])
			}
			seen[t[0]] = true
		case "open", "closed", "public", "private", "restricted", "unrestricted":
			if len(t) != 1 {
				return e, req, malformed("flag %s takes no value", t[0])
			}
			flags = append(flags, t[0])
			continue
		default:
			continue
		}
		if t[0] == "ban" || t[0] == "unban" {
			if len(t) != 1 {
				return e, req, malformed("%s takes no value (a reason goes in a reason tag)", t[0])
			}
			continue
		}
		if len(t) < 2 {
			return e, req, malformed("%s tag has no value", t[0])
		}
		v := t[1]
		var err error
		switch t[0] {
		case "h":
			if !event.IsHex(v, 64) {
				err = errors.New("not a room id (64 hex)")
			}
			e.Room = v
		case "prev":
			if !event.IsHex(v, 64) {
				err = errors.New("not an event id (64 hex)")
			}
			e.Prev = v
		case "seq":
			e.Seq, err = parseCount(v)
		case "lamport":
			e.Lamport, err = parseCount(v)
		case "p":
			if !event.IsHex(v, 64) {
				err = errors.New("not a pubkey (64 hex)")
			}
			pTag = t
		case "name":
			if len(v) > MaxName {
				err = fmt.Errorf("over %d bytes", MaxName)
			}
			a.Policy.Name = &v
		case "about", "picture", "reason":
			if len(v) > MaxText {
				err = fmt.Errorf("over %d bytes", MaxText)
			}
			switch t[0] {
			case "about":
				a.Policy.About = &v
			case "picture":
				a.Policy.Picture = &v
			default:
				a.Reason = v
			}
		case "code":
			err = checkCode(v)
			a.Code = v
		case "request":
			if len(v) > MaxRequestJSON {
				err = fmt.Errorf("over %d bytes", MaxRequestJSON)
			}
			req = v
		case "nonce":
			if !event.IsHex(v, 32) {
				err = errors.New("not 16 bytes of hex")
			}
		case "channel":
			// ["channel", id, name] or ["channel", id, name, "archived"]
			if len(t) != 3 && (len(t) != 4 || t[3] != "archived") {
				err = errors.New(`want ["channel", id, name] or ["channel", id, name, "archived"]`)
			} else {
				err = CheckChannel(v, t[2])
			}
			a.Channel, a.Archived = v, len(t) == 4
			if len(t) > 2 {
				a.ChannelName = t[2]
			}
		case "sequencer":
			// ["sequencer", minutes] or ["sequencer", "off"]
			var w time.Duration
			if v != "off" {
				var m uint64
				m, err = parseCount(v)
				w = time.Duration(m) * time.Minute
				if err == nil && (m == 0 || w > MaxSequencerWait) {
					err = fmt.Errorf("minutes 1..%d, or off", int(MaxSequencerWait/time.Minute))
				}
			}
			a.Wait = &w
		case "role":
			// ["role", name, capabilities, rank]
			if len(t) != 4 {
				err = errors.New("want [\"role\", name, capabilities, rank]")
				break
			}
			a.Role = v
			if err = checkRoleName(v); err != nil {
				break
			}
			if a.Caps, err = ParseCaps(t[2]); err != nil {
				break
			}
			var r int64
			r, err = strconv.ParseInt(t[3], 10, 32)
			if err == nil && (r < 1 || r >= RankOwner) {
				err = fmt.Errorf("rank must be 1..%d", RankOwner-1)
			}
			a.Rank = int(r)
		}
		if err != nil {
			return e, req, malformed("%s: %v", t[0], err)
		}
	}
	if !seen["h"] {
		return e, req, malformed("no h tag (the room id)")
	}
	if seen["channel"] && e.Kind != KindEditMeta {
		return e, req, malformed("a channel tag belongs on kind 9002")
	}
	if seen["sequencer"] != (e.Kind == KindSequence) && (e.Kind != KindSequence || len(a.Acks) == 0) {
		return e, req, malformed("a sequence entry (kind 9018) takes a sequencer tag or e tags, and only it takes a sequencer tag")
	}
	policy := len(flags) > 0 || seen["name"] || seen["about"] || seen["picture"]
	if e.Kind == KindCreate {
		if chainless || req != "" {
			return e, req, malformed("a room is created with a genesis of cairn's shape (name, nonce, the derived id)")
		}
		if seen["prev"] || seen["seq"] && e.Seq != 0 || seen["lamport"] && e.Lamport != 0 {
			return e, req, malformed("a genesis has no prev, seq 0 and lamport 0")
		}
		if !seen["name"] || !seen["nonce"] {
			return e, req, malformed("a genesis needs name and nonce")
		}
		if pTag != nil || seen["role"] || seen["ban"] || seen["unban"] || seen["code"] {
			return e, req, malformed("a genesis takes no p, role, ban, unban or code")
		}
		if RoomID(mustHex32(e.Author), *a.Policy.Name, nonceOf(ev)) != e.Room {
			return e, req, malformed("h is not the room id of this creator, name and nonce")
		}
		a.Op = OpGenesis
		return e, req, applyFlags(a, flags)
	}
	switch {
	case chainless && (seen["prev"] || seen["seq"] || seen["lamport"] || req != ""):
		return e, req, malformed("a request carries none of prev, seq, lamport and request")
	case chainless:
	case !seen["prev"] && !seen["seq"] && !seen["lamport"] && e.Kind != KindSequence:
		return e, req, ErrUnplaced
	case !seen["prev"] || !seen["seq"] || !seen["lamport"]:
		return e, req, malformed("an entry needs prev, seq and lamport")
	case e.Seq == 0 || e.Lamport == 0:
		return e, req, malformed("seq and lamport of an entry start at 1")
	}
	if e.Kind == KindSequence {
		if req != "" || pTag != nil || policy || seen["role"] || seen["ban"] || seen["unban"] || seen["code"] {
			return e, req, malformed("a sequence entry takes only sequencer and e tags, and is never placed")
		}
		a.Op = OpSequence
		return e, req, nil
	}
	if seen["code"] != (e.Kind == KindInvite) {
		return e, req, malformed("an invite (kind 9009) takes a code tag, and only an invite does")
	}
	switch e.Kind {
	case KindInvite:
		if pTag != nil || policy || seen["role"] || seen["ban"] || seen["unban"] {
			return e, req, malformed("an invite takes only a code")
		}
		a.Op = OpInvite
		return e, req, nil
	case KindPutUser, KindRemoveUser:
		if pTag == nil || policy || seen["role"] {
			return e, req, malformed("kind %d takes one p tag and no metadata or role tag", e.Kind)
		}
		a.Target = pTag[1]
		if e.Kind == KindPutUser {
			if seen["ban"] || seen["unban"] {
				return e, req, malformed("ban and unban belong on kind 9001")
			}
			// NIP-29: ["p", pubkey, role...]; cairn takes exactly one role
			// (a request without one asks for member).
			if chainless && len(pTag) == 2 {
				pTag = append(pTag, RoleMember)
			}
			if len(pTag) != 3 {
				return e, req, malformed("put-user needs [\"p\", pubkey, role] with one role")
			}
			a.Op, a.Role = OpGrant, pTag[2]
			if err := checkRoleName(a.Role); err != nil {
				return e, req, malformed("p: role: %v", err)
			}
			if a.Role == RoleBanned {
				return e, req, malformed("ban with kind 9001 and a ban tag, not a role")
			}
			return e, req, nil
		}
		switch {
		case seen["ban"] && seen["unban"]:
			return e, req, malformed("ban and unban together")
		case seen["ban"]:
			a.Op = OpBan
		case seen["unban"]:
			a.Op = OpUnban
		default:
			a.Op = OpRevoke
		}
		return e, req, nil
	default: // KindEditMeta
		if pTag != nil || seen["ban"] || seen["unban"] {
			return e, req, malformed("edit-metadata takes no p, ban or unban")
		}
		if seen["channel"] {
			if policy || seen["role"] {
				return e, req, malformed("a channel definition changes nothing else")
			}
			a.Op = OpChannel
			return e, req, nil
		}
		if seen["role"] {
			if policy {
				return e, req, malformed("a role definition changes nothing else")
			}
			a.Op = OpDefineRole
			return e, req, nil
		}
		if !policy {
			return e, req, malformed("edit-metadata changes nothing")
		}
		a.Op = OpSetPolicy
		return e, req, applyFlags(a, flags)
	}
}

func applyFlags(a *Action, flags []string) error {
	set := func(p **bool, v bool, name string) error {
		if *p != nil {
			return malformed("flag %s contradicts or repeats another", name)
		}
		*p = &v
		return nil
	}
	for _, f := range flags {
		var err error
		switch f {
		case "open":
			err = set(&a.Policy.JoinOpen, true, f)
		case "closed":
			err = set(&a.Policy.JoinOpen, false, f)
		case "public":
			err = set(&a.Policy.Public, true, f)
		case "private":
			err = set(&a.Policy.Public, false, f)
		case "unrestricted":
			err = set(&a.Policy.Open, true, f)
		case "restricted":
			err = set(&a.Policy.Open, false, f)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func parseCount(s string) (uint64, error) {
	if s == "" || len(s) > 1 && s[0] == '0' || len(s) > 15 {
		return 0, errors.New("want a decimal count without leading zeros")
	}
	return strconv.ParseUint(s, 10, 64)
}

func checkCode(s string) error {
	if s == "" || len(s) > MaxCode {
		return fmt.Errorf("1 to %d characters", MaxCode)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return errors.New("only A-Z, a-z, 0-9, - and _")
		}
	}
	return nil
}

func checkRoleName(s string) error {
	if s == "" || len(s) > MaxRoleName {
		return fmt.Errorf("1 to %d characters", MaxRoleName)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return errors.New("only a-z, 0-9, - and _")
		}
	}
	return nil
}

func mustHex32(s string) [32]byte {
	b, _ := event.ParseHex32(s)
	return b
}

func nonceOf(ev *nostr.Event) [16]byte {
	var n [16]byte
	if t := ev.Tags.Find("nonce"); t != nil {
		hex.Decode(n[:], []byte(t[1]))
	}
	return n
}

// Genesis is the unsigned kind 9007 that creates a room named name. The
// creator signs it; its h is RoomID(creator, name, nonce).
func Genesis(creator, name string, nonce [16]byte, now time.Time) *nostr.Event {
	id := RoomID(mustHex32(creator), name, nonce)
	return &nostr.Event{
		Kind: KindCreate, CreatedAt: nostr.Timestamp(now.Unix()), PubKey: creator,
		Tags: nostr.Tags{
			{"h", id}, {"name", name}, {"nonce", hex.EncodeToString(nonce[:])},
			{"seq", "0"}, {"lamport", "0"},
		},
		Content: "",
	}
}

// Point is where a new entry attaches: the entry it extends and the seq
// and Lamport time it takes.
type Point struct {
	Prev    string `json:"prev"`
	Seq     uint64 `json:"seq"`
	Lamport uint64 `json:"lamport"`
}

// NewEntry is the unsigned log entry doing a in room, attached at p (a
// replayed log's Tip).
func NewEntry(room string, p Point, a Action, now time.Time) *nostr.Event {
	tags := nostr.Tags{{"h", room}, {"prev", p.Prev},
		{"seq", strconv.FormatUint(p.Seq, 10)}, {"lamport", strconv.FormatUint(p.Lamport, 10)}}
	kind := KindEditMeta
	switch a.Op {
	case OpGrant:
		kind = KindPutUser
		tags = append(tags, nostr.Tag{"p", a.Target, a.Role})
	case OpRevoke, OpBan, OpUnban:
		kind = KindRemoveUser
		tags = append(tags, nostr.Tag{"p", a.Target})
		if a.Op == OpBan {
			tags = append(tags, nostr.Tag{"ban"})
		} else if a.Op == OpUnban {
			tags = append(tags, nostr.Tag{"unban"})
		}
	case OpDefineRole:
		tags = append(tags, nostr.Tag{"role", a.Role, a.Caps.String(), strconv.Itoa(a.Rank)})
	case OpInvite:
		kind = KindInvite
		tags = append(tags, nostr.Tag{"code", a.Code})
	case OpChannel:
		t := nostr.Tag{"channel", a.Channel, a.ChannelName}
		if a.Archived {
			t = append(t, "archived")
		}
		tags = append(tags, t)
	case OpSequence:
		kind = KindSequence
		if a.Wait != nil {
			v := "off"
			if *a.Wait > 0 {
				v = strconv.FormatInt(int64((*a.Wait+time.Minute-1)/time.Minute), 10)
			}
			tags = append(tags, nostr.Tag{"sequencer", v})
		}
		for _, id := range a.Acks {
			tags = append(tags, nostr.Tag{"e", id})
		}
	case OpSetPolicy:
		c := a.Policy
		for _, kv := range []struct {
			k string
			v *string
		}{{"name", c.Name}, {"about", c.About}, {"picture", c.Picture}} {
			if kv.v != nil {
				tags = append(tags, nostr.Tag{kv.k, *kv.v})
			}
		}
		for _, f := range []struct {
			v       *bool
			yes, no string
		}{{c.Open, "unrestricted", "restricted"}, {c.Public, "public", "private"}, {c.JoinOpen, "open", "closed"}} {
			if f.v != nil {
				if *f.v {
					tags = append(tags, nostr.Tag{f.yes})
				} else {
					tags = append(tags, nostr.Tag{f.no})
				}
			}
		}
	}
	if a.Reason != "" {
		tags = append(tags, nostr.Tag{"reason", a.Reason})
	}
	return &nostr.Event{Kind: kind, CreatedAt: nostr.Timestamp(now.Unix()), Tags: tags, Content: ""}
}

// sortedKeys returns m's keys in order (deterministic output).
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

package room

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/event"
)

// Requests and placements: how a client that writes no chain tags (any
// NIP-29 client) acts on a room. It sends a request (a join or leave
// request, or a moderation event of kind 9000-9002 without prev, seq and
// lamport); the host it sent it to places it: signs an entry at the tip of
// its log doing what the request asks, with the request embedded whole in
// a request tag (as NIP-57's zap receipt embeds its zap request). Replay
// checks the request's signature and its signer's capability, never the
// host's: the host chooses only the position, and every peer verifies the
// chain as for any entry.

// Refusals of a request by Place. ErrBanned and ErrNotMember (check.go)
// are used too.
var (
	// ErrMember: a join request from a member (NIP-29: "duplicate:").
	ErrMember = errors.New("already a member of this room")
	// ErrClosed: a join request to a closed room; it is kept for the
	// moderators, who add the user with a put-user if they will.
	ErrClosed = errors.New("the room is closed to join requests: the request waits for a moderator")
	// ErrStale: a request dated too long before its placement.
	ErrStale = errors.New("the request is dated more than 10 minutes ago: send a fresh one")
	// ErrNotRequest: an event that is no request a host places.
	ErrNotRequest = errors.New("not a request a room's host places (kinds 9021, 9022, or 9000-9002 and 9009 without prev, seq and lamport)")
	// ErrBadCode: a join request whose invite code admits no one.
	ErrBadCode = errors.New("the invite code is not valid here (unknown, or its maker may no longer invite)")
)

// IsRequest reports whether ev is a request for a host to place: a join
// or leave request, or a log kind other than the genesis carrying none of
// prev, seq and lamport.
func IsRequest(ev *nostr.Event) bool {
	switch ev.Kind {
	case KindJoinRequest, KindLeaveRequest:
		return true
	case KindPutUser, KindRemoveUser, KindEditMeta, KindInvite:
		return ev.Tags.Find("prev") == nil && ev.Tags.Find("seq") == nil && ev.Tags.Find("lamport") == nil
	}
	return false
}

// RequestAction is the action a request asks for: a join request GRANTs
// its signer the member role, a leave request REVOKEs its signer, a
// chain-less 9000-9002 does what its tags say (put-user with no role:
// member).
func RequestAction(req *nostr.Event) (Action, error) {
	switch req.Kind {
	case KindJoinRequest:
		return Grant(req.PubKey, RoleMember), nil
	case KindLeaveRequest:
		return Revoke(req.PubKey), nil
	case KindPutUser, KindRemoveUser, KindEditMeta, KindInvite:
		if len(req.Tags) > MaxTags {
			return Action{}, malformed("%d tags, at most %d", len(req.Tags), MaxTags)
		}
		e, _, err := decodeTags(Entry{Kind: req.Kind, Author: req.PubKey}, req, true)
		return e.Action, err
	}
	return Action{}, ErrNotRequest
}

// placed checks the request a placement carries and makes the entry its
// request's: the request verifies, is of this room, is dated within
// MaxPlaceDelay before (MaxSkew after) the placement, and asks for
// exactly the placement's action.
func placed(e Entry, raw string) (Entry, error) {
	if e.Kind == KindCreate {
		return e, malformed("a genesis is not placed")
	}
	req, err := event.Decode([]byte(raw))
	if err != nil {
		return e, malformed("request: %v", err)
	}
	if err := event.Verify(req); err != nil {
		return e, fmt.Errorf("%w: request: %v", ErrForged, err)
	}
	if h := req.Tags.Find("h"); h == nil || h[1] != e.Room {
		return e, fmt.Errorf("%w: the request is not of this room", ErrWrongRoom)
	}
	if d := time.Duration(e.CreatedAt-int64(req.CreatedAt)) * time.Second; d > MaxPlaceDelay || d < -MaxSkew {
		return e, malformed("request dated %s before its placement (at most %s)", d, MaxPlaceDelay)
	}
	want, err := RequestAction(req)
	if err != nil {
		return e, fmt.Errorf("request: %w", err)
	}
	if want.key() != e.Action.key() {
		return e, malformed("the placement does not do what its request asks")
	}
	code, err := joinCode(req)
	if err != nil {
		return e, err
	}
	e.Placer, e.Author, e.Request, e.Via, e.Code = e.Author, req.PubKey, req, req.Kind, code
	return e, nil
}

// joinCode is the invite code a join request carries ("" for none).
func joinCode(req *nostr.Event) (string, error) {
	t := req.Tags.Find("code")
	if req.Kind != KindJoinRequest || t == nil {
		return "", nil
	}
	if err := checkCode(t[1]); err != nil {
		return "", malformed("request: code: %v", err)
	}
	return t[1], nil
}

// key renders what an action does (not its reason) for comparison.
func (a Action) key() string {
	str := func(p *string) string {
		if p == nil {
			return "-"
		}
		return strconv.Quote(*p)
	}
	bl := func(p *bool) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatBool(*p)
	}
	c := a.Policy
	return fmt.Sprint(a.Op, " ", a.Target, " ", a.Role, " ", uint64(a.Caps), " ", a.Rank, " ", strconv.Quote(a.Code), " ",
		str(c.Name), str(c.About), str(c.Picture), bl(c.Open), bl(c.Public), bl(c.JoinOpen), " ",
		a.Channel, " ", strconv.Quote(a.ChannelName), " ", a.Archived)
}

// Place answers a request sent to the host of the log's room. It returns
// the unsigned placement (the entry doing what req asks, at the log's Tip,
// dated now, req embedded) for the host to sign and publish, or why the
// request is refused: ErrMember, ErrClosed (keep the request: moderators
// read it), ErrBanned, ErrNotMember (leaving a room one is not in),
// ErrReused, ErrStale, ErrDenied, ErrNotRoom, ErrNotRequest, ErrMalformed,
// ErrForged. The host should still replay the signed placement before
// publishing it, as for any entry.
func (l *Log) Place(req *nostr.Event, now time.Time) (*nostr.Event, error) {
	if !IsRequest(req) {
		return nil, ErrNotRequest
	}
	if err := event.Verify(req); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrForged, err)
	}
	if h := req.Tags.Find("h"); h == nil || h[1] != l.Room {
		return nil, ErrNotRoom
	}
	if d := now.Sub(req.CreatedAt.Time()); d > MaxPlaceDelay {
		return nil, ErrStale
	}
	a, err := RequestAction(req)
	if err != nil {
		return nil, err
	}
	for _, e := range l.Order {
		if e.Request != nil && e.Request.ID == req.ID && (l.why[e.ID] == nil || errors.Is(l.why[e.ID], ErrPending)) {
			return nil, ErrReused // applied, or placed and waiting for the creator
		}
	}
	s := l.State
	code, err := joinCode(req)
	if err != nil {
		return nil, err
	}
	switch req.Kind {
	case KindJoinRequest:
		switch {
		case s.Banned(req.PubKey):
			return nil, ErrBanned
		case s.Member(req.PubKey):
			return nil, ErrMember
		case code != "" && !s.ValidCode(code) && !s.Policy.JoinOpen:
			return nil, ErrBadCode
		case !s.Policy.JoinOpen && code == "":
			return nil, ErrClosed
		}
	case KindLeaveRequest:
		if !s.Member(req.PubKey) {
			return nil, fmt.Errorf("%w: not a member: nothing to leave", ErrDenied)
		}
	}
	if err := s.authorize(Entry{Author: req.PubKey, Via: req.Kind, Action: a, Code: code}); err != nil {
		return nil, err
	}
	raw, err := req.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(raw) > MaxRequestJSON {
		return nil, malformed("the request is over %d bytes", MaxRequestJSON)
	}
	ev := NewEntry(l.Room, l.Tip(), a, now)
	if a.Reason == "" && req.Content != "" && len(req.Content) <= MaxText {
		ev.Tags = append(ev.Tags, nostr.Tag{"reason", req.Content}) // NIP-29 puts the reason in the content
	}
	ev.Tags = append(ev.Tags, nostr.Tag{"request", string(raw)})
	return ev, nil
}

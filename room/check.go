package room

import (
	"errors"
	"fmt"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/event"
)

// Refusals of room messages. Their text follows a NIP-01 prefix when it
// reaches a client ("blocked: ", "restricted: ").
var (
	ErrNotRoom    = errors.New("the event carries no h tag of this room")
	ErrBanned     = errors.New("the author is banned from this room")
	ErrNotMember  = errors.New("only members post in this room: ask a moderator for an invite")
	ErrNotAllowed = errors.New("only the author or a holder of the delete capability may delete an event")
	ErrNoChannel  = errors.New("the room has no open channel of that id (see the room's channels)")
	ErrLogKind    = errors.New("kinds 9000-9020 are moderation, not messages; a cairn room takes 9000-9002 and 9009 (as log entries or requests) and 9005, not this kind")
)

// MayPost says whether ev (a kind 9 chat message or any other event of the
// room) may be posted: it verifies, carries this room's h, names (in a
// channel tag) an open channel of the room if any, its author is not
// banned and, unless the room is open (unrestricted), is a member.
// Moderation kinds (9000-9020) are refused here; a 9005 deletion is
// judged by MayDelete, the log's kinds by Replay.
func (s *State) MayPost(ev *nostr.Event) error {
	if err := event.Verify(ev); err != nil {
		return err
	}
	if h := ev.Tags.Find("h"); h == nil || h[1] != s.Room {
		return ErrNotRoom
	}
	if ev.Kind >= 9000 && ev.Kind <= 9020 {
		return ErrLogKind
	}
	if t := ev.Tags.Find("channel"); t != nil {
		if ch, ok := s.Channels[t[1]]; !ok || ch.Archived {
			return fmt.Errorf("%w: %q", ErrNoChannel, t[1])
		}
	}
	return s.mayWrite(ev.PubKey)
}

func (s *State) mayWrite(pubkey string) error {
	switch {
	case s.Banned(pubkey):
		return ErrBanned
	case !s.Policy.Open && !s.Member(pubkey):
		return ErrNotMember
	}
	return nil
}

// MayDelete says whether the kind 9005 del may delete the events its e
// tags name: each must be the deleter's own or the deleter must hold
// CanDelete. authorOf gives the author of an event of the room (ok false
// if unknown: then only a holder of CanDelete may delete it).
func (s *State) MayDelete(del *nostr.Event, authorOf func(id string) (pubkey string, ok bool)) error {
	if err := event.Verify(del); err != nil {
		return err
	}
	if del.Kind != KindDelete {
		return fmt.Errorf("kind %d is not a deletion (9005)", del.Kind)
	}
	if h := del.Tags.Find("h"); h == nil || h[1] != s.Room {
		return ErrNotRoom
	}
	if s.Banned(del.PubKey) {
		return ErrBanned
	}
	n := 0
	for _, t := range del.Tags {
		if t[0] != "e" {
			continue
		}
		if len(t) < 2 || !event.IsHex(t[1], 64) {
			return fmt.Errorf("%w: e tag is not an event id", ErrMalformed)
		}
		n++
		if s.Can(del.PubKey, CanDelete) {
			continue
		}
		if author, ok := authorOf(t[1]); !ok || author != del.PubKey {
			return ErrNotAllowed
		}
	}
	if n == 0 {
		return fmt.Errorf("%w: a deletion names its events in e tags", ErrMalformed)
	}
	return nil
}

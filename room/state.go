package room

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Caps is a bitmask of capabilities.
type Caps uint64

// The capabilities. Their names (the strings of a role tag) are fixed;
// new ones are appended, never renumbered.
const (
	CanBan            Caps = 1 << iota // BAN, UNBAN, and REVOKE of a plain member
	CanDelete                          // delete others' messages (kind 9005)
	CanInvite                          // GRANT the member role
	CanPin                             // pin messages (later parts)
	CanMute                            // mute members (later parts)
	CanManageChannels                  // CHANNEL: define, rename, archive text channels
	CanManageRoles                     // DEFINE_ROLE, GRANT and REVOKE of any role below one's rank
	CanSetPolicy                       // SET_POLICY: metadata and flags

	capCount = iota
	AllCaps  = Caps(1)<<capCount - 1
)

var capNames = [capCount]string{"ban", "delete", "invite", "pin", "mute", "manage-channels", "manage-roles", "set-policy"}

// String is the role tag's form: names joined by commas, "" for none.
func (c Caps) String() string {
	var names []string
	for i, n := range capNames {
		if c&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	return strings.Join(names, ",")
}

// ParseCaps reads String's form; an unknown name is an error.
func ParseCaps(s string) (Caps, error) {
	var c Caps
	if s == "" {
		return 0, nil
	}
next:
	for _, n := range strings.Split(s, ",") {
		for i, known := range capNames {
			if n == known {
				if c&(1<<i) != 0 {
					return 0, fmt.Errorf("capability %q twice", n)
				}
				c |= 1 << i
				continue next
			}
		}
		return 0, fmt.Errorf("unknown capability %q", n)
	}
	return c, nil
}

// The static roles and their ranks. A signer acts only on users of a
// lower rank and grants or defines only roles of a lower rank and of no
// capability it does not hold itself.
const (
	RoleOwner  = "owner"
	RoleMod    = "mod"
	RoleMember = "member"
	RoleBanned = "banned"

	RankOwner  = 1000
	RankMod    = 500
	RankMember = 100
)

// Role is a capability bundle with a rank.
type Role struct {
	Name string
	Caps Caps
	Rank int
}

var staticRoles = map[string]Role{
	RoleOwner:  {RoleOwner, AllCaps, RankOwner},
	RoleMod:    {RoleMod, CanBan | CanDelete | CanInvite | CanPin | CanMute, RankMod},
	RoleMember: {RoleMember, 0, RankMember},
	RoleBanned: {RoleBanned, 0, 0},
}

// State is the access-control state after some prefix of the log.
type State struct {
	Room    string
	Creator string
	Policy  Policy
	// Users maps a pubkey to its role's name; banned users map to
	// "banned"; a user with no entry has no role (not a member).
	Users map[string]string
	// Roles are the user-defined roles.
	Roles map[string]Role
	// Invites maps an invite code to the pubkey that made it; a join
	// request carrying it admits its signer while that pubkey holds
	// invite.
	Invites map[string]string
	// Sequencer is how long the creator must be absent before others'
	// entries take effect alone; 0 is off (see Replay).
	Sequencer time.Duration
	// Channels are the room's text channels by id; "general" always
	// exists (a message without a channel tag is in it).
	Channels map[string]Channel
}

// Channel is a text channel of a room.
type Channel struct {
	Name     string
	Archived bool // closed to new messages
}

// GeneralChannel is the channel of messages that name none; it exists in
// every room and cannot be archived.
const GeneralChannel = "general"

func newState(g Entry) *State {
	s := &State{Room: g.Room, Creator: g.Author, Users: map[string]string{g.Author: RoleOwner}, Roles: map[string]Role{}, Invites: map[string]string{},
		Channels: map[string]Channel{GeneralChannel: {Name: GeneralChannel}}}
	s.setPolicy(g.Action.Policy)
	return s
}

func (s *State) clone() *State {
	c := *s
	c.Users = make(map[string]string, len(s.Users))
	for k, v := range s.Users {
		c.Users[k] = v
	}
	c.Roles = make(map[string]Role, len(s.Roles))
	for k, v := range s.Roles {
		c.Roles[k] = v
	}
	c.Invites = make(map[string]string, len(s.Invites))
	for k, v := range s.Invites {
		c.Invites[k] = v
	}
	c.Channels = make(map[string]Channel, len(s.Channels))
	for k, v := range s.Channels {
		c.Channels[k] = v
	}
	return &c
}

// Role is the role pubkey holds; ok is false for none.
func (s *State) Role(pubkey string) (r Role, ok bool) {
	name, ok := s.Users[pubkey]
	if !ok {
		return Role{}, false
	}
	return s.role(name)
}

func (s *State) role(name string) (Role, bool) {
	if r, ok := staticRoles[name]; ok {
		return r, true
	}
	r, ok := s.Roles[name]
	return r, ok
}

// Can reports whether pubkey holds every capability of c.
func (s *State) Can(pubkey string, c Caps) bool {
	r, ok := s.Role(pubkey)
	return ok && r.Caps&c == c
}

// Member reports whether pubkey holds a role other than banned.
func (s *State) Member(pubkey string) bool {
	n, ok := s.Users[pubkey]
	return ok && n != RoleBanned
}

// Banned reports whether pubkey is banned.
func (s *State) Banned(pubkey string) bool { return s.Users[pubkey] == RoleBanned }

func (s *State) rank(pubkey string) int {
	r, _ := s.Role(pubkey)
	return r.Rank // none and banned: 0
}

func (s *State) setPolicy(c PolicyChange) {
	p := &s.Policy
	for _, f := range []struct {
		dst *string
		src *string
	}{{&p.Name, c.Name}, {&p.About, c.About}, {&p.Picture, c.Picture}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	for _, f := range []struct {
		dst *bool
		src *bool
	}{{&p.Open, c.Open}, {&p.Public, c.Public}, {&p.JoinOpen, c.JoinOpen}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
}

var errNoRole = errors.New("no such role")

// authorize says whether e's signer may do e's action in s (nil if so).
func (s *State) authorize(e Entry) error {
	a, by := e.Action, e.Author
	me, _ := s.Role(by)
	deny := func(format string, v ...any) error {
		return fmt.Errorf("%w: %s", ErrDenied, fmt.Sprintf(format, v...))
	}
	if s.Banned(by) {
		return deny("the signer is banned")
	}
	// A join request (placed by a host): its signer joins an open room,
	// or a closed one with a valid invite code.
	if e.Via == KindJoinRequest {
		switch {
		case s.Member(by):
			return deny("already a member")
		case s.ValidCode(e.Code):
			return nil
		case !s.Policy.JoinOpen:
			return deny("the room is closed to join requests (and the request carries no valid invite code)")
		}
		return nil
	}
	// Acting on a user: only below one's rank; the creator is never acted
	// on; leaving (revoking oneself) is always allowed.
	target := func() error {
		if a.Target == s.Creator {
			return deny("the creator's role cannot change")
		}
		if s.rank(a.Target) >= me.Rank {
			return deny("the target's rank (%d) is not below the signer's (%d)", s.rank(a.Target), me.Rank)
		}
		return nil
	}
	switch a.Op {
	case OpGrant:
		r, ok := s.role(a.Role)
		if !ok {
			return fmt.Errorf("%w: %q: %v", ErrDenied, a.Role, errNoRole)
		}
		need := CanManageRoles
		if a.Role == RoleMember {
			need = CanInvite
		}
		if me.Caps&need != need {
			return deny("granting %s needs %s", a.Role, need)
		}
		if r.Rank >= me.Rank || r.Caps&^me.Caps != 0 {
			return deny("role %s is not below the signer's", a.Role)
		}
		if s.Banned(a.Target) {
			return deny("the target is banned (unban first)")
		}
		return target()
	case OpRevoke:
		if a.Target == by && by != s.Creator {
			return nil // leaving
		}
		if !s.Member(a.Target) {
			return deny("the target holds no role")
		}
		need := CanManageRoles
		if s.Users[a.Target] == RoleMember && me.Caps&CanBan != 0 {
			need = CanBan
		}
		if me.Caps&need != need {
			return deny("revoking %s needs %s", s.Users[a.Target], need)
		}
		return target()
	case OpBan:
		if me.Caps&CanBan == 0 {
			return deny("banning needs ban")
		}
		if s.Banned(a.Target) {
			return deny("already banned")
		}
		return target()
	case OpUnban:
		if me.Caps&CanBan == 0 {
			return deny("unbanning needs ban")
		}
		if !s.Banned(a.Target) {
			return deny("not banned")
		}
		return nil
	case OpSetPolicy:
		if me.Caps&CanSetPolicy == 0 {
			return deny("changing the policy needs set-policy")
		}
		return nil
	case OpInvite:
		if me.Caps&CanInvite == 0 {
			return deny("making invites needs invite")
		}
		if _, taken := s.Invites[a.Code]; taken {
			return deny("the code is taken")
		}
		return nil
	case OpChannel:
		if me.Caps&CanManageChannels == 0 {
			return deny("channels need manage-channels")
		}
		if a.Channel == GeneralChannel && a.Archived {
			return deny("the general channel cannot be archived")
		}
		return nil
	case OpSequence:
		if by != s.Creator {
			return deny("only the creator sequences the room")
		}
		return nil
	case OpDefineRole:
		if _, static := staticRoles[a.Role]; static {
			return deny("%s is a static role", a.Role)
		}
		if me.Caps&CanManageRoles == 0 {
			return deny("defining roles needs manage-roles")
		}
		if old, ok := s.Roles[a.Role]; ok && old.Rank >= me.Rank {
			return deny("role %s is not below the signer's", a.Role)
		}
		if a.Rank >= me.Rank || a.Caps&^me.Caps != 0 {
			return deny("the new role is not below the signer's")
		}
		return nil
	}
	return deny("%s is not an action", a.Op)
}

// apply applies an authorized action. It returns the pubkeys whose
// capabilities it reduced (for the concurrency rule of Replay).
func (s *State) apply(e Entry) (demoted []string) {
	a := e.Action
	before := func(pk string) Caps { r, _ := s.Role(pk); return r.Caps }
	switch a.Op {
	case OpGrant:
		old := before(a.Target)
		s.Users[a.Target] = a.Role
		if old&^before(a.Target) != 0 {
			demoted = append(demoted, a.Target)
		}
	case OpRevoke:
		if before(a.Target) != 0 {
			demoted = append(demoted, a.Target)
		}
		delete(s.Users, a.Target)
	case OpBan:
		demoted = append(demoted, a.Target) // a ban stops even posting
		s.Users[a.Target] = RoleBanned
	case OpUnban:
		delete(s.Users, a.Target)
	case OpSetPolicy:
		s.setPolicy(a.Policy)
	case OpInvite:
		s.Invites[a.Code] = e.Author
	case OpSequence:
		if a.Wait != nil {
			s.Sequencer = *a.Wait
		}
	case OpChannel:
		s.Channels[a.Channel] = Channel{Name: a.ChannelName, Archived: a.Archived}
	case OpDefineRole:
		old, existed := s.Roles[a.Role]
		s.Roles[a.Role] = Role{a.Role, a.Caps, a.Rank}
		if existed && old.Caps&^a.Caps != 0 {
			for _, pk := range sortedKeys(s.Users) {
				if s.Users[pk] == a.Role {
					demoted = append(demoted, pk)
				}
			}
		}
	}
	return demoted
}

// ValidCode reports whether code admits a joiner now: it was made by an
// INVITE whose signer still holds invite.
func (s *State) ValidCode(code string) bool {
	by, ok := s.Invites[code]
	return code != "" && ok && s.Can(by, CanInvite)
}

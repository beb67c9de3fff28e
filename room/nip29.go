package room

import (
	"sort"
	"time"

	"github.com/cairn-nostr/cairn/nostr"
)

// NIP-29's relay-signed group state: addressable events, d = the room id,
// signed by the hosting relay's key, derived from the replayed log so a
// client that speaks only NIP-29 sees the room's metadata, admins,
// members and roles.
const (
	KindGroupMetadata = 39000
	KindGroupAdmins   = 39001
	KindGroupMembers  = 39002
	KindGroupRoles    = 39003
)

// GroupState is the unsigned 39000-39003 of s at now.
func GroupState(s *State, now time.Time) []*nostr.Event {
	at := nostr.Timestamp(now.Unix())
	d := nostr.Tag{"d", s.Room}
	meta := nostr.Tags{d}
	for _, kv := range [][2]string{{"name", s.Policy.Name}, {"about", s.Policy.About}, {"picture", s.Policy.Picture}} {
		if kv[1] != "" {
			meta = append(meta, nostr.Tag{kv[0], kv[1]})
		}
	}
	if !s.Policy.Public {
		meta = append(meta, nostr.Tag{"private"})
	}
	if !s.Policy.Open {
		meta = append(meta, nostr.Tag{"restricted"})
	}
	if !s.Policy.JoinOpen {
		meta = append(meta, nostr.Tag{"closed"})
	}
	users := sortedKeys(s.Users)
	admins, members := nostr.Tags{d}, nostr.Tags{d}
	for _, pk := range users {
		name := s.Users[pk]
		if name == RoleBanned {
			continue
		}
		members = append(members, nostr.Tag{"p", pk})
		if r, ok := s.role(name); ok && r.Caps != 0 {
			admins = append(admins, nostr.Tag{"p", pk, name})
		}
	}
	roles := nostr.Tags{d}
	names := append(sortedKeys(staticRoles), sortedKeys(s.Roles)...)
	sort.Strings(names)
	for _, n := range names {
		r, _ := s.role(n)
		roles = append(roles, nostr.Tag{"role", n, r.Caps.String()})
	}
	mk := func(kind int, tags nostr.Tags) *nostr.Event {
		return &nostr.Event{Kind: kind, CreatedAt: at, Tags: tags, Content: ""}
	}
	return []*nostr.Event{mk(KindGroupMetadata, meta), mk(KindGroupAdmins, admins), mk(KindGroupMembers, members), mk(KindGroupRoles, roles)}
}

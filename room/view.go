package room

import (
	"sort"
	"time"
)

// View is a replayed log as an application shows it (the web app's rooms
// screen, through the browser core): the room's policy, its users with
// their roles, the tip to build on, and each entry with its outcome. JSON
// field names are the browser core's API (wasm/README.md).
type View struct {
	Room     string `json:"room"`
	Name     string `json:"name"`
	About    string `json:"about"`
	Picture  string `json:"picture"`
	Creator  string `json:"creator"`
	Open     bool   `json:"unrestricted"` // anyone not banned posts
	JoinOpen bool   `json:"open"`         // join requests honoured
	Public   bool   `json:"public"`
	// Sequencer is sequencer mode's absence delay in minutes (0: off).
	Sequencer int `json:"sequencer_minutes"`
	// Pending are the entries that wait for the creator's countersignature.
	Pending []string `json:"pending"`
	// Channels are the room's text channels, general first, then by id.
	Channels []ViewChannel `json:"channels"`
	// Users holding a role (banned ones too), highest rank first.
	Users   []ViewUser  `json:"users"`
	Tip     Point       `json:"tip"`
	Entries []ViewEntry `json:"entries"`
	// Rejected counts the events refused (in the chain or not).
	Rejected int `json:"rejected"`
}

// ViewChannel is a text channel.
type ViewChannel struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Archived bool   `json:"archived,omitempty"`
}

// ViewUser is a user's role and capabilities.
type ViewUser struct {
	Pubkey string `json:"pubkey"`
	Role   string `json:"role"`
	Rank   int    `json:"rank"`
	Caps   string `json:"caps"` // Caps.String's form
}

// ViewEntry is one entry of the chain in replay order.
type ViewEntry struct {
	ID        string `json:"id"`
	Seq       uint64 `json:"seq"`
	Lamport   uint64 `json:"lamport"`
	CreatedAt int64  `json:"created_at"`
	Author    string `json:"author"`
	Placer    string `json:"placer,omitempty"`
	Op        string `json:"op"`
	Target    string `json:"target,omitempty"`
	Role      string `json:"role,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Error     string `json:"error,omitempty"` // why it did not take effect
}

// View describes l.
func (l *Log) View() View {
	s := l.State
	p := s.Policy
	v := View{Room: l.Room, Name: p.Name, About: p.About, Picture: p.Picture, Creator: s.Creator,
		Open: p.Open, JoinOpen: p.JoinOpen, Public: p.Public, Tip: l.Tip(), Rejected: len(l.Rejected),
		Sequencer: int(s.Sequencer / time.Minute), Pending: append([]string{}, l.Pending()...),
		Users: []ViewUser{}, Entries: []ViewEntry{}}
	v.Channels = []ViewChannel{{ID: GeneralChannel, Name: s.Channels[GeneralChannel].Name}}
	for _, id := range sortedKeys(s.Channels) {
		if c := s.Channels[id]; id != GeneralChannel {
			v.Channels = append(v.Channels, ViewChannel{ID: id, Name: c.Name, Archived: c.Archived})
		}
	}
	for _, pk := range sortedKeys(s.Users) {
		r, _ := s.Role(pk)
		v.Users = append(v.Users, ViewUser{Pubkey: pk, Role: s.Users[pk], Rank: r.Rank, Caps: r.Caps.String()})
	}
	sort.SliceStable(v.Users, func(i, j int) bool { return v.Users[i].Rank > v.Users[j].Rank })
	for _, e := range append([]Entry{l.Genesis}, l.Order...) {
		ve := ViewEntry{ID: e.ID, Seq: e.Seq, Lamport: e.Lamport, CreatedAt: e.CreatedAt, Author: e.Author,
			Placer: e.Placer, Op: e.Action.Op.String(), Target: e.Action.Target, Role: e.Action.Role, Reason: e.Action.Reason}
		if err := l.Err(e.ID); err != nil {
			ve.Error = err.Error()
		}
		v.Entries = append(v.Entries, ve)
	}
	return v
}

package room

import (
	"fmt"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/event"
)

// Storage keeps the entries of rooms. Append adds one entry of room (the
// caller has not necessarily replayed it: Replay judges what Load
// returns); Load returns a room's entries in the order appended, none for
// an unknown room. Implementations: MemStorage here, room/logfile on disk.
type Storage interface {
	Append(room string, ev *nostr.Event) error
	Load(room string) ([]*nostr.Event, error)
}

// CheckRoomID refuses anything but 64 lowercase hex digits (so a room id
// is safe as a file name).
func CheckRoomID(room string) error {
	if !event.IsHex(room, 64) {
		return fmt.Errorf("room id %.70q is not 64 lowercase hex digits", room)
	}
	return nil
}

// MemStorage is Storage in memory. Not safe for concurrent use.
type MemStorage struct{ rooms map[string][]*nostr.Event }

// NewMemStorage returns an empty MemStorage.
func NewMemStorage() *MemStorage { return &MemStorage{rooms: map[string][]*nostr.Event{}} }

// Append stores a copy of ev.
func (m *MemStorage) Append(room string, ev *nostr.Event) error {
	if err := CheckRoomID(room); err != nil {
		return err
	}
	c := *ev
	c.Tags = append(nostr.Tags(nil), ev.Tags...)
	m.rooms[room] = append(m.rooms[room], &c)
	return nil
}

// Load returns the room's entries (copies of the pointers' slice).
func (m *MemStorage) Load(room string) ([]*nostr.Event, error) {
	if err := CheckRoomID(room); err != nil {
		return nil, err
	}
	return append([]*nostr.Event(nil), m.rooms[room]...), nil
}

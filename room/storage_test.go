package room_test

import (
	"testing"

	"github.com/cairn-nostr/cairn/room"
	"github.com/cairn-nostr/cairn/room/roomtest"
)

func TestMemStorage(t *testing.T) {
	roomtest.Storage(t, room.NewMemStorage())
}

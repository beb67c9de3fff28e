// Package roomtest holds what tests of room.Storage implementations
// share: a small signed log and the conformance test every implementation
// passes.
package roomtest

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/room"
)

// Key is the secret key of a test user, from a fixed seed.
func Key(name string) string {
	h := sha256.Sum256([]byte("cairn roomtest key " + name))
	return hex.EncodeToString(h[:])
}

// Log is a signed room of four entries by a fixed creator: genesis, a
// grant of mod, a ban, a policy change. Its entries are dated from
// 1,700,000,000 (Unix seconds) on.
func Log(t testing.TB) (roomID string, evs []*nostr.Event) {
	t.Helper()
	at := time.Unix(1_700_000_000, 0)
	owner, _ := nostr.GetPublicKey(Key("owner"))
	mod, _ := nostr.GetPublicKey(Key("mod"))
	other, _ := nostr.GetPublicKey(Key("other"))
	g := room.Genesis(owner, "roomtest", [16]byte{7}, at)
	if err := g.Sign(Key("owner")); err != nil {
		t.Fatal(err)
	}
	roomID = g.Tags.Find("h")[1]
	evs = append(evs, g)
	open := true
	for i, a := range []struct {
		by     string
		action room.Action
	}{
		{"owner", room.Grant(mod, room.RoleMod)},
		{"mod", room.Ban(other)},
		{"owner", room.SetPolicy(room.PolicyChange{Open: &open})},
	} {
		p := room.Point{Prev: evs[len(evs)-1].ID, Seq: uint64(i + 1), Lamport: uint64(i + 1)}
		ev := room.NewEntry(roomID, p, a.action, at.Add(time.Duration(i+1)*time.Second))
		if err := ev.Sign(Key(a.by)); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return roomID, evs
}

// Storage checks a room.Storage: an unknown room loads empty; entries load
// back in the order appended, equal to what was appended; rooms are kept
// apart; bad room ids are refused.
func Storage(t *testing.T, s room.Storage) {
	t.Helper()
	id, evs := Log(t)
	if got, err := s.Load(id); err != nil || len(got) != 0 {
		t.Fatalf("an unknown room: %d entries, %v", len(got), err)
	}
	for _, ev := range evs {
		if err := s.Append(id, ev); err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	other := "00" + id[2:]
	if err := s.Append(other, evs[0]); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(id)
	if err != nil || len(got) != len(evs) {
		t.Fatalf("load: %d entries, %v", len(got), err)
	}
	for i := range evs {
		if got[i].ID != evs[i].ID || got[i].Sig != evs[i].Sig || !got[i].CheckID() {
			t.Fatalf("entry %d changed in storage", i)
		}
	}
	if got, _ := s.Load(other); len(got) != 1 {
		t.Fatalf("rooms mixed: %d entries in the other", len(got))
	}
	for _, bad := range []string{"", "x", id[:63], id + "0", "../" + id[3:]} {
		if err := s.Append(bad, evs[0]); err == nil {
			t.Errorf("room id %q accepted", bad)
		}
	}
}

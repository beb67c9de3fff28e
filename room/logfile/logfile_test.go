package logfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/room"
	"github.com/cairn-nostr/cairn/room/roomtest"
)

func TestStorage(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "rooms"))
	if err != nil {
		t.Fatal(err)
	}
	roomtest.Storage(t, s)
}

// A line torn by a crash is not an entry, and the next Append cuts it off.
func TestTornLine(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	id, evs := roomtest.Log(t)
	for _, ev := range evs[:2] {
		if err := s.Append(id, ev); err != nil {
			t.Fatal(err)
		}
	}
	name := filepath.Join(dir, id+".jsonl")
	f, _ := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"id":"abc","pubkey`)
	f.Close()
	got, err := s.Load(id)
	if err != nil || len(got) != 2 {
		t.Fatalf("torn: %d entries, %v", len(got), err)
	}
	if err := s.Append(id, evs[2]); err != nil {
		t.Fatal(err)
	}
	s2, _ := Open(dir) // a restart
	got, err = s2.Load(id)
	if err != nil || len(got) != 3 || got[2].ID != evs[2].ID {
		t.Fatalf("after repair: %d entries, %v", len(got), err)
	}
	l, err := room.Replay(id, got, time.Unix(1_700_000_000, 0).Add(time.Hour))
	if err != nil || len(l.Rejected) != 0 {
		t.Fatalf("replay from disk: %v %v", err, l.Rejected)
	}
	// Corruption inside the file is reported, with the line.
	data, _ := os.ReadFile(name)
	os.WriteFile(name, []byte(strings.Replace(string(data), `"kind"`, `"kind`, 1)), 0o600)
	if _, err := s2.Load(id); err == nil || !strings.Contains(err.Error(), ".jsonl:1") {
		t.Fatalf("corrupt line: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	s, _ := Open(t.TempDir())
	if err := s.Append("../../etc/passwd", &nostr.Event{}); err == nil {
		t.Fatal("a path as a room id")
	}
	if _, err := s.Load("ABC"); err == nil {
		t.Fatal("a bad room id loaded")
	}
}

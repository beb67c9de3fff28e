// Package logfile is the on-disk room.Storage: one file per room,
// <dir>/<room id>.jsonl, each entry a line of JSON appended and fsync'd
// before Append returns. A line torn by a crash (the last one, without its
// newline) is ignored by Load and cut off by the next Append; any other
// line that does not decode is reported as corruption.
package logfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/room"
)

// Store keeps rooms' logs under a directory. Safe for concurrent use.
type Store struct {
	dir string
	mu  sync.Mutex
}

var _ room.Storage = (*Store)(nil)

// Open returns the store in dir, creating dir (0700) if need be.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the room log directory: %w", err)
	}
	return &Store{dir: dir}, nil
}

func (s *Store) path(roomID string) (string, error) {
	if err := room.CheckRoomID(roomID); err != nil {
		return "", err
	}
	return filepath.Join(s.dir, roomID+".jsonl"), nil
}

// Append writes ev as the room file's last line and fsyncs it (and the
// directory, when the file is new).
func (s *Store) Append(roomID string, ev *nostr.Event) error {
	name, err := s.path(roomID)
	if err != nil {
		return err
	}
	line, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encoding entry %.16s: %w", ev.ID, err)
	}
	if len(line) > room.MaxEntryJSON {
		return room.ErrTooLarge
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, statErr := os.Stat(name)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opening room log: %w", err)
	}
	defer f.Close()
	end, err := cutTornTail(f)
	if err != nil {
		return fmt.Errorf("repairing room log %s: %w", name, err)
	}
	if _, err := f.WriteAt(append(line, '\n'), end); err != nil {
		return fmt.Errorf("appending to room log: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing room log: %w", err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		if d, err := os.Open(s.dir); err == nil {
			d.Sync() // best effort: not every platform syncs directories
			d.Close()
		}
	}
	return nil
}

// cutTornTail truncates f after its last newline (a line without one was
// torn by a crash) and returns the size.
func cutTornTail(f *os.File) (int64, error) {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil || size == 0 {
		return size, err
	}
	buf := make([]byte, 4096)
	end := size
	for end > 0 {
		n := int64(len(buf))
		if n > end {
			n = end
		}
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			end = end - n + int64(i) + 1
			break
		}
		end -= n
	}
	if end != size {
		if err := f.Truncate(end); err != nil {
			return 0, err
		}
	}
	return end, nil
}

// Load returns the room's entries in the order appended; none for a room
// never written.
func (s *Store) Load(roomID string) ([]*nostr.Event, error) {
	name, err := s.path(roomID)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading room log: %w", err)
	}
	// A last line without its newline was torn by a crash: not an entry.
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	var out []*nostr.Event
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), room.MaxEntryJSON+1)
	for n := 1; sc.Scan(); n++ {
		ev, err := event.Decode(sc.Bytes())
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		out = append(out, ev)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

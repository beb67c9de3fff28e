package blobstore

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cairn-nostr/cairn/blobstore/index"
)

// The pins log is text, one change per line, appended and fsync'd by each
// Pin or Unpin that changes something:
//
//	# cairn blobstore pins v1
//	+ <64 hex hash> <reason>
//	- <64 hex hash> <reason>
//
// Open replays it (a malformed line, such as one torn by a crash mid-append,
// is skipped: its Pin had not returned) and rewrites it atomically with only
// the live pins ("+" lines). It is compacted the same way when it grows to
// several times the live pins.
const pinsHeader = "# cairn blobstore pins v1\n"

// compactMinLines is how many lines the pins log may hold beyond four times
// the live pins before it is compacted. A variable for tests.
var compactMinLines = 1024

// Pin protects the blob from eviction for reason; the pin is durable when
// Pin returns. A hash may be pinned before its blob is stored.
func (s *Store) Pin(hash [32]byte, reason string) error {
	return s.changePin(hash, reason, true)
}

// Unpin drops one reason; durable when Unpin returns.
func (s *Store) Unpin(hash [32]byte, reason string) error {
	return s.changePin(hash, reason, false)
}

// Pins returns the reasons the hash is pinned for, sorted; nil if none.
func (s *Store) Pins(hash [32]byte) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ix.Pins(hash)
}

func (s *Store) changePin(hash [32]byte, reason string, add bool) error {
	if err := index.CheckReason(reason); err != nil {
		return err
	}
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	has := s.ix.HasPin(hash, reason)
	s.mu.Unlock()
	if has == add {
		return nil
	}
	op := "-"
	if add {
		op = "+"
	}
	if err := s.appendPin(op + " " + hexHash(hash) + " " + reason + "\n"); err != nil {
		// The log may end in a partial line now: rewrite it from the
		// (unchanged) index so that later appends start on a clean line.
		_ = s.compactPins()
		return err
	}
	s.mu.Lock()
	if add {
		s.ix.Pin(hash, reason)
	} else {
		s.ix.Unpin(hash, reason)
	}
	live := s.ix.PinCount()
	s.mu.Unlock()
	if s.pinLines > 4*live+compactMinLines {
		_ = s.compactPins() // the change is durable already; the old log still works
	}
	return nil
}

func (s *Store) appendPin(line string) error {
	if _, err := s.pinLog.WriteString(line); err != nil {
		return fmt.Errorf("blobstore: writing pins log: %w", err)
	}
	if err := s.pinLog.Sync(); err != nil {
		return fmt.Errorf("blobstore: syncing pins log: %w", err)
	}
	s.pinLines++
	return nil
}

// loadPins replays the pins log into the index and compacts it. Called by
// Open only, before the store is shared.
func (s *Store) loadPins() error {
	p := filepath.Join(s.dir, pinsFileName)
	data, err := os.ReadFile(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blobstore: reading %s: %w", p, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		op, hash, reason, ok := parsePinLine(sc.Text())
		if !ok {
			continue
		}
		if op == '+' {
			s.ix.Pin(hash, reason)
		} else {
			s.ix.Unpin(hash, reason)
		}
	}
	// A line longer than the scanner's limit stops the replay; the pins read
	// so far stand, and the compaction below drops the rest.
	return s.compactPins()
}

func parsePinLine(line string) (op byte, hash [32]byte, reason string, ok bool) {
	f := strings.Split(line, " ")
	if len(f) != 3 || len(f[0]) != 1 || (f[0][0] != '+' && f[0][0] != '-') {
		return 0, hash, "", false
	}
	if len(f[1]) != 64 || !isLowerHex(f[1]) {
		return 0, hash, "", false
	}
	if _, err := hex.Decode(hash[:], []byte(f[1])); err != nil {
		return 0, hash, "", false
	}
	if index.CheckReason(f[2]) != nil {
		return 0, hash, "", false
	}
	return f[0][0], hash, f[2], true
}

// compactPins rewrites the pins log atomically with the live pins and
// switches appends to the new file. The caller holds pinMu (or is Open).
func (s *Store) compactPins() error {
	s.mu.Lock()
	var buf bytes.Buffer
	buf.WriteString(pinsHeader)
	lines := 0
	for _, h := range s.ix.PinnedHashes() {
		for _, r := range s.ix.Pins(h) {
			buf.WriteString("+ " + hexHash(h) + " " + r + "\n")
			lines++
		}
	}
	s.mu.Unlock()

	f, err := os.CreateTemp(s.tmp, "pins-*")
	if err != nil {
		return fmt.Errorf("blobstore: writing pins: %w", err)
	}
	name := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(name)
		}
	}()
	if _, err := f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("blobstore: writing pins: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("blobstore: syncing pins: %w", err)
	}
	// f stays open: it is the append handle, and it follows the rename.
	final := filepath.Join(s.dir, pinsFileName)
	if err := os.Rename(name, final); err != nil {
		return fmt.Errorf("blobstore: renaming pins into place: %w", err)
	}
	ok = true
	if s.pinLog != nil {
		s.pinLog.Close()
	}
	s.pinLog = f
	s.pinLines = lines
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("blobstore: syncing %s: %w", s.dir, err)
	}
	return nil
}

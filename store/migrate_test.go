package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/nbd-wtf/go-nostr"
)

// toVersion1 turns a closed store written by this build into what format
// version 1 wrote for the same events: the same records and indexes plus a
// `c` and an `a` entry per event, and version 1 in the meta key.
func toVersion1(t *testing.T, name, dir string) (added int) {
	t.Helper()
	eng, err := openEngine(name, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	err = eng.Update(func(tx kvWriter) error {
		var keys [][]byte
		err := scan(tx, []byte{pfxEvent}, []byte{pfxEvent + 1}, false, func(k, v []byte) error {
			h, _, err := parseRecord(v)
			if err != nil {
				return err
			}
			var suffix [16]byte
			binary.BigEndian.PutUint64(suffix[:8], encTime(h.createdAt))
			copy(suffix[8:], k[1:9])
			keys = append(keys, append([]byte{pfxCreatedV1}, suffix[:]...))
			keys = append(keys, append(append([]byte{pfxAuthorV1}, h.pubkey[:]...), suffix[:]...))
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := tx.Put(k, nil); err != nil {
				return err
			}
		}
		added = len(keys)
		return tx.Put(metaVersion, appendU64(nil, 1))
	})
	if err != nil {
		t.Fatal(err)
	}
	return added
}

func setMeta(t *testing.T, name, dir string, key []byte, val []byte) {
	t.Helper()
	eng, err := openEngine(name, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if err := eng.Update(func(tx kvWriter) error { return tx.Put(key, val) }); err != nil {
		t.Fatal(err)
	}
}

func migrationEvents() []*nostr.Event {
	var evs []*nostr.Event
	for i := range 40 {
		author := fmt.Sprint("author", i%3)
		kind := []int{1, 7, 6, 1111, 30023}[i%5]
		tags := nostr.Tags{{"t", fmt.Sprint("tag", i%4)}}
		if kind == 30023 {
			tags = append(tags, nostr.Tag{"d", fmt.Sprint("d", i)})
		}
		evs = append(evs, mkEvent(author, kind, int64(1000+i), fmt.Sprint("event ", i), tags...))
	}
	evs = append(evs, mkEvent("author0", 0, 5000, `{"name":"a"}`)) // replaceable
	return evs
}

// A store written with format version 1 opens, loses its two dropped
// indexes, and still answers every query with every event.
func TestMigrateFromVersion1(t *testing.T) {
	defer func(n int) { migrateChunk = n }(migrateChunk)
	migrateChunk = 7 // several transactions per index
	evs := migrationEvents()
	for _, ec := range engineCases() {
		if !ec.disk {
			continue
		}
		t.Run(ec.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, Options{Engine: ec.name})
			if err != nil {
				t.Fatal(err)
			}
			mustSave(t, s, evs...)
			want := queryIDs(t, s, nostr.Filter{}, 0)
			if len(want) != len(evs) {
				t.Fatalf("stored %d of %d", len(want), len(evs))
			}
			s.Close()
			if n := toVersion1(t, ec.name, dir); n != 2*len(evs) {
				t.Fatalf("version 1 keys: %d", n)
			}

			s2 := ec.open(t, dir, Options{})
			checkConsistent(t, s2) // fails on any `c` or `a` entry left
			checkMigrated(t, s2, evs, want)
			s2.Close()

			// A migration cut short (version 2 already written, the flag
			// still set, entries left) resumes at the next open.
			toVersion1(t, ec.name, dir)
			setMeta(t, ec.name, dir, metaVersion, appendU64(nil, formatVersion))
			setMeta(t, ec.name, dir, metaMigrating, []byte{1})
			s3 := ec.open(t, dir, Options{})
			checkConsistent(t, s3)
			checkMigrated(t, s3, evs, want)
			s3.Close()

			// A version this build does not know is refused.
			setMeta(t, ec.name, dir, metaVersion, appendU64(nil, formatVersion+1))
			if s4, err := Open(dir, Options{}); err == nil {
				s4.Close()
				t.Fatal("opened a store of a later format version")
			}
		})
	}
}

func checkMigrated(t *testing.T, s *eventStore, evs []*nostr.Event, want []string) {
	t.Helper()
	if got := queryIDs(t, s, nostr.Filter{}, 0); !slices.Equal(got, want) {
		t.Fatalf("after migration: %d events, want %d", len(got), len(want))
	}
	if n, err := s.Count(context.Background(), nostr.Filter{}); err != nil || n != int64(len(evs)) {
		t.Fatalf("count %d, %v", n, err)
	}
	for _, a := range []string{"author0", "author1", "author2"} {
		f := nostr.Filter{Authors: []string{pubkey(a)}}
		got := queryIDs(t, s, f, 0)
		if err := sameIDs(got, bruteForce(newestFirst(evs), f, 0)); err != nil {
			t.Fatalf("author %s: %v", a, err)
		}
	}
	err := s.eng.View(func(tx kvReader) error {
		for _, k := range [][]byte{metaMigrating} {
			if v, err := tx.Get(k); err != nil || v != nil {
				return fmt.Errorf("%s still set: %v", k, err)
			}
		}
		v, err := tx.Get(metaVersion)
		if err != nil {
			return err
		}
		if ver, _ := decodeU64(v, "version"); ver != formatVersion {
			return fmt.Errorf("version %d after migration", ver)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// newestFirst sorts a copy of evs as queries return them.
func newestFirst(evs []*nostr.Event) []*nostr.Event {
	out := slices.Clone(evs)
	slices.SortFunc(out, func(a, b *nostr.Event) int {
		if a.CreatedAt != b.CreatedAt {
			return int(b.CreatedAt - a.CreatedAt)
		}
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	return out
}

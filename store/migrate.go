package store

import (
	"bytes"
	"fmt"
)

// Format version 1 kept two indexes that version 2 no longer writes nor
// reads: all events by time (`c ts serial`) and by author (`a pubkey ts
// serial`). Opening a version 1 store deletes them, in transactions of
// migrateChunk keys, before the store serves anything. The first of those
// transactions already records version 2, with metaMigrating set, so that a
// build that only knows version 1 refuses the store from then on (its
// queries would miss events in half-deleted indexes), and a migration cut
// short by a crash resumes at the next open. Records and every other index
// are the same in both versions: nothing is rewritten and no event is lost.
var metaMigrating = []byte{pfxMeta, 'M'}

var migrateChunk = 16384 // a variable so that tests can make it small

// migrate brings the store to formatVersion. from is the version read from
// metaVersion; migrating reports whether metaMigrating was set.
func (s *eventStore) migrate(from uint64, migrating bool) error {
	switch {
	case from == formatVersion && !migrating:
		return nil
	case from == 1 || (from == formatVersion && migrating):
	default:
		return fmt.Errorf("store format version %d, this build reads %d", from, formatVersion)
	}
	for _, pfx := range []byte{pfxCreatedV1, pfxAuthorV1} {
		for {
			var n int
			err := s.eng.Update(func(tx kvWriter) error {
				if err := tx.Put(metaVersion, appendU64(nil, formatVersion)); err != nil {
					return err
				}
				if err := tx.Put(metaMigrating, []byte{1}); err != nil {
					return err
				}
				var keys [][]byte
				err := scan(tx, []byte{pfx}, []byte{pfx + 1}, false, func(k, _ []byte) error {
					keys = append(keys, bytes.Clone(k))
					if len(keys) == migrateChunk {
						return errStop
					}
					return nil
				})
				if err != nil {
					return err
				}
				for _, k := range keys {
					if err := tx.Delete(k); err != nil {
						return err
					}
				}
				n = len(keys)
				return nil
			})
			if err != nil {
				return fmt.Errorf("migrating from format version %d: deleting the %q index: %w", from, pfx, err)
			}
			if n < migrateChunk {
				break
			}
		}
	}
	return s.eng.Update(func(tx kvWriter) error { return tx.Delete(metaMigrating) })
}

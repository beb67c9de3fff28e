package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// verify checks a store's internal consistency: every record decodes and
// has all its index entries, every index entry points to a live record that
// produces it, and the meta counters agree. It reads the whole store and
// keeps a set of all index keys in memory: it is for tests and offline
// checks, not for a live relay.
func verify(tx kvReader) error {
	want := make(map[string][]byte) // index key -> value it must hold (nil: empty)
	var records int64
	var maxSerial uint64
	err := scan(tx, []byte{pfxEvent}, []byte{pfxEvent + 1}, false, func(k, v []byte) error {
		if len(k) != 9 {
			return fmt.Errorf("record key of %d bytes", len(k))
		}
		serial := binary.BigEndian.Uint64(k[1:])
		ix, err := decodeRecord(v)
		if err != nil {
			return fmt.Errorf("record %d: %w", serial, err)
		}
		records++
		maxSerial = max(maxSerial, serial)
		sv := appendU64(nil, serial)
		if _, dup := want[string(idKey(ix.hdr.id))]; dup {
			return fmt.Errorf("record %d: id %x stored twice", serial, ix.hdr.id)
		}
		want[string(idKey(ix.hdr.id))] = sv
		if ix.addr != nil {
			rk := string(prefixed(pfxReplaceable, ix.addr))
			if _, dup := want[rk]; dup {
				return fmt.Errorf("record %d: two live versions of one address", serial)
			}
			want[rk] = sv
		}
		return ix.eachIndexKey(serial, func(k []byte) error {
			want[string(k)] = nil
			return nil
		})
	})
	if err != nil {
		return err
	}

	found := 0 // the version 1 tables must be empty: any entry there is reported
	for _, pfx := range []byte{pfxID, pfxCreatedV1, pfxAuthorV1, pfxKind, pfxAuthorKind, pfxTag, pfxExpiry, pfxReplaceable} {
		err := scan(tx, []byte{pfx}, []byte{pfx + 1}, false, func(k, v []byte) error {
			w, ok := want[string(k)]
			if !ok {
				return fmt.Errorf("index entry %x points to no live record", k)
			}
			if w != nil && !bytes.Equal(v, w) {
				return fmt.Errorf("index entry %x holds %x, want %x", k, v, w)
			}
			found++
			return nil
		})
		if err != nil {
			return err
		}
	}
	if found != len(want) {
		return fmt.Errorf("%d index entries missing", len(want)-found)
	}

	err = scan(tx, []byte{pfxDeletedID}, []byte{pfxDeletedID + 1}, false, func(k, _ []byte) error {
		if len(k) != 65 {
			return fmt.Errorf("tombstone key of %d bytes", len(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = scan(tx, []byte{pfxDeletedAddr}, []byte{pfxDeletedAddr + 1}, false, func(k, v []byte) error {
		_, err := decodeU64(v, "address deletion marker")
		return err
	})
	if err != nil {
		return err
	}

	v, err := tx.Get(metaSerial)
	if err != nil {
		return err
	}
	next, err := decodeU64(v, "next serial")
	if err != nil {
		return err
	}
	if next <= maxSerial {
		return fmt.Errorf("next serial %d not above highest record %d", next, maxSerial)
	}
	if v, err = tx.Get(metaEvents); err != nil {
		return err
	}
	n, err := decodeU64(v, "event count")
	if err != nil {
		return err
	}
	if int64(n) != records {
		return fmt.Errorf("event count says %d, %d records stored", n, records)
	}
	return nil
}

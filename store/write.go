package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/mailru/easyjson/jwriter"
	"github.com/nbd-wtf/go-nostr"
)

// saveOp is a Save prepared outside the writer: validated, encoded and
// indexed, so that the writer only does key-value work.
type saveOp struct {
	ev  *nostr.Event
	ix  indexed
	rec []byte // header + compact JSON

	// kind 5 only: what the deletion request targets, limited to what its
	// author may delete.
	delIDs   [][32]byte
	delAddrs [][]byte // addresses (see keys.go) of the author's own events
}

// prepareSave validates and indexes ev and builds its record: in rec, if
// not nil (headerLen bytes of room, then ev's compact JSON: Encode), or
// else encoding ev.
func prepareSave(ev *nostr.Event, rec []byte) (*saveOp, error) {
	ix, err := indexEvent(ev)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		enc, err := Encode(ev)
		if err != nil {
			return nil, err
		}
		rec = enc.buf
	}
	ix.hdr.appendTo(rec[:0])
	op := &saveOp{ev: ev, ix: ix, rec: rec}
	if ev.Kind == nostr.KindDeletion {
		op.delIDs, op.delAddrs = deletionTargets(ev.Tags, ix.hdr.pubkey)
	}
	return op, nil
}

// deletionTargets reads a kind 5's `e` tags (event ids) and `a` tags
// (`kind:pubkey:d`). Addresses of other authors, and of kinds that are
// neither replaceable nor addressable, are dropped: NIP-09 lets an author
// delete only their own events.
func deletionTargets(tags nostr.Tags, author [32]byte) (ids [][32]byte, addrs [][]byte) {
	for _, tag := range tags {
		if len(tag) < 2 {
			continue
		}
		switch tag[0] {
		case "e":
			var id [32]byte
			if decodeHex32(tag[1], &id) {
				ids = append(ids, id)
			}
		case "a":
			parts := strings.SplitN(tag[1], ":", 3)
			if len(parts) < 2 {
				continue
			}
			kind, err := strconv.ParseUint(parts[0], 10, 32)
			var pk [32]byte
			if err != nil || !decodeHex32(parts[1], &pk) || pk != author {
				continue
			}
			d := ""
			if len(parts) == 3 {
				d = parts[2]
			}
			switch {
			case nostr.IsReplaceableKind(int(kind)):
				addrs = append(addrs, appendAddress(nil, pk, uint32(kind), "", false))
			case nostr.IsAddressableKind(int(kind)):
				addrs = append(addrs, appendAddress(nil, pk, uint32(kind), d, true))
			}
		}
	}
	return ids, addrs
}

func (s *eventStore) Save(ctx context.Context, ev *nostr.Event) error {
	return s.save(ctx, ev, nil)
}

func (s *eventStore) save(ctx context.Context, ev *nostr.Event, rec []byte) error {
	op, err := prepareSave(ev, rec)
	if err != nil {
		return err
	}
	return s.write(ctx, &writeReq{save: op})
}

// Encoded is an event encoded once for the store and the wire: its compact
// JSON, exactly as ev.MarshalJSON writes it, in a buffer that starts with
// room for the store's record header, so that saving it neither encodes
// nor copies the event again (the relay encodes each event it accepts once,
// to broadcast and to store).
type Encoded struct {
	ev  *nostr.Event
	buf []byte // headerLen bytes of room, then the JSON
}

// Encode encodes ev. It does not validate ev: SaveEncoded does, as Save.
func Encode(ev *nostr.Event) (*Encoded, error) {
	w := jwriter.Writer{NoEscapeHTML: true}
	// Sized so that the encoder, which grows its buffer in chunks, usually
	// writes into this one: BuildBytes then returns it without a copy.
	w.Buffer.Buf = make([]byte, headerLen, headerLen+encodedSizeHint(ev))
	ev.MarshalEasyJSON(&w)
	if w.Error != nil {
		return nil, fmt.Errorf("%w: encoding event: %v", ErrInvalid, w.Error)
	}
	return &Encoded{ev: ev, buf: w.Buffer.BuildBytes()}, nil
}

// encodedSizeHint is about the length of ev's JSON, a little over for
// the usual content and tags: 64 + 64 + 128 hex digits, the field names and
// numbers, the content and tags with room for a few escapes.
func encodedSizeHint(ev *nostr.Event) int {
	n := 384 + len(ev.Content) + len(ev.Content)/16
	for _, t := range ev.Tags {
		n += 4
		for _, v := range t {
			n += len(v) + 4
		}
	}
	return n
}

// JSON is the event's compact JSON. It is not modified by SaveEncoded and
// may be read while it runs.
func (e *Encoded) JSON() []byte { return e.buf[headerLen:] }

// SaveEncoded is st.Save(ctx, ev) for an event Encode encoded: a Store of
// this package writes the record header into enc's room and stores the
// buffer as it is; another Store gets Save. One enc must not be given to
// two SaveEncoded calls at once.
func SaveEncoded(ctx context.Context, st Store, enc *Encoded) error {
	if s, ok := st.(*eventStore); ok {
		return s.save(ctx, enc.ev, enc.buf)
	}
	return st.Save(ctx, enc.ev)
}

// expireChunk bounds how many events one DeleteExpired transaction removes.
const expireChunk = 4096

func (s *eventStore) DeleteExpired(ctx context.Context, now int64) (int, error) {
	if now <= 0 {
		return 0, nil
	}
	hi := prefixEnd(appendU64([]byte{pfxExpiry}, uint64(now)))
	total := 0
	for {
		var n int
		var more bool
		job := func(w *writeTxn) error {
			n, more = 0, false
			var serials []uint64
			err := scan(w.tx, []byte{pfxExpiry}, hi, false, func(k, _ []byte) error {
				if len(serials) == expireChunk {
					more = true
					return errStop
				}
				if len(k) != 17 {
					return fmt.Errorf("%w: expiration key of %d bytes", errCorrupt, len(k))
				}
				serials = append(serials, binary.BigEndian.Uint64(k[9:]))
				return nil
			})
			if err != nil {
				return fmt.Errorf("listing expired events: %w", err)
			}
			for _, serial := range serials {
				if err := w.deleteEvent(serial); err != nil {
					return fmt.Errorf("deleting expired event: %w", err)
				}
			}
			n = len(serials)
			return nil
		}
		if err := s.write(ctx, &writeReq{job: job}); err != nil {
			return total, err
		}
		total += n
		if !more {
			return total, nil
		}
	}
}

// writeTxn applies the storage rules inside one write transaction.
type writeTxn struct {
	tx kvWriter
	st meta
}

// save stores op.ev, or returns ErrDuplicate, ErrDeleted or ErrReplaced
// before writing anything.
func (w *writeTxn) save(op *saveOp) error {
	h := &op.ix.hdr
	if v, err := w.tx.Get(idKey(h.id)); err != nil {
		return err
	} else if v != nil {
		return ErrDuplicate
	}
	if h.kind != kindDeletion { // deleting a deletion request has no effect
		if v, err := w.tx.Get(deletedIDKey(h.id, h.pubkey)); err != nil {
			return err
		} else if v != nil {
			return ErrDeleted
		}
	}
	if addr := op.ix.addr; addr != nil {
		v, err := w.tx.Get(prefixed(pfxDeletedAddr, addr))
		if err != nil {
			return err
		}
		if v != nil {
			t, err := decodeU64(v, "address deletion marker")
			if err != nil {
				return err
			}
			if h.createdAt <= decTime(t) {
				return ErrDeleted
			}
		}
		serial, ok, err := w.pointer(addr)
		if err != nil {
			return err
		}
		if ok {
			old, err := w.header(serial)
			if err != nil {
				return err
			}
			if old.createdAt > h.createdAt ||
				(old.createdAt == h.createdAt && bytes.Compare(old.id[:], h.id[:]) < 0) {
				return ErrReplaced
			}
			if err := w.deleteEvent(serial); err != nil {
				return fmt.Errorf("deleting replaced version: %w", err)
			}
		}
	}

	serial := w.st.nextSerial
	w.st.nextSerial++
	sv := appendU64(nil, serial)
	if err := w.tx.Put(eventKey(serial), op.rec); err != nil {
		return err
	}
	if err := w.tx.Put(idKey(h.id), sv); err != nil {
		return err
	}
	if err := op.ix.eachIndexKey(serial, func(k []byte) error { return w.tx.Put(k, nil) }); err != nil {
		return err
	}
	if op.ix.addr != nil {
		if err := w.tx.Put(prefixed(pfxReplaceable, op.ix.addr), sv); err != nil {
			return err
		}
	}
	w.st.events++

	if h.kind == kindDeletion {
		return w.applyDeletion(op)
	}
	return nil
}

// applyDeletion carries out a stored kind 5 (NIP-09).
func (w *writeTxn) applyDeletion(op *saveOp) error {
	h := &op.ix.hdr
	for _, id := range op.delIDs {
		if id == h.id {
			continue
		}
		// The tombstone names the deleter, so it only ever blocks their own
		// event, even if that event arrives later.
		if err := w.tx.Put(deletedIDKey(id, h.pubkey), nil); err != nil {
			return err
		}
		v, err := w.tx.Get(idKey(id))
		if err != nil {
			return err
		}
		if v == nil {
			continue
		}
		serial, err := decodeU64(v, "id index value")
		if err != nil {
			return err
		}
		old, err := w.header(serial)
		if err != nil {
			return err
		}
		if old.pubkey == h.pubkey && old.kind != kindDeletion {
			if err := w.deleteEvent(serial); err != nil {
				return fmt.Errorf("deleting %x: %w", id, err)
			}
		}
	}
	for _, addr := range op.delAddrs {
		mk := prefixed(pfxDeletedAddr, addr)
		v, err := w.tx.Get(mk)
		if err != nil {
			return err
		}
		keep := false
		if v != nil {
			t, err := decodeU64(v, "address deletion marker")
			if err != nil {
				return err
			}
			keep = decTime(t) >= h.createdAt
		}
		if !keep {
			if err := w.tx.Put(mk, appendU64(nil, encTime(h.createdAt))); err != nil {
				return err
			}
		}
		serial, ok, err := w.pointer(addr)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		old, err := w.header(serial)
		if err != nil {
			return err
		}
		if old.createdAt <= h.createdAt {
			if err := w.deleteEvent(serial); err != nil {
				return fmt.Errorf("deleting by address: %w", err)
			}
		}
	}
	return nil
}

// pointer returns the serial of the live version at a replaceable address.
func (w *writeTxn) pointer(addr []byte) (uint64, bool, error) {
	v, err := w.tx.Get(prefixed(pfxReplaceable, addr))
	if err != nil || v == nil {
		return 0, false, err
	}
	serial, err := decodeU64(v, "replaceable pointer")
	return serial, err == nil, err
}

func (w *writeTxn) header(serial uint64) (header, error) {
	rec, err := w.tx.Get(eventKey(serial))
	if err != nil {
		return header{}, err
	}
	if rec == nil {
		return header{}, fmt.Errorf("%w: record %d is missing", errCorrupt, serial)
	}
	h, _, err := parseRecord(rec)
	return h, err
}

// deleteEvent removes the record at serial and every index entry of it.
func (w *writeTxn) deleteEvent(serial uint64) error {
	rec, err := w.tx.Get(eventKey(serial))
	if err != nil {
		return err
	}
	if rec == nil {
		return fmt.Errorf("%w: record %d is missing", errCorrupt, serial)
	}
	ix, err := decodeRecord(rec)
	if err != nil {
		return fmt.Errorf("record %d: %w", serial, err)
	}
	if err := w.tx.Delete(eventKey(serial)); err != nil {
		return err
	}
	if err := w.tx.Delete(idKey(ix.hdr.id)); err != nil {
		return err
	}
	if err := ix.eachIndexKey(serial, w.tx.Delete); err != nil {
		return err
	}
	if ix.addr != nil {
		if cur, ok, err := w.pointer(ix.addr); err != nil {
			return err
		} else if ok && cur == serial {
			if err := w.tx.Delete(prefixed(pfxReplaceable, ix.addr)); err != nil {
				return err
			}
		}
	}
	w.st.events--
	return nil
}

// decodeRecord rebuilds a record's index data from its JSON and checks that
// it agrees with the header.
func decodeRecord(rec []byte) (indexed, error) {
	h, raw, err := parseRecord(rec)
	if err != nil {
		return indexed{}, err
	}
	var ev nostr.Event
	if err := ev.UnmarshalJSON(raw); err != nil {
		return indexed{}, fmt.Errorf("%w: decoding JSON: %v", errCorrupt, err)
	}
	ix, err := indexEvent(&ev)
	if err != nil {
		return indexed{}, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	if ix.hdr != h {
		return indexed{}, fmt.Errorf("%w: header disagrees with JSON", errCorrupt)
	}
	return ix, nil
}

const kindDeletion = uint32(nostr.KindDeletion)

// Evict removes the stored events with the given ids (64 hex digits each)
// in one durable transaction, leaving no deletion marker: an evicted event
// may be stored again later. It is a cache's eviction (a personal node
// keeping a bounded number of other people's events), not NIP-09, and works
// on a Store of this package only. Ids not stored are skipped; it returns
// how many it removed.
func Evict(ctx context.Context, st Store, ids []string) (int, error) {
	s, ok := st.(*eventStore)
	if !ok {
		return 0, fmt.Errorf("evicting events: %T is not a store of package store", st)
	}
	keys := make([][32]byte, 0, len(ids))
	for _, id := range ids {
		var k [32]byte
		if len(id) != 64 {
			return 0, fmt.Errorf("evicting events: id %q is not 64 hex digits", id)
		}
		if _, err := hex.Decode(k[:], []byte(id)); err != nil {
			return 0, fmt.Errorf("evicting events: id %q is not 64 hex digits", id)
		}
		keys = append(keys, k)
	}
	var n int
	job := func(w *writeTxn) error {
		n = 0
		for _, k := range keys {
			v, err := w.tx.Get(idKey(k))
			if err != nil {
				return err
			}
			if v == nil {
				continue
			}
			serial, err := decodeU64(v, "id index")
			if err != nil {
				return err
			}
			if err := w.deleteEvent(serial); err != nil {
				return fmt.Errorf("evicting event %x: %w", k, err)
			}
			n++
		}
		return nil
	}
	if err := s.write(ctx, &writeReq{job: job}); err != nil {
		return 0, err
	}
	return n, nil
}

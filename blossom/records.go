package blossom

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/cairn-nostr/cairn/event"
)

// Record is one owner's upload of a blob.
type Record struct {
	SHA256   string `json:"sha256"`
	Size     int64  `json:"size"`
	Type     string `json:"type"`
	Uploaded int64  `json:"uploaded"` // unix seconds
}

// Records are the owners of each blob: who uploaded which sha256. A blob
// stays while one owner holds it. The zero value is not usable: NewRecords.
type Records struct {
	owners map[string]map[string]Record // pubkey → sha256 → record
	refs   map[string]int               // sha256 → owners
}

// NewRecords returns empty records.
func NewRecords() *Records {
	return &Records{owners: map[string]map[string]Record{}, refs: map[string]int{}}
}

// Add records that pubkey holds rec, and reports whether it is new for
// that pubkey (an upload of a blob it holds already changes nothing).
func (r *Records) Add(pubkey string, rec Record) bool {
	m := r.owners[pubkey]
	if m == nil {
		m = map[string]Record{}
		r.owners[pubkey] = m
	}
	if _, ok := m[rec.SHA256]; ok {
		return false
	}
	m[rec.SHA256] = rec
	r.refs[rec.SHA256]++
	return true
}

// Remove drops pubkey's record of sha. removed reports that there was
// one; last that no owner holds the blob any more.
func (r *Records) Remove(pubkey, sha string) (removed, last bool) {
	m := r.owners[pubkey]
	if _, ok := m[sha]; !ok {
		return false, false
	}
	delete(m, sha)
	if len(m) == 0 {
		delete(r.owners, pubkey)
	}
	r.refs[sha]--
	if r.refs[sha] <= 0 {
		delete(r.refs, sha)
		return true, true
	}
	return true, false
}

// Owns reports whether pubkey holds sha.
func (r *Records) Owns(pubkey, sha string) bool {
	_, ok := r.owners[pubkey][sha]
	return ok
}

// Get is pubkey's record of sha.
func (r *Records) Get(pubkey, sha string) (Record, bool) {
	rec, ok := r.owners[pubkey][sha]
	return rec, ok
}

// Held reports whether any owner holds sha, and one of its records.
func (r *Records) Held(sha string) (Record, bool) {
	if r.refs[sha] == 0 {
		return Record{}, false
	}
	for _, m := range r.owners {
		if rec, ok := m[sha]; ok {
			return rec, true
		}
	}
	return Record{}, false
}

// Used is the bytes pubkey holds.
func (r *Records) Used(pubkey string) int64 {
	var n int64
	for _, rec := range r.owners[pubkey] {
		n += rec.Size
	}
	return n
}

// List is pubkey's records uploaded within [since, until] (0: unbounded),
// newest first (BUD-12), ties by sha256.
func (r *Records) List(pubkey string, since, until int64) []Record {
	out := []Record{}
	for _, rec := range r.owners[pubkey] {
		if since > 0 && rec.Uploaded < since || until > 0 && rec.Uploaded > until {
			continue
		}
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Uploaded != out[j].Uploaded {
			return out[i].Uploaded > out[j].Uploaded
		}
		return out[i].SHA256 < out[j].SHA256
	})
	return out
}

// Totals are the distinct blobs held and their bytes.
func (r *Records) Totals() (blobs int, bytes int64) {
	seen := map[string]bool{}
	for _, m := range r.owners {
		for sha, rec := range m {
			if !seen[sha] {
				seen[sha] = true
				bytes += rec.Size
			}
		}
	}
	return len(seen), bytes
}

// recordsFile is the stored form: pubkey → records.
type recordsFile struct {
	Version int                 `json:"version"`
	Owners  map[string][]Record `json:"owners"`
}

// MarshalJSON writes the records in their stored form.
func (r *Records) MarshalJSON() ([]byte, error) {
	f := recordsFile{Version: 1, Owners: map[string][]Record{}}
	for pk := range r.owners {
		f.Owners[pk] = r.List(pk, 0, 0)
	}
	return json.Marshal(f)
}

// UnmarshalJSON reads the stored form, refusing a record that is not one.
func (r *Records) UnmarshalJSON(b []byte) error {
	var f recordsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	if f.Version != 1 {
		return fmt.Errorf("blossom records version %d, want 1", f.Version)
	}
	*r = *NewRecords()
	for pk, recs := range f.Owners {
		if !event.IsHex(pk, 64) {
			return fmt.Errorf("blossom records: owner %q is not a hex pubkey", pk)
		}
		for _, rec := range recs {
			if !event.IsHex(rec.SHA256, 64) || rec.Size < 0 {
				return fmt.Errorf("blossom records: a record of %s has sha256 %q and size %d", pk, rec.SHA256, rec.Size)
			}
			r.Add(pk, rec)
		}
	}
	return nil
}

package cold

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Saved is cold storage as kept across restarts: the assigner's held
// assignments and what it knows of each holder (benched until, challenges
// passed and failed, premium earned), and the holder's holdings. Offers
// in flight, pending challenges and the per-file cool-downs are not kept:
// an offer unanswered at a restart lapses, and a restored assignment is
// challenged afresh at a random time. Encode and DecodeSaved are its file
// format (JSON, version 1); the caller writes and reads the file.
type Saved struct {
	Version     int               `json:"version"`
	Assignments []SavedAssignment `json:"assignments"`
	Holders     []SavedHolder     `json:"holders"`
	Holdings    []SavedHolding    `json:"holdings"`
}

// SavedVersion is the version of the format Encode writes.
const SavedVersion = 1

// MaxSaved bounds each list DecodeSaved accepts.
const MaxSaved = 1 << 16

// SavedAssignment is one held assignment of the assigner.
type SavedAssignment struct {
	Holder  string    `json:"holder"`
	Root    string    `json:"root"`
	Chunk   string    `json:"chunk"`
	Size    int64     `json:"size"`
	Since   time.Time `json:"since"`
	Expires time.Time `json:"expires"`
	Passed  int       `json:"passed"`
	Renewed int       `json:"renewed"`
}

// SavedHolder is what the assigner knows of one holder beyond its evidence
// (which comes back from the ledger).
type SavedHolder struct {
	Holder  string    `json:"holder"`
	Benched time.Time `json:"benched_until"`
	Passed  int       `json:"passed"`
	Failed  int       `json:"failed"`
	Premium int64     `json:"premium"`
	// Contact is how the caller reaches the holder (the node: its libp2p
	// peer ID), kept for it; at most MaxContact bytes.
	Contact string `json:"contact,omitempty"`
}

// MaxContact bounds SavedHolder.Contact.
const MaxContact = 256

// SavedHolding is one chunk the holder keeps for an assigner.
type SavedHolding struct {
	Assigner string    `json:"assigner"`
	Root     string    `json:"root"`
	Chunk    string    `json:"chunk"`
	Since    time.Time `json:"since"`
	Expires  time.Time `json:"expires"`
}

// Save adds the assigner's held assignments and its holders to s, sorted.
func (a *Assigner) Save(s *Saved) {
	for _, as := range a.Assignments() {
		if as.State != Held {
			continue
		}
		s.Assignments = append(s.Assignments, SavedAssignment{
			Holder: as.Holder, Root: hex.EncodeToString(as.Root[:]), Chunk: hex.EncodeToString(as.Chunk[:]),
			Size: as.Size, Since: as.Since, Expires: as.Expires, Passed: as.Passed, Renewed: as.Renewed,
		})
	}
	ids := make([]string, 0, len(a.holders))
	for id := range a.holders {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	holds := map[string]bool{}
	for _, sa := range s.Assignments {
		holds[sa.Holder] = true
	}
	for _, id := range ids {
		hd := a.holders[id]
		if hd.bench.IsZero() && hd.passed == 0 && hd.failed == 0 && hd.premium == 0 && !holds[id] {
			continue // known from the ledger alone
		}
		s.Holders = append(s.Holders, SavedHolder{Holder: id, Benched: hd.bench, Passed: hd.passed, Failed: hd.failed, Premium: hd.premium})
	}
}

// Load restores what Save kept (s from DecodeSaved): the assignments whose
// term has not ended at now, each challenged next at a random time within
// the challenge cycle, and the holders' benches and counts. The files and
// the holders' evidence come from SetFile and SetPeer as before.
func (a *Assigner) Load(s Saved, now time.Time) {
	for _, sh := range s.Holders {
		h := a.holder(sh.Holder)
		h.bench, h.passed, h.failed, h.premium = sh.Benched, sh.Passed, sh.Failed, sh.Premium
	}
	for _, sa := range s.Assignments {
		if !now.Before(sa.Expires) {
			continue
		}
		as := &Assignment{Holder: sa.Holder, Size: sa.Size, State: Held, Since: sa.Since, Expires: sa.Expires, Passed: sa.Passed, Renewed: sa.Renewed}
		as.Root, as.Chunk = mustHash(sa.Root), mustHash(sa.Chunk)
		as.next = now.Add(a.gap())
		a.holder(sa.Holder)
		a.as[akey{sa.Holder, as.Chunk}] = as
	}
}

// Save adds the holdings to s, sorted.
func (hs *Holdings) Save(s *Saved) {
	for _, h := range hs.List() {
		s.Holdings = append(s.Holdings, SavedHolding{
			Assigner: h.Assigner, Root: hex.EncodeToString(h.Root[:]), Chunk: hex.EncodeToString(h.Chunk[:]),
			Since: h.Since, Expires: h.Expires,
		})
	}
}

// Load restores the holdings s kept (s from DecodeSaved), the ones whose
// term has ended too: the next Expire returns them, so their chunks are
// unpinned as any other's.
func (hs *Holdings) Load(s Saved) {
	if hs.held == nil {
		hs.held = map[hkey]*Holding{}
	}
	for _, sh := range s.Holdings {
		h := &Holding{Assigner: sh.Assigner, Root: mustHash(sh.Root), Chunk: mustHash(sh.Chunk), Since: sh.Since, Expires: sh.Expires}
		hs.held[hkey{h.Assigner, h.Chunk}] = h
	}
}

// Encode is s in its file format.
func Encode(s Saved) ([]byte, error) {
	s.Version = SavedVersion
	if s.Assignments == nil {
		s.Assignments = []SavedAssignment{}
	}
	if s.Holders == nil {
		s.Holders = []SavedHolder{}
	}
	if s.Holdings == nil {
		s.Holdings = []SavedHolding{}
	}
	return json.MarshalIndent(s, "", " ")
}

// DecodeSaved reads the file format strictly: one JSON object of version
// 1, no unknown field, every key and hash 64 hex digits, sizes positive,
// terms that end after they begin, no (holder, chunk) twice, at most
// MaxSaved entries in each list. The error names the first fault.
func DecodeSaved(b []byte) (Saved, error) {
	var s Saved
	if !json.Valid(b) { // also refuses anything after the object
		return Saved{}, errors.New("cold storage state: not one JSON value (truncated, or data after it)")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&s); err != nil {
		return Saved{}, fmt.Errorf("cold storage state: %w", err)
	}
	if s.Version != SavedVersion {
		return Saved{}, fmt.Errorf("cold storage state: version %d, this build reads %d", s.Version, SavedVersion)
	}
	if len(s.Assignments) > MaxSaved || len(s.Holders) > MaxSaved || len(s.Holdings) > MaxSaved {
		return Saved{}, fmt.Errorf("cold storage state: more than %d entries in a list", MaxSaved)
	}
	seen := map[string]bool{}
	for i, a := range s.Assignments {
		if err := checkHex("holder", a.Holder, "root", a.Root, "chunk", a.Chunk); err != nil {
			return Saved{}, fmt.Errorf("cold storage state: assignment %d: %w", i, err)
		}
		if a.Size <= 0 || !a.Expires.After(a.Since) || a.Passed < 0 || a.Renewed < 0 {
			return Saved{}, fmt.Errorf("cold storage state: assignment %d: size %d, term %v to %v, counts %d/%d", i, a.Size, a.Since, a.Expires, a.Passed, a.Renewed)
		}
		if k := "a" + a.Holder + a.Chunk; seen[k] {
			return Saved{}, fmt.Errorf("cold storage state: assignment %d: chunk %.8s given to %.8s twice", i, a.Chunk, a.Holder)
		} else {
			seen[k] = true
		}
	}
	for i, h := range s.Holders {
		if err := checkHex("holder", h.Holder); err != nil {
			return Saved{}, fmt.Errorf("cold storage state: holder %d: %w", i, err)
		}
		if h.Passed < 0 || h.Failed < 0 || h.Premium < 0 {
			return Saved{}, fmt.Errorf("cold storage state: holder %d: negative count", i)
		}
		if len(h.Contact) > MaxContact {
			return Saved{}, fmt.Errorf("cold storage state: holder %d: contact of %d bytes, at most %d", i, len(h.Contact), MaxContact)
		}
		if k := "h" + h.Holder; seen[k] {
			return Saved{}, fmt.Errorf("cold storage state: holder %d: %.8s twice", i, h.Holder)
		} else {
			seen[k] = true
		}
	}
	for i, h := range s.Holdings {
		if err := checkHex("assigner", h.Assigner, "root", h.Root, "chunk", h.Chunk); err != nil {
			return Saved{}, fmt.Errorf("cold storage state: holding %d: %w", i, err)
		}
		if !h.Expires.After(h.Since) {
			return Saved{}, fmt.Errorf("cold storage state: holding %d: term %v to %v", i, h.Since, h.Expires)
		}
		if k := "k" + h.Assigner + h.Chunk; seen[k] {
			return Saved{}, fmt.Errorf("cold storage state: holding %d: chunk %.8s for %.8s twice", i, h.Chunk, h.Assigner)
		} else {
			seen[k] = true
		}
	}
	return s, nil
}

// checkHex checks name, value pairs: each value 64 lowercase hex digits.
func checkHex(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		v := pairs[i+1]
		if len(v) != 64 {
			return fmt.Errorf("%s %q: want 64 hex digits", pairs[i], v)
		}
		if _, err := hex.DecodeString(v); err != nil || v != hexLower(v) {
			return fmt.Errorf("%s %q: want 64 lowercase hex digits", pairs[i], v)
		}
	}
	return nil
}

func hexLower(v string) string {
	b, _ := hex.DecodeString(v)
	return hex.EncodeToString(b)
}

// mustHash decodes a hash DecodeSaved checked.
func mustHash(v string) [32]byte {
	var h [32]byte
	hex.Decode(h[:], []byte(v))
	return h
}

package chunkmap

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	"github.com/cairn-nostr/cairn/nostr"
)

// FileMetadata is a NIP-94 kind 1063 file metadata event (see the package
// doc for its tags).
type FileMetadata struct {
	URL  string
	MIME string
	// SHA256 is the sha256 of the whole file (the x tag).
	SHA256 [32]byte
	// Size is the file size in bytes; 0 means not given.
	Size int64
	// Dim is "<width>x<height>" in pixels, or empty.
	Dim         string
	Alt         string
	Description string
	// Root links to the kind 7001 chunk map with this Merkle root; the zero
	// value means no link.
	Root [32]byte
	// Magnet is the file's BitTorrent v1 magnet (NIP-94's magnet tag,
	// written with its i tag, the infohash), or empty. InfoHash is the
	// i tag as parsed (lowercase hex), empty when absent.
	Magnet   string
	InfoHash string
}

// FileMetadata returns the NIP-94 event fields describing the same file as m,
// served at fileURL and hashing to fileHash as a whole. A map without a MIME
// type is described as application/octet-stream.
func (m *Map) FileMetadata(fileURL string, fileHash [32]byte) *FileMetadata {
	mt := m.MIME
	if mt == "" {
		mt = "application/octet-stream"
	}
	return &FileMetadata{
		URL:         fileURL,
		MIME:        mt,
		SHA256:      fileHash,
		Size:        m.Size,
		Alt:         m.Title,
		Description: m.Description,
		Root:        m.Root,
		Magnet:      m.Magnet,
	}
}

// Event returns the unsigned kind 1063 event for f. The caller sets CreatedAt
// and signs it. Event does not validate f; call Validate first when f was not
// produced by ParseFileMetadata.
func (f *FileMetadata) Event() nostr.Event {
	tags := nostr.Tags{
		{"url", f.URL},
		{"m", f.MIME},
		{"x", hex.EncodeToString(f.SHA256[:])},
	}
	if f.Size > 0 {
		tags = append(tags, nostr.Tag{"size", itoa(f.Size)})
	}
	if f.Dim != "" {
		tags = append(tags, nostr.Tag{"dim", f.Dim})
	}
	if f.Alt != "" {
		tags = append(tags, nostr.Tag{"alt", f.Alt})
	}
	if f.Root != ([32]byte{}) {
		tags = append(tags, nostr.Tag{"x-hash", hex.EncodeToString(f.Root[:])})
	}
	if f.Magnet != "" {
		tags = append(tags, nostr.Tag{"magnet", f.Magnet})
		if mg, err := ParseMagnet(f.Magnet); err == nil {
			tags = append(tags, nostr.Tag{"i", mg.InfoHashHex()})
		}
	}
	return nostr.Event{Kind: KindFileMetadata, Tags: tags, Content: f.Description}
}

var fileMetaArity = map[string]int{
	"url":    2,
	"m":      2,
	"x":      2,
	"size":   2,
	"dim":    2,
	"alt":    2,
	"x-hash": 2,
	"magnet": 2,
	"i":      2,
}

// ParseFileMetadata decodes and validates a kind 1063 event. It does not check
// the event's id or signature. Unknown tags are ignored; each known tag may
// appear at most once.
func ParseFileMetadata(ev *nostr.Event) (*FileMetadata, error) {
	if ev == nil {
		return nil, fmt.Errorf("parsing file metadata: nil event: %w", ErrKind)
	}
	if ev.Kind != KindFileMetadata {
		return nil, fmt.Errorf("parsing file metadata: kind %d, want %d: %w", ev.Kind, KindFileMetadata, ErrKind)
	}
	f := &FileMetadata{Description: ev.Content}
	seen := make(map[string]bool, len(fileMetaArity))
	for _, tag := range ev.Tags {
		if len(tag) == 0 {
			continue
		}
		name := tag[0]
		arity, known := fileMetaArity[name]
		if !known {
			continue
		}
		if len(tag) != arity {
			return nil, fmt.Errorf("parsing file metadata: %q tag with %d elements, want %d: %w", name, len(tag), arity, ErrTagArity)
		}
		if seen[name] {
			return nil, fmt.Errorf("parsing file metadata: %s: %w", name, ErrDuplicateTag)
		}
		seen[name] = true
		var err error
		switch v := tag[1]; name {
		case "url":
			f.URL = v
		case "m":
			f.MIME = v
		case "x":
			f.SHA256, err = parseHash(v)
		case "size":
			f.Size, err = parseNum(v)
		case "dim":
			f.Dim = v
		case "alt":
			f.Alt = v
		case "x-hash":
			f.Root, err = parseHash(v)
		case "magnet":
			f.Magnet = v
		case "i":
			f.InfoHash = v
		}
		if err != nil {
			return nil, fmt.Errorf("parsing file metadata %q tag: %w", name, err)
		}
	}
	for _, name := range []string{"url", "m", "x"} {
		if !seen[name] {
			return nil, fmt.Errorf("parsing file metadata: no %q tag: %w", name, ErrMissingTag)
		}
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("parsing file metadata: %w", err)
	}
	return f, nil
}

// Validate checks f: an absolute URL, a type/subtype MIME, a non-negative
// size and a well-formed dim.
func (f *FileMetadata) Validate() error {
	if !validURL(f.URL) {
		return fmt.Errorf("url %q: %w", f.URL, ErrURL)
	}
	if !validMIME(f.MIME) {
		return fmt.Errorf("mime %q: %w", f.MIME, ErrMIME)
	}
	if f.Size < 0 {
		return fmt.Errorf("size %d: %w", f.Size, ErrSize)
	}
	if f.Dim != "" && !validDim(f.Dim) {
		return fmt.Errorf("dim %q: %w", f.Dim, ErrDim)
	}
	if f.InfoHash != "" && (len(f.InfoHash) != 40 || strings.ToLower(f.InfoHash) != f.InfoHash || !isHex(f.InfoHash)) {
		return fmt.Errorf("i %q: want a v1 infohash, 40 lowercase hex digits: %w", trunc(f.InfoHash), ErrMagnet)
	}
	if f.Magnet != "" {
		mg, err := ParseMagnet(f.Magnet)
		if err != nil {
			return err
		}
		if f.Size > 0 && mg.Length >= 0 && mg.Length != f.Size {
			return fmt.Errorf("magnet's xl %d, size %d: %w", mg.Length, f.Size, ErrMagnet)
		}
		if f.InfoHash != "" && f.InfoHash != mg.InfoHashHex() {
			return fmt.Errorf("i %s is not the magnet's infohash %s: %w", f.InfoHash, mg.InfoHashHex(), ErrMagnet)
		}
	}
	return nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

func validURL(s string) bool {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		return u.Host != ""
	}
	return u.Host != "" || u.Opaque != "" || u.RawQuery != "" // e.g. magnet:?xt=...
}

// validDim accepts "<width>x<height>" with canonical positive decimals of at
// most 6 digits.
func validDim(s string) bool {
	w, h, ok := strings.Cut(s, "x")
	if !ok {
		return false
	}
	for _, part := range []string{w, h} {
		if len(part) == 0 || len(part) > 6 || part[0] == '0' {
			return false
		}
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return false
			}
		}
	}
	return true
}

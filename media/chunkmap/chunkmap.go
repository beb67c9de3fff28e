// Package chunkmap builds and strictly parses the Nostr events that describe
// shared media: Entropy's kind 7001 chunk map and the NIP-94 kind 1063 file
// metadata event that lets ordinary Nostr clients see the same file.
//
// Builders return unsigned go-nostr events (the caller sets CreatedAt and
// signs); parsers check the event's kind and tags but not its signature,
// which the caller (relay or store) verifies first. The package is pure.
//
// # Kind 7001 chunk map (Entropy compatible)
//
// Content is the description. Tags, in the order [Map.Event] writes them:
//
//	["t", net]                        network, default "entropy"; Entropy may
//	                                  write several, the first is Map.Net
//	["x-hash", rootHex]               Merkle root of the chunk hashes (package merkle)
//	["size", "N"]                     file size in bytes
//	["chunk-size", "5242880"]         target chunk size in bytes
//	["mime", m]                       optional
//	["title", t]                      optional
//	["chunk", sha256Hex, "i"]         one per chunk, i = 0..n-1
//	["gatekeeper", pubkeyHex]         one per seeder
//
// cairn adds streaming tags that Entropy (and any reader that ignores unknown
// tags) skips:
//
//	["init", "offset", "length"]      byte range of the media init segment
//	                                  (e.g. fMP4 ftyp+moov, WebM EBML+Segment
//	                                  header) inside the file
//	["chunk-info", "i", "offset", "length", "durationMs"]
//	                                  per chunk i: its byte offset in the file,
//	                                  its length, and its play time in
//	                                  milliseconds (0 = unknown or not media)
//
// and one more, the same file as a BitTorrent v1 torrent:
//
//	["magnet", "magnet:?xt=urn:btih:<40 hex>&dn=…&xl=N&ws=…&xs=…"]
//	                                  at most one; xl required and equal to
//	                                  size; ws (BEP-19 web seeds) and xs (the
//	                                  .torrent's URL) absolute http(s) URLs
//	                                  (see ParseMagnet)
//
// Chunk-info is all or nothing: one tag per chunk or none. With it, chunks
// are contiguous (offset 0 first, each starting where the previous ended) and
// their lengths sum to size, so a player can seek by time or byte without
// fetching earlier chunks; the MIME may carry an RFC 6381 codecs parameter
// for MediaSource. Entropy's `["entropy-tag", name, count, updatedAt]` tags
// and any other tag are ignored.
//
// Numbers are canonical base-10 (no sign, no leading zeros); hashes and
// pubkeys are lowercase hex, as Entropy writes them. Every known tag must have
// exactly the arity above.
//
// # What Parse checks
//
// Kind 7001; exactly one x-hash, size and chunk-size; at most one mime, title
// and init; chunk indexes 0..n-1 each exactly once; at most [MaxChunks]
// chunks; the root equals merkle.Root(chunks) (and, because that root does not
// commit to the count, the size must be consistent with it); valid gatekeeper
// pubkeys, without duplicates.
//
// Size consistency: n = 0 exactly when size = 0, and every chunk must fit one
// transfer ([MaxChunkLen], the 7 MiB a receiver accepts). Without chunk-info,
// Entropy's chunkers cut non-final chunks at no less than 0.8 x chunk-size
// (keyframe-aligned video) or at exactly chunk-size (other files), so
// (n-1) x 0.8 x chunk-size + 1 <= size <= n x 7 MiB. With chunk-info, the
// lengths (each 1..7 MiB) must add up to size exactly.
//
// # Kind 1063 file metadata (NIP-94)
//
// Content is the description. Tags:
//
//	["url", u]          required, absolute URL (http(s) with a host, or
//	                    another scheme such as magnet:)
//	["m", mime]         required
//	["x", sha256Hex]    required, sha256 of the whole file
//	["size", "N"]       optional (written when Size > 0)
//	["dim", "WxH"]      optional
//	["alt", text]       optional
//	["x-hash", rootHex] optional, cairn: the Merkle root of the file's kind 7001
//	                    chunk map, so a reader of the 1063 can find the map and
//	                    fetch the file peer to peer. Like Entropy's, this tag
//	                    has a multi-letter name, so relays do not index it.
//
//	["magnet", uri]     optional (NIP-94): the file's BitTorrent v1 magnet,
//	                    parsed as in the chunk map; its xl, when given,
//	                    equal to size
//	["i", infohashHex]  optional (NIP-94): the magnet's infohash, 40
//	                    lowercase hex digits, equal to the magnet's
//
// Other NIP-94 tags (ox, thumb, ...) are ignored by the parser.
package chunkmap

import (
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/merkle"
)

// Kinds and defaults.
const (
	KindChunkMap     = 7001
	KindFileMetadata = 1063

	// DefaultNet is the network tag Entropy uses.
	DefaultNet = "entropy"
	// DefaultChunkSize is Entropy's target chunk size, 5 MiB.
	DefaultChunkSize = 5 << 20
)

// Limits.
const (
	// MaxChunks caps the chunks of one map.
	MaxChunks = 1 << 20
	// MaxChunkLen is the largest chunk a peer accepts over the wire (the
	// 7 MiB DATA_HEADER limit of package swarm/wire).
	MaxChunkLen = 7 << 20
	// MaxGatekeepers caps the seeders listed in one map.
	MaxGatekeepers = 256
)

// Sentinel errors; Parse, ParseFileMetadata and Validate wrap them with the
// details.
var (
	ErrKind          = errors.New("chunkmap: wrong event kind")
	ErrMissingTag    = errors.New("chunkmap: missing tag")
	ErrDuplicateTag  = errors.New("chunkmap: duplicate tag")
	ErrTagArity      = errors.New("chunkmap: tag has the wrong number of elements")
	ErrHex           = errors.New("chunkmap: not a 32-byte lowercase hex hash")
	ErrNumber        = errors.New("chunkmap: not a canonical non-negative decimal")
	ErrChunkIndex    = errors.New("chunkmap: chunk index missing, duplicated or out of range")
	ErrTooManyChunks = errors.New("chunkmap: too many chunks")
	ErrRoot          = errors.New("chunkmap: x-hash is not the Merkle root of the chunks")
	ErrSize          = errors.New("chunkmap: size inconsistent with the chunks")
	ErrChunkSize     = errors.New("chunkmap: chunk-size out of range")
	ErrChunkInfo     = errors.New("chunkmap: bad chunk-info")
	ErrInit          = errors.New("chunkmap: bad init range")
	ErrGatekeeper    = errors.New("chunkmap: bad gatekeeper pubkey")
	ErrNet           = errors.New("chunkmap: bad network tag")
	ErrMIME          = errors.New("chunkmap: bad mime type")
	ErrURL           = errors.New("chunkmap: bad url")
	ErrDim           = errors.New("chunkmap: bad dim")
)

// Map is a kind 7001 chunk map.
type Map struct {
	Root        [32]byte
	Size        int64
	ChunkSize   int64
	MIME        string
	Title       string
	Description string
	// Chunks are the chunk hashes in index order.
	Chunks [][32]byte
	// Gatekeepers are seeder pubkeys, lowercase hex.
	Gatekeepers []string
	// Net is the network (the first t tag); empty means DefaultNet.
	Net string
	// ExtraNets are further t tags, in order.
	ExtraNets []string
	// Init is the init segment's byte range, or nil.
	Init *ByteRange
	// ChunkInfo is nil or has one entry per chunk.
	ChunkInfo []ChunkInfo
	// Magnet is the BitTorrent v1 magnet of the same file (its xl equal
	// to Size), or empty.
	Magnet string
}

// ByteRange is a range of bytes in the file.
type ByteRange struct {
	Offset int64
	Length int64
}

// ChunkInfo locates one chunk in the file and in time.
type ChunkInfo struct {
	Offset     int64
	Length     int64
	DurationMs int64
}

// New returns a map for the given chunk hashes and file size with Entropy's
// defaults: its Root computed, ChunkSize DefaultChunkSize, Net DefaultNet.
func New(chunks [][32]byte, size int64) *Map {
	return &Map{
		Root:      merkle.Root(chunks),
		Size:      size,
		ChunkSize: DefaultChunkSize,
		Chunks:    chunks,
		Net:       DefaultNet,
	}
}

// Event returns the unsigned kind 7001 event for m, tags in Entropy's order.
// The caller sets CreatedAt and signs it. Event does not validate m; call
// Validate first when m was not produced by Parse.
func (m *Map) Event() nostr.Event {
	net := m.Net
	if net == "" {
		net = DefaultNet
	}
	tags := make(nostr.Tags, 0, 6+len(m.ExtraNets)+len(m.Chunks)+len(m.Gatekeepers)+len(m.ChunkInfo))
	tags = append(tags, nostr.Tag{"t", net})
	for _, n := range m.ExtraNets {
		tags = append(tags, nostr.Tag{"t", n})
	}
	tags = append(tags,
		nostr.Tag{"x-hash", hex.EncodeToString(m.Root[:])},
		nostr.Tag{"size", itoa(m.Size)},
		nostr.Tag{"chunk-size", itoa(m.ChunkSize)},
	)
	if m.MIME != "" {
		tags = append(tags, nostr.Tag{"mime", m.MIME})
	}
	if m.Title != "" {
		tags = append(tags, nostr.Tag{"title", m.Title})
	}
	for i, c := range m.Chunks {
		tags = append(tags, nostr.Tag{"chunk", hex.EncodeToString(c[:]), strconv.Itoa(i)})
	}
	for _, g := range m.Gatekeepers {
		tags = append(tags, nostr.Tag{"gatekeeper", g})
	}
	if m.Init != nil {
		tags = append(tags, nostr.Tag{"init", itoa(m.Init.Offset), itoa(m.Init.Length)})
	}
	for i, ci := range m.ChunkInfo {
		tags = append(tags, nostr.Tag{"chunk-info", strconv.Itoa(i), itoa(ci.Offset), itoa(ci.Length), itoa(ci.DurationMs)})
	}
	if m.Magnet != "" {
		tags = append(tags, nostr.Tag{"magnet", m.Magnet})
	}
	return nostr.Event{Kind: KindChunkMap, Tags: tags, Content: m.Description}
}

// Parse decodes and validates a kind 7001 chunk map. It does not check the
// event's id or signature.
func Parse(ev *nostr.Event) (*Map, error) {
	if ev == nil {
		return nil, fmt.Errorf("parsing chunk map: nil event: %w", ErrKind)
	}
	if ev.Kind != KindChunkMap {
		return nil, fmt.Errorf("parsing chunk map: kind %d, want %d: %w", ev.Kind, KindChunkMap, ErrKind)
	}
	m := &Map{Description: ev.Content}

	// First pass: count chunk tags so indexes can be checked against n.
	var nChunks, nInfo int
	for _, tag := range ev.Tags {
		if len(tag) == 0 {
			continue
		}
		switch tag[0] {
		case "chunk":
			nChunks++
		case "chunk-info":
			nInfo++
		}
	}
	if nChunks > MaxChunks {
		return nil, fmt.Errorf("parsing chunk map: %d chunks (max %d): %w", nChunks, MaxChunks, ErrTooManyChunks)
	}
	if nInfo != 0 && nInfo != nChunks {
		return nil, fmt.Errorf("parsing chunk map: chunk-info for %d of %d chunks: %w", nInfo, nChunks, ErrChunkInfo)
	}
	m.Chunks = make([][32]byte, nChunks)
	seen := make([]bool, nChunks)
	var seenInfo []bool
	if nInfo > 0 {
		m.ChunkInfo = make([]ChunkInfo, nInfo)
		seenInfo = make([]bool, nInfo)
	}

	var haveRoot, haveSize, haveChunkSize, haveMIME, haveTitle, haveMagnet bool
	for _, tag := range ev.Tags {
		if len(tag) == 0 {
			continue
		}
		name := tag[0]
		arity, known := chunkMapArity[name]
		if !known {
			continue
		}
		if len(tag) != arity {
			return nil, fmt.Errorf("parsing chunk map: %q tag with %d elements, want %d: %w", name, len(tag), arity, ErrTagArity)
		}
		var err error
		switch name {
		case "t":
			err = m.addNet(tag[1])
		case "x-hash":
			if err = once(&haveRoot, name); err == nil {
				m.Root, err = parseHash(tag[1])
			}
		case "size":
			if err = once(&haveSize, name); err == nil {
				m.Size, err = parseNum(tag[1])
			}
		case "chunk-size":
			if err = once(&haveChunkSize, name); err == nil {
				m.ChunkSize, err = parseNum(tag[1])
			}
		case "mime":
			if err = once(&haveMIME, name); err == nil {
				m.MIME = tag[1]
			}
		case "title":
			if err = once(&haveTitle, name); err == nil {
				m.Title = tag[1]
			}
		case "chunk":
			var i int
			if i, err = parseIndex(tag[2], seen); err == nil {
				m.Chunks[i], err = parseHash(tag[1])
			}
		case "magnet":
			if err = once(&haveMagnet, name); err == nil {
				m.Magnet = tag[1] // checked by Validate
			}
		case "gatekeeper":
			m.Gatekeepers = append(m.Gatekeepers, tag[1]) // checked by Validate
		case "init":
			if m.Init != nil {
				err = fmt.Errorf("init: %w", ErrDuplicateTag)
				break
			}
			m.Init = &ByteRange{}
			if m.Init.Offset, err = parseNum(tag[1]); err == nil {
				m.Init.Length, err = parseNum(tag[2])
			}
		case "chunk-info":
			var i int
			if i, err = parseIndex(tag[1], seenInfo); err == nil {
				ci := &m.ChunkInfo[i]
				if ci.Offset, err = parseNum(tag[2]); err == nil {
					if ci.Length, err = parseNum(tag[3]); err == nil {
						ci.DurationMs, err = parseNum(tag[4])
					}
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("parsing chunk map %q tag: %w", name, err)
		}
	}
	for _, req := range []struct {
		name string
		have bool
	}{{"x-hash", haveRoot}, {"size", haveSize}, {"chunk-size", haveChunkSize}} {
		if !req.have {
			return nil, fmt.Errorf("parsing chunk map: no %q tag: %w", req.name, ErrMissingTag)
		}
	}
	if m.Net == "" {
		m.Net = DefaultNet
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("parsing chunk map: %w", err)
	}
	return m, nil
}

var chunkMapArity = map[string]int{
	"t":          2,
	"x-hash":     2,
	"size":       2,
	"chunk-size": 2,
	"mime":       2,
	"title":      2,
	"chunk":      3,
	"gatekeeper": 2,
	"init":       3,
	"chunk-info": 5,
	"magnet":     2,
}

func (m *Map) addNet(n string) error {
	if m.Net == "" {
		if n == "" {
			return fmt.Errorf("empty network: %w", ErrNet)
		}
		m.Net = n
		return nil
	}
	m.ExtraNets = append(m.ExtraNets, n)
	return nil
}

// Validate checks m's invariants (everything Parse checks beyond tag syntax).
func (m *Map) Validate() error {
	n := int64(len(m.Chunks))
	if n > MaxChunks {
		return fmt.Errorf("%d chunks (max %d): %w", n, MaxChunks, ErrTooManyChunks)
	}
	if err := m.validateNets(); err != nil {
		return err
	}
	if m.ChunkSize < 1 || m.ChunkSize > MaxChunkLen {
		return fmt.Errorf("chunk-size %d, want 1..%d: %w", m.ChunkSize, MaxChunkLen, ErrChunkSize)
	}
	if m.Size < 0 {
		return fmt.Errorf("size %d: %w", m.Size, ErrSize)
	}
	if (n == 0) != (m.Size == 0) {
		return fmt.Errorf("size %d with %d chunks: %w", m.Size, n, ErrSize)
	}
	if got := merkle.Root(m.Chunks); got != m.Root {
		return fmt.Errorf("x-hash %x, chunks give %x: %w", m.Root, got, ErrRoot)
	}
	if m.ChunkInfo != nil {
		if err := m.validateChunkInfo(); err != nil {
			return err
		}
	} else if n > 0 {
		if m.Size > n*MaxChunkLen {
			return fmt.Errorf("size %d over %d chunks of at most %d bytes: %w", m.Size, n, MaxChunkLen, ErrSize)
		}
		// Non-final chunks are at least 0.8 x chunk-size, the last at
		// least 1 byte: (n-1)*0.8*cs + 1 <= size. No overflow: size is at
		// most 2^43 here and (n-1)*cs at most 2^43 too.
		if 4*(n-1)*m.ChunkSize > 5*(m.Size-1) {
			return fmt.Errorf("size %d too small for %d chunks of chunk-size %d: %w", m.Size, n, m.ChunkSize, ErrSize)
		}
	}
	if m.Init != nil {
		in := m.Init
		if in.Offset < 0 || in.Length < 1 || in.Offset > m.Size || in.Length > m.Size-in.Offset {
			return fmt.Errorf("init range %d+%d in a file of %d bytes: %w", in.Offset, in.Length, m.Size, ErrInit)
		}
	}
	if len(m.Gatekeepers) > MaxGatekeepers {
		return fmt.Errorf("%d gatekeepers (max %d): %w", len(m.Gatekeepers), MaxGatekeepers, ErrGatekeeper)
	}
	seen := make(map[string]bool, len(m.Gatekeepers))
	for _, g := range m.Gatekeepers {
		if !nostr.IsValidPublicKey(g) {
			return fmt.Errorf("gatekeeper %q: %w", g, ErrGatekeeper)
		}
		if seen[g] {
			return fmt.Errorf("gatekeeper %s listed twice: %w", g, ErrGatekeeper)
		}
		seen[g] = true
	}
	if m.MIME != "" && !validMIME(m.MIME) {
		return fmt.Errorf("mime %q: %w", m.MIME, ErrMIME)
	}
	if m.Magnet != "" {
		if _, err := checkMagnet(m.Magnet, m.Size); err != nil {
			return err
		}
	}
	return nil
}

func (m *Map) validateNets() error {
	nets := make(map[string]bool, 1+len(m.ExtraNets))
	if m.Net != "" {
		nets[m.Net] = true
	} else if len(m.ExtraNets) > 0 {
		return fmt.Errorf("extra networks without a network: %w", ErrNet)
	}
	for _, n := range m.ExtraNets {
		if n == "" {
			return fmt.Errorf("empty network: %w", ErrNet)
		}
		if nets[n] {
			return fmt.Errorf("network %q listed twice: %w", n, ErrNet)
		}
		nets[n] = true
	}
	return nil
}

func (m *Map) validateChunkInfo() error {
	if len(m.ChunkInfo) != len(m.Chunks) {
		return fmt.Errorf("chunk-info for %d of %d chunks: %w", len(m.ChunkInfo), len(m.Chunks), ErrChunkInfo)
	}
	var off int64
	for i, ci := range m.ChunkInfo {
		if ci.Offset != off {
			return fmt.Errorf("chunk %d at offset %d, want %d: %w", i, ci.Offset, off, ErrChunkInfo)
		}
		if ci.Length < 1 || ci.Length > MaxChunkLen {
			return fmt.Errorf("chunk %d of %d bytes, want 1..%d: %w", i, ci.Length, MaxChunkLen, ErrChunkInfo)
		}
		if ci.DurationMs < 0 {
			return fmt.Errorf("chunk %d lasts %d ms: %w", i, ci.DurationMs, ErrChunkInfo)
		}
		off += ci.Length // at most 2^20 * 7 MiB: no overflow
	}
	if off != m.Size {
		return fmt.Errorf("chunk-info lengths add up to %d, size is %d: %w", off, m.Size, ErrSize)
	}
	return nil
}

// once marks a single-use tag as seen, refusing a second one.
func once(seen *bool, name string) error {
	if *seen {
		return fmt.Errorf("%s: %w", name, ErrDuplicateTag)
	}
	*seen = true
	return nil
}

func parseIndex(s string, seen []bool) (int, error) {
	v, err := parseNum(s)
	if err != nil {
		return 0, fmt.Errorf("index: %w", err)
	}
	if v >= int64(len(seen)) {
		return 0, fmt.Errorf("index %d of %d chunks: %w", v, len(seen), ErrChunkIndex)
	}
	if seen[v] {
		return 0, fmt.Errorf("index %d twice: %w", v, ErrChunkIndex)
	}
	seen[v] = true
	return int(v), nil
}

func parseHash(s string) ([32]byte, error) {
	var h [32]byte
	if !nostr.IsValid32ByteHex(s) {
		return h, fmt.Errorf("%q: %w", s, ErrHex)
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("%q: %w", s, ErrHex)
	}
	return h, nil
}

// parseNum parses a canonical non-negative decimal of at most 18 digits.
func parseNum(s string) (int64, error) {
	if len(s) == 0 || len(s) > 18 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%q: %w", s, ErrNumber)
	}
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q: %w", s, ErrNumber)
		}
		v = v*10 + int64(c-'0')
	}
	return v, nil
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// validMIME accepts type/subtype with optional parameters.
func validMIME(s string) bool {
	mt, _, err := mime.ParseMediaType(s)
	if err != nil {
		return false
	}
	typ, sub, ok := strings.Cut(mt, "/")
	return ok && typ != "" && sub != "" && !strings.Contains(sub, "/")
}

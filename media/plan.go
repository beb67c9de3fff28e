package media

import (
	"errors"
	"fmt"

	"github.com/cairn-nostr/cairn/media/chunkmap"
)

// DefaultTargetSize is the target chunk length, Entropy's 5 MiB.
const DefaultTargetSize = chunkmap.DefaultChunkSize

// Limits.
const (
	// MaxTargetSize is the largest target: a chunk may grow to 1.2 x the
	// target and must still fit one transfer (chunkmap.MaxChunkLen).
	MaxTargetSize = chunkmap.MaxChunkLen * 5 / 6
	// MaxFileSize is the largest file a Plan describes: MaxChunks chunks of
	// at most MaxChunkLen bytes (7 TiB).
	MaxFileSize = int64(chunkmap.MaxChunks) * chunkmap.MaxChunkLen
	// maxUnits caps the fragments or clusters of one file; a real file
	// has one per GOP (a 24 h film at 1 s GOPs has 86,400).
	maxUnits = 1 << 20
	// maxMoov and maxMoof cap the boxes read into memory.
	maxMoov = 64 << 20
	maxMoof = 8 << 20
	// maxTracks caps the tracks of a WebM file.
	maxTracks = 1024
)

// Sentinel errors. Split, Detect and Remux wrap them with details.
var (
	// ErrTruncated: a box or element claims more bytes than the file has,
	// or the reader returned fewer bytes than the size given.
	ErrTruncated = errors.New("media: truncated")
	// ErrMalformed: the container structure is invalid.
	ErrMalformed = errors.New("media: malformed container")
	// ErrUnsupported: a valid file this package does not handle.
	ErrUnsupported = errors.New("media: unsupported container layout")
	// ErrNeedsRemux: a progressive (non-fragmented) MP4; Remux it and split
	// the result, or split it with SplitFixed.
	ErrNeedsRemux = errors.New("media: progressive MP4 must be remuxed to fragmented MP4 first")
	// ErrNotProgressive: Remux was given something other than a
	// progressive MP4.
	ErrNotProgressive = errors.New("media: not a progressive MP4")
	// ErrTooLarge: the file, a fragment or cluster, or a table exceeds the
	// limits above.
	ErrTooLarge = errors.New("media: too large")
	// ErrConfig: invalid Chunker settings or arguments (a negative size).
	ErrConfig = errors.New("media: invalid chunker config")
)

// Chunker configures Split. The zero value is ready to use.
type Chunker struct {
	// TargetSize is the target chunk length in bytes; 0 means
	// DefaultTargetSize. Media chunks end at the first keyframe at or past
	// 0.8 x TargetSize (0.8 x min(TargetSize, FirstTargetSize) for the first
	// media chunk) and never grow past 1.2 x TargetSize unless a single
	// fragment or cluster is larger; other files are cut into chunks of
	// exactly TargetSize (the last one shorter).
	TargetSize int64
}

// Validate checks c.
func (c Chunker) Validate() error {
	if c.TargetSize < 0 || c.TargetSize > MaxTargetSize {
		return fmt.Errorf("target size %d, want 1..%d (0 for the default): %w", c.TargetSize, MaxTargetSize, ErrConfig)
	}
	return nil
}

func (c Chunker) target() int64 {
	if c.TargetSize == 0 {
		return DefaultTargetSize
	}
	return c.TargetSize
}

// Container is a detected file format.
type Container int

// Containers Detect reports.
const (
	// Other is any file that is not one of the media containers below; it
	// is cut into fixed-size chunks.
	Other Container = iota
	// FragmentedMP4 is an MP4 whose moov has an mvex box and no samples:
	// ftyp+moov, then moof+mdat fragments.
	FragmentedMP4
	// ProgressiveMP4 is an MP4 whose samples are described in the moov
	// (one or more mdat boxes, moov before or after them). Split refuses it
	// with ErrNeedsRemux.
	ProgressiveMP4
	// WebM is a WebM or Matroska file (EBML header, one Segment).
	WebM
)

func (c Container) String() string {
	switch c {
	case FragmentedMP4:
		return "fragmented-mp4"
	case ProgressiveMP4:
		return "progressive-mp4"
	case WebM:
		return "webm"
	default:
		return "other"
	}
}

// Plan is how a file is cut into chunks.
//
// Chunks are contiguous and cover the whole file: chunk i starts where
// chunk i-1 ends, the first at offset 0, the lengths add up to Size. For
// media (Init != nil) chunk 0 is exactly the init segment (the MP4 ftyp+moov
// or the WebM EBML header and Segment header up to the first Cluster), so it
// is fetched and verified on its own, and every later chunk is a run of whole
// fragments or clusters that a player appends after the init segment.
type Plan struct {
	Container Container
	// Size is the file size in bytes.
	Size int64
	// TargetSize is the target chunk length used (the chunk map's
	// chunk-size).
	TargetSize int64
	// Init is the init segment's range (always chunk 0), or nil for files
	// cut into fixed-size chunks.
	Init *chunkmap.ByteRange
	// Chunks in file order.
	Chunks []Chunk
	// MIME is the media type with an RFC 6381 codecs parameter when every
	// track's codec is known (e.g. `video/mp4; codecs="avc1.42C01E,
	// mp4a.40.2"`); empty for Other files, which the caller may type from
	// the file name.
	MIME string
	// Root is merkle.Root of the chunk hashes.
	Root [32]byte
}

// Chunk is one chunk of a Plan.
type Chunk struct {
	Offset int64
	Length int64
	// DurationMs is the chunk's play time in milliseconds, 0 for the init
	// chunk and non-media files. Durations are rounded so that they add up
	// to the rounded total.
	DurationMs int64
	// Keyframe reports that the chunk starts with a fragment or cluster
	// whose first video sample is a keyframe (sync sample), so a player can
	// start decoding at it. It is false for the init chunk, for non-media
	// files and for chunks that begin at a forced cut.
	Keyframe bool
	// Hash is sha256 of the chunk's bytes.
	Hash [32]byte
}

// Hashes returns the chunk hashes in order, the leaves of Root.
func (p *Plan) Hashes() [][32]byte {
	hs := make([][32]byte, len(p.Chunks))
	for i, c := range p.Chunks {
		hs[i] = c.Hash
	}
	return hs
}

// Map returns the kind 7001 chunk map for p with Entropy's defaults (network
// DefaultNet) and, for media, the init range and per-chunk chunk-info; the
// caller adds Title, Description and Gatekeepers, then calls Event.
func (p *Plan) Map() *chunkmap.Map {
	m := chunkmap.New(p.Hashes(), p.Size)
	m.Root = p.Root
	m.ChunkSize = p.TargetSize
	m.MIME = p.MIME
	if p.Init != nil {
		in := *p.Init
		m.Init = &in
		m.ChunkInfo = make([]chunkmap.ChunkInfo, len(p.Chunks))
		for i, c := range p.Chunks {
			m.ChunkInfo[i] = chunkmap.ChunkInfo{Offset: c.Offset, Length: c.Length, DurationMs: c.DurationMs}
		}
	}
	return m
}

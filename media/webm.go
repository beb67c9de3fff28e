package media

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// EBML and Matroska element IDs (with their length-marker bits, as the
// Matroska specification writes them).
const (
	idEBML           = 0x1A45DFA3
	idDocType        = 0x4282
	idSegment        = 0x18538067
	idSeekHead       = 0x114D9B74
	idInfo           = 0x1549A966
	idTimecodeScale  = 0x2AD7B1
	idDuration       = 0x4489
	idTracks         = 0x1654AE6B
	idTrackEntry     = 0xAE
	idTrackNumber    = 0xD7
	idTrackType      = 0x83
	idCodecID        = 0x86
	idCues           = 0x1C53BB6B
	idCluster        = 0x1F43B675
	idTimecode       = 0xE7
	idSimpleBlock    = 0xA3
	idBlockGroup     = 0xA0
	idBlock          = 0xA1
	idReferenceBlock = 0xFB
	idTags           = 0x1254C367
	idChapters       = 0x1043A770
	idAttachments    = 0x1941A469
	idVoid           = 0xEC
)

// segmentLevel are the Segment children that end a Cluster of unknown size.
var segmentLevel = map[uint32]bool{
	idSeekHead: true, idInfo: true, idTracks: true, idCues: true, idCluster: true,
	idTags: true, idChapters: true, idAttachments: true, idEBML: true, idSegment: true,
}

// element is an EBML element header.
type element struct {
	id   uint32
	off  int64 // element start
	data int64 // data start
	size int64 // data size, -1 when unknown
}

func (e element) end() int64 { return e.data + e.size }

// readElement reads the element header at off inside a parent ending at end.
// An element of known size must fit.
func readElement(s *source, off, end int64) (element, error) {
	avail := end - off
	if avail < 2 {
		return element{}, fmt.Errorf("EBML element at offset %d: %d bytes left: %w", off, avail, ErrTruncated)
	}
	b, err := s.peek(off, int(min(avail, 12)))
	if err != nil {
		return element{}, err
	}
	idLen := vintLen(b[0])
	if idLen == 0 || idLen > 4 {
		return element{}, fmt.Errorf("EBML element id at offset %d starts with %#x: %w", off, b[0], ErrMalformed)
	}
	if len(b) < idLen+1 {
		return element{}, fmt.Errorf("EBML element at offset %d: header cut off: %w", off, ErrTruncated)
	}
	var id uint32
	for _, c := range b[:idLen] {
		id = id<<8 | uint32(c)
	}
	sizeLen := vintLen(b[idLen])
	if sizeLen == 0 {
		return element{}, fmt.Errorf("EBML element %#x at offset %d: bad size: %w", id, off, ErrMalformed)
	}
	if len(b) < idLen+sizeLen {
		return element{}, fmt.Errorf("EBML element %#x at offset %d: size cut off: %w", id, off, ErrTruncated)
	}
	v := uint64(b[idLen]) & (0xFF >> sizeLen)
	allOnes := v == 0xFF>>sizeLen
	for _, c := range b[idLen+1 : idLen+sizeLen] {
		v = v<<8 | uint64(c)
		allOnes = allOnes && c == 0xFF
	}
	e := element{id: id, off: off, data: off + int64(idLen+sizeLen), size: -1}
	if !allOnes {
		if v > uint64(end-e.data) {
			return element{}, fmt.Errorf("EBML element %#x at offset %d of %d bytes, %d left: %w", id, off, v, end-e.data, ErrTruncated)
		}
		e.size = int64(v)
	}
	return e, nil
}

// vintLen is the length of an EBML variable-size integer from its first
// byte (1..8), or 0 if the byte is 0.
func vintLen(b byte) int {
	for n := 1; n <= 8; n++ {
		if b&(0x80>>(n-1)) != 0 {
			return n
		}
	}
	return 0
}

// isWebMMagic reports whether the file starts with an EBML header.
func isWebMMagic(b []byte) bool {
	return len(b) >= 4 && binary.BigEndian.Uint32(b) == idEBML
}

func readUint(s *source, e element) (uint64, error) {
	if e.size < 0 || e.size > 8 {
		return 0, fmt.Errorf("EBML uint %#x at offset %d of %d bytes: %w", e.id, e.off, e.size, ErrMalformed)
	}
	b, err := s.peek(e.data, int(e.size))
	if err != nil {
		return 0, err
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v, nil
}

func readFloat(s *source, e element) (float64, error) {
	b, err := s.peek(e.data, int(max(e.size, 0)))
	if err != nil {
		return 0, err
	}
	switch e.size {
	case 0:
		return 0, nil
	case 4:
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b))), nil
	case 8:
		return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
	}
	return 0, fmt.Errorf("EBML float %#x at offset %d of %d bytes: %w", e.id, e.off, e.size, ErrMalformed)
}

func readString(s *source, e element, max int64) (string, error) {
	if e.size < 0 || e.size > max {
		return "", fmt.Errorf("EBML string %#x at offset %d of %d bytes: %w", e.id, e.off, e.size, ErrMalformed)
	}
	b, err := s.peek(e.data, int(e.size))
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\x00"), nil
}

// children calls fn for each child of the known-size element parent.
func children(s *source, parent element, fn func(element) error) error {
	if parent.size < 0 {
		return fmt.Errorf("EBML element %#x at offset %d of unknown size: %w", parent.id, parent.off, ErrUnsupported)
	}
	for off, end := parent.data, parent.end(); off < end; {
		e, err := readElement(s, off, end)
		if err != nil {
			return err
		}
		if e.size < 0 {
			return fmt.Errorf("EBML element %#x at offset %d of unknown size inside %#x: %w", e.id, e.off, parent.id, ErrMalformed)
		}
		if err := fn(e); err != nil {
			return err
		}
		off = e.end()
	}
	return nil
}

// webmTrack is one Matroska TrackEntry.
type webmTrack struct {
	number uint64
	typ    uint64 // 1 video, 2 audio
	codec  string
}

// webmInfo is what the Segment header says.
type webmInfo struct {
	docType  string
	scale    uint64  // ns per timecode tick
	duration float64 // in ticks, 0 if absent
	tracks   []webmTrack
	video    map[uint64]bool
}

func (w *webmInfo) mime() string {
	hasVideo := len(w.video) > 0
	var typ string
	switch {
	case w.docType == "webm" && hasVideo:
		typ = "video/webm"
	case w.docType == "webm":
		typ = "audio/webm"
	case hasVideo:
		return "video/x-matroska"
	default:
		return "audio/x-matroska"
	}
	names := map[string]string{"V_VP8": "vp8", "V_VP9": "vp9", "A_OPUS": "opus", "A_VORBIS": "vorbis"}
	var codecs []string
	for _, t := range w.tracks {
		if t.typ != 1 && t.typ != 2 {
			continue
		}
		c, ok := names[t.codec]
		if !ok {
			return typ
		}
		codecs = append(codecs, c)
	}
	if len(codecs) == 0 {
		return typ
	}
	return typ + `; codecs="` + strings.Join(codecs, ", ") + `"`
}

// scanWebM walks a WebM/Matroska file: EBML header, one Segment whose
// Info and Tracks come before the first Cluster, then Clusters (and any
// Cues, Tags, ... between or after them, which join the preceding unit).
// Segment and Cluster may have unknown sizes (live streams).
func scanWebM(s *source) (*layout, error) {
	hdr, err := readElement(s, 0, s.size)
	if err != nil {
		return nil, err
	}
	if hdr.id != idEBML || hdr.size < 0 {
		return nil, fmt.Errorf("no EBML header: %w", ErrMalformed)
	}
	w := &webmInfo{scale: 1000000, video: map[uint64]bool{}}
	err = children(s, hdr, func(e element) error {
		var err error
		if e.id == idDocType {
			w.docType, err = readString(s, e, 64)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if w.docType != "webm" && w.docType != "matroska" {
		return nil, fmt.Errorf("EBML doctype %q: %w", w.docType, ErrUnsupported)
	}
	seg, err := readElement(s, hdr.end(), s.size)
	if err != nil {
		return nil, err
	}
	if seg.id != idSegment {
		return nil, fmt.Errorf("element %#x at offset %d, want a Segment: %w", seg.id, seg.off, ErrMalformed)
	}
	segEnd := s.size
	if seg.size >= 0 {
		segEnd = seg.end()
	}
	if segEnd != s.size {
		return nil, fmt.Errorf("%d bytes after the Segment (only one Segment is supported): %w", s.size-segEnd, ErrUnsupported)
	}

	l := &layout{container: WebM, timescale: 1e9}
	var haveInfo, haveTracks bool
	var last element // last cluster
	for off := seg.data; off < segEnd; {
		e, err := readElement(s, off, segEnd)
		if err != nil {
			return nil, err
		}
		switch {
		case e.id == idCluster:
			if !haveInfo || !haveTracks {
				return nil, fmt.Errorf("cluster at offset %d before the segment Info and Tracks: %w", e.off, ErrUnsupported)
			}
			if len(l.units) >= maxUnits {
				return nil, fmt.Errorf("more than %d clusters: %w", maxUnits, ErrTooLarge)
			}
			c, err := scanCluster(s, e, segEnd, w, false)
			if err != nil {
				return nil, err
			}
			l.units = append(l.units, unit{off: e.off, key: c.key, time: c.time})
			e.size = c.end - e.data
			last = e
		case e.size < 0:
			return nil, fmt.Errorf("element %#x at offset %d of unknown size: %w", e.id, e.off, ErrMalformed)
		case e.id == idInfo && len(l.units) == 0:
			if err := parseInfo(s, e, w); err != nil {
				return nil, err
			}
			haveInfo = true
		case e.id == idTracks && len(l.units) == 0:
			if err := parseTracks(s, e, w); err != nil {
				return nil, err
			}
			haveTracks = true
		}
		off = e.end()
	}
	l.mime = w.mime()
	l.initLen = s.size
	if len(l.units) == 0 {
		return l, nil
	}
	l.initLen = l.units[0].off
	for i := range l.units {
		next := s.size
		if i+1 < len(l.units) {
			next = l.units[i+1].off
		}
		l.units[i].n = next - l.units[i].off
	}
	// The end time: the segment Duration, or the last block of the last
	// cluster when the muxer wrote none (a live stream).
	c, err := scanCluster(s, last, segEnd, w, true)
	if err != nil {
		return nil, err
	}
	l.end = c.lastTime
	if d := w.duration * float64(w.scale); d > float64(l.end) && d < 1<<62 {
		l.end = int64(d)
	}
	return l, nil
}

func parseInfo(s *source, info element, w *webmInfo) error {
	return children(s, info, func(e element) error {
		var err error
		switch e.id {
		case idTimecodeScale:
			if w.scale, err = readUint(s, e); err == nil && (w.scale == 0 || w.scale > 1e12) {
				err = fmt.Errorf("timecode scale %d: %w", w.scale, ErrMalformed)
			}
		case idDuration:
			if w.duration, err = readFloat(s, e); err == nil && !(w.duration >= 0 && w.duration < 1<<62) {
				w.duration = 0 // NaN, negative or absurd: ignore
			}
		}
		return err
	})
}

func parseTracks(s *source, tracks element, w *webmInfo) error {
	return children(s, tracks, func(te element) error {
		if te.id != idTrackEntry {
			return nil
		}
		if len(w.tracks) >= maxTracks {
			return fmt.Errorf("more than %d tracks: %w", maxTracks, ErrTooLarge)
		}
		var t webmTrack
		err := children(s, te, func(e element) error {
			var err error
			switch e.id {
			case idTrackNumber:
				t.number, err = readUint(s, e)
			case idTrackType:
				t.typ, err = readUint(s, e)
			case idCodecID:
				t.codec, err = readString(s, e, 256)
			}
			return err
		})
		if err != nil {
			return err
		}
		if t.number == 0 {
			return fmt.Errorf("track entry at offset %d without a track number: %w", te.off, ErrMalformed)
		}
		w.tracks = append(w.tracks, t)
		if t.typ == 1 {
			w.video[t.number] = true
		}
		return nil
	})
}

// clusterScan is what scanCluster finds.
type clusterScan struct {
	end      int64 // end of the cluster's data
	time     int64 // cluster time in ns
	key      bool  // the first video block (first block, without video) is a keyframe
	lastTime int64 // latest block time in ns (only when all is set)
}

// scanCluster reads a cluster's Timecode and first video block. A cluster
// of unknown size ends at the next Segment-level element. With all, it
// reads every block header to find the latest block time; otherwise it
// stops at the first video block when the cluster's size is known.
func scanCluster(s *source, c element, segEnd int64, w *webmInfo, all bool) (clusterScan, error) {
	cs := clusterScan{time: -1}
	end := segEnd
	if c.size >= 0 {
		end = c.end()
	}
	var tc uint64
	decided := false
	off := c.data
	for off < end {
		e, err := readElement(s, off, end)
		if err != nil {
			return cs, err
		}
		if c.size < 0 && segmentLevel[e.id] {
			end = off
			break
		}
		if e.size < 0 {
			return cs, fmt.Errorf("element %#x at offset %d of unknown size in a cluster: %w", e.id, e.off, ErrMalformed)
		}
		switch e.id {
		case idTimecode:
			if tc, err = readUint(s, e); err != nil {
				return cs, err
			}
			if tc > (1<<62)/w.scale {
				return cs, fmt.Errorf("cluster timecode %d at offset %d: %w", tc, e.off, ErrMalformed)
			}
			cs.time = int64(tc * w.scale)
		case idSimpleBlock, idBlockGroup:
			if cs.time < 0 {
				return cs, fmt.Errorf("block at offset %d before the cluster timecode: %w", e.off, ErrMalformed)
			}
			track, rel, key, err := readBlock(s, e)
			if err != nil {
				return cs, err
			}
			if t := cs.time + rel*int64(w.scale); t > cs.lastTime {
				cs.lastTime = t
			}
			if !decided && (len(w.video) == 0 || w.video[track]) {
				decided, cs.key = true, key
			}
		}
		off = e.end()
		if decided && !all && c.size >= 0 {
			break
		}
	}
	if cs.time < 0 {
		return cs, fmt.Errorf("cluster at offset %d without a timecode: %w", c.off, ErrMalformed)
	}
	if c.size >= 0 {
		end = c.end()
	}
	cs.end = end
	return cs, nil
}

// readBlock reads a SimpleBlock's or BlockGroup's track number, relative
// timecode and keyframe flag (a BlockGroup is a keyframe when it has no
// ReferenceBlock).
func readBlock(s *source, e element) (track uint64, rel int64, key bool, err error) {
	blk := e
	if e.id == idBlockGroup {
		found, refs := false, false
		err = children(s, e, func(c element) error {
			switch c.id {
			case idBlock:
				if !found {
					blk, found = c, true
				}
			case idReferenceBlock:
				refs = true
			}
			return nil
		})
		if err != nil {
			return 0, 0, false, err
		}
		if !found {
			return 0, 0, false, fmt.Errorf("block group at offset %d without a block: %w", e.off, ErrMalformed)
		}
		key = !refs
	}
	b, err := s.peek(blk.data, int(min(blk.size, 12)))
	if err != nil {
		return 0, 0, false, err
	}
	if len(b) == 0 {
		return 0, 0, false, fmt.Errorf("empty block at offset %d: %w", blk.off, ErrMalformed)
	}
	n := vintLen(b[0])
	if n == 0 || len(b) < n+3 {
		return 0, 0, false, fmt.Errorf("block at offset %d: bad header: %w", blk.off, ErrMalformed)
	}
	track = uint64(b[0]) & (0xFF >> n)
	for _, c := range b[1:n] {
		track = track<<8 | uint64(c)
	}
	rel = int64(int16(binary.BigEndian.Uint16(b[n:])))
	if e.id == idSimpleBlock {
		key = b[n+2]&0x80 != 0
	}
	return track, rel, key, nil
}

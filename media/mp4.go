package media

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/Eyevinn/mp4ff/bits"
	"github.com/Eyevinn/mp4ff/mp4"
)

// boxHeader is an ISO BMFF box header.
type boxHeader struct {
	typ  string
	off  int64 // offset of the box in the file
	hdr  int64 // header length: 8, or 16 with a 64-bit size
	size int64 // whole box
}

func (h boxHeader) end() int64 { return h.off + h.size }

// readBoxHeader reads the box header at off inside a parent ending at end.
// A size of 0 (to the end) is taken as reaching end. The box must fit.
func readBoxHeader(s *source, off, end int64) (boxHeader, error) {
	if end-off < 8 {
		return boxHeader{}, fmt.Errorf("box header at offset %d: only %d bytes left: %w", off, end-off, ErrTruncated)
	}
	b, err := s.peek(off, 8)
	if err != nil {
		return boxHeader{}, err
	}
	h := boxHeader{typ: string(b[4:8]), off: off, hdr: 8, size: int64(binary.BigEndian.Uint32(b))}
	switch h.size {
	case 0:
		h.size = end - off
	case 1:
		if end-off < 16 {
			return boxHeader{}, fmt.Errorf("%q box at offset %d: 64-bit size cut off: %w", h.typ, off, ErrTruncated)
		}
		if b, err = s.peek(off+8, 8); err != nil {
			return boxHeader{}, err
		}
		size := binary.BigEndian.Uint64(b)
		if size > uint64(end-off) {
			return boxHeader{}, fmt.Errorf("%q box at offset %d of %d bytes, %d left: %w", h.typ, off, size, end-off, ErrTruncated)
		}
		h.hdr, h.size = 16, int64(size)
	}
	if h.size < h.hdr {
		return boxHeader{}, fmt.Errorf("%q box at offset %d: size %d smaller than its header: %w", h.typ, off, h.size, ErrMalformed)
	}
	if h.size > end-off {
		return boxHeader{}, fmt.Errorf("%q box at offset %d of %d bytes, %d left: %w", h.typ, off, h.size, end-off, ErrTruncated)
	}
	return h, nil
}

// isMP4Magic reports whether the file starts like an MP4: a plausible ftyp
// or moov box first.
func isMP4Magic(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	t := string(b[4:8])
	return (t == "ftyp" || t == "moov") && binary.BigEndian.Uint32(b) >= 8
}

// mp4Track is what the chunker needs to know about one track.
type mp4Track struct {
	id        uint32
	timescale uint32
	video     bool
	audio     bool
	trex      *mp4.TrexBox
	codec     string // RFC 6381, "" if unknown
	samples   uint32 // samples described in the moov's stbl
}

// moovInfo summarizes a moov box.
type moovInfo struct {
	tracks     []mp4Track
	fragmented bool // has mvex
	hasSamples bool // some stbl describes samples
}

func (m *moovInfo) track(id uint32) *mp4Track {
	for i := range m.tracks {
		if m.tracks[i].id == id {
			return &m.tracks[i]
		}
	}
	return nil
}

// refTrack is the track whose times give chunk durations: the first video
// track, else the first track.
func (m *moovInfo) refTrack() *mp4Track {
	for i := range m.tracks {
		if m.tracks[i].video {
			return &m.tracks[i]
		}
	}
	if len(m.tracks) > 0 {
		return &m.tracks[0]
	}
	return nil
}

func (m *moovInfo) hasVideo() bool {
	for _, t := range m.tracks {
		if t.video {
			return true
		}
	}
	return false
}

// mime is video/mp4 or audio/mp4 with a codecs parameter when every track's
// codec string is known.
func (m *moovInfo) mime() string {
	typ := "audio/mp4"
	if m.hasVideo() {
		typ = "video/mp4"
	}
	var codecs []string
	for _, t := range m.tracks {
		if !t.video && !t.audio {
			continue
		}
		if t.codec == "" {
			return typ
		}
		codecs = append(codecs, t.codec)
	}
	if len(codecs) == 0 {
		return typ
	}
	return typ + `; codecs="` + strings.Join(codecs, ", ") + `"`
}

// decodeBox decodes one whole box held in b with mp4ff, turning any panic
// inside the library on hostile input into ErrMalformed.
func decodeBox(b []byte, off int64) (box mp4.Box, err error) {
	defer func() {
		if r := recover(); r != nil {
			box, err = nil, fmt.Errorf("decoding box at offset %d: %v: %w", off, r, ErrMalformed)
		}
	}()
	box, err = mp4.DecodeBoxSR(uint64(off), bits.NewFixedSliceReader(b))
	if err != nil {
		return nil, fmt.Errorf("decoding box at offset %d: %v: %w", off, err, ErrMalformed)
	}
	return box, nil
}

// readMoov reads and decodes the moov box h.
func readMoov(s *source, h boxHeader) (*mp4.MoovBox, error) {
	if h.size > maxMoov {
		return nil, fmt.Errorf("moov of %d bytes (max %d): %w", h.size, maxMoov, ErrTooLarge)
	}
	b, err := s.read(h.off, int(h.size))
	if err != nil {
		return nil, err
	}
	if h.hdr != 8 {
		return nil, fmt.Errorf("moov at offset %d with a 64-bit size: %w", h.off, ErrUnsupported)
	}
	box, err := decodeBox(b, h.off)
	if err != nil {
		return nil, err
	}
	moov, ok := box.(*mp4.MoovBox)
	if !ok {
		return nil, fmt.Errorf("moov at offset %d decoded as %T: %w", h.off, box, ErrMalformed)
	}
	return moov, nil
}

// parseMoov extracts the tracks of moov.
func parseMoov(moov *mp4.MoovBox) (*moovInfo, error) {
	info := &moovInfo{fragmented: moov.Mvex != nil}
	if len(moov.Traks) == 0 {
		return nil, fmt.Errorf("moov has no tracks: %w", ErrMalformed)
	}
	for _, trak := range moov.Traks {
		if trak.Tkhd == nil || trak.Mdia == nil || trak.Mdia.Mdhd == nil || trak.Mdia.Hdlr == nil ||
			trak.Mdia.Minf == nil || trak.Mdia.Minf.Stbl == nil {
			return nil, fmt.Errorf("trak without tkhd, mdhd, hdlr or stbl: %w", ErrMalformed)
		}
		t := mp4Track{id: trak.Tkhd.TrackID, timescale: trak.Mdia.Mdhd.Timescale}
		if t.timescale == 0 {
			return nil, fmt.Errorf("track %d has timescale 0: %w", t.id, ErrMalformed)
		}
		if info.track(t.id) != nil {
			return nil, fmt.Errorf("track id %d used twice: %w", t.id, ErrMalformed)
		}
		switch trak.Mdia.Hdlr.HandlerType {
		case "vide":
			t.video = true
		case "soun":
			t.audio = true
		}
		stbl := trak.Mdia.Minf.Stbl
		if stbl.Stsz != nil {
			t.samples = stbl.Stsz.GetNrSamples()
		}
		if t.samples > 0 {
			info.hasSamples = true
		}
		if stbl.Stsd != nil {
			t.codec = codecString(stbl.Stsd)
		}
		if moov.Mvex != nil {
			t.trex, _ = moov.Mvex.GetTrex(t.id)
		}
		info.tracks = append(info.tracks, t)
	}
	return info, nil
}

// codecString is the RFC 6381 codecs entry for the first sample entry of
// stsd, or "" when this package does not know how to name it.
func codecString(stsd *mp4.StsdBox) string {
	if len(stsd.Children) == 0 {
		return ""
	}
	switch e := stsd.Children[0].(type) {
	case *mp4.VisualSampleEntryBox:
		switch typ := e.Type(); {
		case (typ == "avc1" || typ == "avc3") && e.AvcC != nil:
			return fmt.Sprintf("%s.%02X%02X%02X", typ, e.AvcC.AVCProfileIndication, e.AvcC.ProfileCompatibility, e.AvcC.AVCLevelIndication)
		case typ == "vp09" && e.VppC != nil:
			return fmt.Sprintf("vp09.%02d.%02d.%02d", e.VppC.Profile, e.VppC.Level, e.VppC.BitDepth)
		case typ == "vp08":
			return "vp8"
		case typ == "av01" && e.Av1C != nil:
			return e.Av1C.CodecString("av01")
		}
	case *mp4.AudioSampleEntryBox:
		switch typ := e.Type(); typ {
		case "mp4a":
			if e.Esds == nil || e.Esds.DecConfigDescriptor == nil {
				return ""
			}
			dcd := e.Esds.DecConfigDescriptor
			if dcd.ObjectType != 0x40 {
				return fmt.Sprintf("mp4a.%02X", dcd.ObjectType)
			}
			if dcd.DecSpecificInfo == nil || len(dcd.DecSpecificInfo.DecConfig) < 1 {
				return "mp4a.40.2"
			}
			cfg := dcd.DecSpecificInfo.DecConfig
			aot := int(cfg[0] >> 3)
			if aot == 31 {
				if len(cfg) < 2 {
					return ""
				}
				aot = 32 + (int(cfg[0]&7)<<3 | int(cfg[1]>>5))
			}
			return fmt.Sprintf("mp4a.40.%d", aot)
		case "Opus":
			return "opus"
		case "fLaC":
			return "flac"
		case "ac-3", "ec-3":
			return typ
		}
	}
	return ""
}

// leadingBoxes may open a fragment before its moof.
var leadingBoxes = map[string]bool{"styp": true, "sidx": true, "ssix": true, "prft": true, "emsg": true}

// scanMP4 walks the top-level boxes of an MP4. For a fragmented file it
// returns the layout; for a progressive one a layout with only container
// and mime set.
func scanMP4(s *source) (*layout, error) {
	var (
		info    *moovInfo
		l       = &layout{container: FragmentedMP4}
		ref     *mp4Track
		hasMoof bool // the current (last) unit has its moof
		clock   uint64
		sawMdat bool
		boxes   int
	)
	for off := int64(0); off < s.size; {
		h, err := readBoxHeader(s, off, s.size)
		if err != nil {
			return nil, err
		}
		boxes++
		switch {
		case h.typ == "moov":
			if info != nil {
				return nil, fmt.Errorf("second moov at offset %d: %w", h.off, ErrMalformed)
			}
			moov, err := readMoov(s, h)
			if err != nil {
				return nil, err
			}
			if info, err = parseMoov(moov); err != nil {
				return nil, err
			}
			l.mime = info.mime()
			if !info.fragmented {
				l.container = ProgressiveMP4
				return l, nil
			}
			if info.hasSamples || sawMdat {
				return nil, fmt.Errorf("moov describes samples and fragments follow (write it with -movflags +empty_moov, or remux): %w", ErrUnsupported)
			}
			ref = info.refTrack()
			l.timescale = int64(ref.timescale)
		case h.typ == "moof" || leadingBoxes[h.typ]:
			if info == nil {
				return nil, fmt.Errorf("%q box at offset %d before the moov: %w", h.typ, h.off, ErrMalformed)
			}
			if len(l.units) == 0 || hasMoof {
				if len(l.units) >= maxUnits {
					return nil, fmt.Errorf("more than %d fragments: %w", maxUnits, ErrTooLarge)
				}
				l.units = append(l.units, unit{off: h.off, time: int64(clock)})
				hasMoof = false
			}
			if h.typ == "moof" {
				key, dur, err := readMoof(s, h, info, ref)
				if err != nil {
					return nil, err
				}
				u := &l.units[len(l.units)-1]
				u.key, u.time = key, int64(clock)
				if clock += dur; clock > 1<<62 || dur > 1<<62 {
					return nil, fmt.Errorf("fragment times overflow at offset %d: %w", h.off, ErrMalformed)
				}
				hasMoof = true
			}
		case h.typ == "mdat":
			if info == nil {
				sawMdat = true // progressive with the moov at the end
			} else if len(l.units) == 0 {
				return nil, fmt.Errorf("mdat at offset %d before the first moof: %w", h.off, ErrUnsupported)
			}
		}
		off = h.end()
	}
	if info == nil {
		return nil, fmt.Errorf("no moov box in %d top-level boxes: %w", boxes, ErrMalformed)
	}
	l.initLen = s.size
	if len(l.units) > 0 {
		l.initLen = l.units[0].off
	}
	for i := range l.units {
		next := s.size
		if i+1 < len(l.units) {
			next = l.units[i+1].off
		}
		l.units[i].n = next - l.units[i].off
	}
	l.end = int64(clock)
	return l, nil
}

// readMoof decodes the moof h and reports whether its fragment starts with a
// sync sample on every video track it carries (every track, for a file
// without video), and the duration of the reference track's samples in it.
func readMoof(s *source, h boxHeader, info *moovInfo, ref *mp4Track) (key bool, dur uint64, err error) {
	if h.size > maxMoof {
		return false, 0, fmt.Errorf("moof of %d bytes at offset %d (max %d): %w", h.size, h.off, maxMoof, ErrTooLarge)
	}
	if h.hdr != 8 {
		return false, 0, fmt.Errorf("moof at offset %d with a 64-bit size: %w", h.off, ErrUnsupported)
	}
	b, err := s.read(h.off, int(h.size))
	if err != nil {
		return false, 0, err
	}
	box, err := decodeBox(b, h.off)
	if err != nil {
		return false, 0, err
	}
	moof, ok := box.(*mp4.MoofBox)
	if !ok {
		return false, 0, fmt.Errorf("moof at offset %d decoded as %T: %w", h.off, box, ErrMalformed)
	}
	video := info.hasVideo()
	key = true
	seen := false // a traf that decides key (video, or any without video)
	for _, traf := range moof.Trafs {
		if traf.Tfhd == nil {
			return false, 0, fmt.Errorf("traf without tfhd in moof at offset %d: %w", h.off, ErrMalformed)
		}
		t := info.track(traf.Tfhd.TrackID)
		if t == nil {
			return false, 0, fmt.Errorf("traf for unknown track %d in moof at offset %d: %w", traf.Tfhd.TrackID, h.off, ErrMalformed)
		}
		flags, n, d := trafSamples(traf, t.trex)
		if t == ref {
			dur += d
		}
		if n == 0 || (video && !t.video) {
			continue
		}
		seen = true
		if flags&nonSyncFlag != 0 {
			key = false
		}
	}
	return key && seen, dur, nil
}

// nonSyncFlag is sample_is_non_sync_sample in ISO/IEC 14496-12 sample flags.
const nonSyncFlag = 0x00010000

// trafSamples returns the flags of the first sample of traf (from trun,
// tfhd or trex defaults, in that order), its number of samples and their
// total duration.
func trafSamples(traf *mp4.TrafBox, trex *mp4.TrexBox) (first uint32, n, dur uint64) {
	tfhd := traf.Tfhd
	var defDur, defFlags uint32
	if tfhd.HasDefaultSampleDuration() {
		defDur = tfhd.DefaultSampleDuration
	} else if trex != nil {
		defDur = trex.DefaultSampleDuration
	}
	if tfhd.HasDefaultSampleFlags() {
		defFlags = tfhd.DefaultSampleFlags
	} else if trex != nil {
		defFlags = trex.DefaultSampleFlags
	}
	for _, trun := range traf.Truns {
		c := uint64(trun.SampleCount())
		if c == 0 {
			continue
		}
		if n == 0 {
			switch fsf, ok := trun.FirstSampleFlags(); {
			case ok:
				first = fsf
			case trun.HasSampleFlags():
				first = trun.Samples[0].Flags
			default:
				first = defFlags
			}
		}
		n += c
		if trun.HasSampleDuration() {
			for _, smp := range trun.Samples {
				dur += uint64(smp.Dur)
			}
		} else {
			dur += c * uint64(defDur)
		}
	}
	return first, n, dur
}

// findMoov walks the top-level boxes to the moov and parses it.
func findMoov(s *source) (*moovInfo, error) {
	for off := int64(0); off < s.size; {
		h, err := readBoxHeader(s, off, s.size)
		if err != nil {
			return nil, err
		}
		if h.typ == "moov" {
			moov, err := readMoov(s, h)
			if err != nil {
				return nil, err
			}
			return parseMoov(moov)
		}
		off = h.end()
	}
	return nil, fmt.Errorf("no moov box: %w", ErrMalformed)
}

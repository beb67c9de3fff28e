package media

import (
	"bufio"
	"fmt"
	"io"
	"math/bits"

	"github.com/Eyevinn/mp4ff/mp4"
)

// Remux limits.
const (
	// maxRemuxSamples caps the samples of all tracks together (about 28
	// bytes of memory each): 4 Mi is 12 h of 30 fps video with 48 kHz AAC.
	maxRemuxSamples = 1 << 22
	// minFragment is the least play time of the reference track in one
	// fragment before a sync sample starts the next: GOPs of at least this
	// length get one fragment each; all-intra video and audio are grouped.
	minFragmentMs = 500
	// maxFragmentBytes caps the reference track's sample bytes in one
	// fragment; a longer GOP is split and its continuation fragment does
	// not start with a sync sample. It keeps every fragment well below
	// chunkmap.MaxChunkLen and below 1.2 x DefaultTargetSize.
	maxFragmentBytes = 4 << 20
)

// Remux rewrites the progressive MP4 of size bytes in r as a fragmented MP4
// on w, which Split then cuts.
//
// The output is an init segment (ftyp, then a moov with the source's
// tracks, sample descriptions and edit lists, empty sample tables and an
// mvex) followed by one moof+mdat fragment per GOP of the reference track
// (the first video track, else the first audio track): a fragment starts at
// each of its sync samples once the fragment holds at least 500 ms, or after
// 4 MiB of its samples (that continuation does not start with a sync
// sample). The other tracks' samples are interleaved by decode time: each
// fragment carries the samples that start before the reference track's next
// fragment. Only video and audio tracks are kept (timecode, text and other
// tracks, and the movie's udta/meta metadata, are dropped); each kept
// track must use a single sample description.
//
// Remux holds the moov and the expanded sample tables in memory (bounded by
// maxRemuxSamples) and copies sample data through one fixed buffer; it
// never holds a fragment's media. r must not be a progressive MP4 with
// fragments (ErrNotProgressive) and w gets a partial file on error.
func Remux(r io.ReaderAt, size int64, w io.Writer) error {
	s, err := open(r, size)
	if err != nil {
		return err
	}
	magic, err := s.peek(0, int(min(size, 8)))
	if err != nil {
		return err
	}
	if !isMP4Magic(magic) {
		return fmt.Errorf("remuxing: no ftyp or moov box first: %w", ErrNotProgressive)
	}
	var moov *mp4.MoovBox
	for off := int64(0); off < size; {
		h, err := readBoxHeader(s, off, size)
		if err != nil {
			return fmt.Errorf("remuxing: %w", err)
		}
		if h.typ == "moov" {
			if moov != nil {
				return fmt.Errorf("remuxing: second moov at offset %d: %w", h.off, ErrMalformed)
			}
			if moov, err = readMoov(s, h); err != nil {
				return fmt.Errorf("remuxing: %w", err)
			}
		}
		off = h.end()
	}
	if moov == nil {
		return fmt.Errorf("remuxing: no moov box: %w", ErrMalformed)
	}
	if moov.Mvex != nil {
		return fmt.Errorf("remuxing: the moov has an mvex (already fragmented): %w", ErrNotProgressive)
	}
	if moov.Mvhd == nil {
		return fmt.Errorf("remuxing: moov without mvhd: %w", ErrMalformed)
	}
	tracks, err := remuxTracks(moov, size)
	if err != nil {
		return fmt.Errorf("remuxing: %w", err)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := writeInit(bw, moov, tracks); err != nil {
		return fmt.Errorf("remuxing: writing init segment: %w", err)
	}
	if err := writeFragments(bw, s, tracks); err != nil {
		return fmt.Errorf("remuxing: %w", err)
	}
	return bw.Flush()
}

// rtrack is a track being remuxed.
type rtrack struct {
	trak      *mp4.TrakBox
	id        uint32
	timescale uint32
	video     bool
	sdi       uint32 // sample description index of all samples
	samples   []rsample
	next      int // next sample to write
}

type rsample struct {
	off  int64
	dts  uint64
	size uint32
	dur  uint32
	cto  int32
	sync bool
}

// remuxTracks keeps the video and audio tracks of moov and expands their
// sample tables.
func remuxTracks(moov *mp4.MoovBox, fileSize int64) ([]*rtrack, error) {
	var tracks []*rtrack
	budget := maxRemuxSamples
	for _, trak := range moov.Traks {
		if trak.Tkhd == nil || trak.Mdia == nil || trak.Mdia.Mdhd == nil || trak.Mdia.Hdlr == nil ||
			trak.Mdia.Minf == nil || trak.Mdia.Minf.Stbl == nil {
			return nil, fmt.Errorf("trak without tkhd, mdhd, hdlr or stbl: %w", ErrMalformed)
		}
		hdlr := trak.Mdia.Hdlr.HandlerType
		if hdlr != "vide" && hdlr != "soun" {
			continue
		}
		t := &rtrack{trak: trak, id: trak.Tkhd.TrackID, timescale: trak.Mdia.Mdhd.Timescale, video: hdlr == "vide", sdi: 1}
		if t.timescale == 0 {
			return nil, fmt.Errorf("track %d has timescale 0: %w", t.id, ErrMalformed)
		}
		for _, o := range tracks {
			if o.id == t.id {
				return nil, fmt.Errorf("track id %d used twice: %w", t.id, ErrMalformed)
			}
		}
		var err error
		if t.samples, err = expandSamples(trak.Mdia.Minf.Stbl, fileSize, &budget, &t.sdi); err != nil {
			return nil, fmt.Errorf("track %d: %w", t.id, err)
		}
		tracks = append(tracks, t)
	}
	if len(tracks) == 0 {
		return nil, fmt.Errorf("no video or audio track: %w", ErrUnsupported)
	}
	return tracks, nil
}

// expandSamples turns a progressive sample table into one entry per sample,
// checking every table against the sample count and the file size.
func expandSamples(stbl *mp4.StblBox, fileSize int64, budget *int, sdi *uint32) ([]rsample, error) {
	if stbl.Stsd == nil || stbl.Stts == nil || stbl.Stsc == nil || stbl.Stsz == nil || (stbl.Stco == nil && stbl.Co64 == nil) {
		return nil, fmt.Errorf("sample table without stsd, stts, stsc, stsz or stco: %w", ErrMalformed)
	}
	stsz := stbl.Stsz
	n64 := uint64(stsz.SampleNumber)
	if stsz.SampleUniformSize == 0 && uint64(len(stsz.SampleSize)) != n64 {
		return nil, fmt.Errorf("stsz lists %d sizes for %d samples: %w", len(stsz.SampleSize), n64, ErrMalformed)
	}
	if stsz.SampleUniformSize != 0 && n64 > uint64(fileSize)/uint64(stsz.SampleUniformSize) {
		// Without this, a 20-byte stsz could make us allocate for
		// millions of samples the file cannot hold.
		return nil, fmt.Errorf("%d samples of %d bytes in a %d-byte file: %w", n64, stsz.SampleUniformSize, fileSize, ErrTruncated)
	}
	if n64 > uint64(*budget) {
		return nil, fmt.Errorf("%d samples (at most %d in all tracks): %w", n64, maxRemuxSamples, ErrTooLarge)
	}
	n := int(n64)
	*budget -= n
	smp := make([]rsample, n)
	for i := range smp {
		if stsz.SampleUniformSize != 0 {
			smp[i].size = stsz.SampleUniformSize
		} else {
			smp[i].size = stsz.SampleSize[i]
		}
	}

	// Decode times.
	stts := stbl.Stts
	if len(stts.SampleCount) != len(stts.SampleTimeDelta) {
		return nil, fmt.Errorf("stts: %w", ErrMalformed)
	}
	i, dts := 0, uint64(0)
	for k, c := range stts.SampleCount {
		if uint64(c) > uint64(n-i) {
			return nil, fmt.Errorf("stts covers more than %d samples: %w", n, ErrMalformed)
		}
		d := stts.SampleTimeDelta[k]
		for end := i + int(c); i < end; i++ {
			smp[i].dts, smp[i].dur = dts, d
			dts += uint64(d)
		}
	}
	if i != n {
		return nil, fmt.Errorf("stts covers %d of %d samples: %w", i, n, ErrMalformed)
	}

	// Composition offsets.
	if ctts := stbl.Ctts; ctts != nil {
		if len(ctts.EndSampleNr) != len(ctts.SampleOffset)+1 {
			return nil, fmt.Errorf("ctts: %w", ErrMalformed)
		}
		for k, o := range ctts.SampleOffset {
			from, to := uint64(ctts.EndSampleNr[k]), uint64(ctts.EndSampleNr[k+1])
			if to < from || to > n64 {
				return nil, fmt.Errorf("ctts covers more than %d samples: %w", n, ErrMalformed)
			}
			for j := from; j < to; j++ {
				smp[j].cto = o
			}
		}
		if last := ctts.EndSampleNr[len(ctts.EndSampleNr)-1]; uint64(last) != n64 {
			return nil, fmt.Errorf("ctts covers %d of %d samples: %w", last, n, ErrMalformed)
		}
	}

	// Sync samples: all of them without stss.
	if stbl.Stss == nil {
		for j := range smp {
			smp[j].sync = true
		}
	} else {
		for _, nr := range stbl.Stss.SampleNumber {
			if nr < 1 || uint64(nr) > n64 {
				return nil, fmt.Errorf("stss names sample %d of %d: %w", nr, n, ErrMalformed)
			}
			smp[nr-1].sync = true
		}
	}

	// Offsets: stsc maps runs of chunks to samples per chunk, stco/co64
	// gives each chunk's offset.
	stsc := stbl.Stsc
	if len(stsc.SampleDescriptionID) > 0 {
		return nil, fmt.Errorf("track uses several sample descriptions: %w", ErrUnsupported)
	}
	if len(stsc.Entries) > 0 {
		*sdi = stsc.GetSampleDescriptionID(1)
	}
	if *sdi < 1 || int(*sdi) > len(stbl.Stsd.Children) {
		return nil, fmt.Errorf("sample description %d of %d: %w", *sdi, len(stbl.Stsd.Children), ErrMalformed)
	}
	var offsets []uint64
	if stbl.Co64 != nil {
		offsets = stbl.Co64.ChunkOffset
	} else {
		offsets = make([]uint64, len(stbl.Stco.ChunkOffset))
		for k, o := range stbl.Stco.ChunkOffset {
			offsets[k] = uint64(o)
		}
	}
	i = 0
	for k, e := range stsc.Entries {
		first := uint64(e.FirstChunk)
		last := uint64(len(offsets)) // inclusive, 1-based
		if k+1 < len(stsc.Entries) {
			last = uint64(stsc.Entries[k+1].FirstChunk) - 1
		}
		if first < 1 || (k == 0 && first != 1) || last+1 < first || last > uint64(len(offsets)) {
			return nil, fmt.Errorf("stsc entry %d (first chunk %d): %w", k, first, ErrMalformed)
		}
		for c := first; c <= last && i < n; c++ {
			off := offsets[c-1]
			for j := uint32(0); j < e.SamplesPerChunk && i < n; j++ {
				sz := uint64(smp[i].size)
				if off > uint64(fileSize) || sz > uint64(fileSize)-off {
					return nil, fmt.Errorf("sample %d at %d+%d beyond the end of the %d-byte file: %w", i+1, off, sz, fileSize, ErrTruncated)
				}
				smp[i].off = int64(off)
				off += sz
				i++
			}
		}
	}
	if i != n {
		return nil, fmt.Errorf("stsc/stco place %d of %d samples: %w", i, n, ErrMalformed)
	}
	return smp, nil
}

// writeInit writes ftyp and a moov for fragments: the source's mvhd, the
// kept tracks with their sample descriptions and edit lists but empty
// sample tables, and an mvex.
func writeInit(w io.Writer, src *mp4.MoovBox, tracks []*rtrack) error {
	ftyp := mp4.NewFtyp("iso6", 0, []string{"iso6", "isom", "mp41"})
	moov := mp4.NewMoovBox()
	mvhd := *src.Mvhd
	duration := mvhd.Duration
	mvhd.Duration = 0
	moov.AddChild(&mvhd)
	mvex := mp4.NewMvexBox()
	mvex.AddChild(&mp4.MehdBox{FragmentDuration: int64(min(duration, 1<<62))})
	for _, t := range tracks {
		src := t.trak
		trak := mp4.NewTrakBox()
		tkhd := *src.Tkhd
		tkhd.Duration = 0
		trak.AddChild(&tkhd)
		if src.Edts != nil {
			trak.AddChild(src.Edts)
		}
		mdia := mp4.NewMdiaBox()
		mdhd := *src.Mdia.Mdhd
		mdhd.Duration = 0
		mdia.AddChild(&mdhd)
		mdia.AddChild(src.Mdia.Hdlr)
		if src.Mdia.Elng != nil {
			mdia.AddChild(src.Mdia.Elng)
		}
		minf := mp4.NewMinfBox()
		for _, c := range src.Mdia.Minf.Children {
			if c.Type() != "stbl" {
				minf.AddChild(c)
			}
		}
		stbl := mp4.NewStblBox()
		stbl.AddChild(src.Mdia.Minf.Stbl.Stsd)
		stbl.AddChild(&mp4.SttsBox{})
		stbl.AddChild(&mp4.StscBox{})
		stbl.AddChild(&mp4.StszBox{})
		stbl.AddChild(&mp4.StcoBox{})
		minf.AddChild(stbl)
		mdia.AddChild(minf)
		trak.AddChild(mdia)
		moov.AddChild(trak)
		trex := mp4.CreateTrex(t.id)
		trex.DefaultSampleDescriptionIndex = t.sdi
		mvex.AddChild(trex)
	}
	moov.AddChild(mvex)
	if err := ftyp.Encode(w); err != nil {
		return err
	}
	return moov.Encode(w)
}

// writeFragments writes one moof+mdat per fragment of the reference track
// (see Remux), copying sample data from s.
func writeFragments(w io.Writer, s *source, tracks []*rtrack) error {
	var ref *rtrack
	for _, t := range tracks {
		if len(t.samples) > 0 && (ref == nil || (t.video && !ref.video)) {
			ref = t
		}
	}
	if ref == nil {
		return nil // no samples: the init segment is the whole file
	}
	minTicks := uint64(ref.timescale) * minFragmentMs / 1000
	buf := make([]byte, 256<<10)
	for seq := uint32(1); ref.next < len(ref.samples); seq++ {
		// The reference track's samples [start, end).
		start := ref.next
		end, size := start, uint64(0)
		for ; end < len(ref.samples); end++ {
			sm := ref.samples[end]
			if end > start && ((sm.sync && sm.dts-ref.samples[start].dts >= minTicks) || size+uint64(sm.size) > maxFragmentBytes) {
				break
			}
			size += uint64(sm.size)
		}
		// Every track's samples that start before the reference track's
		// next fragment.
		var ids []uint32
		ranges := make([][2]int, len(tracks))
		for k, t := range tracks {
			from, to := t.next, t.next
			if t == ref {
				to = end
			} else {
				for to < len(t.samples) && (end == len(ref.samples) || before(t.samples[to].dts, t.timescale, ref.samples[end].dts, ref.timescale)) {
					to++
				}
			}
			ranges[k] = [2]int{from, to}
			if to > from {
				ids = append(ids, t.id)
			}
		}
		frag, err := mp4.CreateMultiTrackFragment(seq, ids)
		if err != nil {
			return err
		}
		for k, t := range tracks {
			from, to := ranges[k][0], ranges[k][1]
			if to == from {
				continue
			}
			for _, traf := range frag.Moof.Trafs {
				if traf.Tfhd.TrackID == t.id && t.sdi != 1 {
					traf.Tfhd.Flags |= mp4.TfhdSampleDescriptionIndexPresentFlag
					traf.Tfhd.SampleDescriptionIndex = t.sdi
				}
			}
			for _, sm := range t.samples[from:to] {
				flags := mp4.SyncSampleFlags
				if !sm.sync {
					flags = mp4.NonSyncSampleFlags | mp4.SampleDependsOn1
				}
				smp := mp4.Sample{Flags: flags, Dur: sm.dur, Size: sm.size, CompositionTimeOffset: sm.cto}
				if err := frag.AddSampleToTrack(smp, t.id, t.samples[from].dts); err != nil {
					return err
				}
			}
		}
		if err := frag.Encode(w); err != nil {
			return fmt.Errorf("writing fragment %d: %w", seq, err)
		}
		for k, t := range tracks {
			if err := copySamples(w, s, t.samples[ranges[k][0]:ranges[k][1]], buf); err != nil {
				return fmt.Errorf("writing fragment %d: %w", seq, err)
			}
			t.next = ranges[k][1]
		}
	}
	return nil
}

// before reports a/ta < b/tb (times in two timescales) without overflow.
func before(a uint64, ta uint32, b uint64, tb uint32) bool {
	h1, l1 := bits.Mul64(a, uint64(tb))
	h2, l2 := bits.Mul64(b, uint64(ta))
	return h1 < h2 || (h1 == h2 && l1 < l2)
}

// copySamples copies the samples' bytes, in order, merging adjacent ones
// into one read.
func copySamples(w io.Writer, s *source, smp []rsample, buf []byte) error {
	for i := 0; i < len(smp); {
		off, n := smp[i].off, int64(smp[i].size)
		for i++; i < len(smp) && smp[i].off == off+n; i++ {
			n += int64(smp[i].size)
		}
		for n > 0 {
			b := buf[:min(int64(len(buf)), n)]
			if err := s.readFull(b, off); err != nil {
				return err
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
			off += int64(len(b))
			n -= int64(len(b))
		}
	}
	return nil
}

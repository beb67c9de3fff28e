package media

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/cairn-nostr/cairn/merkle"
)

// checkPlan checks the invariants every Plan of data must hold.
func checkPlan(t testing.TB, p Plan, data []byte) {
	t.Helper()
	if p.Size != int64(len(data)) {
		t.Fatalf("plan size %d, file %d", p.Size, len(data))
	}
	var next int64
	for i, c := range p.Chunks {
		if c.Offset != next || c.Length < 1 {
			t.Fatalf("chunk %d at %d+%d, want offset %d", i, c.Offset, c.Length, next)
		}
		next += c.Length
		if next > int64(len(data)) {
			t.Fatalf("chunk %d ends at %d, past the %d-byte file", i, next, len(data))
		}
		if h := sha256.Sum256(data[c.Offset:next]); h != c.Hash {
			t.Fatalf("chunk %d hash %x, want %x", i, c.Hash, h)
		}
		if c.DurationMs < 0 {
			t.Fatalf("chunk %d lasts %d ms", i, c.DurationMs)
		}
	}
	if next != int64(len(data)) {
		t.Fatalf("chunks end at %d, file has %d bytes", next, len(data))
	}
	if r := merkle.Root(p.Hashes()); r != p.Root {
		t.Fatalf("root %x, want %x", p.Root, r)
	}
	if p.Init != nil {
		if len(p.Chunks) == 0 || p.Init.Offset != 0 || p.Init.Length != p.Chunks[0].Length {
			t.Fatalf("init %+v is not chunk 0", *p.Init)
		}
		if p.Chunks[0].Keyframe || p.Chunks[0].DurationMs != 0 {
			t.Fatalf("init chunk %+v", p.Chunks[0])
		}
	}
}

// split runs Split over data and checks the plan.
func split(t testing.TB, data []byte, target int64) (Plan, error) {
	t.Helper()
	p, err := Split(bytes.NewReader(data), int64(len(data)), Chunker{TargetSize: target})
	if err == nil {
		checkPlan(t, p, data)
	}
	return p, err
}

// Synthetic fragmented MP4s, built with mp4ff.

// tsample is one sample of a synthetic fragment.
type tsample struct {
	size uint32
	dur  uint32
	sync bool
}

// gop returns n video samples of size bytes and 40 ms (at timescale 1000),
// the first a sync sample when key.
func gop(key bool, n int, size uint32) []tsample {
	s := make([]tsample, n)
	for i := range s {
		s[i] = tsample{size: size, dur: 40, sync: key && i == 0}
	}
	return s
}

// tfrag is one synthetic fragment; a nil track has no traf.
type tfrag struct {
	video, audio []tsample
}

// fmp4 is a synthetic fragmented MP4 and where its parts are.
type fmp4 struct {
	data    []byte
	initLen int64
	moofs   []int64 // offset of each fragment's first box
}

// fmp4Options tweak a synthetic fragmented MP4.
type fmp4Options struct {
	noVideo   bool                               // audio track only
	styp      bool                               // an styp before every moof
	trailer   []byte                             // boxes after the last fragment
	editInit  func(*mp4.InitSegment)             // change the init segment
	editFrag  func(i int, f *mp4.Fragment)       // change a fragment before encoding
	afterInit func(b *bytes.Buffer, init []byte) // add boxes after the init
}

// buildFMP4 makes a fragmented MP4 with a video track 1 and an audio track 2,
// both at timescale 1000, whose mdat payloads are pseudo-random.
func buildFMP4(t testing.TB, frags []tfrag, o fmp4Options) fmp4 {
	t.Helper()
	init := mp4.CreateEmptyInit()
	if !o.noVideo {
		init.AddEmptyTrack(1000, "video", "und")
	}
	init.AddEmptyTrack(1000, "audio", "und")
	if o.editInit != nil {
		o.editInit(init)
	}
	var buf bytes.Buffer
	if err := init.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	out := fmp4{initLen: int64(buf.Len())}
	if o.afterInit != nil {
		o.afterInit(&buf, buf.Bytes())
	}
	rng := rand.New(rand.NewPCG(1, 2))
	videoID, audioID := uint32(1), uint32(2)
	if o.noVideo {
		audioID = 1
	}
	var vtime, atime uint64
	for i, f := range frags {
		var ids []uint32
		if f.video != nil {
			ids = append(ids, videoID)
		}
		if f.audio != nil {
			ids = append(ids, audioID)
		}
		frag, err := mp4.CreateMultiTrackFragment(uint32(i+1), ids)
		if err != nil {
			t.Fatal(err)
		}
		var payload uint64
		add := func(ss []tsample, id uint32, clock *uint64) {
			base := *clock
			for _, s := range ss {
				flags := mp4.SyncSampleFlags
				if !s.sync {
					flags = mp4.NonSyncSampleFlags | mp4.SampleDependsOn1
				}
				if err := frag.AddSampleToTrack(mp4.Sample{Flags: flags, Dur: s.dur, Size: s.size}, id, base); err != nil {
					t.Fatal(err)
				}
				*clock += uint64(s.dur)
				payload += uint64(s.size)
			}
		}
		add(f.video, videoID, &vtime)
		add(f.audio, audioID, &atime)
		if o.editFrag != nil {
			o.editFrag(i, frag)
		}
		out.moofs = append(out.moofs, int64(buf.Len()))
		if o.styp {
			buf.Write(box("styp", []byte("msdh\x00\x00\x00\x00msdhmsix")))
		}
		if err := frag.Encode(&buf); err != nil {
			t.Fatal(err)
		}
		p := make([]byte, payload)
		for j := range p {
			p[j] = byte(rng.Uint32())
		}
		buf.Write(p)
	}
	buf.Write(o.trailer)
	out.data = buf.Bytes()
	return out
}

// box encodes a raw box.
func box(typ string, payload ...[]byte) []byte {
	n := 8
	for _, p := range payload {
		n += len(p)
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(n))
	b = append(b, typ...)
	for _, p := range payload {
		b = append(b, p...)
	}
	return b
}

// Synthetic WebM, built element by element.

// ebmlID returns the bytes of an element ID (IDs carry their marker bits).
func ebmlID(id uint32) []byte {
	switch {
	case id >= 1<<24:
		return []byte{byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
	case id >= 1<<16:
		return []byte{byte(id >> 16), byte(id >> 8), byte(id)}
	case id >= 1<<8:
		return []byte{byte(id >> 8), byte(id)}
	}
	return []byte{byte(id)}
}

// el encodes an element with an 8-byte size, as ffmpeg writes big ones.
func el(id uint32, payload ...[]byte) []byte {
	var data []byte
	for _, p := range payload {
		data = append(data, p...)
	}
	b := ebmlID(id)
	b = binary.BigEndian.AppendUint64(b, uint64(len(data))|1<<56)
	return append(b, data...)
}

// elUnknown encodes an element of unknown size (live streaming).
func elUnknown(id uint32, payload ...[]byte) []byte {
	b := append(ebmlID(id), 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)
	for _, p := range payload {
		b = append(b, p...)
	}
	return b
}

func elUint(id uint32, v uint64) []byte {
	return el(id, binary.BigEndian.AppendUint64(nil, v))
}

func elFloat(id uint32, v float64) []byte {
	return el(id, binary.BigEndian.AppendUint64(nil, math.Float64bits(v)))
}

// simpleBlock is a SimpleBlock of track at rel ms with n payload bytes.
func simpleBlock(track byte, rel int16, key bool, n int) []byte {
	flags := byte(0)
	if key {
		flags = 0x80
	}
	b := []byte{0x80 | track, byte(uint16(rel) >> 8), byte(rel), flags}
	return el(idSimpleBlock, b, bytes.Repeat([]byte{track}, n))
}

// blockGroup is a BlockGroup, with a ReferenceBlock unless key.
func blockGroup(track byte, rel int16, key bool, n int) []byte {
	blk := el(idBlock, []byte{0x80 | track, byte(uint16(rel) >> 8), byte(rel), 0}, bytes.Repeat([]byte{track}, n))
	if key {
		return el(idBlockGroup, blk)
	}
	return el(idBlockGroup, blk, elUint(idReferenceBlock, 40))
}

func cluster(timecode uint64, blocks ...[]byte) []byte {
	return el(idCluster, append([][]byte{elUint(idTimecode, timecode)}, blocks...)...)
}

// webmHeader is the EBML header of a WebM file.
func webmHeader() []byte {
	return el(idEBML, el(idDocType, []byte("webm")))
}

// webmInit is the Segment's Info and Tracks: a VP9 video track 1 and an
// Opus audio track 2.
func webmInit(durationMs float64) []byte {
	info := el(idInfo, elUint(idTimecodeScale, 1000000), elFloat(idDuration, durationMs))
	tracks := el(idTracks,
		el(idTrackEntry, elUint(idTrackNumber, 1), elUint(idTrackType, 1), el(idCodecID, []byte("V_VP9"))),
		el(idTrackEntry, elUint(idTrackNumber, 2), elUint(idTrackType, 2), el(idCodecID, []byte("A_OPUS"))),
	)
	return append(info, tracks...)
}

// webmFile is a whole WebM file around the given clusters.
func webmFile(durationMs float64, clusters ...[]byte) []byte {
	return append(webmHeader(), el(idSegment, append([][]byte{webmInit(durationMs)}, clusters...)...)...)
}

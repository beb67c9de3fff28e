package media

import (
	"bytes"
	"errors"
	"testing"

	"github.com/Eyevinn/mp4ff/mp4"
)

// progressive is a synthetic progressive MP4: ftyp, moov, one mdat with all
// video samples (track 1), then all audio samples (track 2), both at
// timescale 1000.
type progressive struct {
	data  []byte
	video [][]byte // each sample's bytes
	audio [][]byte
}

func buildProgressive(t testing.TB, video, audio []tsample, edit func(*mp4.MoovBox)) progressive {
	t.Helper()
	init := mp4.CreateEmptyInit()
	vtrak := init.AddEmptyTrack(1000, "video", "und")
	atrak := init.AddEmptyTrack(1000, "audio", "und")
	dropMvex(init)
	vtrak.Mdia.Minf.Stbl.Stsd.AddChild(mp4.CreateVisualSampleEntryBox("avc1", 320, 240, nil))
	atrak.Mdia.Minf.Stbl.Stsd.AddChild(mp4.CreateAudioSampleEntryBox("mp4a", 2, 16, 48000, mp4.CreateEsdsBox([]byte{0x12, 0x10})))

	p := progressive{}
	var payload []byte
	rng := randomBytes(int(totalSize(video)+totalSize(audio)), 5)
	fill := func(trak *mp4.TrakBox, ss []tsample, dst *[][]byte) {
		stbl := trak.Mdia.Minf.Stbl
		var sync []uint32
		for i, s := range ss {
			stbl.Stts.SampleCount = append(stbl.Stts.SampleCount, 1)
			stbl.Stts.SampleTimeDelta = append(stbl.Stts.SampleTimeDelta, s.dur)
			stbl.Stsz.SampleSize = append(stbl.Stsz.SampleSize, s.size)
			if s.sync {
				sync = append(sync, uint32(i+1))
			}
			b := rng[len(payload) : len(payload)+int(s.size)]
			payload = append(payload, b...)
			*dst = append(*dst, b)
		}
		stbl.Stsz.SampleNumber = uint32(len(ss))
		if len(ss) > 0 {
			if err := stbl.Stsc.AddEntry(1, uint32(len(ss)), 1); err != nil {
				t.Fatal(err)
			}
			stbl.Stco.ChunkOffset = []uint32{0}
		}
		if trak == vtrak {
			stbl.AddChild(&mp4.StssBox{SampleNumber: sync})
		}
	}
	fill(vtrak, video, &p.video)
	fill(atrak, audio, &p.audio)
	if edit != nil {
		edit(init.Moov)
	}
	var buf bytes.Buffer
	if err := init.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	// Now that the moov's size is known, point the chunks into the mdat.
	base := uint32(buf.Len() + 8)
	if s := vtrak.Mdia.Minf.Stbl.Stco; len(s.ChunkOffset) > 0 && s.ChunkOffset[0] == 0 {
		s.ChunkOffset[0] = base
	}
	if s := atrak.Mdia.Minf.Stbl.Stco; len(s.ChunkOffset) > 0 && s.ChunkOffset[0] == 0 {
		s.ChunkOffset[0] = base + uint32(totalSize(video))
	}
	buf.Reset()
	if err := init.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	buf.Write(box("mdat", payload))
	p.data = buf.Bytes()
	return p
}

func totalSize(ss []tsample) uint64 {
	var n uint64
	for _, s := range ss {
		n += uint64(s.size)
	}
	return n
}

func remux(t testing.TB, data []byte) ([]byte, error) {
	t.Helper()
	var out bytes.Buffer
	err := Remux(bytes.NewReader(data), int64(len(data)), &out)
	return out.Bytes(), err
}

// fragments decodes a fragmented MP4 with mp4ff and returns, per fragment,
// each track's samples' bytes.
func fragments(t *testing.T, data []byte) []map[uint32][][]byte {
	t.Helper()
	f, err := mp4.DecodeFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if f.Init == nil || !f.IsFragmented() {
		t.Fatal("remuxed file is not a fragmented MP4 with an init segment")
	}
	var out []map[uint32][][]byte
	for _, seg := range f.Segments {
		for _, frag := range seg.Fragments {
			m := map[uint32][][]byte{}
			for _, traf := range frag.Moof.Trafs {
				id := traf.Tfhd.TrackID
				trex, _ := f.Init.Moov.Mvex.GetTrex(id)
				one := &mp4.Fragment{Moof: &mp4.MoofBox{}, Mdat: frag.Mdat}
				_ = one.Moof.AddChild(frag.Moof.Mfhd)
				_ = one.Moof.AddChild(traf)
				one.Moof.StartPos = frag.Moof.StartPos
				samples, err := one.GetFullSamples(trex)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range samples {
					m[id] = append(m[id], s.Data)
				}
			}
			out = append(out, m)
		}
	}
	return out
}

func TestRemux(t *testing.T) {
	// Three 1 s GOPs of video; 100 ms audio samples.
	var video, audio []tsample
	for range 3 {
		video = append(video, gop(true, 25, 300)...)
	}
	for range 30 {
		audio = append(audio, tsample{size: 100, dur: 100, sync: true})
	}
	src := buildProgressive(t, video, audio, nil)
	if _, err := split(t, src.data, 1000); !errors.Is(err, ErrNeedsRemux) {
		t.Fatalf("Split of progressive: %v", err)
	}
	out, err := remux(t, src.data)
	if err != nil {
		t.Fatal(err)
	}
	// One fragment per GOP, each with the audio samples that start before
	// the next GOP, every sample's bytes as in the source.
	frags := fragments(t, out)
	if len(frags) != 3 {
		t.Fatalf("%d fragments, want 3", len(frags))
	}
	for i, fr := range frags {
		if !equalSamples(fr[1], src.video[i*25:(i+1)*25]) || !equalSamples(fr[2], src.audio[i*10:(i+1)*10]) {
			t.Errorf("fragment %d: %d video and %d audio samples, or different bytes", i, len(fr[1]), len(fr[2]))
		}
	}
	p, err := split(t, out, 100) // every fragment its own chunk
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Chunks) != 4 || p.MIME != "video/mp4" {
		t.Fatalf("plan of %d chunks, mime %q", len(p.Chunks), p.MIME)
	}
	for i, c := range p.Chunks[1:] {
		if !c.Keyframe || c.DurationMs != 1000 {
			t.Errorf("chunk %d = %+v", i+1, c)
		}
	}
}

func equalSamples(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestRemuxFragmentSizes(t *testing.T) {
	countFrags := func(video []tsample, audio []tsample) ([]int, Plan) {
		t.Helper()
		out, err := remux(t, buildProgressive(t, video, audio, nil).data)
		if err != nil {
			t.Fatal(err)
		}
		var n []int
		for _, fr := range fragments(t, out) {
			n = append(n, len(fr[1])+len(fr[2]))
		}
		p, err := split(t, out, 100)
		if err != nil {
			t.Fatal(err)
		}
		return n, p
	}

	// All-intra video: fragments hold at least 500 ms (13 x 40 ms).
	allIntra := make([]tsample, 50)
	for i := range allIntra {
		allIntra[i] = tsample{size: 10, dur: 40, sync: true}
	}
	if n, _ := countFrags(allIntra, nil); len(n) != 4 || n[0] != 13 || n[3] != 11 {
		t.Errorf("all-intra fragments %v, want [13 13 13 11]", n)
	}

	// Audio only: the audio track is the reference.
	audio := make([]tsample, 40)
	for i := range audio {
		audio[i] = tsample{size: 10, dur: 100, sync: true}
	}
	if n, _ := countFrags(nil, audio); len(n) != 8 || n[0] != 5 {
		t.Errorf("audio-only fragments %v, want 8 of 5", n)
	}

	// A 5 MB GOP is split at 4 MiB; the continuation is not a keyframe.
	n, p := countFrags(gop(true, 50, 100000), nil)
	if len(n) != 2 || n[0] != 41 {
		t.Errorf("long-GOP fragments %v, want [41 9]", n)
	}
	if len(p.Chunks) != 3 || !p.Chunks[1].Keyframe || p.Chunks[2].Keyframe {
		t.Errorf("long-GOP chunks %+v", p.Chunks)
	}
}

func TestRemuxErrors(t *testing.T) {
	v := gop(true, 5, 10)
	a := []tsample{{size: 10, dur: 100, sync: true}}
	stbl := func(m *mp4.MoovBox, i int) *mp4.StblBox { return m.Traks[i].Mdia.Minf.Stbl }
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"fragmented input", buildFMP4(t, []tfrag{av(true)}, fmp4Options{}).data, ErrNotProgressive},
		{"webm input", webmFile(1000, cluster(0, simpleBlock(1, 0, true, 1))), ErrNotProgressive},
		{"text input", []byte("not a movie at all"), ErrNotProgressive},
		{"truncated", func() []byte { d := buildProgressive(t, v, a, nil).data; return d[:len(d)-3] }(), ErrTruncated},
		{"sample past the end", buildProgressive(t, v, a, func(m *mp4.MoovBox) { stbl(m, 0).Stco.ChunkOffset = []uint32{1 << 30} }).data, ErrTruncated},
		{"absurd uniform sample count", buildProgressive(t, v, a, func(m *mp4.MoovBox) {
			s := stbl(m, 0).Stsz
			s.SampleUniformSize, s.SampleNumber, s.SampleSize = 1, 1<<31, nil
		}).data, ErrTruncated},
		{"stts short", buildProgressive(t, v, a, func(m *mp4.MoovBox) { stbl(m, 0).Stts.SampleCount[0] = 0 }).data, ErrMalformed},
		{"stts long", buildProgressive(t, v, a, func(m *mp4.MoovBox) { stbl(m, 0).Stts.SampleCount[0] = 1 << 31 }).data, ErrMalformed},
		{"stss out of range", buildProgressive(t, v, a, func(m *mp4.MoovBox) { stbl(m, 0).Stss.SampleNumber = []uint32{99} }).data, ErrMalformed},
		{"stsc places too few", buildProgressive(t, v, a, func(m *mp4.MoovBox) { stbl(m, 0).Stsc.Entries[0].SamplesPerChunk = 2 }).data, ErrMalformed},
		{"stsc first chunk 2", buildProgressive(t, v, a, func(m *mp4.MoovBox) { stbl(m, 0).Stsc.Entries[0].FirstChunk = 2 }).data, ErrMalformed},
		{"sample description 2 of 1", buildProgressive(t, v, a, func(m *mp4.MoovBox) {
			s := stbl(m, 0).Stsc
			s.Entries = nil
			_ = s.AddEntry(1, 5, 2)
		}).data, ErrMalformed},
		{"no video or audio", buildProgressive(t, v, a, func(m *mp4.MoovBox) {
			m.Traks[0].Mdia.Hdlr.HandlerType = "text"
			m.Traks[1].Mdia.Hdlr.HandlerType = "tmcd"
		}).data, ErrUnsupported},
		{"timescale 0", buildProgressive(t, v, a, func(m *mp4.MoovBox) { m.Traks[1].Mdia.Mdhd.Timescale = 0 }).data, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := remux(t, tt.data); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
}

package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/Eyevinn/mp4ff/mp4"
)

// av is a fragment with 1 s of video (25 samples of 200 bytes) and one
// 500-byte audio sample; about 6 KB with its moof.
func av(key bool) tfrag {
	return tfrag{video: gop(key, 25, 200), audio: []tsample{{size: 500, dur: 1000, sync: true}}}
}

func TestSplitFMP4(t *testing.T) {
	f := buildFMP4(t, []tfrag{av(true), av(true), av(false), av(true), av(true), av(true)}, fmp4Options{})
	// Target 12,000: each fragment is ~6 KB, so two keyframe fragments
	// make a chunk, and a non-keyframe fragment that does not fit forces a
	// cut.
	p, err := split(t, f.data, 12000)
	if err != nil {
		t.Fatal(err)
	}
	if p.Container != FragmentedMP4 || p.MIME != "video/mp4" || p.TargetSize != 12000 {
		t.Errorf("plan %v %q %d", p.Container, p.MIME, p.TargetSize)
	}
	if p.Init == nil || p.Init.Length != f.initLen {
		t.Fatalf("init %+v, want length %d", p.Init, f.initLen)
	}
	want := []struct {
		frag int
		key  bool
	}{{0, true}, {2, false}, {4, true}}
	if len(p.Chunks) != 1+len(want) {
		t.Fatalf("%d chunks: %+v", len(p.Chunks), p.Chunks)
	}
	for i, w := range want {
		c := p.Chunks[i+1]
		if c.Offset != f.moofs[w.frag] || c.Keyframe != w.key || c.DurationMs != 2000 {
			t.Errorf("chunk %d = %d+%d key=%v %d ms, want offset %d (fragment %d) key=%v 2000 ms",
				i+1, c.Offset, c.Length, c.Keyframe, c.DurationMs, f.moofs[w.frag], w.frag, w.key)
		}
	}
}

func TestFMP4KeyframeFlags(t *testing.T) {
	// Where the first sample's flags come from: per-sample trun flags,
	// first-sample-flags, tfhd defaults, trex defaults.
	noSampleFlags := func(f *mp4.Fragment) *mp4.TrafBox {
		traf := f.Moof.Trafs[0]
		traf.Trun.Flags &^= mp4.TrunSampleFlagsPresentFlag
		return traf
	}
	tfhdDefault := func(flags uint32) func(int, *mp4.Fragment) {
		return func(_ int, f *mp4.Fragment) {
			traf := noSampleFlags(f)
			traf.Tfhd.Flags |= mp4.TfhdDefaultSampleFlagsPresentFlag
			traf.Tfhd.DefaultSampleFlags = flags
		}
	}
	trexDefault := func(flags uint32) func(*mp4.InitSegment) {
		return func(init *mp4.InitSegment) {
			trex, _ := init.Moov.Mvex.GetTrex(1)
			trex.DefaultSampleFlags = flags
		}
	}
	nonSync := mp4.NonSyncSampleFlags | mp4.SampleDependsOn1
	tests := []struct {
		name  string
		frag  tfrag
		o     fmp4Options
		wantK bool
	}{
		{"trun sample flags sync", av(true), fmp4Options{}, true},
		{"trun sample flags non-sync", av(false), fmp4Options{}, false},
		{"tfhd default non-sync", av(true), fmp4Options{editFrag: tfhdDefault(nonSync)}, false},
		{"tfhd default sync", av(false), fmp4Options{editFrag: tfhdDefault(mp4.SyncSampleFlags)}, true},
		{"first-sample-flags over tfhd default", av(false), fmp4Options{editFrag: func(i int, f *mp4.Fragment) {
			tfhdDefault(nonSync)(i, f)
			f.Moof.Trafs[0].Trun.SetFirstSampleFlags(mp4.SyncSampleFlags)
		}}, true},
		{"trex default non-sync", av(true), fmp4Options{
			editInit: trexDefault(nonSync),
			editFrag: func(_ int, f *mp4.Fragment) { noSampleFlags(f) },
		}, false},
		{"trex default zero is sync", av(false), fmp4Options{
			editFrag: func(_ int, f *mp4.Fragment) { noSampleFlags(f) },
		}, true},
		{"fragment without a video traf", tfrag{audio: []tsample{{size: 500, dur: 1000, sync: true}}}, fmp4Options{}, false},
		{"audio-only file", tfrag{audio: []tsample{{size: 500, dur: 1000, sync: true}}}, fmp4Options{noVideo: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The fragment under test, then a keyframe fragment.
			o := tt.o
			edit := o.editFrag
			o.editFrag = func(i int, f *mp4.Fragment) {
				if i == 0 && edit != nil {
					edit(i, f)
				}
			}
			second := av(true)
			if o.noVideo {
				second = tt.frag
			}
			f := buildFMP4(t, []tfrag{tt.frag, second}, o)
			p, err := split(t, f.data, 1000) // every fragment its own chunk
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Chunks) != 3 {
				t.Fatalf("%d chunks", len(p.Chunks))
			}
			if got := p.Chunks[1].Keyframe; got != tt.wantK {
				t.Errorf("keyframe %v, want %v", got, tt.wantK)
			}
			if o.noVideo && p.MIME != "audio/mp4" {
				t.Errorf("mime %q", p.MIME)
			}
		})
	}
}

func TestFMP4Layout(t *testing.T) {
	free := box("free", make([]byte, 20))
	mfra := box("mfra", box("mfro", make([]byte, 8)))
	f := buildFMP4(t, []tfrag{av(true), av(true), av(true)}, fmp4Options{
		styp:      true,
		trailer:   mfra,
		afterInit: func(b *bytes.Buffer, _ []byte) { b.Write(free) },
	})
	p, err := split(t, f.data, 1000)
	if err != nil {
		t.Fatal(err)
	}
	// The free box after the moov belongs to the init segment; each
	// fragment starts at its styp; the mfra joins the last fragment.
	if p.Init.Length != f.initLen+int64(len(free)) {
		t.Errorf("init length %d, want %d", p.Init.Length, f.initLen+int64(len(free)))
	}
	if len(p.Chunks) != 4 {
		t.Fatalf("%d chunks", len(p.Chunks))
	}
	for i, off := range f.moofs {
		if c := p.Chunks[i+1]; c.Offset != off || !c.Keyframe || c.DurationMs != 1000 {
			t.Errorf("chunk %d = %+v, want offset %d", i+1, c, off)
		}
	}
	if last := p.Chunks[3]; last.Offset+last.Length != int64(len(f.data)) {
		t.Errorf("last chunk does not reach the end")
	}
}

func TestFMP4InitOnly(t *testing.T) {
	f := buildFMP4(t, nil, fmp4Options{})
	p, err := split(t, f.data, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Chunks) != 1 || p.Init.Length != int64(len(f.data)) {
		t.Errorf("plan %+v", p)
	}
}

func TestFMP4Errors(t *testing.T) {
	good := buildFMP4(t, []tfrag{av(true), av(true)}, fmp4Options{}).data
	init := good[:buildFMP4(t, nil, fmp4Options{}).initLen]
	ftyp := box("ftyp", []byte("isom\x00\x00\x02\x00isom"))
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	largeSize := func(typ string, size uint64) []byte {
		b := []byte{0, 0, 0, 1}
		b = append(b, typ...)
		return binary.BigEndian.AppendUint64(b, size)
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"truncated mid-mdat", good[:len(good)-10], ErrTruncated},
		{"truncated box header", good[:len(init)+5], ErrTruncated},
		{"size past the end", cat(good, []byte{0xFF, 0xFF, 0xFF, 0xF0}, []byte("free")), ErrTruncated},
		{"size smaller than header", cat(good, []byte{0, 0, 0, 4}, []byte("free")), ErrMalformed},
		{"64-bit size past the end", cat(good, largeSize("free", 1<<62)), ErrTruncated},
		{"64-bit size overflowing int64", cat(good, largeSize("free", 1<<63+5)), ErrTruncated},
		{"64-bit size smaller than header", cat(good, largeSize("free", 15)), ErrMalformed},
		{"no moov", cat(ftyp, box("free")), ErrMalformed},
		{"moof before moov", cat(ftyp, box("moof"), box("mdat")), ErrMalformed},
		{"two moovs", cat(init, init[binary.BigEndian.Uint32(init):]), ErrMalformed},
		{"garbage moov", cat(ftyp, box("moov", []byte("garbagegarbage"))), ErrMalformed},
		{"moov without tracks", cat(ftyp, box("moov")), ErrMalformed},
		{"garbage moof", cat(init, box("moof", []byte{1, 2, 3}), box("mdat")), ErrMalformed},
		{"mdat before the first moof", buildFMP4(t, []tfrag{av(true)}, fmp4Options{
			afterInit: func(b *bytes.Buffer, _ []byte) { b.Write(box("mdat", []byte{1})) },
		}).data, ErrUnsupported},
		{"traf for an unknown track", buildFMP4(t, []tfrag{av(true)}, fmp4Options{
			editFrag: func(_ int, f *mp4.Fragment) { f.Moof.Trafs[0].Tfhd.TrackID = 9 },
		}).data, ErrMalformed},
		{"moov with samples and fragments", buildFMP4(t, []tfrag{av(true)}, fmp4Options{
			editInit: func(init *mp4.InitSegment) {
				stsz := init.Moov.Traks[0].Mdia.Minf.Stbl.Stsz
				stsz.SampleUniformSize, stsz.SampleNumber = 10, 1
			},
		}).data, ErrUnsupported},
		{"timescale 0", buildFMP4(t, []tfrag{av(true)}, fmp4Options{
			editInit: func(init *mp4.InitSegment) { init.Moov.Traks[0].Mdia.Mdhd.Timescale = 0 },
		}).data, ErrMalformed},
		{"progressive", buildFMP4(t, nil, fmp4Options{editInit: dropMvex}).data, ErrNeedsRemux},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := split(t, tt.data, 1000)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
}

// dropMvex turns a fragmented init segment into a (sample-less)
// progressive moov.
func dropMvex(init *mp4.InitSegment) {
	moov := init.Moov
	moov.Mvex = nil
	kids := moov.Children[:0]
	for _, c := range moov.Children {
		if c.Type() != "mvex" {
			kids = append(kids, c)
		}
	}
	moov.Children = kids
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want Container
	}{
		{"fragmented mp4", buildFMP4(t, []tfrag{av(true)}, fmp4Options{}).data, FragmentedMP4},
		{"progressive mp4", buildFMP4(t, nil, fmp4Options{editInit: dropMvex}).data, ProgressiveMP4},
		{"webm", webmFile(1000, cluster(0, simpleBlock(1, 0, true, 10))), WebM},
		{"text", []byte("hello, world"), Other},
		{"empty", nil, Other},
		{"ftyp word inside text", []byte("xxxxftyp"), Other}, // box size 0x78787878 is past the end
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Detect(bytes.NewReader(tt.data), int64(len(tt.data)))
			if tt.name == "ftyp word inside text" {
				if !errors.Is(err, ErrTruncated) {
					t.Fatalf("err %v, want ErrTruncated", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Detect = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

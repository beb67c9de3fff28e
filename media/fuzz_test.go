package media

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// knownErr reports whether err is one of the package's sentinels.
func knownErr(err error) bool {
	for _, s := range []error{ErrTruncated, ErrMalformed, ErrUnsupported, ErrNeedsRemux, ErrNotProgressive, ErrTooLarge, ErrConfig} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// FuzzSplit feeds arbitrary bytes to Split: it must not panic, must fail
// only with the package's errors, and every plan it returns must hold the
// Plan invariants and give a valid chunk map. The seed corpus in
// testdata/fuzz/FuzzSplit has tiny real ffmpeg files (fragmented MP4,
// progressive MP4, WebM) and synthetic ones (regenerate with
// CAIRN_WRITE_CORPUS=1 go test -run TestWriteFuzzCorpus ./media/).
func FuzzSplit(f *testing.F) {
	f.Add([]byte("hello"), uint32(3))
	f.Fuzz(func(t *testing.T, data []byte, target uint32) {
		c := Chunker{TargetSize: int64(target%(64<<10)) + 1}
		p, err := Split(bytes.NewReader(data), int64(len(data)), c)
		if err != nil {
			if !knownErr(err) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		checkPlan(t, p, data)
		if err := p.Map().Validate(); err != nil {
			t.Fatalf("chunk map of the plan: %v", err)
		}
	})
}

// FuzzRemux feeds arbitrary bytes to Remux: it must not panic, and what it
// writes when it succeeds must split as a fragmented MP4.
func FuzzRemux(f *testing.F) {
	f.Add([]byte("hello"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		if err := Remux(bytes.NewReader(data), int64(len(data)), &out); err != nil {
			return
		}
		p, err := split(t, out.Bytes(), 4096)
		if err != nil {
			t.Fatalf("splitting the remuxed file: %v", err)
		}
		if p.Container != FragmentedMP4 {
			t.Fatalf("remuxed file is %v", p.Container)
		}
	})
}

// TestWriteFuzzCorpus regenerates the committed seed corpus when
// CAIRN_WRITE_CORPUS=1 (the real-media seeds need ffmpeg).
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("CAIRN_WRITE_CORPUS") != "1" {
		t.Skip("set CAIRN_WRITE_CORPUS=1 to rewrite testdata/fuzz")
	}
	seeds := map[string][]byte{
		"synthetic_fmp4":        buildFMP4(t, []tfrag{{video: gop(true, 3, 10), audio: []tsample{{size: 5, dur: 120, sync: true}}}, {video: gop(false, 3, 10)}, {video: gop(true, 2, 10), audio: []tsample{{size: 5, dur: 20, sync: true}}}}, fmp4Options{styp: true}).data,
		"synthetic_fmp4_audio":  buildFMP4(t, []tfrag{{audio: []tsample{{size: 20, dur: 20, sync: true}}}}, fmp4Options{noVideo: true}).data,
		"synthetic_webm":        webmFile(3000, cluster(0, simpleBlock(2, 0, true, 5), simpleBlock(1, 0, true, 20)), cluster(1000, blockGroup(1, 0, false, 20)), cluster(2000, blockGroup(1, 0, true, 20))),
		"synthetic_webm_live":   append(webmHeader(), elUnknown(idSegment, webmInit(0), elUnknown(idCluster, elUint(idTimecode, 0), simpleBlock(1, 0, true, 9)), elUnknown(idCluster, elUint(idTimecode, 40), simpleBlock(1, 0, false, 9)))...),
		"synthetic_progressive": buildFMP4(t, nil, fmp4Options{editInit: dropMvex}).data,
		"synthetic_progressive_samples": buildProgressive(t, append(gop(true, 3, 10), gop(true, 2, 10)...),
			[]tsample{{size: 4, dur: 100, sync: true}, {size: 4, dur: 100, sync: true}}, nil).data,
	}
	if ffmpeg, err := exec.LookPath("ffmpeg"); err == nil {
		dir := t.TempDir()
		in := []string{"-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=32x32:rate=10:duration=0.6",
			"-f", "lavfi", "-i", "sine=frequency=440:duration=0.6:sample_rate=8000"}
		x264 := []string{"-c:v", "libx264", "-preset", "ultrafast", "-g", "3", "-keyint_min", "3", "-sc_threshold", "0", "-c:a", "aac", "-b:a", "8k"}
		for name, args := range map[string][]string{
			"ffmpeg_fmp4.mp4":        append(append([]string{}, x264...), "-movflags", "+frag_keyframe+empty_moov+default_base_moof"),
			"ffmpeg_progressive.mp4": x264,
			"ffmpeg_vp9_opus.webm":   {"-c:v", "libvpx-vp9", "-deadline", "realtime", "-g", "3", "-c:a", "libopus", "-b:a", "8k"},
		} {
			path := filepath.Join(dir, name)
			command(t, ffmpeg, append(append(append([]string{}, in...), args...), path)...)
			seeds[name] = mustRead(t, path)
		}
	}
	for name, data := range seeds {
		for _, fz := range []struct {
			dir  string
			body string
		}{
			{"FuzzSplit", fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint32(%d)\n", data, 1000)},
			{"FuzzRemux", fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)},
		} {
			dir := filepath.Join("testdata", "fuzz", fz.dir)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte(fz.body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

package media

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// ffmpegTools returns the paths of ffmpeg and ffprobe, or skips the test
// when they are missing (fails it when CAIRN_E2E=1). Under js/wasm there
// are no processes to run, so it always skips there.
func ffmpegTools(t testing.TB) (ffmpeg, ffprobe string) {
	t.Helper()
	if runtime.GOOS == "js" {
		t.Skip("skipping: no ffmpeg under js/wasm")
	}
	ff, err1 := exec.LookPath("ffmpeg")
	fp, err2 := exec.LookPath("ffprobe")
	if err1 != nil || err2 != nil {
		if os.Getenv("CAIRN_E2E") == "1" {
			t.Fatal("ffmpeg and ffprobe are required with CAIRN_E2E=1 (apt-get install -y ffmpeg)")
		}
		t.Skip("skipping: ffmpeg or ffprobe not installed (apt-get install -y ffmpeg); CAIRN_E2E=1 makes this a failure")
	}
	return ff, fp
}

// command runs a tool and returns its stdout; any error, or anything on
// stderr (the tools run with -v error), fails the test.
func command(t testing.TB, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// Test media: 30 s of 320x240 test pattern at 25 fps with a 440 Hz tone,
// a keyframe every 2 s (-g 50, no scene-cut keyframes), at about 400 kbit/s
// so that 256 KiB chunks hold one or two GOPs.
var (
	lavfiInputs = []string{
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=30",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=30",
	}
	h264 = []string{"-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline", "-pix_fmt", "yuv420p",
		"-b:v", "400k", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-c:a", "aac", "-b:a", "64k"}
	bframes = []string{"-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-bf", "3", "-pix_fmt", "yuv420p",
		"-b:v", "400k", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart"}
	longGOP = []string{"-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline", "-pix_fmt", "yuv420p",
		"-b:v", "400k", "-g", "250", "-keyint_min", "250", "-sc_threshold", "0", "-c:a", "aac", "-b:a", "64k",
		"-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-frag_duration", "1000000"}
	vp9 = []string{"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "800k",
		"-g", "50", "-keyint_min", "50", "-c:a", "libopus", "-b:a", "64k"}
)

// avcMIME is H.264 constrained baseline (42C0) or high (6400) at any
// level, with AAC-LC.
var avcMIME = regexp.MustCompile(`^video/mp4; codecs="avc1\.(42C0|6400)[0-9A-F]{2}, mp4a\.40\.2"$`)

var e2eMedia = []struct {
	name  string
	file  string
	args  []string // encoder and muxer options
	remux bool
	mime  *regexp.Regexp
	// longGOP: keyframes every 10 s in 1 s fragments, so some cuts are
	// forced mid-GOP.
	longGOP bool
}{
	{"fragmented-h264-aac", "frag.mp4", append(append([]string{}, h264...), "-movflags", "+frag_keyframe+empty_moov+default_base_moof"),
		false, avcMIME, false},
	{"progressive-h264-aac", "prog.mp4", h264, true, avcMIME, false},
	// B-frames (composition offsets, an edit list) and the moov first.
	{"progressive-h264-high-bframes-faststart", "progb.mp4", bframes, true, avcMIME, false},
	{"webm-vp9-opus", "out.webm", vp9, false, regexp.MustCompile(`^video/webm; codecs="vp9, opus"$`), false},
	{"fragmented-h264-long-gop-forced-cuts", "long.mp4", longGOP, false, avcMIME, true},
}

// TestFFmpegEndToEnd makes real media with ffmpeg, splits it with a 256 KiB
// target and checks, independently of the chunker, that every chunk
// boundary is a video keyframe (ffprobe packet positions and flags), that
// init + each single chunk is a file ffprobe decodes without a message and
// whose frames add up to the whole file's, and that sizes, hashes and root
// agree. The progressive file is remuxed first and the remux is checked to
// carry the same packets.
func TestFFmpegEndToEnd(t *testing.T) {
	ffmpeg, ffprobe := ffmpegTools(t)
	dir := t.TempDir()
	const target = 256 << 10
	for _, m := range e2eMedia {
		t.Run(m.name, func(t *testing.T) {
			src := filepath.Join(dir, m.file)
			args := append([]string{"-v", "error", "-y"}, lavfiInputs...)
			command(t, ffmpeg, append(append(args, m.args...), src)...)
			path := src
			if m.remux {
				path = checkRemux(t, ffmpeg, src)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			p, err := Split(f, int64(len(data)), Chunker{TargetSize: target})
			if err != nil {
				t.Fatal(err)
			}
			checkPlan(t, p, data)
			if !m.mime.MatchString(p.MIME) {
				t.Errorf("mime %q, want %s", p.MIME, m.mime)
			}
			if len(p.Chunks) < 6 {
				t.Fatalf("only %d chunks", len(p.Chunks))
			}

			// Every chunk after the init starts at a keyframe: the first
			// video packet at or after its offset is a K_ packet inside it.
			// With long GOPs, Keyframe says truthfully whether it is.
			keys := videoPackets(t, ffprobe, path)
			var totalMs int64
			forced := 0
			for i, c := range p.Chunks[1:] {
				if c.Length > target*6/5 {
					t.Errorf("chunk %d is %d bytes, over 1.2 x target", i+1, c.Length)
				}
				j := sort.Search(len(keys), func(j int) bool { return keys[j].pos >= c.Offset })
				if j == len(keys) || keys[j].pos >= c.Offset+c.Length {
					t.Fatalf("chunk %d (%d+%d) holds no video packet", i+1, c.Offset, c.Length)
				}
				if keys[j].key != c.Keyframe || (!m.longGOP && !c.Keyframe) {
					t.Errorf("chunk %d: first video packet at %d key=%v, chunk Keyframe=%v", i+1, keys[j].pos, keys[j].key, c.Keyframe)
				}
				if !c.Keyframe {
					forced++
				}
				totalMs += c.DurationMs
			}
			if m.longGOP && forced == 0 {
				t.Errorf("no forced cut with 10 s GOPs")
			}
			dur, _ := strconv.ParseFloat(strings.TrimSpace(command(t, ffprobe, "-v", "error",
				"-show_entries", "format=duration", "-of", "csv=p=0", path)), 64)
			if d := totalMs - int64(dur*1000); d < -100 || d > 100 {
				t.Errorf("chunk durations add up to %d ms, ffprobe says %.3f s", totalMs, dur)
			}

			// init + one chunk decodes alone; the frames add up. (A chunk
			// starting mid-GOP does not decode alone.)
			if m.longGOP {
				t.Logf("%s: %d media chunks, %d of them after a forced cut", m.name, len(p.Chunks)-1, forced)
				return
			}
			init := append([]byte(nil), data[:p.Init.Length]...)
			if p.Container == WebM {
				markSegmentLive(t, init)
			}
			want := countFrames(t, ffprobe, path)
			got := 0
			ext := filepath.Ext(path)
			for i, c := range p.Chunks[1:] {
				part := filepath.Join(dir, fmt.Sprintf("%s-chunk%d%s", m.name, i+1, ext))
				if err := os.WriteFile(part, append(init[:len(init):len(init)], data[c.Offset:c.Offset+c.Length]...), 0o600); err != nil {
					t.Fatal(err)
				}
				n := countFrames(t, ffprobe, part)
				if n < 1 {
					t.Errorf("chunk %d decodes to no video frames", i+1)
				}
				got += n
			}
			if got != want {
				t.Errorf("chunks decode to %d video frames, the file to %d", got, want)
			}
			var layout []string
			for _, c := range p.Chunks[1:] {
				layout = append(layout, fmt.Sprintf("%dK/%dms", c.Length>>10, c.DurationMs))
			}
			t.Logf("%s: %d bytes, init %d bytes, %d media chunks (%s), %d frames, %d ms",
				m.name, len(data), p.Init.Length, len(p.Chunks)-1, strings.Join(layout, " "), want, totalMs)
		})
	}
}

// checkRemux checks that Split refuses the progressive file, remuxes it and
// checks the result has the same video and audio packets and decodes to
// the same video.
func checkRemux(t *testing.T, ffmpeg, src string) string {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Split(f, st.Size(), Chunker{}); !errors.Is(err, ErrNeedsRemux) {
		t.Fatalf("Split of a progressive MP4: err %v, want ErrNeedsRemux", err)
	}
	dst := strings.TrimSuffix(src, ".mp4") + "-remuxed.mp4"
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if err := Remux(f, st.Size(), out); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := Detect(bytes.NewReader(mustRead(t, dst)), fileSize(t, dst)); err != nil || c != FragmentedMP4 {
		t.Fatalf("remuxed file detected as %v, %v", c, err)
	}
	md5 := func(path string, args ...string) string {
		return command(t, ffmpeg, append(append([]string{"-v", "error", "-i", path}, args...), "-f", "md5", "-")...)
	}
	for _, args := range [][]string{
		{"-map", "0:v", "-c", "copy"}, // the same video packets
		{"-map", "0:a", "-c", "copy"}, // the same audio packets
		{"-map", "0:v"},               // the same decoded pictures
	} {
		if a, b := md5(src, args...), md5(dst, args...); a != b {
			t.Errorf("%v: source %s, remuxed %s", args, a, b)
		}
	}
	return dst
}

type packet struct {
	pos int64
	key bool
}

// videoPackets lists the video packets' file positions and keyframe flags,
// by position.
func videoPackets(t *testing.T, ffprobe, path string) []packet {
	out := command(t, ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pos,flags", "-of", "csv=p=0", path)
	var ps []packet
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		pos, flags, ok := strings.Cut(line, ",")
		n, err := strconv.ParseInt(pos, 10, 64)
		if !ok || err != nil {
			continue // pos N/A
		}
		ps = append(ps, packet{pos: n, key: strings.HasPrefix(flags, "K")})
	}
	if len(ps) == 0 {
		t.Fatalf("ffprobe found no video packets in %s", path)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].pos < ps[j].pos })
	return ps
}

// countFrames decodes the first video stream and counts its frames.
func countFrames(t *testing.T, ffprobe, path string) int {
	out := command(t, ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path)
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("frames of %s: %q", path, out)
	}
	return n
}

// markSegmentLive rewrites the Segment size in a WebM init segment to
// "unknown", as a live stream has it. Players appending to MediaSource
// ignore the size; ffprobe otherwise reports the short file as truncated.
func markSegmentLive(t *testing.T, init []byte) {
	i := bytes.Index(init, []byte{0x18, 0x53, 0x80, 0x67})
	if i < 0 || i+12 > len(init) || init[i+4] != 0x01 {
		t.Fatalf("no Segment with an 8-byte size in the init segment")
	}
	copy(init[i+5:i+12], bytes.Repeat([]byte{0xFF}, 7))
}

func mustRead(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fileSize(t *testing.T, path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

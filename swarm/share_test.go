package swarm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/media"
)

// plainBlobs hides Memory's PutReader: Share then goes through Put.
type plainBlobs struct{ blobstore.Blobs }

func TestShare(t *testing.T) {
	data := randomBytes(30, 200_000)
	path := filepath.Join(t.TempDir(), "f.bin")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, blobs := range map[string]blobstore.Blobs{
		"streaming": blobstore.NewMemory(0),
		"buffered":  plainBlobs{blobstore.NewMemory(0)},
	} {
		t.Run(name, func(t *testing.T) {
			plan, shared, err := Share(context.Background(), path, blobs, media.Chunker{TargetSize: 30_000}, "")
			if err != nil || shared != path {
				t.Fatalf("%s, %v", shared, err)
			}
			if len(plan.Chunks) != 7 || plan.Container != media.Other {
				t.Fatalf("plan of %d chunks, %v", len(plan.Chunks), plan.Container)
			}
			if got := assembled(t, plan.Map(), blobs); !bytes.Equal(got, data) {
				t.Fatal("assembled file differs")
			}
			var mem *blobstore.Memory
			switch b := blobs.(type) {
			case *blobstore.Memory:
				mem = b
			case plainBlobs:
				mem = b.Blobs.(*blobstore.Memory)
			}
			for i, c := range plan.Chunks {
				if pins := mem.Pins(c.Hash); len(pins) != 1 || pins[0] != PinShared {
					t.Fatalf("chunk %d pins %v", i, pins)
				}
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Share(ctx, path, blobstore.NewMemory(0), media.Chunker{}, ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled share: %v", err)
	}
	if _, _, err := Share(context.Background(), filepath.Dir(path), blobstore.NewMemory(0), media.Chunker{}, ""); err == nil {
		t.Fatal("shared a directory")
	}
}

// missingTool skips the test for want of a tool, or fails it when
// CAIRN_E2E=1 says every prerequisite must be present.
func missingTool(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CAIRN_E2E") == "1" {
		t.Fatalf("%s; CAIRN_E2E=1 requires it", why)
	}
	t.Skipf("skipping: %s; CAIRN_E2E=1 makes this a failure", why)
}

// TestShareRemux: a progressive MP4 is remuxed next to the original (or
// where asked) and the fragmented file is what is cut and stored.
func TestShareRemux(t *testing.T) {
	dir := t.TempDir()
	src := progressiveClip(t, dir)
	blobs := blobstore.NewMemory(0)
	for _, want := range []string{filepath.Join(dir, "clip.frag.mp4"), filepath.Join(t.TempDir(), "elsewhere.mp4")} {
		remuxTo := ""
		if filepath.Base(want) == "elsewhere.mp4" {
			remuxTo = want
		}
		plan, shared, err := Share(context.Background(), src, blobs, media.Chunker{TargetSize: 8 << 10}, remuxTo)
		if err != nil {
			t.Fatal(err)
		}
		if shared != want || plan.Container != media.FragmentedMP4 || plan.Init == nil || len(plan.Chunks) < 2 {
			t.Fatalf("shared %s as %v with %d chunks", shared, plan.Container, len(plan.Chunks))
		}
		frag, err := os.ReadFile(shared)
		if err != nil {
			t.Fatal(err)
		}
		if got := assembled(t, plan.Map(), blobs); !bytes.Equal(got, frag) {
			t.Fatal("assembled file differs from the remuxed one")
		}
		leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(want), ".*.tmp"))
		if len(leftovers) > 0 {
			t.Fatalf("temporary files left: %v", leftovers)
		}
	}
}

// TestShareExact: a progressive MP4 and a file that only looks like an MP4
// are stored byte for byte as they are (fixed-size chunks, nothing
// remuxed), pinned for the reason given.
func TestShareExact(t *testing.T) {
	dir := t.TempDir()
	fake := append([]byte{0, 0, 0, 0x20, 'f', 't', 'y', 'p'}, randomBytes(31, 70_000)...)
	files := map[string][]byte{"fake.mp4": fake}
	if runtime.GOOS != "js" {
		if ffmpeg, err := exec.LookPath("ffmpeg"); err == nil {
			src := filepath.Join(dir, "clip.mp4")
			if out, err := exec.Command(ffmpeg, "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=2",
				"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", src).CombinedOutput(); err != nil {
				missingTool(t, fmt.Sprintf("ffmpeg cannot make an H.264 MP4 here: %v: %s", err, out))
			}
			b, _ := os.ReadFile(src)
			files["clip.mp4"] = b
		} else {
			missingTool(t, "ffmpeg not installed (apt-get install -y ffmpeg)")
		}
	}
	for name, data := range files {
		path := filepath.Join(dir, "exact-"+name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		blobs := blobstore.NewMemory(0)
		plan, err := ShareExact(context.Background(), path, blobs, media.Chunker{TargetSize: 16 << 10}, "blossom")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if plan.Container != media.Other || plan.Size != int64(len(data)) {
			t.Fatalf("%s: %v of %d bytes", name, plan.Container, plan.Size)
		}
		if got := assembled(t, plan.Map(), blobs); !bytes.Equal(got, data) {
			t.Fatalf("%s: assembled blob differs from the original", name)
		}
		if pins := blobs.Pins(plan.Chunks[0].Hash); len(pins) != 1 || pins[0] != "blossom" {
			t.Fatalf("%s: pins %v", name, pins)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, "*.frag.mp4")); len(left) > 0 {
			t.Fatalf("%s: remuxed copies written: %v", name, left)
		}
	}
}

// TestShareRendition: a progressive MP4's rendition is its fragmented
// remux, cut at keyframes (an init segment, then one chunk per fragment
// group) and pinned for the reason given; the original is left as it is.
// A file that is not a progressive MP4 has none, and nothing is written.
func TestShareRendition(t *testing.T) {
	dir := t.TempDir()
	src := progressiveClip(t, dir)
	orig, _ := os.ReadFile(src)
	blobs := blobstore.NewMemory(0)
	out := filepath.Join(dir, "rendition.mp4")
	plan, ok, err := ShareRendition(context.Background(), src, blobs, media.Chunker{TargetSize: 8 << 10}, out, "blossom")
	if err != nil || !ok {
		t.Fatalf("ShareRendition: ok=%v err=%v", ok, err)
	}
	m := plan.Map()
	if plan.Container != media.FragmentedMP4 || m.Init == nil || len(m.Chunks) < 2 || len(m.ChunkInfo) != len(m.Chunks) {
		t.Fatalf("rendition: %v, init %v, %d chunks, %d chunk infos: want a keyframe-cut fragmented MP4", plan.Container, m.Init, len(m.Chunks), len(m.ChunkInfo))
	}
	frag, _ := os.ReadFile(out)
	if got := assembled(t, m, blobs); !bytes.Equal(got, frag) {
		t.Fatal("the rendition's chunks do not assemble to the remuxed file")
	}
	if pins := blobs.Pins(plan.Chunks[0].Hash); len(pins) != 1 || pins[0] != "blossom" {
		t.Fatalf("pins %v", pins)
	}
	if now, _ := os.ReadFile(src); !bytes.Equal(now, orig) {
		t.Fatal("the original changed")
	}

	fake := filepath.Join(dir, "fake.mp4")
	os.WriteFile(fake, append([]byte{0, 0, 0, 0x20, 'f', 't', 'y', 'p'}, randomBytes(31, 70_000)...), 0o600)
	none := filepath.Join(dir, "none.mp4")
	before := len(blobs.List())
	if _, ok, err := ShareRendition(context.Background(), fake, blobs, media.Chunker{TargetSize: 8 << 10}, none, "blossom"); ok || err != nil {
		t.Fatalf("a file that is not a progressive MP4: ok=%v err=%v", ok, err)
	}
	if _, err := os.Stat(none); err == nil || len(blobs.List()) != before {
		t.Fatal("a file with no rendition had something written")
	}
}

// progressiveClip makes dir/clip.mp4 with ffmpeg: 4 s of H.264, a
// keyframe a second, moov at the end (no -movflags).
func progressiveClip(t *testing.T, dir string) string {
	t.Helper()
	if runtime.GOOS == "js" {
		t.Skip("skipping: no ffmpeg under js/wasm")
	}
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		missingTool(t, "ffmpeg not installed (apt-get install -y ffmpeg)")
	}
	src := filepath.Join(dir, "clip.mp4")
	if out, err := exec.Command(ffmpeg, "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=4",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-pix_fmt", "yuv420p", src).CombinedOutput(); err != nil {
		missingTool(t, fmt.Sprintf("ffmpeg cannot make an H.264 MP4 here (Debian's ffmpeg has libx264): %v: %s", err, out))
	}
	return src
}

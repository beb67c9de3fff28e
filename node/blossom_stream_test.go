package node

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// progressiveMP4 makes an H.264 MP4 with ffmpeg, moov at the end (no
// -movflags): the layout of a phone's video.
func progressiveMP4(t *testing.T) []byte {
	t.Helper()
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		if os.Getenv("CAIRN_E2E") == "1" {
			t.Fatal("ffmpeg not installed (apt-get install -y ffmpeg)")
		}
		t.Skip("skipping: ffmpeg not installed (apt-get install -y ffmpeg)")
	}
	src := filepath.Join(t.TempDir(), "phone.mp4")
	if out, err := exec.Command(ffmpeg, "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=4",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-pix_fmt", "yuv420p", src).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg cannot make an H.264 MP4 here (Debian's ffmpeg has libx264): %v: %s", err, out)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBlossomProgressiveMP4: a progressive MP4 uploaded by PUT /upload is
// served byte for byte by its sha256, and the descriptor's nevent names
// its streaming rendition: a kind 1063 tagged remux-of the blob, whose
// chunk map is a fragmented MP4 cut at keyframes (an init segment, a time
// range per chunk), the blob's own kind 1063 pointing back at it with a
// stream tag. The last owner's delete takes both.
func TestBlossomProgressiveMP4(t *testing.T) {
	clip := progressiveMP4(t)
	n := startNode(t, blossomConfig(t, BlossomConfig{Upload: "everyone"}))
	alice := newUser(t)
	sha := shaHex(clip)

	r, d := uploadBlob(t, n, alice, clip, "video/mp4")
	if r.code != 201 || d.SHA256 != sha || d.Type != "video/mp4" {
		t.Fatalf("upload: %d %s %+v", r.code, r.reason, d)
	}
	noTemp(t, n)
	if g := do(t, "GET", n.URL()+"/"+sha, "", nil, nil); g.code != 200 || !bytes.Equal(g.body, clip) {
		t.Fatalf("GET /<sha256>: %d, %d bytes (uploaded %d): want the upload byte for byte", g.code, len(g.body), len(clip))
	}
	if findTag(d.NIP94, "x") != sha {
		t.Fatalf("descriptor nip94 tags describe another file: %v", d.NIP94)
	}
	var stream []string
	for _, tg := range d.NIP94 {
		if len(tg) >= 3 && tg[0] == "stream" {
			stream = tg
		}
	}
	if stream == nil {
		t.Fatalf("the blob's kind 1063 has no stream tag: %v", d.NIP94)
	}

	ctx := context.Background()
	f, err := n.peer.Resolve(ctx, d.Nevent)
	if err != nil {
		t.Fatalf("resolving the descriptor's nevent: %v", err)
	}
	m := f.Map
	if f.SHA256 != stream[2] || f.Root() != stream[1] || f.SHA256 == sha {
		t.Fatalf("the nevent names sha256 %s root %s; the stream tag says %v", f.SHA256, f.Root(), stream)
	}
	if m.Init == nil || len(m.Chunks) == 0 || len(m.ChunkInfo) != len(m.Chunks) {
		t.Fatalf("the rendition's map: init %v, %d chunks, %d chunk infos: want a keyframe-cut fragmented MP4", m.Init, len(m.Chunks), len(m.ChunkInfo))
	}
	rev := n.ownFileEvent(ctx, f.SHA256)
	if rev == nil || rev.Tags.GetFirst([]string{"remux-of", sha}) == nil || f.Event.Tags.GetFirst([]string{"remux-of", sha}) == nil {
		t.Fatalf("the rendition's events do not name the blob: %v / %v", rev, f.Event.Tags)
	}
	g := do(t, "GET", n.URL()+"/"+f.SHA256+".mp4", "", nil, nil)
	if g.code != 200 || shaHex(g.body) != f.SHA256 || bytes.Equal(g.body, clip) || !bytes.Contains(g.body[:4096], []byte("mvex")) {
		t.Fatalf("GET of the rendition: %d, %d bytes: want the fragmented remux", g.code, len(g.body))
	}
	// The list shows the blob only.
	if l := do(t, "GET", n.URL()+"/list/"+alice.pk, "", nil, nil); bytes.Contains(l.body, []byte(f.SHA256)) || !bytes.Contains(l.body, []byte(sha)) {
		t.Fatalf("list: %s", l.body)
	}

	bf := n.fileBySHA256(ctx, sha)
	if bf == nil || len(bf.Map.Chunks) == 0 {
		t.Fatal("the blob's own file is not known")
	}
	blobChunks := bf.Map.Chunks
	n.dropCached(sha) // as after a restart: the delete finds the blob in the store
	if r := do(t, "DELETE", n.URL()+"/"+sha, alice.token(t, "delete", []string{sha}, nil), nil, nil); r.code != 200 {
		t.Fatalf("delete: %d %s", r.code, r.reason)
	}
	for _, s := range []string{sha, f.SHA256} {
		if g := do(t, "GET", n.URL()+"/"+s, "", nil, nil); g.code != 404 {
			t.Errorf("GET %s after the delete: %d, want 404", s[:8], g.code)
		}
	}
	for _, h := range append(m.Chunks, blobChunks...) {
		if n.blobs.Has(h) {
			t.Fatalf("a chunk of the blob or its rendition stays after the delete: %x", h[:8])
		}
	}
}

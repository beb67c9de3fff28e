package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/test/harness"
)

// The Blossom tests drive cairn as Nostr clients use Blossom servers: a
// maintained client library from npm (blossom-client-sdk) against two
// nodes, and a blob uploaded to one node served by another from the swarm.

// blossomToken is a signed kind 24242 token for verb naming the x tags,
// as an Authorization header.
func blossomToken(t testing.TB, sk, verb string, xs ...string) string {
	t.Helper()
	ev := nostr.Event{Kind: 24242, CreatedAt: nostr.Now(), Content: "cairn test",
		Tags: nostr.Tags{{"t", verb}, {"expiration", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)}}}
	for _, x := range xs {
		ev.Tags = append(ev.Tags, nostr.Tag{"x", x})
	}
	if err := ev.Sign(sk); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ev)
	return "Nostr " + base64.RawURLEncoding.EncodeToString(b)
}

// blobDescriptor is what PUT /upload answers.
type blobDescriptor struct {
	URL    string     `json:"url"`
	SHA256 string     `json:"sha256"`
	Size   int64      `json:"size"`
	Type   string     `json:"type"`
	NIP94  [][]string `json:"nip94"`
	Nevent string     `json:"nevent"`
}

// blossomUpload PUTs the file at path to n's /upload as the holder of sk.
func blossomUpload(t testing.TB, n *harness.Node, sk, path, typ string) (blobDescriptor, []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	req, _ := http.NewRequest("PUT", n.URL+"/upload", bytes.NewReader(data))
	req.Header.Set("Authorization", blossomToken(t, sk, "upload", sha))
	req.Header.Set("Content-Type", typ)
	req.Header.Set("X-SHA-256", sha)
	res, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("PUT /upload: %s (%s): %s", res.Status, res.Header.Get("X-Reason"), body)
	}
	var d blobDescriptor
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	if d.SHA256 != sha {
		t.Fatalf("descriptor sha256 %s, want %s", d.SHA256, sha)
	}
	return d, data
}

// testImage makes a PNG with ffmpeg.
func testImage(t testing.TB) string {
	t.Helper()
	testVideo(t, 1, 100, "") // skips or fails as the video tests do without ffmpeg
	out := filepath.Join(t.TempDir(), "card.png")
	if b, err := exec.Command("ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x240", "-frames:v", "1", out).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return out
}

// TestBlossomClientLibrary runs test/blossom/client.test.mjs
// (blossom-client-sdk, Node's test runner): an image and a video
// uploaded to A, listed, downloaded whole and with Range, the video
// mirrored to B, both deleted from A.
func TestBlossomClientLibrary(t *testing.T) {
	dir, err := filepath.Abs("blossom")
	if err != nil {
		t.Fatal(err)
	}
	nodeBin := setupNodeModules(t, dir, "blossom-client-sdk")
	img, clip := testImage(t), testVideo(t, 6, 900, "")
	a := harness.Start(t, "--blossom-upload", "everyone")
	b := harness.Start(t, "--blossom-upload", "everyone", "--blossom-mirror-local") // mirrors from A on loopback
	env := append(os.Environ(), "CAIRN_A="+a.URL, "CAIRN_B="+b.URL, "CAIRN_IMAGE="+img, "CAIRN_VIDEO="+clip)
	if code := runLogged(t, dir, env, 3*time.Minute, nodeBin, "--test", "--test-reporter=spec", "--test-timeout=60000", "client.test.mjs"); code != 0 {
		t.Fatalf("node --test client.test.mjs exited %d", code)
	}
	var st struct {
		Blossom struct {
			Blobs   int    `json:"blobs"`
			Uploads uint64 `json:"uploads"`
			Served  uint64 `json:"bytes_served"`
		} `json:"blossom"`
	}
	getJSON(t, a.URL+"/api/status", &st)
	if st.Blossom.Uploads != 2 || st.Blossom.Blobs != 0 || st.Blossom.Served == 0 {
		t.Errorf("A's blossom status after the run: %+v (want 2 uploads, none left, bytes served)", st.Blossom)
	}
	if left, _ := os.ReadDir(filepath.Join(a.DataDir, "blossom", "tmp")); len(left) > 0 {
		t.Errorf("temporary files left on A: %v", left)
	}
}

// TestBlossomSwarm: a video uploaded to A over Blossom is served by B by
// its sha256, byte for byte, though B never received the upload: B
// resolves the descriptor's nevent (A's kind 1063) and pulls the chunks
// from A over libp2p. Then B's web app plays it at /watch.
func TestBlossomSwarm(t *testing.T) {
	clip := testVideo(t, 24, 5000, "noise=alls=40:allf=t") // ~14 MB: 5 MiB chunks, several
	a := harness.Start(t, "--blossom-upload", "everyone", "--webrtc-loopback")
	b := startSeeded(t, a, "--webrtc-loopback")
	sk := nostr.GeneratePrivateKey()
	d, want := blossomUpload(t, a, sk, clip, "video/mp4")
	if !strings.HasPrefix(d.Nevent, "nevent1") || d.Type != "video/mp4" {
		t.Fatalf("descriptor: %+v", d)
	}

	if out, errOut, code := harness.Run(t, "resolve", d.Nevent, "--node", b.URL); code != 0 || !strings.Contains(out, d.SHA256) {
		t.Fatalf("cairn resolve on B: exit %d\n%s%s", code, out, errOut)
	}
	res, err := (&http.Client{Timeout: 2 * time.Minute}).Get(b.URL + "/" + d.SHA256 + ".mp4")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Equal(got, want) {
		t.Fatalf("GET on B: %s, %d bytes, want the %d uploaded bytes", res.Status, len(got), len(want))
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "video/mp4") {
		t.Errorf("B's Content-Type %q", ct)
	}
	var st struct {
		Transfer map[string]struct {
			BytesDown uint64 `json:"bytes_down"`
		} `json:"transfer"`
		Blossom struct {
			Uploads uint64 `json:"uploads"`
		} `json:"blossom"`
	}
	getJSON(t, b.URL+"/api/status", &st)
	if st.Blossom.Uploads != 0 || st.Transfer["libp2p"].BytesDown < uint64(len(want)) {
		t.Errorf("B: %d Blossom uploads, %d bytes down over libp2p; want none and the whole file", st.Blossom.Uploads, st.Transfer["libp2p"].BytesDown)
	}

	if harness.ChromiumPath() == "" && os.Getenv("CAIRN_E2E") != "1" {
		t.Log("no Chromium: /watch not played (CAIRN_E2E=1 makes this a failure)")
		return
	}
	br := harness.NewBrowser(t)
	br.Open(b.URL + "/watch/" + d.Nevent + "?loopback=1")
	br.WaitFor(90*time.Second, `(() => { const v = document.querySelector('video'); return !!v && v.currentTime > 0.5; })()`)
	assertNoConsoleErrors(t, br)
}

// TestBlossomWatchProgressive: a progressive MP4 (moov at the end, as a
// phone writes it) uploaded to A over Blossom is served back by its sha256
// byte for byte, and B's web app plays the descriptor's nevent (its
// streaming rendition) before the whole of it has arrived (A's uploads are
// capped, so it takes seconds to cross).
func TestBlossomWatchProgressive(t *testing.T) {
	testVideo(t, 1, 100, "") // skips or fails as the video tests do without ffmpeg
	clip := filepath.Join(t.TempDir(), "phone.mp4")
	if b, err := exec.Command("ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=25:duration=30",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=30",
		"-c:v", "libx264", "-preset", "veryfast", "-profile:v", "baseline", "-pix_fmt", "yuv420p",
		"-b:v", "900k", "-maxrate", "900k", "-bufsize", "900k", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
		"-c:a", "aac", clip).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	a := harness.Start(t, "--blossom-upload", "everyone", "--webrtc-loopback", "--upload-rate", "192KiB")
	b := harness.Start(t, "--webrtc-loopback")
	sk := nostr.GeneratePrivateKey()
	d, want := blossomUpload(t, a, sk, clip, "video/mp4")
	if bytes.Contains(want[:64], []byte("moov")) {
		t.Fatal("ffmpeg wrote moov first: the clip is not the progressive layout this test is about")
	}
	res, err := (&http.Client{Timeout: 2 * time.Minute}).Get(a.URL + "/" + d.SHA256 + ".mp4")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Equal(got, want) {
		t.Fatalf("GET /<sha256> on A: %s, %d bytes, want the %d uploaded bytes", res.Status, len(got), len(want))
	}
	root := ""
	for _, tg := range d.NIP94 {
		if len(tg) >= 3 && tg[0] == "stream" {
			root = tg[1]
		}
	}
	if root == "" {
		t.Fatalf("the descriptor names no streaming rendition: %v", d.NIP94)
	}

	if harness.ChromiumPath() == "" && os.Getenv("CAIRN_E2E") != "1" {
		t.Skip("no Chromium: /watch not played (CAIRN_E2E=1 makes this a failure)")
	}
	br := harness.NewBrowser(t)
	br.Open(b.URL + "/watch/" + d.Nevent + "?loopback=1")
	br.WaitFor(90*time.Second, `(() => { const v = document.querySelector('video'); return !!v && v.currentTime > 0.2; })()`)
	var first videoState
	br.Eval(fmt.Sprintf(videoStateJS, root), &first)
	t.Logf("playing at %.2fs with %d of %d chunks of the rendition held", first.Time, first.Have, first.Total)
	if first.Total == 0 || first.Have >= first.Total {
		t.Fatalf("playback started only once the whole rendition had arrived (%d of %d chunks): the test shows nothing", first.Have, first.Total)
	}
	assertNoConsoleErrors(t, br)

	// A's feed (A's relay has the blob's events and the rendition's) shows
	// the upload once, linked to the rendition.
	feed := harness.NewBrowser(t)
	feed.Open(a.URL + "/?loopback=1")
	feed.WaitFor(60*time.Second, `document.querySelectorAll('a.media-link').length > 0`)
	var links []string
	feed.Eval(`[...document.querySelectorAll('a.media-link')].map((a) => a.getAttribute('href'))`, &links)
	if len(links) != 1 || links[0] != "/watch/"+root {
		t.Errorf("A's feed links %v, want the one upload at /watch/%s", links, root)
	}
}

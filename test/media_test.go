package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/test/harness"
)

// The media tests share a random file on one node and fetch it on others,
// over libp2p on loopback. Files are a few MiB cut into 256 KiB chunks, so
// that a file has a dozen chunks and a test takes seconds.

const (
	mediaSize  = 3<<20 + 12345
	mediaChunk = 256 << 10
)

// mediaFile writes a random file of size bytes (seeded by name) and
// returns its path and bytes.
func mediaFile(t testing.TB, name string, size int) (string, []byte) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(size), uint64(len(name))))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, b
}

// status is the part of /api/status the media tests read.
type status struct {
	P2P struct {
		PeerID string   `json:"peer_id"`
		Addrs  []string `json:"addrs"`
		Peers  int      `json:"peers"`
	} `json:"p2p"`
	Transfer map[string]struct {
		BytesUp   uint64 `json:"bytes_up"`
		BytesDown uint64 `json:"bytes_down"`
	} `json:"transfer"`
	Blobs struct {
		Count int   `json:"count"`
		Bytes int64 `json:"bytes"`
		Quota int64 `json:"quota"`
	} `json:"blobs"`
}

func getJSON(t testing.TB, url string, into any) {
	t.Helper()
	res, err := (&http.Client{Timeout: harness.Wait}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %s: %s", url, res.Status, b)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("GET %s: %v\n%s", url, err, b)
	}
}

func nodeStatus(t *testing.T, n *harness.Node) status {
	t.Helper()
	var st status
	getJSON(t, n.URL+"/api/status", &st)
	return st
}

// startSeeded starts a node bootstrapped to seed's libp2p addresses, as
// /api/status lists them.
func startSeeded(t *testing.T, seed *harness.Node, args ...string) *harness.Node {
	t.Helper()
	st := nodeStatus(t, seed)
	if len(st.P2P.Addrs) == 0 {
		t.Fatalf("seed's /api/status lists no libp2p address")
	}
	return harness.Start(t, append(args, "--bootstrap", strings.Join(st.P2P.Addrs, ","))...)
}

type shared struct {
	nevent, root, sha256 string
}

var shareLine = regexp.MustCompile(`(?m)^(nevent|root|sha256):\s+(\S+)$`)

// share runs `cairn share` against n with the media tests' chunk size.
func share(t *testing.T, n *harness.Node, path string) shared {
	t.Helper()
	return shareChunked(t, n, path, fmt.Sprint(mediaChunk))
}

// TestMediaShareGet: a file shared on A with `cairn share` is fetched on B,
// bootstrapped to A, with `cairn get <nevent>`, byte for byte; both nodes
// count the transfer.
func TestMediaShareGet(t *testing.T) {
	a := harness.Start(t)
	path, want := mediaFile(t, "share-get.bin", mediaSize)
	s := share(t, a, path)
	b := startSeeded(t, a)

	out := filepath.Join(t.TempDir(), "got.bin")
	stdout, errOut, code := harness.Run(t, "get", s.nevent, "--node", b.URL, "-o", out)
	if code != 0 {
		t.Fatalf("cairn get exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, errOut)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("fetched file differs: %d bytes, want %d", len(got), len(want))
	}
	if !strings.Contains(errOut, "100.0%") {
		t.Errorf("cairn get drew no progress line reaching 100%%:\n%s", errOut)
	}
	if sa, sb := nodeStatus(t, a), nodeStatus(t, b); sa.Transfer["libp2p"].BytesUp < mediaSize || sb.Transfer["libp2p"].BytesDown < mediaSize {
		t.Errorf("transfer counters: A up %d, B down %d; want at least %d each", sa.Transfer["libp2p"].BytesUp, sb.Transfer["libp2p"].BytesDown, mediaSize)
	}

	// ls on both sides; B holds every chunk now, A shared it.
	lsA, _, _ := harness.Run(t, "ls", "--node", a.URL)
	lsB, _, _ := harness.Run(t, "ls", "--node", b.URL)
	if !regexp.MustCompile(s.root + `.*13/13\s+yes`).MatchString(lsA) {
		t.Errorf("cairn ls on A does not list the shared file with 13/13 chunks:\n%s", lsA)
	}
	if !regexp.MustCompile(s.root + `.*13/13\s+no`).MatchString(lsB) {
		t.Errorf("cairn ls on B does not list the fetched file with 13/13 chunks:\n%s", lsB)
	}
	// pin and unpin by root.
	if out, errOut, code := harness.Run(t, "pin", s.root, "--node", b.URL); code != 0 || !strings.Contains(out, "pinned") {
		t.Errorf("cairn pin: exit %d\n%s%s", code, out, errOut)
	}
	if lsB, _, _ = harness.Run(t, "ls", "--node", b.URL); !regexp.MustCompile(s.root + `.*no\s+yes`).MatchString(lsB) {
		t.Errorf("cairn ls after pin does not show it pinned:\n%s", lsB)
	}
	if out, errOut, code := harness.Run(t, "unpin", s.root, "--node", b.URL); code != 0 || !strings.Contains(out, "unpinned") {
		t.Errorf("cairn unpin: exit %d\n%s%s", code, out, errOut)
	}
}

// TestMediaRangeFromSwarm: C knows of a file (cairn resolve) but holds none
// of it; a Range request on C's /<sha256> for bytes in the middle returns
// exactly those bytes, fetched from A on demand, without the whole file.
func TestMediaRangeFromSwarm(t *testing.T) {
	a := harness.Start(t)
	path, want := mediaFile(t, "range.bin", mediaSize)
	s := share(t, a, path)
	c := startSeeded(t, a)

	if out, errOut, code := harness.Run(t, "resolve", s.nevent, "--node", c.URL); code != 0 || !strings.Contains(out, s.sha256) {
		t.Fatalf("cairn resolve: exit %d\n%s%s", code, out, errOut)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	from, to := 1<<20+777, 1<<20+777+300_000 // spans a chunk boundary
	req, _ := http.NewRequest("GET", c.URL+"/"+s.sha256+".bin", nil)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", from, to-1))
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusPartialContent {
		t.Fatalf("Range GET: %s: %.300s", res.Status, body)
	}
	if !bytes.Equal(body, want[from:to]) {
		t.Fatalf("Range GET returned %d bytes that differ from the file's bytes %d-%d", len(body), from, to-1)
	}
	if cr := res.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes %d-%d/%d", from, to-1, mediaSize) {
		t.Errorf("Content-Range %q", cr)
	}
	if st := nodeStatus(t, c); st.Blobs.Count == 0 || st.Blobs.Count > 4 {
		t.Errorf("C holds %d chunks after a 300 kB range; want the 2 covering it (and maybe one read ahead), not the file", st.Blobs.Count)
	}

	// HEAD: size and type without a body.
	res, err = client.Head(c.URL + "/" + s.sha256)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.ContentLength != mediaSize || res.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("HEAD: %s, length %d, type %q", res.Status, res.ContentLength, res.Header.Get("Content-Type"))
	}
	// An unknown sha256 is a 404 that says why.
	res, err = client.Get(c.URL + "/" + strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 404 || !strings.Contains(string(body), "not found") {
		t.Errorf("unknown sha256: %s %s", res.Status, body)
	}
	// The whole file, read from C: the rest comes from A now.
	res, err = client.Get(c.URL + "/" + s.sha256)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if !bytes.Equal(body, want) {
		t.Fatalf("full GET on C: %s, %d bytes, differ from the file", res.Status, len(body))
	}
}

// TestMediaGetResumes: B starts a download from an upload-capped A and is
// killed (SIGKILL) partway; after a restart the same cairn get resumes
// from the chunks B kept and writes the identical file.
func TestMediaGetResumes(t *testing.T) {
	a := harness.Start(t, "--upload-rate", "640KiB")
	path, want := mediaFile(t, "resume.bin", mediaSize)
	s := share(t, a, path)
	b := startSeeded(t, a)

	// Start the download through the API, as cairn get does, and kill B
	// once a few chunks are in.
	body := fmt.Sprintf(`{"ref":%q}`, s.nevent)
	res, err := http.Post(b.URL+"/api/get", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("POST /api/get: %s", res.Status)
	}
	var dl struct {
		ChunksDone    int    `json:"chunks_done"`
		ChunksStored  int    `json:"chunks_stored"`
		Chunks        int    `json:"chunks"`
		ChunksResumed int    `json:"chunks_resumed"`
		State         string `json:"state"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		getJSON(t, b.URL+"/api/downloads/"+s.root, &dl)
		// Stored, not done: a chunk counts as done once verified, before
		// its fsync returns.
		if dl.ChunksStored >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("download made no progress: %+v", dl)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if dl.ChunksDone == dl.Chunks {
		t.Fatalf("download finished before it could be interrupted (%d chunks): is --upload-rate applied?", dl.Chunks)
	}
	b.Kill9()
	b.Restart()

	out := filepath.Join(t.TempDir(), "resumed.bin")
	stdout, errOut, code := harness.Run(t, "get", s.nevent, "--node", b.URL, "-o", out)
	if code != 0 {
		t.Fatalf("second cairn get exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, errOut)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, want) {
		t.Fatalf("resumed file differs: %d bytes, want %d", len(got), len(want))
	}
	getJSON(t, b.URL+"/api/downloads/"+s.root, &dl)
	if dl.ChunksResumed < 3 {
		t.Fatalf("the second get resumed %d chunks; at least 3 were stored before the kill", dl.ChunksResumed)
	}
	t.Logf("resumed %d of %d chunks", dl.ChunksResumed, dl.Chunks)
}

// TestMediaThirdNodeFromDHT: B fetches a file from A and then provides it
// on the DHT; with A stopped, C (which learnt of the file while A was up)
// gets it by root from B, a seeder it knows only from the DHT: the map's
// only gatekeeper is A.
func TestMediaThirdNodeFromDHT(t *testing.T) {
	a := harness.Start(t)
	path, want := mediaFile(t, "dht.bin", mediaSize)
	s := share(t, a, path)
	b := startSeeded(t, a)
	if out, errOut, code := harness.Run(t, "get", s.nevent, "--node", b.URL, "-q", "-o", filepath.Join(t.TempDir(), "b.bin")); code != 0 {
		t.Fatalf("cairn get on B exited %d\n%s%s", code, out, errOut)
	}
	c := startSeeded(t, b)
	if out, errOut, code := harness.Run(t, "resolve", s.nevent, "--node", c.URL); code != 0 {
		t.Fatalf("cairn resolve on C exited %d\n%s%s", code, out, errOut)
	}
	a.Stop()

	out := filepath.Join(t.TempDir(), "c.bin")
	stdout, errOut, code := harness.RunTimeout(t, time.Minute, "get", s.root, "--node", c.URL, "-q", "-o", out)
	if code != 0 {
		t.Fatalf("cairn get on C exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, errOut)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, want) {
		t.Fatalf("file fetched from B differs: %d bytes", len(got))
	}
	if up := nodeStatus(t, b).Transfer["libp2p"].BytesUp; up < mediaSize {
		t.Errorf("B uploaded %d bytes; C's file must have come from it", up)
	}
}

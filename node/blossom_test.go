package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/blossom"
)

// user is a Blossom client's key.
type user struct{ sk, pk string }

func newUser(t *testing.T) user {
	sk := nostr.GeneratePrivateKey()
	pk, err := nostr.GetPublicKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return user{sk, pk}
}

// token signs a kind 24242 token for verb and the x tags, expiring in an
// hour unless edit changes it.
func (u user) token(t *testing.T, verb string, xs []string, edit func(*nostr.Event)) string {
	t.Helper()
	ev := nostr.Event{Kind: blossom.KindAuth, CreatedAt: nostr.Now(), Content: "test",
		Tags: nostr.Tags{{"t", verb}, {"expiration", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)}}}
	for _, x := range xs {
		ev.Tags = append(ev.Tags, nostr.Tag{"x", x})
	}
	if edit != nil {
		edit(&ev)
	}
	if err := ev.Sign(u.sk); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ev)
	return "Nostr " + base64.RawURLEncoding.EncodeToString(b)
}

func shaHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// blobOf is size random bytes after a PNG signature, so it sniffs as one.
func blobOf(seed uint64, size int) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	copy(b, "\x89PNG\r\n\x1a\n")
	return b
}

type reply struct {
	code   int
	reason string
	body   []byte
	hdr    http.Header
}

func do(t *testing.T, method, url, auth string, hdr map[string]string, body []byte) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{res.StatusCode, res.Header.Get("X-Reason"), b, res.Header}
}

func uploadBlob(t *testing.T, n *Node, u user, blob []byte, typ string) (reply, blossom.Descriptor) {
	t.Helper()
	sha := shaHex(blob)
	r := do(t, "PUT", n.URL()+"/upload", u.token(t, "upload", []string{sha}, nil), map[string]string{"Content-Type": typ, "X-SHA-256": sha}, blob)
	var d blossom.Descriptor
	if r.code == 200 || r.code == 201 {
		if err := json.Unmarshal(r.body, &d); err != nil {
			t.Fatal(err)
		}
	}
	return r, d
}

func blossomConfig(t *testing.T, bc BlossomConfig) Config {
	cfg := TestingConfig(t)
	cfg.Blossom = bc
	return cfg
}

// noTemp fails when an upload left a file behind.
func noTemp(t *testing.T, n *Node) {
	t.Helper()
	left, err := os.ReadDir(filepath.Join(BlossomDir(n.cfg.DataDir), "tmp"))
	if err != nil || len(left) > 0 {
		t.Fatalf("temporary files left in the blossom dir: %v %v", left, err)
	}
}

// TestBlossomUploadListDelete: two users upload the same blob; it is
// served by sha256 with its type, Range and CORS, listed for each, kept
// across a restart, and goes only when both deleted it.
func TestBlossomUploadListDelete(t *testing.T) {
	cfg := blossomConfig(t, BlossomConfig{Upload: "everyone"})
	n := startNode(t, cfg)
	alice, bob := newUser(t), newUser(t)
	blob := blobOf(1, 700_000)
	sha := shaHex(blob)

	r, d := uploadBlob(t, n, alice, blob, "image/png")
	if r.code != 201 || d.SHA256 != sha || d.Size != int64(len(blob)) || d.Type != "image/png" || d.URL != n.URL()+"/"+sha+".png" {
		t.Fatalf("upload: %d %s %+v", r.code, r.reason, d)
	}
	if r.hdr.Get("Access-Control-Allow-Origin") != "*" {
		t.Error("upload answer without CORS")
	}
	if tag := findTag(d.NIP94, "x"); tag != sha || findTag(d.NIP94, "m") != "image/png" || !strings.HasPrefix(d.Nevent, "nevent1") {
		t.Errorf("nip94 tags %v, nevent %q", d.NIP94, d.Nevent)
	}
	if r, again := uploadBlob(t, n, alice, blob, "image/png"); r.code != 200 || again.Uploaded != d.Uploaded {
		t.Errorf("second upload of the same blob: %d, uploaded %d (first %d); want 200 and the first time", r.code, again.Uploaded, d.Uploaded)
	}
	if r, _ := uploadBlob(t, n, bob, blob, "image/png"); r.code != 200 {
		t.Errorf("bob's upload of a blob held: %d, want 200", r.code)
	}
	noTemp(t, n)

	h := do(t, "HEAD", n.URL()+"/"+sha+".png", "", nil, nil)
	if h.code != 200 || h.hdr.Get("Content-Type") != "image/png" || h.hdr.Get("Content-Length") != strconv.Itoa(len(blob)) || h.hdr.Get("Accept-Ranges") != "bytes" || h.hdr.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("HEAD: %d %v", h.code, h.hdr)
	}
	g := do(t, "GET", n.URL()+"/"+sha, "", map[string]string{"Range": "bytes=100-199"}, nil)
	if g.code != 206 || !bytes.Equal(g.body, blob[100:200]) {
		t.Errorf("Range GET: %d, %d bytes", g.code, len(g.body))
	}
	o := do(t, "OPTIONS", n.URL()+"/upload", "", nil, nil)
	if o.code != 204 || !strings.Contains(o.hdr.Get("Access-Control-Allow-Methods"), "PUT") || !strings.Contains(o.hdr.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("OPTIONS: %d %v", o.code, o.hdr)
	}
	if st := n.Status().Blossom; st.Blobs != 1 || st.Bytes != int64(len(blob)) || st.Uploads != 1 || st.BytesServed < 100 {
		t.Errorf("status: %+v", st)
	}

	// A second blob for alice; list newest first, since and until.
	blob2 := blobOf(2, 1000)
	if r, _ := uploadBlob(t, n, alice, blob2, "image/png"); r.code != 201 {
		t.Fatalf("second blob: %d %s", r.code, r.reason)
	}
	var list []blossom.Descriptor
	l := do(t, "GET", n.URL()+"/list/"+alice.pk, "", nil, nil)
	json.Unmarshal(l.body, &list)
	if l.code != 200 || len(list) != 2 {
		t.Fatalf("list: %d %s", l.code, l.body)
	}
	l = do(t, "GET", n.URL()+"/list/"+alice.pk+"?since="+strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10), "", nil, nil)
	if string(bytes.TrimSpace(l.body)) != "[]" {
		t.Errorf("list since the future: %s", l.body)
	}
	if l := do(t, "GET", n.URL()+"/list/"+alice.pk+"?until=x", "", nil, nil); l.code != 400 || l.reason == "" {
		t.Errorf("list with a bad until: %d %q", l.code, l.reason)
	}

	// The records survive a restart.
	if err := n.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	n2, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n2.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n2.Stop(context.Background()) })
	if l := do(t, "GET", n2.URL()+"/list/"+bob.pk, "", nil, nil); !strings.Contains(string(l.body), sha) {
		t.Fatalf("bob's list after a restart: %s", l.body)
	}

	// Delete: a token for another blob is refused; alice's delete keeps
	// the blob for bob; bob's removes it.
	if r := do(t, "DELETE", n2.URL()+"/"+sha, alice.token(t, "delete", []string{shaHex(blob2)}, nil), nil, nil); r.code != 401 {
		t.Errorf("delete with a token for another blob: %d", r.code)
	}
	if r := do(t, "DELETE", n2.URL()+"/"+sha, alice.token(t, "delete", []string{sha}, nil), nil, nil); r.code != 200 {
		t.Fatalf("alice's delete: %d %s", r.code, r.reason)
	}
	if g := do(t, "GET", n2.URL()+"/"+sha, "", nil, nil); g.code != 200 || !bytes.Equal(g.body, blob) {
		t.Fatalf("after alice's delete bob's blob: %d", g.code)
	}
	if r := do(t, "DELETE", n2.URL()+"/"+sha, alice.token(t, "delete", []string{sha}, nil), nil, nil); r.code != 404 {
		t.Errorf("alice deletes again: %d", r.code)
	}
	if r := do(t, "DELETE", n2.URL()+"/"+sha+".png", bob.token(t, "delete", []string{sha}, nil), nil, nil); r.code != 200 {
		t.Fatalf("bob's delete: %d %s", r.code, r.reason)
	}
	if g := do(t, "GET", n2.URL()+"/"+sha, "", nil, nil); g.code != 404 || g.reason == "" {
		t.Fatalf("GET after the last owner deleted: %d %q", g.code, g.reason)
	}
	if st := n2.Status().Blossom; st.Blobs != 1 {
		t.Errorf("status after delete: %+v", st)
	}
	// Uploaded again, it is back.
	if r, _ := uploadBlob(t, n2, bob, blob, "image/png"); r.code != 201 {
		t.Fatalf("upload after delete: %d %s", r.code, r.reason)
	}
	if g := do(t, "GET", n2.URL()+"/"+sha, "", nil, nil); g.code != 200 || !bytes.Equal(g.body, blob) {
		t.Fatalf("GET after the upload again: %d", g.code)
	}
}

func findTag(tags [][]string, name string) string {
	for _, t := range tags {
		if len(t) > 1 && t[0] == name {
			return t[1]
		}
	}
	return ""
}

// TestBlossomRefusals: every bad upload is refused with the BUDs' status
// and an X-Reason, and leaves neither a temporary file nor a chunk.
func TestBlossomRefusals(t *testing.T) {
	alice, stranger := newUser(t), newUser(t)
	n := startNode(t, blossomConfig(t, BlossomConfig{Upload: "allowlist", Allow: []string{alice.pk}, MaxSize: 100_000, Quota: 150_000, Types: []string{"image/*", "video/mp4"}}))
	blob := blobOf(3, 80_000)
	sha := shaHex(blob)
	other := blobOf(4, 80_000)
	past := func(e *nostr.Event) {
		e.Tags[1] = nostr.Tag{"expiration", strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)}
	}
	future := func(e *nostr.Event) { e.CreatedAt = nostr.Timestamp(time.Now().Add(time.Hour).Unix()) }
	png := map[string]string{"Content-Type": "image/png"}
	withSHA := map[string]string{"Content-Type": "image/png", "X-SHA-256": sha}
	cases := []struct {
		name   string
		method string
		path   string
		auth   string
		hdr    map[string]string
		body   []byte
		code   int
	}{
		{"no auth", "PUT", "/upload", "", png, blob, 401},
		{"garbage auth", "PUT", "/upload", "Nostr eyJub3Q", png, blob, 401},
		{"expired", "PUT", "/upload", alice.token(t, "upload", []string{sha}, past), png, blob, 401},
		{"created in the future", "PUT", "/upload", alice.token(t, "upload", []string{sha}, future), png, blob, 401},
		{"wrong verb", "PUT", "/upload", alice.token(t, "delete", []string{sha}, nil), png, blob, 401},
		{"x of another blob", "PUT", "/upload", alice.token(t, "upload", []string{shaHex(other)}, nil), png, blob, 409},
		{"body not the X-SHA-256", "PUT", "/upload", alice.token(t, "upload", []string{sha}, nil), withSHA, other, 409},
		{"not allowed", "PUT", "/upload", stranger.token(t, "upload", []string{sha}, nil), png, blob, 403},
		{"type", "PUT", "/upload", alice.token(t, "upload", []string{shaHex(blobOf(5, 10))}, nil), map[string]string{"Content-Type": "application/pdf"}, blobOf(5, 10), 415},
		{"sniffed type", "PUT", "/upload", alice.token(t, "upload", []string{shaHex([]byte("%PDF-1.4 hello"))}, nil), nil, []byte("%PDF-1.4 hello"), 415},
		{"size", "PUT", "/upload", alice.token(t, "upload", []string{shaHex(blobOf(6, 100_001))}, nil), png, blobOf(6, 100_001), 413},
		{"preflight without length", "HEAD", "/upload", alice.token(t, "upload", []string{sha}, nil), withSHA, nil, 411},
		{"preflight size", "HEAD", "/upload", alice.token(t, "upload", []string{sha}, nil), map[string]string{"X-SHA-256": sha, "X-Content-Length": "200000", "X-Content-Type": "image/png"}, nil, 413},
		{"preflight type", "HEAD", "/upload", alice.token(t, "upload", []string{sha}, nil), map[string]string{"X-SHA-256": sha, "X-Content-Length": "10", "X-Content-Type": "text/html"}, nil, 415},
		{"preflight no auth", "HEAD", "/upload", "", map[string]string{"X-SHA-256": sha, "X-Content-Length": "10", "X-Content-Type": "image/png"}, nil, 401},
		{"preflight bad sha", "HEAD", "/upload", "", map[string]string{"X-SHA-256": "xyz", "X-Content-Length": "10"}, nil, 400},
	}
	for _, c := range cases {
		r := do(t, c.method, n.URL()+c.path, c.auth, c.hdr, c.body)
		if r.code != c.code || (c.method != "HEAD" && r.reason == "") {
			t.Errorf("%s: %d %q, want %d with an X-Reason", c.name, r.code, r.reason, c.code)
		}
		if r.hdr.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s: refusal without CORS", c.name)
		}
	}
	// A PNG declared as application/octet-stream is typed by its bytes.
	tiny := blobOf(11, 1000)
	if r := do(t, "PUT", n.URL()+"/upload", alice.token(t, "upload", []string{shaHex(tiny)}, nil), map[string]string{"Content-Type": "application/octet-stream"}, tiny); r.code != 201 || !strings.Contains(string(r.body), `"image/png"`) {
		t.Errorf("a PNG sent as application/octet-stream: %d %s %q", r.code, r.body, r.reason)
	}
	if r := do(t, "DELETE", n.URL()+"/"+shaHex(tiny), alice.token(t, "delete", []string{shaHex(tiny)}, nil), nil, nil); r.code != 200 {
		t.Errorf("deleting it: %d %q", r.code, r.reason)
	}
	if r := do(t, "HEAD", n.URL()+"/upload", alice.token(t, "upload", []string{sha}, nil), map[string]string{"X-SHA-256": sha, "X-Content-Length": "80000", "X-Content-Type": "image/png"}, nil); r.code != 200 {
		t.Errorf("a preflight that fits: %d %q", r.code, r.hdr.Get("X-Reason"))
	}

	// Quota: 80 kB held, 80 kB more would pass 150 kB.
	if r, _ := uploadBlob(t, n, alice, blob, "image/png"); r.code != 201 {
		t.Fatalf("upload within quota: %d %s", r.code, r.reason)
	}
	held := n.Blobs().Stats().Count
	if r, _ := uploadBlob(t, n, alice, other, "image/png"); r.code != 429 || r.reason == "" {
		t.Errorf("over quota: %d %q", r.code, r.reason)
	}
	// Over the size with a chunked body (no Content-Length): 411, since
	// this server limits sizes.
	req, _ := http.NewRequest("PUT", n.URL()+"/upload", io.MultiReader(bytes.NewReader(blobOf(7, 10))))
	req.Header.Set("Authorization", alice.token(t, "upload", []string{shaHex(blobOf(7, 10))}, nil))
	req.ContentLength = -1
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 411 {
		t.Errorf("chunked body: %v %v", res.StatusCode, err)
	} else {
		res.Body.Close()
	}
	// A body cut mid-stream: the connection drops after half of it.
	small := blobOf(8, 40_000)
	refusedBefore := n.Status().Blossom.Refused
	conn, err := net.Dial("tcp", strings.TrimPrefix(n.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT /upload HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Type: image/png\r\nContent-Length: %d\r\n\r\n", alice.token(t, "upload", []string{shaHex(small)}, nil), len(small))
	conn.Write(small[:20_000])
	conn.Close()
	// The handler refuses once it sees the cut; wait for that, bounded.
	deadline := time.Now().Add(10 * time.Second)
	for n.Status().Blossom.Refused == refusedBefore {
		if time.Now().After(deadline) {
			t.Fatal("the upload cut mid-stream was not refused within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	noTemp(t, n)
	if c := n.Blobs().Stats().Count; c != held {
		t.Errorf("refused uploads stored chunks: %d, held %d before", c, held)
	}
	if l := do(t, "GET", n.URL()+"/list/"+alice.pk, "", nil, nil); strings.Count(string(l.body), `"sha256"`) != 1 {
		t.Errorf("alice's list after refusals: %s", l.body)
	}
}

// TestBlossomQuotaRace: two uploads by one pubkey at once, each within
// its quota alone but not together: one is stored, the other refused.
func TestBlossomQuotaRace(t *testing.T) {
	u := newUser(t)
	n := startNode(t, blossomConfig(t, BlossomConfig{Upload: "everyone", Quota: 150_000}))
	codes := make(chan int, 2)
	for i := range 2 {
		blob := blobOf(uint64(20+i), 80_000)
		tok := u.token(t, "upload", []string{shaHex(blob)}, nil)
		go func() {
			req, _ := http.NewRequest("PUT", n.URL()+"/upload", bytes.NewReader(blob))
			req.Header.Set("Authorization", tok)
			req.Header.Set("Content-Type", "image/png")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				codes <- 0
				return
			}
			res.Body.Close()
			codes <- res.StatusCode
		}()
	}
	got := []int{<-codes, <-codes}
	if !(got[0] == 201 && got[1] == 429 || got[0] == 429 && got[1] == 201) {
		t.Fatalf("two uploads over the quota together: %v, want one 201 and one 429", got)
	}
	if st := n.Status().Blossom; st.Bytes != 80_000 {
		t.Errorf("records hold %d bytes", st.Bytes)
	}
	noTemp(t, n)
}

// TestBlossomMirror: PUT /mirror fetches a URL, keeps what the token
// names and refuses other bytes (409) or an origin that fails (502).
func TestBlossomMirror(t *testing.T) {
	n := startNode(t, blossomConfig(t, BlossomConfig{Upload: "everyone", MirrorLocal: true}))
	public := startNode(t, blossomConfig(t, BlossomConfig{Upload: "everyone"}))
	u := newUser(t)
	blob := blobOf(9, 300_000)
	sha := shaHex(blob)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/" + sha + ".png":
			w.Header().Set("Content-Type", "image/png")
			w.Write(blob)
		case "/chunked/" + sha + ".png": // no Content-Length: the size shows only mid-stream
			w.Header().Set("Content-Type", "image/png")
			for off := 0; off < len(blob); off += 50_000 {
				w.Write(blob[off:min(off+50_000, len(blob))])
				w.(http.Flusher).Flush()
			}
		case "/liar/" + sha + ".png":
			w.Header().Set("Content-Type", "image/png")
			w.Write(blobOf(10, 300_000))
		default:
			http.NotFound(w, r)
		}
	}))
	defer origin.Close()
	mirrorTo := func(n *Node, url string, x string) reply {
		b, _ := json.Marshal(map[string]string{"url": url})
		return do(t, "PUT", n.URL()+"/mirror", u.token(t, "upload", []string{x}, nil), map[string]string{"Content-Type": "application/json"}, b)
	}
	mirror := func(url string, x string) reply { return mirrorTo(n, url, x) }
	// Without --blossom-mirror-local, the origin on loopback is refused,
	// and so is a redirect to it.
	if r := mirrorTo(public, origin.URL+"/"+sha+".png", sha); r.code != 403 || !strings.Contains(r.reason, "loopback") {
		t.Errorf("mirror from loopback on a public node: %d %q", r.code, r.reason)
	}
	noTemp(t, public)
	// A size limit the origin's body passes mid-stream.
	small := startNode(t, blossomConfig(t, BlossomConfig{Upload: "everyone", MirrorLocal: true, MaxSize: 100_000}))
	if r := mirrorTo(small, origin.URL+"/chunked/"+sha+".png", sha); r.code != 413 || r.reason == "" {
		t.Errorf("mirror over the size limit mid-stream: %d %q", r.code, r.reason)
	}
	noTemp(t, small)
	if c := small.Blobs().Stats().Count; c != 0 {
		t.Errorf("the refused mirror stored %d chunks", c)
	}
	if r := mirror(origin.URL+"/liar/"+sha+".png", sha); r.code != 409 || r.reason == "" {
		t.Errorf("origin returning other bytes: %d %q", r.code, r.reason)
	}
	if r := mirror(origin.URL+"/missing", sha); r.code != 502 || r.reason == "" {
		t.Errorf("origin 404: %d %q", r.code, r.reason)
	}
	if r := mirror("ftp://x/y", sha); r.code != 400 {
		t.Errorf("ftp url: %d", r.code)
	}
	noTemp(t, n)
	r := mirror(origin.URL+"/"+sha+".png", sha)
	var d blossom.Descriptor
	json.Unmarshal(r.body, &d)
	if r.code != 201 || d.SHA256 != sha || d.Type != "image/png" {
		t.Fatalf("mirror: %d %s", r.code, r.body)
	}
	if g := do(t, "GET", n.URL()+"/"+sha, "", nil, nil); g.code != 200 || !bytes.Equal(g.body, blob) {
		t.Fatalf("mirrored blob: %d", g.code)
	}
	if r := mirror(origin.URL+"/"+sha+".png", sha); r.code != 200 {
		t.Errorf("mirror of a blob held: %d", r.code)
	}
	noTemp(t, n)
}

// TestBlossomConfig: a bad policy stops the node with what to fix.
func TestBlossomConfig(t *testing.T) {
	for _, bc := range []BlossomConfig{{Upload: "anyone"}, {Upload: "allowlist", Allow: []string{"npub1nope"}}, {Upload: "everyone", Types: []string{"png"}}, {Upload: "everyone", MaxSize: -1}} {
		cfg := blossomConfig(t, bc)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "blossom") {
			t.Errorf("%+v: %v", bc, err)
		}
	}
	var info blossomInfo
	n := startNode(t, blossomConfig(t, BlossomConfig{Upload: "owner", MaxSize: 5}))
	get(t, n.URL()+"/.well-known/blossom", &info)
	if info.Upload != "owner" || info.Owner != n.Key().Public || info.MaxSize != 5 {
		t.Errorf("well-known: %+v", info)
	}
}

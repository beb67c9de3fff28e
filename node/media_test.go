package node

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startPair starts node A and node B bootstrapped to A.
func startPair(t *testing.T) (a, b *Node) {
	t.Helper()
	a = startNode(t, TestingConfig(t))
	cfg := TestingConfig(t)
	for _, m := range a.Host().Addrs() {
		cfg.P2P.Bootstrap = append(cfg.P2P.Bootstrap, m.String())
	}
	return a, startNode(t, cfg)
}

func startNode(t *testing.T, cfg Config) *Node {
	t.Helper()
	n, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		n.Stop(context.Background())
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return n
}

func post(t *testing.T, url string, body, into any) {
	t.Helper()
	b, _ := json.Marshal(body)
	res, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("POST %s: %s: %s", url, res.Status, out)
	}
	if err := json.Unmarshal(out, into); err != nil {
		t.Fatal(err)
	}
}

// TestShareGetRange: share on A; on B a Range read of a file it holds
// none of, then a full get by nevent written to a file.
func TestShareGetRange(t *testing.T) {
	a, b := startPair(t)
	data := make([]byte, 1<<20+4321)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(t.TempDir(), "f.bin")
	os.WriteFile(path, data, 0o600)

	var sh ShareResult
	post(t, a.URL()+"/api/share", ShareRequest{Path: path, Title: "t", ChunkSize: 128 << 10}, &sh)
	if sh.Chunks != 9 || sh.Size != int64(len(data)) || !strings.HasPrefix(sh.Nevent, "nevent1") {
		t.Fatalf("share: %+v", sh)
	}

	var e MediaEntry
	post(t, b.URL()+"/api/resolve", GetRequest{Ref: sh.Nevent}, &e)
	if e.SHA256 != sh.SHA256 || e.ChunksHeld != 0 || e.Shared {
		t.Fatalf("resolve on B: %+v", e)
	}
	req, _ := http.NewRequest("GET", b.URL()+"/"+sh.SHA256+".bin", nil)
	req.Header.Set("Range", "bytes=300000-400000")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusPartialContent || !bytes.Equal(got, data[300000:400001]) {
		t.Fatalf("range: %s, %d bytes", res.Status, len(got))
	}

	out := filepath.Join(t.TempDir(), "out.bin")
	var st DownloadStatus
	post(t, b.URL()+"/api/get", GetRequest{Ref: sh.Nevent, Output: out}, &st)
	for deadline := time.Now().Add(20 * time.Second); st.State != "complete"; {
		if st.State == "failed" || time.Now().After(deadline) {
			t.Fatalf("download: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
		get(t, b.URL()+"/api/downloads/"+sh.Root, &st)
	}
	if st.ChunksResumed == 0 {
		t.Errorf("the get did not reuse the chunks the range read fetched: %+v", st)
	}
	if f, _ := os.ReadFile(out); !bytes.Equal(f, data) {
		t.Fatalf("fetched file differs (%d bytes)", len(f))
	}
	if s := b.Status(); s.Transfer["http"].BytesUp != 100001 || s.Transfer["libp2p"].BytesDown == 0 {
		t.Errorf("B transfer counters: %+v", s.Transfer)
	}
}

func TestConfigValidateP2P(t *testing.T) {
	c := DefaultConfig()
	c.P2P.DHTMode = "sometimes"
	c.P2P.Bootstrap = []string{"/ip4/127.0.0.1/tcp/1"}
	c.BlobQuota = -1
	err := c.Validate()
	for _, want := range []string{"auto, server or client", "bootstrap", "blob quota"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v; want it to mention %q", err, want)
		}
	}
}

func TestMediaAPIIsLocalOnly(t *testing.T) {
	h := localOnly(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) })
	for addr, want := range map[string]int{"127.0.0.1:5000": 200, "[::1]:5000": 200, "203.0.113.9:5000": 403, "[2001:db8::1]:5000": 403} {
		req := httptest.NewRequest("POST", "/api/share", nil)
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		h(rec, req)
		if rec.Code != want {
			t.Errorf("%s: %d, want %d", addr, rec.Code, want)
		}
	}
}

// TestShareWithAuth: with --auth writes the node still publishes its events
// through its own relay (answering AUTH with its key), so they are stored.
func TestShareWithAuth(t *testing.T) {
	cfg := TestingConfig(t)
	cfg.Relay.Auth = "writes"
	n := startNode(t, cfg)
	path := filepath.Join(t.TempDir(), "small.txt")
	os.WriteFile(path, []byte("hello swarm"), 0o600)
	res, err := n.Share(context.Background(), ShareRequest{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if res.Chunks != 1 || res.MIME != "text/plain" {
		t.Errorf("share: %+v", res)
	}
	// The addressing record, the map and the file event.
	if got := n.Store().Stats().Events; got != 3 {
		t.Fatalf("%d events stored, want 3", got)
	}
	var metrics string
	get(t, n.URL()+"/metrics", &metrics)
	if !strings.Contains(metrics, "cairn_relay_events_stored_total 3") {
		t.Errorf("the events did not go through the relay:\n%s", metrics)
	}
}

// TestGetOverQuota: a file the blob quota cannot hold is refused up front,
// not fetched into a store that would evict its chunks as they arrive.
func TestGetOverQuota(t *testing.T) {
	a := startNode(t, TestingConfig(t))
	cfg := TestingConfig(t)
	cfg.BlobQuota = 100 << 10
	b := startNode(t, cfg)
	path := filepath.Join(t.TempDir(), "big.bin")
	os.WriteFile(path, bytes.Repeat([]byte("cairn"), 60_000), 0o600)
	sh, err := a.Share(context.Background(), ShareRequest{Path: path, ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(GetRequest{Ref: sh.Nevent})
	res, err := http.Post(b.URL()+"/api/get", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusInsufficientStorage || !strings.Contains(string(msg), "--blob-quota") {
		t.Fatalf("%s: %s", res.Status, msg)
	}
}

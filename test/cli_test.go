package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"

	"github.com/cairn-nostr/cairn/test/harness"
)

// TestKeygen: keygen writes a private key file, prints a matching npub and
// nsec, and never overwrites an existing key.
func TestKeygen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	out, errOut, code := harness.Run(t, "keygen", "--out", path)
	if code != 0 {
		t.Fatalf("keygen exited %d: %s %s", code, out, errOut)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	npub := regexp.MustCompile(`npub1[02-9ac-hj-np-z]+`).FindString(out)
	nsec := regexp.MustCompile(`nsec1[02-9ac-hj-np-z]+`).FindString(out)
	if npub == "" || nsec == "" {
		t.Fatalf("keygen output lacks an npub or nsec:\n%s", out)
	}
	_, sk, err := nip19.Decode(nsec)
	if err != nil {
		t.Fatalf("printed nsec: %v", err)
	}
	_, pk, err := nip19.Decode(npub)
	if err != nil {
		t.Fatalf("printed npub: %v", err)
	}
	if derived, _ := nostr.GetPublicKey(sk.(string)); derived != pk.(string) {
		t.Errorf("npub %s does not belong to the printed nsec", npub)
	}
	before, _ := os.ReadFile(path)
	if _, _, code := harness.Run(t, "keygen", "--out", path); code == 0 {
		t.Errorf("a second keygen to the same file succeeded")
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Errorf("a second keygen overwrote the key file")
	}

	if out, _, code := harness.Run(t, "version"); code != 0 || strings.TrimSpace(out) == "" {
		t.Errorf("cairn version: exit %d, output %q", code, out)
	}
}

// TestNodeHTTP: one port serves NIP-11, /metrics and /api/status beside the relay.
func TestNodeHTTP(t *testing.T) {
	n := harness.Start(t)
	get := func(path, accept string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", n.URL+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		res, err := (&http.Client{Timeout: harness.Wait}).Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(res.Body, 4<<20))
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %s\n%s", path, res.Status, body)
		}
		return res, string(body)
	}

	res, body := get("/", "application/nostr+json")
	var info struct {
		Name          string `json:"name"`
		SupportedNIPs []int  `json:"supported_nips"`
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil || info.Name == "" {
		t.Errorf("NIP-11 document (%s) does not parse or has no name: %v\n%s", res.Header.Get("Content-Type"), err, body)
	}

	// Publish one event so the relay's counters have moved.
	c := harness.Dial(t, n.WSURL)
	sk, _ := seededKey("http")
	ev := nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Content: "count me"}
	ev.Sign(sk)
	if ok, reason := c.Publish(ev); !ok {
		t.Fatalf("publish: %s", reason)
	}
	_, metrics := get("/metrics", "")
	if !regexp.MustCompile(`(?m)^# TYPE \w+ (counter|gauge|histogram)`).MatchString(metrics) {
		t.Errorf("/metrics is not Prometheus text:\n%.500s", metrics)
	}

	_, status := get("/api/status", "")
	var anyJSON map[string]any
	if err := json.Unmarshal([]byte(status), &anyJSON); err != nil {
		t.Errorf("/api/status is not a JSON object: %v\n%.500s", err, status)
	}
}

// TestNodeGracefulStop: SIGTERM stops the node with exit status 0, and it
// starts again on the same data dir with its events.
func TestNodeGracefulStop(t *testing.T) {
	n := harness.Start(t)
	c := harness.Dial(t, n.WSURL)
	sk, _ := seededKey("graceful")
	ev := nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Content: "before stop"}
	ev.Sign(sk)
	if ok, reason := c.Publish(ev); !ok {
		t.Fatalf("publish: %s", reason)
	}
	start := time.Now()
	n.Stop()
	t.Logf("graceful stop took %v", time.Since(start))
	n.Restart()
	c = harness.Dial(t, n.WSURL)
	if got := c.Query("again", nostr.Filter{IDs: []string{ev.ID}}); len(got) != 1 {
		t.Fatalf("event lost across a graceful restart")
	}
}

// TestNodeMaxLimitFlag: --max-limit below the default of --default-limit
// must not stop the node from starting (the contract lists --max-limit alone).
func TestNodeMaxLimitFlag(t *testing.T) {
	n := harness.Start(t, "--max-limit", "50")
	c := harness.Dial(t, n.WSURL)
	c.Query("alive", nostr.Filter{Limit: 100})
}

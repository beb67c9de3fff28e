package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"
)

// TestBlossomPrivateGet: with --blossom-private-get, GET and HEAD of a
// blob (and of its chunks) need a t=get token naming this server or the
// blob, from a pubkey the upload policy admits; each refusal has its
// status and X-Reason, and a good token reads the blob, Range too.
func TestBlossomPrivateGet(t *testing.T) {
	alice, bob := newUser(t), newUser(t)
	n := startNode(t, blossomConfig(t, BlossomConfig{Upload: "allowlist", Allow: []string{alice.pk}, PrivateGet: true}))
	blob := blobOf(9, 300_000)
	sha := shaHex(blob)
	if r, _ := uploadBlob(t, n, alice, blob, "image/png"); r.code != 201 {
		t.Fatalf("upload: %d %s", r.code, r.reason)
	}
	url := n.URL() + "/" + sha + ".png"
	get := func(u user, tags ...nostr.Tag) string {
		return u.token(t, "get", nil, func(ev *nostr.Event) { ev.Tags = append(ev.Tags, tags...) })
	}
	other := strings.Repeat("cd", 32)
	f := n.fileBySHA256(context.Background(), sha)
	if f == nil {
		t.Fatal("the upload's file is not known")
	}
	chunk := hex.EncodeToString(f.Map.Chunks[0][:])

	for name, c := range map[string]struct {
		method, url, auth string
		want              int
	}{
		"GET without a token":     {"GET", url, "", 401},
		"HEAD without a token":    {"HEAD", url, "", 401},
		"a chunk without a token": {"GET", n.URL() + "/" + chunk, "", 401},
		"an upload token":         {"GET", url, alice.token(t, "upload", []string{sha}, nil), 401},
		"neither server nor x":    {"GET", url, get(alice), 401},
		"x names another blob":    {"GET", url, get(alice, nostr.Tag{"x", other}), 401},
		"server names another":    {"GET", url, get(alice, nostr.Tag{"server", "https://elsewhere.example/"}), 401},
		"expired": {"GET", url, alice.token(t, "get", []string{sha}, func(ev *nostr.Event) {
			ev.Tags[1] = nostr.Tag{"expiration", strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)}
		}), 401},
		"not a Nostr token":            {"GET", url, "Bearer x", 401},
		"a pubkey not on the list":     {"GET", url, get(bob, nostr.Tag{"x", sha}), 403},
		"HEAD, pubkey not on the list": {"HEAD", url, get(bob, nostr.Tag{"x", sha}), 403},
	} {
		r := do(t, c.method, c.url, c.auth, nil, nil)
		if r.code != c.want || r.hdr.Get("X-Reason") == "" || r.hdr.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s: %d %q, want %d with a reason and CORS", name, r.code, r.hdr.Get("X-Reason"), c.want)
		}
		if r.code != 200 && bytes.Contains(r.body, blob[100:200]) {
			t.Errorf("%s: refused, but the body has the blob's bytes", name)
		}
	}

	if r := do(t, "GET", url, get(alice, nostr.Tag{"x", sha}), nil, nil); r.code != 200 || !bytes.Equal(r.body, blob) {
		t.Errorf("GET with a token naming the blob: %d %s", r.code, r.reason)
	}
	if r := do(t, "GET", url, get(user{n.key.Secret, n.key.Public}, nostr.Tag{"server", n.URL() + "/"}), map[string]string{"Range": "bytes=10-19"}, nil); r.code != 206 || !bytes.Equal(r.body, blob[10:20]) {
		t.Errorf("the owner's Range GET with a token naming the server: %d %s", r.code, r.reason)
	}
	if r := do(t, "HEAD", url, get(alice, nostr.Tag{"x", sha}), nil, nil); r.code != 200 || r.hdr.Get("Content-Length") != strconv.Itoa(len(blob)) {
		t.Errorf("HEAD with a token: %d %s", r.code, r.reason)
	}
	if w := do(t, "GET", n.URL()+"/.well-known/blossom", "", nil, nil); !bytes.Contains(w.body, []byte(`"private_get":true`)) {
		t.Errorf("/.well-known/blossom: %s", w.body)
	}

	// Without the flag nothing is asked.
	open := startNode(t, blossomConfig(t, BlossomConfig{Upload: "everyone"}))
	if r, _ := uploadBlob(t, open, alice, blob, "image/png"); r.code != 201 {
		t.Fatalf("upload: %d %s", r.code, r.reason)
	}
	if r := do(t, "GET", open.URL()+"/"+sha, "", nil, nil); r.code != 200 || !bytes.Equal(r.body, blob) {
		t.Errorf("GET without the flag: %d %s", r.code, r.reason)
	}
}

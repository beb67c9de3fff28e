package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/test/harness"
)

// TestSuperPeerCommand: `cairn superpeer` registers with a running node's
// relay over NIP-95, warms its cache with the relay's recent events, and
// on an interrupt exits 0 with a summary; a URL that is not a websocket is
// refused with a reason.
func TestSuperPeerCommand(t *testing.T) {
	n := harness.Start(t, "--public-bootstrap=false")
	c := harness.Dial(t, n.WSURL)
	sk := nostr.GeneratePrivateKey()
	for i := range 3 {
		ev := nostr.Event{Kind: 1, Content: "recent " + string(rune('a'+i)), CreatedAt: nostr.Now(), Tags: nostr.Tags{}}
		ev.Sign(sk)
		if ok, why := c.Publish(ev); !ok {
			t.Fatal(why)
		}
	}
	out, errOut := harness.NewOutput(), harness.NewOutput()
	cmd := exec.Command(harness.Binary(t), "superpeer", n.WSURL, "--data-dir", t.TempDir(), "--webrtc-loopback")
	cmd.Stdout, cmd.Stderr = out, errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(errOut.String(), "cache warm") {
		if time.Now().After(deadline) {
			t.Fatalf("the super peer never warmed its cache; its stderr:\n%s", errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var st struct {
		NIP95 struct {
			Registered int `json:"registered"`
		} `json:"nip95"`
	}
	if getJSON(t, n.URL+"/api/status", &st); st.NIP95.Registered != 1 {
		t.Fatalf("the node counts %d registered peers, want 1", st.NIP95.Registered)
	}
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("superpeer exited with %v; stderr:\n%s", err, errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("superpeer did not stop on an interrupt")
	}
	// It caches what the relay holds of the last 24 h: the three notes and
	// whatever the node published itself.
	since := nostr.Timestamp(time.Now().Add(-24 * time.Hour).Unix())
	recent := len(c.Query("recent", nostr.Filter{Since: &since}))
	if recent < 3 || !strings.Contains(out.String(), fmt.Sprintf("of %s: %d cached, 0 served", n.WSURL, recent)) {
		t.Fatalf("summary %q; stderr:\n%s", out.String(), errOut.String())
	}

	_, errText, code := harness.Run(t, "superpeer", "http://127.0.0.1:1", "--data-dir", t.TempDir())
	if code == 0 || !strings.Contains(errText, "ws:// or wss://") {
		t.Fatalf("a non-websocket URL: exit %d, %q", code, errText)
	}
}

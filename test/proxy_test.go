package e2e

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/test/harness"
)

// socksServer runs microsocks, a SOCKS5 server, on a free loopback port;
// its output (one line per connection it makes) is returned by the func.
func socksServer(t *testing.T) (addr string, log func() string) {
	t.Helper()
	exe, err := exec.LookPath("microsocks")
	if err != nil {
		if os.Getenv("CAIRN_E2E") == "1" {
			t.Fatal("microsocks not found (`make deps` installs it)")
		}
		t.Skip("microsocks not installed (`make deps` installs it)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close() // microsocks takes the port; nothing else on this machine asks for it in between
	_, port, _ := net.SplitHostPort(addr)
	var mu sync.Mutex
	var out bytes.Buffer
	cmd := exec.Command(exe, "-i", "127.0.0.1", "-p", port)
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("microsocks did not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return addr, func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestProxy: a node started with --proxy socks5://… reaches the relay an
// nevent names through the SOCKS5 server (which logs the connection) and
// fetches the file; `cairn sync --proxy` syncs through it too.
func TestProxy(t *testing.T) {
	socks, socksLog := socksServer(t)
	a := harness.Start(t)
	path, want := mediaFile(t, "proxy.bin", 3<<20)
	s := share(t, a, path)
	b := startSeeded(t, a, "--proxy", "socks5://"+socks)
	aHost := strings.TrimPrefix(a.URL, "http://")

	out := filepath.Join(t.TempDir(), "got.bin")
	stdout, errOut, code := harness.Run(t, "get", s.nevent, "--node", b.URL, "-o", out)
	if code != 0 {
		t.Fatalf("cairn get exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, errOut)
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("fetched file differs (%v)", err)
	}
	if l := socksLog(); !strings.Contains(l, "connected to "+aHost) {
		t.Fatalf("the SOCKS5 server made no connection to A's relay %s; its log:\n%s", aHost, l)
	}

	before := strings.Count(socksLog(), "connected to "+aHost)
	stdout, errOut, code = harness.Run(t, "sync", a.WSURL, `{"kinds":[7001]}`, "--direction", "down", "--data-dir", t.TempDir(), "--proxy", "socks5://"+socks)
	if code != 0 || !strings.Contains(stdout, "1 down") {
		t.Fatalf("cairn sync --proxy: exit %d\n%s%s", code, stdout, errOut)
	}
	if after := strings.Count(socksLog(), "connected to "+aHost); after <= before {
		t.Fatalf("cairn sync --proxy did not connect through the SOCKS5 server:\n%s", socksLog())
	}
	_, errOut, code = harness.Run(t, "sync", a.WSURL, "--proxy", "http://127.0.0.1:1")
	if code == 0 || !strings.Contains(errOut, "socks5://host:port") {
		t.Fatalf("--proxy http://…: exit %d, %s", code, errOut)
	}
}

//go:build linux

package natlab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/test/harness"
)

const (
	readyTimeout = 30 * time.Second
	stopTimeout  = 15 * time.Second
)

var readyLine = regexp.MustCompile(`cairn node ready: (http://\S+) \(relay (ws://\S+)\)`)

// Node is a `cairn node` running inside one of the lab's namespaces.
type Node struct {
	Name    string
	NS      string // full namespace name
	URL     string // its HTTP base URL, reachable from inside NS
	WSURL   string
	DataDir string
	HTTP    *http.Client // makes its connections inside NS

	t      testing.TB
	cmd    *exec.Cmd
	done   chan struct{}
	output *syncBuffer
}

// Env is the environment of every lab node: no public bootstrap; with
// CAIRN_NATLAB_DEBUG=1, libp2p's NAT traversal logs in the nodes' output
// (printed when a test fails).
var Env = func() []string {
	env := []string{"CAIRN_PUBLIC_BOOTSTRAP=false"}
	if os.Getenv("CAIRN_NATLAB_DEBUG") == "1" {
		env = append(env, "GOLOG_LOG_LEVEL=autorelay=debug,relay=debug,p2p-holepunch=debug,autonat=debug")
	}
	return env
}()

// StartNode runs `cairn node args...` in namespace role and waits for its
// ready line. It adds --data-dir, --webrtc=false, --no-dht, --bt=false (the
// lab measures libp2p's NAT traversal; a download's BitTorrent fallback
// would blur it) and --lab-public-net 10.77.0.0/24; --listen defaults to 127.0.0.1:0 (inside
// the namespace). The node is killed at the end of the test.
func (l *Lab) StartNode(t testing.TB, role string, args ...string) *Node {
	t.Helper()
	n := &Node{Name: role, NS: l.NS(role), DataDir: t.TempDir(), t: t, done: make(chan struct{}), output: &syncBuffer{}}
	args = append([]string{"node", "--data-dir", n.DataDir, "--webrtc=false", "--no-dht", "--bt=false", "--lab-public-net", "10.77.0.0/24"}, args...)
	if !hasFlag(args, "--listen") {
		args = append(args, "--listen", "127.0.0.1:0")
	}
	n.cmd = exec.Command("ip", append([]string{"netns", "exec", n.NS, harness.Binary(t)}, args...)...)
	n.cmd.Env = append(n.cmd.Environ(), Env...)
	n.cmd.Stdout, n.cmd.Stderr = n.output, n.output
	n.cmd.WaitDelay = 5 * time.Second
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("starting cairn node in %s: %v", role, err)
	}
	go func() { n.cmd.Wait(); close(n.done) }()
	t.Cleanup(func() {
		n.Stop()
		if t.Failed() {
			t.Logf("cairn node %s output (tail):\n%s", role, n.output.Tail(8<<10))
		}
	})
	deadline := time.Now().Add(readyTimeout)
	for {
		if m := readyLine.FindStringSubmatch(n.output.String()); m != nil {
			n.URL, n.WSURL = m[1], m[2]
			break
		}
		select {
		case <-n.done:
			t.Fatalf("cairn node %s exited before it was ready:\n%s", role, n.output)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("cairn node %s not ready within %v:\n%s", role, readyTimeout, n.output)
		}
	}
	n.HTTP = HTTPClient(n.NS, 10*time.Second)
	return n
}

// Stop ends the node (SIGTERM, then SIGKILL) and waits for it.
func (n *Node) Stop() {
	select {
	case <-n.done:
		return
	default:
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(stopTimeout):
		n.cmd.Process.Kill()
		<-n.done
	}
}

// Output is what the node printed, stdout and stderr together.
func (n *Node) Output() string { return n.output.String() }

// Status is the part of /api/status the lab reads.
type Status struct {
	PubKey string `json:"pubkey"`
	P2P    struct {
		PeerID string   `json:"peer_id"`
		Addrs  []string `json:"addrs"`
		NAT    struct {
			Reachability string   `json:"reachability"`
			RelayAddrs   []string `json:"relay_addrs"`
			RelayService bool     `json:"relay_service"`
			HolePunches  struct {
				Attempted uint64 `json:"attempted"`
				Succeeded uint64 `json:"succeeded"`
				Failed    uint64 `json:"failed"`
			} `json:"hole_punches"`
		} `json:"nat"`
		Conns []struct {
			Peer    string `json:"peer"`
			Local   string `json:"local"`
			Remote  string `json:"remote"`
			Relayed bool   `json:"relayed"`
		} `json:"conns"`
	} `json:"p2p"`
	Transfer map[string]struct {
		BytesUp   uint64 `json:"bytes_up"`
		BytesDown uint64 `json:"bytes_down"`
	} `json:"transfer"`
	// TURN is the node's STUN/TURN server for browsers (nil when off).
	TURN *struct {
		Addr        string `json:"addr"`
		Allocations int    `json:"allocations"`
		Allocated   uint64 `json:"allocated"`
		BytesOut    uint64 `json:"bytes_out"`
		BytesIn     uint64 `json:"bytes_in"`
		PeerRefused uint64 `json:"peer_refused"`
		AuthRefused uint64 `json:"auth_refused"`
	} `json:"turn"`
}

// Status reads the node's /api/status.
func (n *Node) Status() (Status, error) {
	var st Status
	res, err := n.HTTP.Get(n.URL + "/api/status")
	if err != nil {
		return st, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		return st, fmt.Errorf("%s: %s", res.Status, b)
	}
	return st, json.Unmarshal(b, &st)
}

// MustStatus is Status failing the test on an error.
func (n *Node) MustStatus() Status {
	n.t.Helper()
	st, err := n.Status()
	if err != nil {
		n.t.Fatalf("%s: /api/status: %v", n.Name, err)
	}
	return st
}

// Run runs a cairn command (share, get, …) inside the node's namespace,
// against the node, and returns its output; a non-zero exit fails the
// test.
func (n *Node) Run(timeout time.Duration, args ...string) string {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.NS, harness.Binary(n.t)}, append(args, "--node", n.URL)...)...)
	cmd.Env = append(cmd.Environ(), Env...)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		n.t.Fatalf("%s: cairn %s did not finish within %v:\n%s", n.Name, strings.Join(args, " "), timeout, out.String())
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) || err != nil {
		n.t.Fatalf("%s: cairn %s: %v:\n%s", n.Name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// syncBuffer is a bytes.Buffer safe for a process's writes and the test's
// reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 4<<20 { // keep the last part of a chatty node
		keep := append([]byte(nil), b.buf.Bytes()[b.buf.Len()-(1<<20):]...)
		b.buf.Reset()
		b.buf.Write(keep)
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail is the last n bytes written.
func (b *syncBuffer) Tail(n int) string {
	s := b.String()
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}

package harness

import (
	"bytes"
	"errors"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	readyTimeout = 30 * time.Second
	stopTimeout  = 20 * time.Second
	killTimeout  = 10 * time.Second
)

var readyLine = regexp.MustCompile(`^cairn node ready: http://127\.0\.0\.1:(\d+) \(relay ws://127\.0\.0\.1:(\d+)\)$`)

// Node is one running (or stopped) `cairn node` process.
type Node struct {
	t       testing.TB
	args    []string // as given to Start, with --data-dir and --listen filled in
	DataDir string
	Port    int
	URL     string // http://127.0.0.1:PORT
	WSURL   string // ws://127.0.0.1:PORT

	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	err    error         // the result of Wait, valid once done is closed
	stdout *tail
	stderr *tail
}

// Start runs `cairn node` with args. Unless args name them, it adds
// --data-dir with a fresh t.TempDir(), --listen 127.0.0.1:0, --p2p-listen on
// loopback free ports, --bt-listen and --bt-dht-listen 127.0.0.1:0, --public-bootstrap=false
// and --dht-mode server. It returns once the node has
// printed its ready line.
func Start(t testing.TB, args ...string) *Node {
	t.Helper()
	args = slices.Clone(args)
	dataDir, ok := flagValue(args, "--data-dir")
	if !ok {
		dataDir = t.TempDir()
		args = append(args, "--data-dir", dataDir)
	}
	if _, ok := flagValue(args, "--listen"); !ok {
		args = append(args, "--listen", "127.0.0.1:0")
	}
	if _, ok := flagValue(args, "--p2p-listen"); !ok {
		args = append(args, "--p2p-listen", "/ip4/127.0.0.1/tcp/0,/ip4/127.0.0.1/udp/0/quic-v1")
	}
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--public-bootstrap") }) {
		args = append(args, "--public-bootstrap=false") // loopback only: no public DHT, no public node
	}
	if _, ok := flagValue(args, "--bt-listen"); !ok {
		args = append(args, "--bt-listen", "127.0.0.1:0")
	}
	if _, ok := flagValue(args, "--bt-dht-listen"); !ok {
		args = append(args, "--bt-dht-listen", "127.0.0.1:0") // the Mainline DHT node: loopback, a free port
	}
	if _, ok := flagValue(args, "--dht-mode"); !ok {
		args = append(args, "--dht-mode", "server") // auto stays a client on loopback
	}
	n := &Node{t: t, args: args, DataDir: dataDir}
	t.Cleanup(func() {
		if n.running() {
			n.signal(syscall.SIGKILL)
			n.wait(killTimeout)
		}
		if t.Failed() {
			t.Logf("cairn node %s stderr (tail):\n%s", n.DataDir, n.stderr)
		}
	})
	n.launch()
	return n
}

// Restart starts the node again on the same data directory and flags,
// stopping it gracefully first if it is still running. The port may change.
func (n *Node) Restart() {
	n.t.Helper()
	if n.running() {
		n.Stop()
	}
	n.launch()
}

// Kill9 sends SIGKILL and waits for the process to exit.
func (n *Node) Kill9() {
	n.t.Helper()
	n.signal(syscall.SIGKILL)
	if !n.wait(killTimeout) {
		n.t.Fatalf("cairn node did not exit within %v of SIGKILL", killTimeout)
	}
}

// Stop sends SIGTERM, waits for a graceful exit and fails the test on a
// non-zero exit status or a hang.
func (n *Node) Stop() {
	n.t.Helper()
	n.signal(syscall.SIGTERM)
	if !n.wait(stopTimeout) {
		n.signal(syscall.SIGKILL)
		n.wait(killTimeout)
		n.t.Fatalf("cairn node did not exit within %v of SIGTERM; stderr:\n%s", stopTimeout, n.stderr)
	}
	if n.err != nil {
		n.t.Fatalf("cairn node exited badly after SIGTERM: %v; stderr:\n%s", n.err, n.stderr)
	}
}

// Stderr returns the last part of the current process's stderr.
func (n *Node) Stderr() string { return n.stderr.String() }

// Stdout returns the last part of the current process's stdout.
func (n *Node) Stdout() string { return n.stdout.String() }

func (n *Node) launch() {
	n.t.Helper()
	cmd := exec.Command(Binary(n.t), append([]string{"node"}, n.args...)...)
	cmd.WaitDelay = 5 * time.Second
	n.stdout, n.stderr = newTail(), newTail()
	cmd.Stderr = n.stderr
	ports := make(chan [2]int, 1)
	cmd.Stdout = &readyWriter{keep: n.stdout, ports: ports}
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("starting cairn node: %v", err)
	}
	n.cmd, n.done, n.err = cmd, make(chan struct{}), nil
	go func(done chan struct{}) {
		n.err = cmd.Wait()
		close(done)
	}(n.done)

	select {
	case p := <-ports:
		if p[0] != p[1] {
			n.t.Fatalf("ready line names two ports: %v", p)
		}
		n.Port = p[0]
		n.URL = "http://127.0.0.1:" + strconv.Itoa(n.Port)
		n.WSURL = "ws://127.0.0.1:" + strconv.Itoa(n.Port)
	case <-n.done:
		n.t.Fatalf("cairn node exited before it was ready (%v); args %q\nstdout:\n%s\nstderr:\n%s", n.err, n.args, n.stdout, n.stderr)
	case <-time.After(readyTimeout):
		n.signal(syscall.SIGKILL)
		n.wait(killTimeout)
		n.t.Fatalf("cairn node not ready within %v; args %q\nstdout:\n%s\nstderr:\n%s", readyTimeout, n.args, n.stdout, n.stderr)
	}
}

// readyWriter keeps stdout and reports the ports of the first ready line.
type readyWriter struct {
	keep    *tail
	ports   chan<- [2]int
	partial []byte
	found   bool
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.keep.Write(p)
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(w.partial[:i]), "\r")
		w.partial = w.partial[i+1:]
		if m := readyLine.FindStringSubmatch(line); m != nil && !w.found {
			w.found = true
			a, _ := strconv.Atoi(m[1])
			b, _ := strconv.Atoi(m[2])
			w.ports <- [2]int{a, b}
		}
	}
	if len(w.partial) > 1<<20 { // no newline in a megabyte: not our ready line
		w.partial = nil
	}
	return len(p), nil
}

func (n *Node) running() bool {
	if n.done == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

func (n *Node) signal(sig syscall.Signal) {
	if n.running() {
		if err := n.cmd.Process.Signal(sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			n.t.Logf("signal %v: %v", sig, err)
		}
	}
}

func (n *Node) wait(d time.Duration) bool {
	if n.done == nil {
		return true
	}
	select {
	case <-n.done:
		return true
	case <-time.After(d):
		return false
	}
}

func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
		if len(a) > len(name) && a[:len(name)+1] == name+"=" {
			return a[len(name)+1:], true
		}
	}
	return "", false
}

// tail keeps the last tailSize bytes written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 64 << 10

func newTail() *tail { return &tail{} }

// Output is what a process writes, kept (its last 64 KiB) for a test to
// read while the process runs: give it as cmd.Stdout or cmd.Stderr.
type Output = tail

// NewOutput returns an empty Output.
func NewOutput() *Output { return newTail() }

func (w *tail) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > tailSize {
		w.buf = slices.Clone(w.buf[len(w.buf)-tailSize:])
	}
	return len(p), nil
}

func (w *tail) String() string {
	if w == nil {
		return ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}

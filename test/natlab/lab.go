//go:build linux

package natlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Prefix starts the name of every namespace a lab creates.
const Prefix = "cnl"

// cmdTimeout bounds one ip or nft command.
const cmdTimeout = 20 * time.Second

// Lab is a set of network namespaces, deleted by Close (and t.Cleanup).
type Lab struct {
	t   testing.TB
	id  string // Prefix + pid
	nss []string
}

// Require reports why the lab cannot run here: not root, or ip or nft
// missing. "" when it can.
func Require() string {
	if os.Geteuid() != 0 {
		return "the NAT lab needs root (network namespaces, nftables)"
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Sprintf("the NAT lab needs %s (apt-get install iproute2 nftables): %v", tool, err)
		}
	}
	return ""
}

// New sweeps leftovers of dead lab processes and returns an empty lab whose
// namespaces are deleted at the end of the test.
func New(t testing.TB) *Lab {
	t.Helper()
	Sweep(t)
	l := &Lab{t: t, id: Prefix + strconv.Itoa(os.Getpid())}
	t.Cleanup(l.Close)
	return l
}

// Sweep deletes the namespaces named Prefix<pid>-… whose pid no longer
// runs, killing what still runs inside them (leftovers of a killed test).
func Sweep(t testing.TB) {
	out, err := run(context.Background(), nil, "ip", "netns", "list")
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	for _, line := range strings.Split(out, "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		pid, ok := labPID(name)
		if !ok || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		deleteNS(t, name)
	}
}

func labPID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, Prefix)
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(digits)
	return pid, err == nil && pid > 0
}

func processAlive(pid int) bool {
	return unix.Kill(pid, 0) == nil || errors.Is(unix.Kill(pid, 0), unix.EPERM)
}

// deleteNS kills the processes left in a lab namespace, by pid, and
// deletes it.
func deleteNS(t testing.TB, name string) {
	if out, err := run(context.Background(), nil, "ip", "netns", "pids", name); err == nil {
		for _, f := range strings.Fields(out) {
			// The test process itself shows up when a thread that entered
			// the namespace (DialIn) is the main one, which Go keeps.
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
				unix.Kill(pid, unix.SIGKILL)
			}
		}
	}
	if _, err := run(context.Background(), nil, "ip", "netns", "del", name); err != nil {
		t.Logf("deleting namespace %s: %v", name, err)
	}
}

// Close deletes the lab's namespaces (their veths and rules go with them).
func (l *Lab) Close() {
	for i := len(l.nss) - 1; i >= 0; i-- {
		deleteNS(l.t, l.nss[i])
	}
	l.nss = nil
}

// NS is the full name of the lab's namespace role.
func (l *Lab) NS(role string) string { return l.id + "-" + role }

// AddNS creates namespace role with its loopback up.
func (l *Lab) AddNS(role string) string {
	l.t.Helper()
	name := l.NS(role)
	l.IP("netns", "add", name)
	l.nss = append(l.nss, name)
	l.IP("-n", name, "link", "set", "lo", "up")
	return name
}

// IP runs `ip args...`, failing the test on an error.
func (l *Lab) IP(args ...string) string {
	l.t.Helper()
	out, err := run(context.Background(), nil, "ip", args...)
	if err != nil {
		l.t.Fatalf("ip %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// Exec runs a command inside namespace role (`ip netns exec`), failing the
// test on an error; stdin may be nil.
func (l *Lab) Exec(role string, stdin []byte, args ...string) string {
	l.t.Helper()
	out, err := run(context.Background(), stdin, "ip", append([]string{"netns", "exec", l.NS(role)}, args...)...)
	if err != nil {
		l.t.Fatalf("in %s: %s: %v", role, strings.Join(args, " "), err)
	}
	return out
}

// Link joins namespaces a and b with a veth pair named ifA in a and ifB in
// b, addressing each side that has an address ("" for none: a bridge port).
func (l *Lab) Link(a, ifA, addrA, b, ifB, addrB string) {
	l.t.Helper()
	l.IP("-n", l.NS(a), "link", "add", ifA, "type", "veth", "peer", "name", ifB, "netns", l.NS(b))
	for _, s := range []struct{ ns, ifc, addr string }{{a, ifA, addrA}, {b, ifB, addrB}} {
		if s.addr != "" {
			l.IP("-n", l.NS(s.ns), "addr", "add", s.addr, "dev", s.ifc)
		}
		l.IP("-n", l.NS(s.ns), "link", "set", s.ifc, "up")
	}
}

// Bridge creates bridge br in role, with addr unless "", and up.
func (l *Lab) Bridge(role, br, addr string) {
	l.t.Helper()
	l.IP("-n", l.NS(role), "link", "add", br, "type", "bridge")
	if addr != "" {
		l.IP("-n", l.NS(role), "addr", "add", addr, "dev", br)
	}
	l.IP("-n", l.NS(role), "link", "set", br, "up")
}

// Enslave puts interface ifc of role on bridge br.
func (l *Lab) Enslave(role, ifc, br string) {
	l.t.Helper()
	l.IP("-n", l.NS(role), "link", "set", ifc, "master", br)
}

// NATKind is how a router maps its home network's flows to its WAN address.
type NATKind int

const (
	// EndpointIndependent: plain masquerade. Linux keeps a flow's source
	// port when it is free, so one local port maps to one WAN port
	// whatever the destination: hole punching works.
	EndpointIndependent NATKind = iota
	// Symmetric: masquerade fully-random, a random WAN port for every new
	// flow, so the port a peer observed is not the one a new flow to
	// another peer uses: hole punching fails.
	Symmetric
)

func (k NATKind) String() string {
	if k == Symmetric {
		return "symmetric (masquerade fully-random)"
	}
	return "endpoint-independent (masquerade)"
}

// Router makes role a NAT router: forwarding on, masquerade out of
// interface wan, and a forward policy that lets in only the replies of
// flows from the home interfaces (named lan*): address- and port-dependent
// filtering, as home routers do. Unsolicited packets from the WAN to the
// router itself are dropped before conntrack confirms an entry for them:
// such an entry (a peer's hole punch arriving first) would take the WAN
// port the home flow needs, and masquerade would then map that flow to
// another port.
func (l *Lab) Router(role string, kind NATKind) {
	l.t.Helper()
	l.Exec(role, nil, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	masq := "masquerade"
	if kind == Symmetric {
		masq = "masquerade fully-random"
	}
	rules := fmt.Sprintf(`table ip natlab {
	chain nat_out {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan" %s
	}
	chain filter_in {
		type filter hook input priority filter; policy accept;
		iifname "wan" ct state new drop
	}
	chain filter_fwd {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "lan*" accept
	}
}
`, masq)
	l.Exec(role, []byte(rules), "nft", "-f", "-")
}

// Route adds a default route via gw in role.
func (l *Lab) Route(role, gw string) {
	l.t.Helper()
	l.IP("-n", l.NS(role), "route", "add", "default", "via", gw)
}

func run(ctx context.Context, stdin []byte, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// DialIn connects to addr from inside namespace ns: a thread enters the
// namespace, creates the socket there (a socket stays in the namespace it
// was made in) and is then discarded, so the test process's other threads
// never leave the machine's namespace.
func DialIn(ctx context.Context, ns, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- result{err: fmt.Errorf("opening namespace %s: %w", ns, err)}
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			ch <- result{err: fmt.Errorf("entering namespace %s: %w", ns, err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// HTTPClient is an HTTP client whose connections are made inside ns.
func HTTPClient(ns string, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return DialIn(ctx, ns, network, addr)
		},
	}}
}

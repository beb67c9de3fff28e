package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/test/harness"
)

// conformanceConfigs are the node configurations the nostr-tools suite runs
// against, one node each. limits are the NIP-11 limitation fields the flags
// must produce.
var conformanceConfigs = []struct {
	mode   string
	flags  []string
	files  []string
	limits map[string]any
	env    []string
}{
	{
		mode: "open",
		flags: []string{"--auth", "off", "--max-message-bytes", "16384", "--max-subscriptions", "8",
			"--max-filters", "4", "--max-limit", "50", "--default-limit", "20", "--events-per-second", "1000"},
		files: []string{"open-nip01.test.mjs", "open-nip09-nip40.test.mjs", "open-nip11-45-77.test.mjs", "open-refusals.test.mjs", "open-nip29.test.mjs"},
		limits: map[string]any{"max_message_length": 16384, "max_subscriptions": 8, "max_filters": 4,
			"max_limit": 50, "default_limit": 20, "min_pow_difficulty": 0, "auth_required": false},
	},
	{
		mode:  "ratelimit",
		flags: []string{"--events-per-second", "5"},
		files: []string{"ratelimit.test.mjs"},
		env:   []string{"CAIRN_EVENTS_PER_SECOND=5"},
	},
	{
		mode:   "pow",
		flags:  []string{"--min-pow", "12"},
		files:  []string{"pow.test.mjs"},
		limits: map[string]any{"min_pow_difficulty": 12, "restricted_writes": true},
	},
	{
		mode:   "auth-writes",
		flags:  []string{"--auth", "writes"},
		files:  []string{"auth.test.mjs"},
		limits: map[string]any{"auth_required": false, "restricted_writes": true},
	},
	{
		mode:   "auth-all",
		flags:  []string{"--auth", "all"},
		files:  []string{"auth.test.mjs"},
		limits: map[string]any{"auth_required": true},
	},
}

// TestConformance runs test/conformance/*.test.mjs (nostr-tools clients,
// Node's test runner) against one node per configuration.
func TestConformance(t *testing.T) {
	dir, err := filepath.Abs("conformance")
	if err != nil {
		t.Fatal(err)
	}
	nodeBin := setupNode(t, dir)
	for _, cfg := range conformanceConfigs {
		t.Run(cfg.mode, func(t *testing.T) {
			n := harness.Start(t, cfg.flags...)
			limits, _ := json.Marshal(cfg.limits)
			env := append(os.Environ(),
				"CAIRN_RELAY="+n.WSURL,
				"CAIRN_MODE="+cfg.mode,
				"CAIRN_LIMITS="+string(limits))
			env = append(env, cfg.env...)
			args := append([]string{"--test", "--test-reporter=spec", "--test-timeout=60000"}, cfg.files...)
			if code := runLogged(t, dir, env, 5*time.Minute, nodeBin, args...); code != 0 {
				t.Fatalf("node --test %v exited %d against `cairn node %v`", cfg.files, code, cfg.flags)
			}
		})
	}
}

// setupNode finds node and npm and installs the suite's packages once.
// Without them the test skips, or fails when CAIRN_E2E=1 asks for the full suite.
func setupNode(t *testing.T, dir string) string { return setupNodeModules(t, dir, "nostr-tools") }

// setupNodeModules is setupNode for the npm project in dir, whose
// packages are installed when node_modules lacks pkg.
func setupNodeModules(t *testing.T, dir, pkg string) string {
	unavailable := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CAIRN_E2E") == "1" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format+" (skipping; install Node 20+ and npm and run `make test`, or set CAIRN_E2E=1 to make this a failure)", args...)
	}
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		unavailable("node not found on PATH")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		unavailable("npm not found on PATH")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg)); err != nil {
		if code := runLogged(t, dir, os.Environ(), 5*time.Minute, npm, "ci", "--no-audit", "--no-fund"); code != 0 {
			unavailable("npm ci in %s failed (exit %d)", dir, code)
		}
	}
	return nodeBin
}

// runLogged runs a command, streaming its output into the test log line by
// line, and returns its exit code (-1 when it could not run or timed out).
func runLogged(t *testing.T, dir string, env []string, timeout time.Duration, name string, args ...string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.WaitDelay = 5 * time.Second
	w := &lineLogger{t: t}
	cmd.Stdout, cmd.Stderr = w, w
	err := cmd.Run()
	w.flush()
	if ctx.Err() != nil {
		t.Errorf("%s %v did not finish within %v", name, args, timeout)
		return -1
	}
	if err != nil {
		if exit, ok := err.(*exec.ExitError); ok {
			return exit.ExitCode()
		}
		t.Errorf("%s %v: %v", name, args, err)
		return -1
	}
	return 0
}

// lineLogger writes complete lines to the test log as they arrive.
type lineLogger struct {
	t   *testing.T
	mu  sync.Mutex
	buf []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.t.Log(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
}

func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.t.Log(string(l.buf))
		l.buf = nil
	}
}

package harness

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"
)

// CLITimeout bounds one short-lived cairn command (keygen, sync, version).
const CLITimeout = 2 * time.Minute

// Run runs `cairn args...` to completion and returns its stdout and stderr
// and exit code. It fails the test only when the command cannot be started
// or does not finish within CLITimeout.
func Run(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return RunTimeout(t, CLITimeout, args...)
}

// RunTimeout is Run with its own time limit.
func RunTimeout(t testing.TB, timeout time.Duration, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), args...)
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("cairn %q did not finish within %v\nstdout:\n%s\nstderr:\n%s", args, timeout, out.String(), errb.String())
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("running cairn %q: %v", args, err)
	}
	return out.String(), errb.String(), code
}

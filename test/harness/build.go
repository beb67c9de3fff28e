// Package harness runs the real cairn binary for end-to-end tests.
//
// The binary is built once per test process (or taken from $CAIRN_BIN), with
// -tags libsecp256k1 as `make build` does; a failure of that build fails the
// tests unless CAIRN_PURE_GO=1 asks for a build without it. Then each test
// starts nodes on loopback with a fresh data directory:
//
//	n := harness.Start(t, "--auth", "writes")
//	c := harness.Dial(t, n.WSURL)
//	c.Send("REQ", "s", nostr.Filter{Limit: 1})
//	...
//	n.Kill9()
//	n.Restart()
//
// Every wait is bounded, every process is killed by t.Cleanup, and only
// 127.0.0.1 is ever used.
package harness

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildTimeout bounds one `go build` of ./cmd/cairn on a busy 2-core machine.
const buildTimeout = 15 * time.Minute

var (
	buildOnce sync.Once
	buildDir  string
	binPath   string
	buildNote string // how the binary was obtained, logged once
	buildErr  error
)

// Binary returns the path of a cairn binary, building it on first use.
// $CAIRN_BIN, when set, names a prebuilt binary and skips the build.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		start := time.Now()
		binPath, buildErr = build()
		t.Logf("cairn binary: %s (%s, %v)", binPath, buildNote, time.Since(start).Round(time.Millisecond))
	})
	if buildErr != nil {
		t.Fatalf("building cairn: %v", buildErr)
	}
	return binPath
}

// Main runs the tests and then removes the binary built for them.
// Use it from TestMain: func TestMain(m *testing.M) { harness.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// ModuleRoot returns the directory holding the repository's go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for range 20 {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("go.mod not found above the working directory")
}

func build() (string, error) {
	if p := os.Getenv("CAIRN_BIN"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(abs); err != nil {
			return "", fmt.Errorf("CAIRN_BIN: %w", err)
		}
		buildNote = "from $CAIRN_BIN"
		return abs, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	// The binary embeds web/static, browser core included: build the core
	// first, as `make build` does, so the browser tests run today's code.
	if out, err := buildWasm(root); err != nil {
		return "", fmt.Errorf("building the browser core (make build-wasm): %v\n%s", err, out)
	}
	buildDir, err = os.MkdirTemp("", "cairn-e2e-bin-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(buildDir, "cairn")
	// The tests run what `make build` ships: the libsecp256k1 signature
	// backend, which needs cgo and a C compiler. A failure of that build is
	// an error, never a quiet fallback to a binary CI would not test.
	if os.Getenv(pureGoEnv) == "1" {
		// -tags= overrides a GOFLAGS that asks for the tag.
		if output, err := goBuild(root, out, "-tags=nosqlite"); err != nil {
			return "", fmt.Errorf("go build -tags= ./cmd/cairn (%s=1): %w\n%s", pureGoEnv, err, output)
		}
		buildNote = "built without libsecp256k1 (" + pureGoEnv + "=1)"
		return out, nil
	}
	if output, err := goBuild(root, out, "-tags=libsecp256k1,nosqlite"); err != nil {
		return "", fmt.Errorf("go build -tags=libsecp256k1,nosqlite ./cmd/cairn: %w (the libsecp256k1 "+
			"backend is C built through cgo: install gcc with `make deps` or apt-get install gcc, "+
			"and leave CGO_ENABLED on; or set %s=1 to test a pure-Go build instead)\n%s", err, pureGoEnv, output)
	}
	buildNote = "built with -tags libsecp256k1,nosqlite"
	return out, nil
}

// pureGoEnv, set to 1, builds the binary without libsecp256k1 (go-nostr's
// pure-Go signatures): for machines without a C compiler, by choice.
const pureGoEnv = "CAIRN_PURE_GO"

func goBuild(root, out string, flags ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	args := append([]string{"build", "-o", out}, flags...)
	args = append(args, "./cmd/cairn")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	err := cmd.Run()
	return buf.Bytes(), err
}

// buildWasm writes web/static/cairn.wasm, its encodings beside it and
// wasm_exec.js, as `make build-wasm` does.
func buildWasm(root string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join("web", "static", "cairn.wasm"), "./wasm")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return out, err
	}
	core := filepath.Join(root, "web", "static", "cairn.wasm")
	if out, err := zstdBeside(ctx, core); err != nil {
		return out, err
	}
	if err := gzipBeside(core); err != nil {
		return nil, err
	}
	goroot, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output()
	if err != nil {
		return nil, err
	}
	dir := strings.TrimSpace(string(goroot))
	for _, sub := range []string{"lib/wasm", "misc/wasm"} {
		js, err := os.ReadFile(filepath.Join(dir, sub, "wasm_exec.js"))
		if err == nil {
			return nil, os.WriteFile(filepath.Join(root, "web", "static", "wasm_exec.js"), js, 0o644)
		}
	}
	return nil, fmt.Errorf("wasm_exec.js not found under %s", dir)
}

// zstdBeside writes name.zst with the zstd command, as `make build-wasm`
// does (level 19, the 8 MiB window browsers accept). Without the command
// it removes a stale name.zst, so the node serves gzip, unless CAIRN_E2E is
// set: then a missing zstd is an error.
func zstdBeside(ctx context.Context, name string) ([]byte, error) {
	if _, err := exec.LookPath("zstd"); err != nil {
		if os.Getenv("CAIRN_E2E") != "" {
			return nil, errors.New("zstd is not installed: `make deps` installs it (apt-get install zstd)")
		}
		if err := os.Remove(name + ".zst"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, nil
	}
	return exec.CommandContext(ctx, "zstd", "-19", "--zstd=wlog=23", "-q", "-f", "-o", name+".zst", name).CombinedOutput()
}

// gzipBeside writes name.gz at the best compression, as `make build-wasm`
// does with gzip -9, so the node serves the core's encoding as built.
func gzipBeside(name string) error {
	data, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return err
	}
	zw.Write(data)
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(name+".gz", b.Bytes(), 0o644)
}

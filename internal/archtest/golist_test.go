package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
)

// listed is one package as `go list -json` describes it in one build.
type listed struct {
	ImportPath   string
	Name         string
	Dir          string
	GoFiles      []string
	CgoFiles     []string
	TestGoFiles  []string
	XTestGoFiles []string
	Imports      []string
}

// build is every package of the module in one build: the native one (the
// environment's GOOS, GOARCH and GOFLAGS; `make test-unit` sets
// -tags=libsecp256k1) or the browser core's (GOOS=js GOARCH=wasm GOFLAGS=).
type build struct {
	name   string
	module string             // the module path, "github.com/cairn-nostr/cairn"
	pkgs   map[string]*listed // by path below the module: "swarm/sched"
}

// own returns the module's packages p imports directly from its
// production files, as paths below the module, sorted.
func (b *build) own(p *listed) []string {
	var deps []string
	for _, imp := range p.Imports {
		if rel, ok := strings.CutPrefix(imp, b.module+"/"); ok {
			deps = append(deps, rel)
		} else if imp == b.module {
			deps = append(deps, ".")
		}
	}
	sort.Strings(deps)
	return deps
}

var (
	loadOnce       sync.Once
	root           string
	native, jsWasm *build
	loadErr        error
)

// load lists the module's packages in both builds, once per test binary.
func load(t *testing.T) (string, *build, *build) {
	t.Helper()
	if runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("runs the go command; not under " + runtime.GOOS)
	}
	loadOnce.Do(func() {
		root, loadErr = moduleRoot()
		if loadErr != nil {
			return
		}
		native, loadErr = list(root, "native", nil)
		if loadErr != nil {
			return
		}
		jsWasm, loadErr = list(root, "js/wasm", []string{"GOOS=js", "GOARCH=wasm", "GOFLAGS="})
	})
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return root, native, jsWasm
}

// moduleRoot is the directory of go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func list(root, name string, env []string) (*build, error) {
	mod := exec.Command("go", "list", "-m")
	mod.Dir = root
	out, err := mod.Output()
	if err != nil {
		return nil, errors.New("go list -m: " + errText(err))
	}
	b := &build{name: name, module: strings.TrimSpace(string(out)), pkgs: map[string]*listed{}}
	cmd := exec.Command("go", "list", "-json=ImportPath,Name,Dir,GoFiles,CgoFiles,TestGoFiles,XTestGoFiles,Imports", "./...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...) // later entries win
	out, err = cmd.Output()
	if err != nil {
		return nil, errors.New(strings.Join(append(env, "go list ./...: "+errText(err)), " "))
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(listed)
		if err := dec.Decode(p); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		rel, ok := strings.CutPrefix(p.ImportPath, b.module+"/")
		if !ok {
			rel = "." // the module's root directory
		}
		b.pkgs[rel] = p
	}
	return b, nil
}

func errText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return strings.TrimSpace(string(ee.Stderr))
	}
	return err.Error()
}

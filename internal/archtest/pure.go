// Package archtest keeps cairn's layout honest. Its own tests hold the
// Layout table of docs/ARCHITECTURE.md against the imports the packages
// really make, and check that every package has its doc comment;
// [CheckPure] is the hygiene check each pure core runs from a test of its
// own:
//
//	func TestPure(t *testing.T) {
//		archtest.CheckPure(t, ".", []string{"errors", "fmt"})
//	}
package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// clockReads are the calls a pure core must not make, by import path:
// reading the clock or waiting on it. A core takes `now` as an input.
var clockReads = map[string]map[string]bool{
	"time": {
		"Now": true, "Since": true, "Until": true, "After": true, "AfterFunc": true,
		"NewTimer": true, "NewTicker": true, "Sleep": true, "Tick": true,
	},
	"github.com/nbd-wtf/go-nostr":        {"Now": true},
	"github.com/cairn-nostr/cairn/nostr": {"Now": true},
}

// defaultNames are the package names of clockReads' paths, where the last
// path element is not the name.
var defaultNames = map[string]string{"github.com/nbd-wtf/go-nostr": "nostr"}

// CheckPure checks the production files (every .go file not ending in
// _test.go, whatever its build constraints) of the package in dir: each
// import is one of allowed; no dot imports; no go statements; no clock
// reads (time.Now, Since, Until, After, AfterFunc, NewTimer, NewTicker,
// Sleep, Tick, and the Now of go-nostr and of package nostr), under whatever name the package was
// imported; and the package has a doc comment starting "Package <name> ".
// Each finding is reported with its file and line through t.Errorf.
func CheckPure(t testing.TB, dir string, allowed []string) {
	t.Helper()
	ok := make(map[string]bool, len(allowed))
	for _, p := range allowed {
		ok[p] = true
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatalf("listing %s: %v", dir, err)
	}
	sort.Strings(names)
	fset := token.NewFileSet()
	pkg, docs, files := "", []string{}, 0
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatalf("parsing %v", err)
		}
		files++
		if pkg == "" {
			pkg = f.Name.Name
		} else if f.Name.Name != pkg {
			t.Errorf("%s: package %s, but the other files are package %s", name, f.Name.Name, pkg)
		}
		if f.Doc != nil {
			docs = append(docs, name)
			if !strings.HasPrefix(f.Doc.Text(), "Package "+f.Name.Name+" ") {
				t.Errorf("%s: the package doc comment must start with \"Package %s \"", name, f.Name.Name)
			}
		}
		// banned maps the name each clock package goes by in this file to
		// the calls banned from it.
		banned := map[string]map[string]bool{}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			pos := fset.Position(imp.Pos())
			if !ok[path] {
				t.Errorf("%s:%d: imports %q, which this pure core does not allow (allowed: %s)",
					pos.Filename, pos.Line, path, strings.Join(allowed, ", "))
			}
			local := defaultNames[path]
			if local == "" {
				local = path[strings.LastIndex(path, "/")+1:]
			}
			if imp.Name != nil {
				local = imp.Name.Name
			}
			if local == "." {
				t.Errorf("%s:%d: dot import of %q hides what the core uses", pos.Filename, pos.Line, path)
			}
			if calls := clockReads[path]; calls != nil {
				banned[local] = calls
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				pos := fset.Position(n.Pos())
				t.Errorf("%s:%d: go statement: a pure core starts no goroutines", pos.Filename, pos.Line)
			case *ast.SelectorExpr:
				// Obj is nil for a package name (a local variable that
				// shadows it resolves to its declaration).
				if x, isIdent := n.X.(*ast.Ident); isIdent && x.Obj == nil && banned[x.Name][n.Sel.Name] {
					pos := fset.Position(n.Pos())
					t.Errorf("%s:%d: %s.%s reads the clock: take now as an input", pos.Filename, pos.Line, x.Name, n.Sel.Name)
				}
			}
			return true
		})
	}
	switch {
	case files == 0:
		t.Fatalf("%s holds no production .go files", dir)
	case len(docs) == 0:
		t.Errorf("%s: no package doc comment; one file must start with \"// Package %s ...\"", dir, pkg)
	case len(docs) > 1:
		t.Errorf("%s: package doc comments in %s: go doc joins them; keep one", dir, strings.Join(docs, ", "))
	}
}

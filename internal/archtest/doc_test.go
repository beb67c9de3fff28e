package archtest

import (
	"go/parser"
	"go/token"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestPackageDocs checks that every package of the module, in either
// build, has one doc comment, starting "Package <name> " (for a command,
// "Command <directory name> "). It reads the production files of both
// builds; a package with none (the end-to-end suites) has it in a test file.
func TestPackageDocs(t *testing.T) {
	root, nat, js := load(t)
	pkgs := map[string][]*listed{}
	for _, b := range []*build{nat, js} {
		for rel, p := range b.pkgs {
			pkgs[rel] = append(pkgs[rel], p)
		}
	}
	for rel, ps := range pkgs {
		files := map[string]bool{}
		for _, p := range ps {
			for _, f := range append(p.GoFiles, p.CgoFiles...) {
				files[filepath.Join(p.Dir, f)] = true
			}
		}
		if len(files) == 0 {
			for _, p := range ps {
				for _, f := range p.TestGoFiles {
					files[filepath.Join(p.Dir, f)] = true
				}
			}
		}
		want := "Package " + ps[0].Name + " "
		if ps[0].Name == "main" {
			want = "Command " + path.Base(ps[0].ImportPath) + " "
		}
		var docs []string
		fset := token.NewFileSet()
		for name := range files {
			f, err := parser.ParseFile(fset, name, nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Errorf("%s: %v", rel, err)
				continue
			}
			if f.Doc == nil {
				continue
			}
			short, _ := filepath.Rel(root, name)
			docs = append(docs, short)
			if !strings.HasPrefix(f.Doc.Text(), want) {
				t.Errorf("%s: the package doc comment must start with %q", short, want)
			}
		}
		sort.Strings(docs)
		switch {
		case len(docs) == 0:
			t.Errorf("package %s has no doc comment: one file must start with \"// %s...\"", rel, want)
		case len(docs) > 1:
			t.Errorf("package %s has doc comments in %s: go doc joins them; keep one", rel, strings.Join(docs, ", "))
		}
	}
}

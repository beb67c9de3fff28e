package archtest

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestLayout holds the Layout table of docs/ARCHITECTURE.md against the
// module's packages and the imports they really make. Run it alone with
//
//	go test ./internal/archtest -run Layout
//
// The table's format:
//
//	| package | what belongs there | depends on |
//	|---|---|---|
//	| `swarm` | free text | `blobstore`, `media`, `p2p` (native only) |
//	| `store` | free text | — |
//
// One row per package of the module, as `go list ./...` finds them in the
// native build or in the js/wasm build (GOOS=js GOARCH=wasm GOFLAGS=), and
// no other row. The package cell is the import path below the module in
// backquotes, and nothing else.
//
// "depends on" is every package of the module that the package's
// production files (not its tests) import directly: comma-separated, each
// in backquotes, in any order; "—" (an em dash) when there is none. An
// import that only one of the two builds makes is followed by
// " (native only)" or " (js only)"; a package that exists in one build only
// (the browser core, wasm) lists its imports plainly.
//
// When a row is wrong the failure gives its line, the cell to write and
// the imports of each build.
func TestLayout(t *testing.T) {
	root, nat, js := load(t)
	doc := filepath.Join(root, "docs", "ARCHITECTURE.md")
	rows, err := readLayout(doc)
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(root, doc)
	seen := map[string]int{}
	for _, r := range rows {
		where := fmt.Sprintf("%s:%d: row `%s`", rel, r.line, r.pkg)
		if line, dup := seen[r.pkg]; dup {
			t.Errorf("%s: a second row for the package (the first is at line %d)", where, line)
			continue
		}
		seen[r.pkg] = r.line
		want, ok := expected(r.pkg, nat, js)
		if !ok {
			t.Errorf("%s: no such package in the module (go list ./... finds it in neither build); remove the row or fix its name", where)
			continue
		}
		got, err := parseDeps(r.deps)
		if err != nil {
			t.Errorf("%s: %v; for this package it must read\n\t%s", where, err, formatDeps(want))
			continue
		}
		if !equal(got, want) {
			t.Errorf("%s: \"depends on\" must read\n\t%s\nbut reads\n\t%s\n%s", where, formatDeps(want), r.deps, explain(r.pkg, got, want, nat, js))
		}
	}
	var missing []string
	for _, b := range []*build{nat, js} {
		for pkg := range b.pkgs {
			if _, ok := seen[pkg]; !ok {
				seen[pkg] = 0
				missing = append(missing, pkg)
			}
		}
	}
	sort.Strings(missing)
	for _, pkg := range missing {
		want, _ := expected(pkg, nat, js)
		t.Errorf("%s: package `%s` has no row in the Layout table; add\n\t| `%s` | what belongs there | %s |", rel, pkg, pkg, formatDeps(want))
	}
}

// scope says in which build an import is made: "" for both.
type scope string

const (
	both       scope = ""
	nativeOnly scope = "native only"
	jsOnly     scope = "js only"
)

// expected is what pkg's "depends on" must say, by dependency; ok is false
// when neither build has the package.
func expected(pkg string, nat, js *build) (deps map[string]scope, ok bool) {
	np, inNat := nat.pkgs[pkg]
	jp, inJS := js.pkgs[pkg]
	deps = map[string]scope{}
	switch {
	case inNat && inJS:
		nd, jd := nat.own(np), js.own(jp)
		for _, d := range nd {
			deps[d] = nativeOnly
		}
		for _, d := range jd {
			if _, inBoth := deps[d]; inBoth {
				deps[d] = both
			} else {
				deps[d] = jsOnly
			}
		}
	case inNat:
		for _, d := range nat.own(np) {
			deps[d] = both
		}
	case inJS:
		for _, d := range js.own(jp) {
			deps[d] = both
		}
	default:
		return nil, false
	}
	return deps, true
}

func equal(a, b map[string]scope) bool {
	if len(a) != len(b) {
		return false
	}
	for d, s := range a {
		if t, ok := b[d]; !ok || s != t {
			return false
		}
	}
	return true
}

// formatDeps writes deps as a "depends on" cell, sorted.
func formatDeps(deps map[string]scope) string {
	if len(deps) == 0 {
		return "—"
	}
	names := make([]string, 0, len(deps))
	for d := range deps {
		names = append(names, d)
	}
	sort.Strings(names)
	for i, d := range names {
		names[i] = "`" + d + "`"
		if s := deps[d]; s != both {
			names[i] += " (" + string(s) + ")"
		}
	}
	return strings.Join(names, ", ")
}

// explain says how got differs from want and what each build imports.
func explain(pkg string, got, want map[string]scope, nat, js *build) string {
	var missing, extra, scoped []string
	for d, s := range want {
		if g, ok := got[d]; !ok {
			missing = append(missing, "`"+d+"`")
		} else if g != s {
			where := "both builds"
			if s != both {
				where = "the " + strings.TrimSuffix(string(s), " only") + " build only"
			}
			scoped = append(scoped, fmt.Sprintf("`%s` is imported by %s", d, where))
		}
	}
	for d := range got {
		if _, ok := want[d]; !ok {
			extra = append(extra, "`"+d+"`")
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	sort.Strings(scoped)
	var b strings.Builder
	if len(missing) > 0 {
		fmt.Fprintf(&b, "\timported but not in the row: %s\n", strings.Join(missing, ", "))
	}
	if len(extra) > 0 {
		fmt.Fprintf(&b, "\tin the row but not imported: %s\n", strings.Join(extra, ", "))
	}
	for _, s := range scoped {
		fmt.Fprintf(&b, "\t%s\n", s)
	}
	for _, bd := range []*build{nat, js} {
		if p, ok := bd.pkgs[pkg]; ok {
			fmt.Fprintf(&b, "\t%s build imports: %s\n", bd.name, orNone(strings.Join(bd.own(p), ", ")))
		} else {
			fmt.Fprintf(&b, "\t%s build: no such package\n", bd.name)
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// row is one row of the Layout table.
type row struct {
	line int    // in the file, from 1
	pkg  string // the package cell without its backquotes
	deps string // the "depends on" cell as written
}

var (
	pkgCell = regexp.MustCompile("^`([^`]+)`$")
	depItem = regexp.MustCompile("^`([^`]+)`(?: \\((native only|js only)\\))?$")
)

// readLayout reads the rows of the table under "## Layout" whose header is
// package | what belongs there | depends on.
func readLayout(path string) ([]row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		rows                        []row
		inSection, inTable, sepSeen bool
		n                           int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "## ") {
			if inTable {
				break
			}
			inSection = line == "## Layout"
			continue
		}
		if !inSection {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		cells := splitRow(line)
		switch {
		case !inTable:
			if len(cells) == 3 && cells[0] == "package" && cells[1] == "what belongs there" && cells[2] == "depends on" {
				inTable = true
			}
		case !sepSeen:
			sepSeen = true // |---|---|---|
		default:
			if len(cells) != 3 {
				return nil, fmt.Errorf("%s:%d: a Layout row has three cells (package | what belongs there | depends on), this one %d", path, n, len(cells))
			}
			m := pkgCell.FindStringSubmatch(cells[0])
			if m == nil {
				return nil, fmt.Errorf("%s:%d: the package cell is the import path below the module in backquotes and nothing else, as `swarm/sched`; got %q", path, n, cells[0])
			}
			rows = append(rows, row{line: n, pkg: m[1], deps: cells[2]})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no table with the header | package | what belongs there | depends on | under \"## Layout\"", path)
	}
	return rows, nil
}

// splitRow splits a table line into its trimmed cells; \| is not a separator.
func splitRow(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cur.WriteByte('|')
			i++
		case line[i] == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(line[i])
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

// parseDeps reads a "depends on" cell.
func parseDeps(cell string) (map[string]scope, error) {
	deps := map[string]scope{}
	if cell == "—" {
		return deps, nil
	}
	for _, item := range strings.Split(cell, ",") {
		item = strings.TrimSpace(item)
		m := depItem.FindStringSubmatch(item)
		if m == nil {
			return nil, fmt.Errorf("cannot read %q in \"depends on\": write `pkg`, `pkg` (native only) or `pkg` (js only), comma-separated, or — for none", item)
		}
		if _, dup := deps[m[1]]; dup {
			return nil, fmt.Errorf("`%s` appears twice in \"depends on\"", m[1])
		}
		deps[m[1]] = scope(m[2])
	}
	return deps, nil
}

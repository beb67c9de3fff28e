package archtest

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that keeps what CheckPure reports.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	panic(r)
}

func check(t *testing.T, dir string, allowed []string) []string {
	r := &recorder{TB: t}
	func() {
		defer func() {
			if p := recover(); p != nil && p != r {
				panic(p)
			}
		}()
		CheckPure(r, dir, allowed)
	}()
	return r.errs
}

func TestCheckPureFindsEveryViolation(t *testing.T) {
	errs := check(t, "testdata/impure", []string{"errors"})
	want := []string{
		`clock.go:5: imports "os"`,
		`clock.go:6: imports "time"`,
		`clock.go:8: imports "strings"`,
		`clock.go:8: dot import of "strings"`,
		`clock.go:10: imports "github.com/nbd-wtf/go-nostr"`,
		`clock.go:14: go statement`,
		`clock.go:15: nostr.Now reads the clock`,
		`clock.go:17: tm.Now reads the clock`,
		`clock.go:17: tm.Since reads the clock`,
		`other.go: package other, but the other files are package impure`,
		`package doc comments in testdata/impure/clock.go, testdata/impure/shadow.go`,
	}
	for _, w := range want {
		found := false
		for _, e := range errs {
			found = found || strings.Contains(e, w)
		}
		if !found {
			t.Errorf("no report containing %q", w)
		}
	}
	if len(errs) != len(want) {
		t.Errorf("%d reports, want %d:\n%s", len(errs), len(want), strings.Join(errs, "\n"))
	}
}

func TestCheckPureWantsADocComment(t *testing.T) {
	errs := check(t, "testdata/nodoc", nil)
	if len(errs) != 1 || !strings.Contains(errs[0], `no package doc comment; one file must start with "// Package nodoc ...`) {
		t.Errorf("got %q", errs)
	}
}

func TestCheckPureWantsFiles(t *testing.T) {
	errs := check(t, "testdata", nil)
	if len(errs) != 1 || !strings.Contains(errs[0], "no production .go files") {
		t.Errorf("got %q", errs)
	}
}

// The checker passes itself: it imports only what is listed and reads no clock.
func TestCheckPureSelf(t *testing.T) {
	CheckPure(t, ".", []string{"go/ast", "go/parser", "go/token", "path/filepath", "sort", "strconv", "strings", "testing"})
}

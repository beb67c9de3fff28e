package identity

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "key")
	k := Generate()
	if err := k.Save(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %o, want 600", st.Mode().Perm())
	}
	got, err := Load(path)
	if err != nil || got != k {
		t.Fatalf("Load = %v, %v; want %v", got, err, k)
	}
	if err := k.Save(path); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("overwrite: %v", err)
	}
	if !strings.HasPrefix(k.Npub(), "npub1") || !strings.HasPrefix(k.Nsec(), "nsec1") {
		t.Fatal(k.Npub(), k.Nsec())
	}
}

func TestLoadRefusesOpenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte(Generate().Nsec()), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("want a chmod hint, got %v", err)
	}
}

func TestFromSecret(t *testing.T) {
	k := Generate()
	for _, s := range []string{k.Secret, k.Nsec(), "  " + k.Nsec() + "\n"} {
		got, err := FromSecret(s)
		if err != nil || got != k {
			t.Fatalf("FromSecret(%q) = %v, %v", s, got, err)
		}
	}
	for _, bad := range []string{"", "abc", "nsec1qqqq", strings.Repeat("z", 64)} {
		if _, err := FromSecret(bad); err == nil {
			t.Fatalf("FromSecret(%q) accepted", bad)
		}
	}
}

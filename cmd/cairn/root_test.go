package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestLayers(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"listen":"127.0.0.1:1","auth":"writes","max-subscriptions":7}`), 0o600)
	t.Setenv("CAIRN_AUTH", "all")

	var c commonFlags
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	c.register(fs)
	listen := fs.String("listen", "default", "")
	auth := fs.String("auth", "off", "")
	subs := fs.Int("max-subscriptions", 32, "")
	if err := fs.Parse([]string{"--data-dir", dir, "--listen", "127.0.0.1:2"}); err != nil {
		t.Fatal(err)
	}
	if err := applyLayers(fs, &c); err != nil {
		t.Fatal(err)
	}
	// flag > env > file > default
	if *listen != "127.0.0.1:2" || *auth != "all" || *subs != 7 {
		t.Fatalf("listen %q auth %q subs %d", *listen, *auth, *subs)
	}
}

func TestLayersList(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"bootstrap":["/ip4/1.2.3.4/tcp/1/p2p/x","/ip4/5.6.7.8/tcp/1/p2p/y"]}`), 0o600)
	var c commonFlags
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	c.register(fs)
	boot := fs.StringSlice("bootstrap", nil, "")
	fs.Parse([]string{"--data-dir", dir})
	if err := applyLayers(fs, &c); err != nil {
		t.Fatal(err)
	}
	if len(*boot) != 2 || (*boot)[1] != "/ip4/5.6.7.8/tcp/1/p2p/y" {
		t.Fatalf("bootstrap %q", *boot)
	}
}

func TestLayersUnknownKey(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"lisen":"x"}`), 0o600)
	var c commonFlags
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	c.register(fs)
	fs.Parse([]string{"--data-dir", dir})
	if err := applyLayers(fs, &c); err == nil || !strings.Contains(err.Error(), `unknown setting "lisen"`) {
		t.Fatalf("got %v", err)
	}
}

func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"node", "--help"}, {"keygen", "--help"}, {"sync", "--help"}, {"version"},
		{"share", "--help"}, {"get", "--help"}, {"resolve", "--help"}, {"ls", "--help"}, {"pin", "--help"}, {"unpin", "--help"},
		{"credits", "--help"}, {"credits", "log", "--help"}, {"credits", "verify", "--help"}, {"credits", "proof", "--help"}, {"credits", "check", "--help"}} {
		var out bytes.Buffer
		cmd := rootCmd()
		cmd.SetOut(&out)
		cmd.SetArgs(args)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if out.Len() == 0 {
			t.Fatalf("%v printed nothing", args)
		}
	}
}

func TestKeygen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	var out bytes.Buffer
	cmd := rootCmd()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"keygen", "--out", path})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "npub1") || !strings.Contains(out.String(), "nsec1") {
		t.Fatal(out.String())
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1048576": 1 << 20, "2GiB": 2 << 30, "640KiB": 640 << 10, "1.5MiB": 3 << 19, "500MB": 500e6, "7 B": 7} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "lots", "2XB"} {
		if _, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) succeeded", in)
		}
	}
}

func TestDefaultName(t *testing.T) {
	root := strings.Repeat("ab", 32)
	for _, c := range []struct{ title, mime, want string }{
		{"clip", `video/mp4; codecs="avc1.42C01E"`, "clip.mp4"},
		{"notes.txt", "text/plain", "notes.txt"},
		{"", "", root[:16]},
		{"../x/y", "", ".._x_y"},
		{"..", "", root[:16]},
	} {
		if got := defaultName(c.title, c.mime, root); got != c.want {
			t.Errorf("defaultName(%q, %q) = %q, want %q", c.title, c.mime, got, c.want)
		}
	}
}

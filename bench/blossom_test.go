package bench

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// TestRunBlossomSmall runs the Blossom benchmark on a small blob and
// checks that every figure was measured (not how fast).
func TestRunBlossomSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts several nodes")
	}
	cfg := BlossomConfig{Size: 6<<20 + 12345, Rounds: 2, Seed: 3, Dir: t.TempDir()}
	var prog bytes.Buffer
	cfg.Progress = &prog
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := RunBlossom(ctx, cfg)
	if err != nil {
		t.Fatalf("RunBlossom: %v\nprogress:\n%s", err, prog.String())
	}
	for _, key := range []string{"write_hash", "http_get", "upload", "second_get", "fetchable"} {
		f, ok := rep.Figure(key)
		if !ok || f.Value <= 0 {
			t.Errorf("figure %s missing or zero: %+v", key, f)
		}
	}
	var out bytes.Buffer
	if err := rep.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
}

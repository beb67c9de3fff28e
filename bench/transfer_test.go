package bench

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// TestRunTransferSmall runs the transfer benchmark on a small file with 1
// and 2 seeders and checks that every figure was measured (not how fast).
func TestRunTransferSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts several nodes")
	}
	cfg := TransferConfig{Size: 6<<20 + 12345, ChunkSize: 1 << 20, Seeders: []int{1, 2}, Rounds: 1, Seed: 2, Dir: t.TempDir()}
	var prog bytes.Buffer
	cfg.Progress = &prog
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := RunTransfer(ctx, cfg)
	if err != nil {
		t.Fatalf("RunTransfer: %v\nprogress:\n%s", err, prog.String())
	}
	for _, key := range []string{"ceiling_1", "get_1", "transfer_1", "ceiling_2", "get_2", "transfer_2"} {
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

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestRunRelayQuick runs every phase at tiny sizes and checks that each
// figure was measured. It takes a few seconds.
func TestRunRelayQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole relay benchmark at small sizes")
	}
	goroutines := runtime.NumGoroutine()
	cfg := QuickConfig()
	cfg.Events = 4000
	cfg.Ingest = 1000
	cfg.IngestConns = []int{1, 8}
	cfg.Subscriptions = 40
	cfg.FanoutRounds = 5
	cfg.QuerySamples = 30
	cfg.StoreWriters = []int{16}
	cfg.FillWriters = 64
	cfg.CPUTime = 100 * time.Millisecond
	cfg.Dir = t.TempDir()
	var prog bytes.Buffer
	cfg.Progress = &prog

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := RunRelay(ctx, cfg)
	if err != nil {
		t.Fatalf("RunRelay: %v\nprogress:\n%s", err, prog.String())
	}
	for _, key := range []string{
		"verify", "decode", "store_writes_16", "store_save_p50",
		"ingest_1", "ingest_8",
		"fanout_raw_p50", "fanout_ephemeral_p50", "fanout_stored_p99", "fanout_deliveries",
		"query_author_store_p50", "query_author_p50", "query_kind_tag_p99", "fill", "ingest_big_store",
	} {
		f, ok := rep.Figure(key)
		switch {
		case !ok:
			t.Errorf("figure %s is missing", key)
		case f.Value <= 0:
			t.Errorf("figure %s = %v", key, f.Value)
		case f.Group == GroupResult && (f.Ceiling == "" || f.Ratio <= 0):
			t.Errorf("result %s has no ratio: %+v", key, f)
		}
	}
	if f, _ := rep.Figure("query_kind_tag_events"); f.Value < 1 {
		t.Errorf("kind + tag queries returned %v events on average: the corpus has no selectivity to measure", f.Value)
	}

	var table, js bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "ingest, 8 connection(s)") {
		t.Errorf("table lacks the ingest row:\n%s", table.String())
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Figures) != len(rep.Figures) {
		t.Errorf("JSON report does not round-trip: %v", err)
	}

	// A second run on the same directory reuses the query store.
	cfg.IngestConns = []int{1}
	prog.Reset()
	if _, err := RunRelay(ctx, cfg); err != nil {
		t.Fatalf("second RunRelay: %v", err)
	}
	if !strings.Contains(prog.String(), "query store: reusing") {
		t.Errorf("the second run did not reuse the query store:\n%s", prog.String())
	}

	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > goroutines; {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Errorf("%d goroutines left running after the benchmark (%d before):\n%s", runtime.NumGoroutine(), goroutines, buf[:runtime.Stack(buf, true)])
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("DefaultConfig: %v", err)
	}
	if err := QuickConfig().Validate(); err != nil {
		t.Errorf("QuickConfig: %v", err)
	}
	c := DefaultConfig()
	c.SubsPerConn = 7
	if c.Validate() == nil {
		t.Error("1000 subscriptions in groups of 7 validated")
	}
	c = DefaultConfig()
	c.SubsPerConn = 40
	c.Subscriptions = 400
	if c.Validate() == nil {
		t.Error("40 subscriptions per connection validated; the relay allows 32")
	}
}

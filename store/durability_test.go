package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"
)

// TestMain lets the test binary double as the child process of
// TestKillDuringSaves.
func TestMain(m *testing.M) {
	if spec := os.Getenv("CAIRN_STORE_CHILD"); spec != "" {
		os.Exit(childSaver(spec))
	}
	os.Exit(m.Run())
}

// childSaver saves events from 8 goroutines and prints each id once Save
// has returned nil, until it is killed.
func childSaver(spec string) int {
	engineName, dir, _ := strings.Cut(spec, ":")
	s, err := Open(dir, Options{Engine: engineName})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				ev := mkEvent(fmt.Sprint("child", g), 1, int64(i), fmt.Sprint(g, "/", i), nostr.Tag{"t", "kill"})
				if err := s.Save(context.Background(), ev); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintln(out, ev.ID)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return 0
}

// TestKillDuringSaves kills a process that is saving events (SIGKILL, no
// chance to close) and checks that every event whose Save had returned is
// there after reopening, with consistent indexes.
func TestKillDuringSaves(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, ec := range engineCases() {
		if !ec.disk {
			continue
		}
		t.Run(ec.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "CAIRN_STORE_CHILD="+ec.name+":"+dir)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var acked []string
			sc := bufio.NewScanner(stdout)
			for len(acked) < 300 && sc.Scan() {
				acked = append(acked, sc.Text())
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			for sc.Scan() { // acknowledgements already written before the kill
				acked = append(acked, sc.Text())
			}
			cmd.Wait()
			if len(acked) < 300 {
				t.Fatalf("child acknowledged only %d saves", len(acked))
			}

			s := ec.open(t, dir, Options{})
			checkConsistent(t, s)
			stored := map[string]bool{}
			for _, ev := range queryAll(t, s) {
				stored[ev.ID] = true
			}
			for _, id := range acked {
				if !stored[id] {
					t.Fatalf("acknowledged event %s lost after kill -9 (%d acknowledged, %d stored)", id[:8], len(acked), len(stored))
				}
			}
			n, _ := s.Count(context.Background(), nostr.Filter{Tags: nostr.TagMap{"t": {"kill"}}})
			t.Logf("%d acknowledged, %d stored (by tag index: %d)", len(acked), len(stored), n)
		})
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, ec := range engineCases() {
		s := ec.open(t, t.TempDir(), Options{})
		saveConcurrently(t, s, []*nostr.Event{mkEvent("A", 1, 1, "a"), mkEvent("A", 1, 2, "b")}, 2)
		if _, err := s.DeleteExpired(context.Background(), 10); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after closing every store, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

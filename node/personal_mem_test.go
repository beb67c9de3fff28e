package node

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/identity"
)

// memFigures are a process's memory figures: the Go heap in use after a
// collection, and the resident set (/proc/self/status VmRSS).
type memFigures struct{ heap, rss uint64 }

func memNow(t *testing.T) memFigures {
	t.Helper()
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var rss uint64
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseUint(f[1], 10, 64)
				rss = kb << 10
			}
		}
	}
	return memFigures{heap: ms.HeapInuse, rss: rss}
}

// TestPersonalMemory measures a personal node under its event cap: it is
// filled past --personal-max-events with others' events (as the overlay
// delivers them, in process), and the test reports the Go heap and the
// process's RSS when the node holds exactly the cap (the ceiling: what the
// cap allows) and after FILL events in all, with the events kept and
// evicted. It checks that the node keeps the cap and evicts the rest.
// CAIRN_PERSONAL_MEM=cap,fill runs it (docs/BENCHMARKS.md):
//
//	CAIRN_PERSONAL_MEM=10240,163840 go test -tags libsecp256k1,nosqlite -count=1 -run TestPersonalMemory -v ./node/
func TestPersonalMemory(t *testing.T) {
	spec := os.Getenv("CAIRN_PERSONAL_MEM")
	if spec == "" {
		t.Skip("CAIRN_PERSONAL_MEM=cap,fill runs it")
	}
	var capN, fill int
	if _, err := fmt.Sscanf(spec, "%d,%d", &capN, &fill); err != nil || capN <= 0 || fill <= capN {
		t.Fatalf("CAIRN_PERSONAL_MEM=%q: want cap,fill with fill > cap > 0", spec)
	}
	owner := identity.Generate()
	cfg := TestingConfig(t)
	cfg.Personal = PersonalConfig{Owner: owner.Public, MaxEvents: capN}
	n := startNode(t, cfg)
	ctx := context.Background()
	base := memNow(t)

	// 100 authors, as many followed authors' posts.
	authors := make([]identity.Key, 100)
	for i := range authors {
		authors[i] = identity.Generate()
	}
	start := nostr.Now() - nostr.Timestamp(fill)
	const workers = 16
	publish := func(from, to int) time.Duration {
		began := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := from + w; i < to; i += workers {
					ev := &nostr.Event{Kind: 1, CreatedAt: start + nostr.Timestamp(i), Tags: nostr.Tags{},
						Content: fmt.Sprintf("post %d of a followed author, about as long as a short note is: %s", i, strings.Repeat("x", 80))}
					if err := ev.Sign(authors[i%len(authors)].Secret); err != nil {
						errs <- err
						return
					}
					if err := n.Relay().Publish(ctx, ev); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		return time.Since(began)
	}
	d1 := publish(0, capN)
	atCap := memNow(t)
	st := n.Status().Personal
	if st.OthersHeld != capN || st.Evicted != 0 {
		t.Fatalf("at the cap: %+v", st)
	}
	mib := func(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	t.Logf("cap %d, filled with up to %d events of others (%d authors); %.0f events/s to the cap",
		capN, fill, len(authors), float64(capN)/d1.Seconds())
	t.Logf("empty node:               heap %s, RSS %s", mib(base.heap), mib(base.rss))
	t.Logf("at the cap (the ceiling): heap %s, RSS %s; cache heap per event held %.0f B",
		mib(atCap.heap), mib(atCap.rss), (float64(atCap.heap)-float64(base.heap))/float64(capN))
	// Past the cap in steps, doubling what arrived: memory must level off.
	for done := capN; done < fill; {
		prev, next := done, min(2*done, fill)
		d := publish(prev, next)
		done = next
		m := memNow(t)
		st = n.Status().Personal
		kept := 0
		if err := n.store.Query(ctx, nostr.Filter{Kinds: []int{1}}, 0, func([]byte) error { kept++; return nil }); err != nil {
			t.Fatal(err)
		}
		if st.OthersHeld != capN || kept != capN || st.Evicted != uint64(done-capN) {
			t.Fatalf("after %d events: held %d, stored %d, evicted %d; want %d kept", done, st.OthersHeld, kept, st.Evicted, capN)
		}
		t.Logf("after %7d: heap %s (%.2f x the ceiling), RSS %s (%.2f x); kept %d, evicted %d; %.0f events/s",
			done, mib(m.heap), float64(m.heap)/float64(atCap.heap), mib(m.rss), float64(m.rss)/float64(atCap.rss),
			kept, st.Evicted, float64(next-prev)/d.Seconds())
	}
}

package room

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/event"
)

// benchLog is a 10,000-event log (the most Replay considers): the
// genesis, a mod, then members granted by the owner and by the mod, every
// tenth of them banned by the mod.
func benchLog(b *testing.B) (string, []*nostr.Event) {
	b.Helper()
	c := buildChain(b, "G -> grant(mod:B)", 1)
	evs := c.events
	at := testBase
	prev := evs[1]
	seq, lam := uint64(2), uint64(2)
	target := func(i int) string {
		h := sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)})
		return hex.EncodeToString(h[:])
	}
	for i := 0; len(evs) < MaxEntries; i++ {
		a, who := Grant(target(i), RoleMember), "A"
		switch {
		case i%10 == 9:
			a, who = Ban(target(i-1)), "B"
		case i%2 == 1:
			who = "B"
		}
		ev := NewEntry(c.room, Point{Prev: prev.ID, Seq: seq, Lamport: lam}, a, at)
		if err := ev.Sign(key(who)); err != nil {
			b.Fatal(err)
		}
		evs = append(evs, ev)
		prev, seq, lam = ev, seq+1, lam+1
	}
	return c.room, evs
}

// BenchmarkReplay replays a 10,000-event log, and checks the same events'
// ids and signatures alone (the ceiling: what replay cannot go below) in
// the same iteration; it reports both rates and their ratio.
//
//	go test -run '^$' -bench Replay -benchtime 5x ./room/
func BenchmarkReplay(b *testing.B) {
	id, evs := benchLog(b)
	var replay, verify time.Duration
	for b.Loop() {
		t0 := time.Now()
		for _, ev := range evs {
			if err := event.Verify(ev); err != nil {
				b.Fatal(err)
			}
		}
		t1 := time.Now()
		l, err := Replay(id, evs, testNow)
		if err != nil || len(l.Rejected) != 0 || len(l.Applied) != len(evs)-1 {
			b.Fatalf("replay: %v, %d rejected", err, len(l.Rejected))
		}
		replay += time.Since(t1)
		verify += t1.Sub(t0)
	}
	n := float64(len(evs) * b.N)
	b.ReportMetric(n/replay.Seconds(), "entries/s")
	b.ReportMetric(n/verify.Seconds(), "sigchecks/s")
	b.ReportMetric(verify.Seconds()/replay.Seconds(), "ratio")
}

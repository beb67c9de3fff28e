package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/test/harness"
)

// seededKey derives a secret key from a name, so that runs are repeatable.
func seededKey(name string) (sk, pk string) {
	h := sha256.Sum256([]byte("cairn-e2e " + name))
	sk = hex.EncodeToString(h[:])
	pk, err := nostr.GetPublicKey(sk)
	if err != nil {
		panic(err)
	}
	return sk, pk
}

// tricky content exercises JSON escaping: quotes, backslashes, control
// characters, multi-byte and astral-plane runes, HTML-sensitive characters.
var tricky = []string{
	`plain`, `"quoted"`, `back\slash`, "new\nline\ttab\r", "\u0001\u001f ctrl", `ünïcödé`, "🪨 cairn",
	`<script>&amp;</script>`, "\u2028\u2029", `{"json":"inside"}`, "",
}

// makeEvents signs n kind-1 events by sk with distinct created_at values
// counting down from base, varied content and tags, from a fixed seed.
func makeEvents(t testing.TB, name string, n int, base nostr.Timestamp) []nostr.Event {
	t.Helper()
	sk, pk := seededKey(name)
	rng := rand.New(rand.NewPCG(uint64(n), uint64(base)))
	evs := make([]nostr.Event, n)
	for i := range evs {
		ev := nostr.Event{
			PubKey:    pk,
			CreatedAt: base - nostr.Timestamp(i),
			Kind:      1,
			Content:   fmt.Sprintf("%s #%d %s", name, i, tricky[rng.IntN(len(tricky))]),
			Tags:      nostr.Tags{{"t", name}, {"n", strconv.Itoa(i)}},
		}
		if i%7 == 0 {
			ev.Tags = append(ev.Tags, nostr.Tag{"x", tricky[rng.IntN(len(tricky))], ""})
		}
		if err := ev.Sign(sk); err != nil {
			t.Fatal(err)
		}
		evs[i] = ev
	}
	return evs
}

// fetchByIDs asks for ids in batches and returns what the relay has, by id.
func fetchByIDs(t testing.TB, c *harness.Conn, ids []string) map[string]nostr.Event {
	t.Helper()
	const batch = 100
	got := make(map[string]nostr.Event, len(ids))
	for i := 0; i < len(ids); i += batch {
		part := ids[i:min(i+batch, len(ids))]
		for _, ev := range c.Query("ids"+strconv.Itoa(i), nostr.Filter{IDs: part, Limit: len(part)}) {
			got[ev.ID] = ev
		}
	}
	return got
}

// fetchByAuthor pages through an author's events with until, newest first.
// It relies on the events having distinct created_at values.
func fetchByAuthor(t testing.TB, c *harness.Conn, pk string, want int) []nostr.Event {
	t.Helper()
	// One query up to the relay's default max_limit. Paging by until would
	// skip events that share the second a page ends in, and a flood puts
	// hundreds of events in one second.
	const maxLimit = 5000
	if want > maxLimit {
		t.Fatalf("fetchByAuthor: %d events is more than one query returns (%d)", want, maxLimit)
	}
	return c.Query("author", nostr.Filter{Authors: []string{pk}, Limit: maxLimit})
}

// sameEvent fails the test unless got is want, field for field.
func sameEvent(t testing.TB, want, got nostr.Event) {
	t.Helper()
	w, _ := json.Marshal(want)
	g, _ := json.Marshal(got)
	if string(w) != string(g) {
		t.Fatalf("event changed in the store:\nsent %s\ngot  %s", w, g)
	}
}

// acks collects the ids a relay answered OK true, across connections.
type acks struct {
	mu      sync.Mutex
	ok      map[string]bool
	refused map[string]string
}

func newAcks() *acks { return &acks{ok: map[string]bool{}, refused: map[string]string{}} }

func (a *acks) record(m harness.Msg) {
	if m.Label() != "OK" || len(m) < 3 {
		return
	}
	var ok bool
	json.Unmarshal(m[2], &ok)
	a.mu.Lock()
	defer a.mu.Unlock()
	if ok {
		a.ok[m.Str(1)] = true
	} else {
		a.refused[m.Str(1)] = m.Str(3)
	}
}

func (a *acks) counts() (ok, refused int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.ok), len(a.refused)
}

// pipeline sends evs over c without waiting for replies (one writer
// goroutine) and records replies until every event has one, the connection
// closes, or timeout passes. It returns when both sides are done.
func pipeline(c *harness.Conn, evs []nostr.Event, a *acks, timeout time.Duration) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, ev := range evs {
			if c.Send("EVENT", ev) != nil {
				return
			}
		}
	}()
	deadline := time.Now().Add(timeout)
	for replies := 0; replies < len(evs); {
		m, err := c.Next(time.Until(deadline))
		if err != nil {
			break
		}
		if m.Label() == "OK" {
			replies++
			a.record(m)
		}
	}
	wg.Wait()
}

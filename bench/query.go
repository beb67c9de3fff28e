package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/store"
)

// fill saves events [0, n) of the corpus into st from writers goroutines.
// Event i is generated from (seed, i) alone, so a partly filled store is
// topped up by saving again: what is already there comes back a duplicate.
func fill(ctx context.Context, st store.Store, c *corpus, n, writers int, seed uint64, prog *progress) (usage, error) {
	var done atomic.Int64
	stop := prog.every(5*time.Second, func(elapsed time.Duration) string {
		k := done.Load()
		return fmt.Sprintf("filling the query store: %s of %s events (%s/s)",
			groupThousands(k), groupThousands(int64(n)), groupThousands(int64(Rate(int(k), elapsed))))
	})
	defer stop()
	m := markNow()
	_, err := saveAll(n, writers, func(i int) error {
		ev := c.event(rand.New(rand.NewPCG(seed, uint64(i))), i, n)
		if err := st.Save(ctx, ev); err != nil && !errors.Is(err, store.ErrDuplicate) {
			return fmt.Errorf("filling the query store, event %d: %w", i, err)
		}
		done.Add(1)
		return nil
	})
	return m.usage(), err
}

// queryShape is one kind of REQ the benchmark times.
type queryShape struct {
	key, name string
	filter    func(pick int) nostr.Filter
	req       func(pick int) string // the filter as the REQ's JSON
}

func queryShapes(c *corpus) []queryShape {
	return []queryShape{{
		key:  "author",
		name: "latest 500 by one author",
		filter: func(pick int) nostr.Filter {
			return nostr.Filter{Authors: []string{c.authors[pick%len(c.authors)]}, Limit: 500}
		},
		req: func(pick int) string {
			return `{"authors":["` + c.authors[pick%len(c.authors)] + `"],"limit":500}`
		},
	}, {
		key:  "kind_tag",
		name: "kind 1 + #e tag, limit 100",
		filter: func(pick int) nostr.Filter {
			return nostr.Filter{Kinds: []int{nostr.KindTextNote}, Tags: nostr.TagMap{"e": {c.roots[pick%len(c.roots)]}}, Limit: 100}
		},
		req: func(pick int) string {
			return `{"kinds":[1],"#e":["` + c.roots[pick%len(c.roots)] + `"],"limit":100}`
		},
	}}
}

// queryResult holds one shape's latencies.
type queryResult struct {
	store, ws, raw []time.Duration
	events         int // events returned, over all the store samples
}

// replays is how many distinct responses per shape the plain websocket
// server replays for the transport ceiling.
const replays = 16

// queries times each shape on the store directly (store.Query), through the
// relay at relayURL (REQ sent to EOSE received, one connection) and, as the
// transport ceiling, as a replay of the same response messages by a plain
// websocket server. The three alternate sample by sample, on the same
// random picks, so that noise from other processes hits them alike.
func queries(ctx context.Context, st store.Store, relayURL string, shapes []queryShape, samples, warmup int, seed uint64) ([]queryResult, error) {
	ctx, cancel := context.WithTimeout(ctx, phaseTimeout)
	defer cancel()
	rng := rand.New(rand.NewPCG(seed, 0x9e7))
	picks := make([][]int, len(shapes))
	var responses [][][]byte
	for s, sh := range shapes {
		for range samples + warmup {
			picks[s] = append(picks[s], rng.IntN(1<<30))
		}
		for i := range replays {
			msgs := [][]byte{}
			err := st.Query(ctx, sh.filter(picks[s][i]), sh.filter(0).Limit, func(raw []byte) error {
				msgs = append(msgs, append(append([]byte(`["EVENT","q",`), raw...), ']'))
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("querying the store: %w", err)
			}
			responses = append(responses, append(msgs, []byte(`["EOSE","q"]`)))
		}
	}
	raw, err := startRawServer(responses)
	if err != nil {
		return nil, err
	}
	defer raw.close()
	rawWS, err := dial(ctx, raw.url())
	if err != nil {
		return nil, err
	}
	defer rawWS.CloseNow()
	relayWS, err := dial(ctx, relayURL)
	if err != nil {
		return nil, err
	}
	defer relayWS.CloseNow()

	results := make([]queryResult, len(shapes))
	var buf bytes.Buffer
	for s, sh := range shapes {
		r := &results[s]
		for i, pick := range picks[s] {
			f := sh.filter(pick)
			start := time.Now()
			n := 0
			err := st.Query(ctx, f, f.Limit, func([]byte) error { n++; return nil })
			dStore := time.Since(start)
			if err != nil {
				return nil, fmt.Errorf("querying the store: %w", err)
			}

			start = time.Now()
			if err := write(ctx, relayWS, []byte(`["REQ","q",`+sh.req(pick)+`]`)); err != nil {
				return nil, fmt.Errorf("sending REQ: %w", err)
			}
			got, err := readUntilEOSE(ctx, relayWS, &buf)
			dWS := time.Since(start)
			if err != nil {
				return nil, err
			}
			if got != n {
				return nil, fmt.Errorf("%s: the relay returned %d events, the store %d", sh.name, got, n)
			}
			if err := write(ctx, relayWS, []byte(`["CLOSE","q"]`)); err != nil {
				return nil, fmt.Errorf("sending CLOSE: %w", err)
			}

			start = time.Now()
			if err := write(ctx, rawWS, []byte(strconv.Itoa(s*replays+i%replays))); err != nil {
				return nil, fmt.Errorf("asking the raw server: %w", err)
			}
			if _, err := readUntilEOSE(ctx, rawWS, &buf); err != nil {
				return nil, err
			}
			dRaw := time.Since(start)

			if i < warmup {
				continue
			}
			r.store = append(r.store, dStore)
			r.ws = append(r.ws, dWS)
			r.raw = append(r.raw, dRaw)
			r.events += n
		}
	}
	return results, nil
}

// readUntilEOSE reads EVENT messages until an EOSE and returns how many.
// Each message is read into buf, reused from one to the next as a client
// that counts rather than keeps would.
func readUntilEOSE(ctx context.Context, ws *websocket.Conn, buf *bytes.Buffer) (int, error) {
	n := 0
	for {
		_, rd, err := ws.Reader(ctx)
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(rd)
		}
		if err != nil {
			return n, fmt.Errorf("waiting for EOSE: %w", err)
		}
		msg := buf.Bytes()
		switch {
		case verbIs(msg, "EVENT"):
			n++
		case verbIs(msg, "EOSE"):
			return n, nil
		case verbIs(msg, "CLOSED"), verbIs(msg, "NOTICE"):
			return n, fmt.Errorf("relay refused a query: %.200s", msg)
		}
	}
}

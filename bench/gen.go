package bench

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"
)

// corpus is the synthetic population the benchmark's events come from:
// authors, the thread roots their replies and reactions point to, and
// hashtags. It derives from a seed and the store size alone, so a store
// filled by one run can be queried by the next with the same picks.
//
// Events come in time order, as they do to a relay that has been live for
// a year: the query store's event i of n is about (n-1-i)/n of a year old.
// The order matters to the store, whose time-keyed indexes then grow at
// their ends instead of everywhere at once.
//
// The mix gives "kind + tag" queries a realistic selectivity: about 55% of
// events are kind 1 notes (half of them replies), 30% kind 7 reactions, 10%
// kind 6 reposts and 5% kind 1111 comments; every reply, reaction, repost and
// comment carries an `e` tag to one of Events/400 roots and a `p` tag. A root
// is so referenced by about 290 events, 110 of them kind 1.
type corpus struct {
	authors  []string
	roots    []string
	hashtags []string
	newest   int64 // created_at of the newest events
}

const (
	corpusAuthors  = 1000
	eventsPerRoot  = 400
	corpusHashtags = 200
	corpusSpan     = 365 * 24 * 3600 // created_at spreads over a year
)

func newCorpus(seed uint64, events int, newest time.Time) *corpus {
	rng := rand.New(rand.NewPCG(seed, 0xca1e))
	c := &corpus{newest: newest.Unix()}
	for range corpusAuthors {
		c.authors = append(c.authors, randomHex(rng, 32))
	}
	for range max(events/eventsPerRoot, 10) {
		c.roots = append(c.roots, randomHex(rng, 32))
	}
	for i := range corpusHashtags {
		c.hashtags = append(c.hashtags, words[i%len(words)]+strconv.Itoa(i))
	}
	return c
}

// event returns event i of an n-event store: random, with a random id and
// signature (it is for the store, which checks neither), created in order
// over the year before c.newest, give or take ten minutes.
func (c *corpus) event(rng *rand.Rand, i, n int) *nostr.Event {
	age := int64(n-1-i)*corpusSpan/int64(max(n, 1)) + rng.Int64N(600)
	ev := &nostr.Event{
		ID:        randomHex(rng, 32),
		PubKey:    c.authors[rng.IntN(len(c.authors))],
		CreatedAt: nostr.Timestamp(c.newest - age),
		Sig:       randomHex(rng, 64),
	}
	c.shape(ev, rng)
	return ev
}

// shape sets an event's kind, tags and content from the corpus mix.
func (c *corpus) shape(ev *nostr.Event, rng *rand.Rand) {
	root := func() nostr.Tag { return nostr.Tag{"e", c.roots[rng.IntN(len(c.roots))]} }
	mention := func() nostr.Tag { return nostr.Tag{"p", c.authors[rng.IntN(len(c.authors))]} }
	ev.Tags = nostr.Tags{}
	switch r := rng.Float64(); {
	case r < 0.55:
		ev.Kind = nostr.KindTextNote
		if rng.IntN(2) == 0 {
			ev.Tags = append(ev.Tags, root(), mention())
		}
		for range rng.IntN(3) {
			ev.Tags = append(ev.Tags, nostr.Tag{"t", c.hashtags[rng.IntN(len(c.hashtags))]})
		}
		ev.Content = text(rng, 40+rng.IntN(240))
	case r < 0.85:
		ev.Kind = nostr.KindReaction
		ev.Tags = append(ev.Tags, root(), mention())
		ev.Content = "+"
	case r < 0.95:
		ev.Kind = nostr.KindRepost
		ev.Tags = append(ev.Tags, root(), mention())
	default:
		ev.Kind = nostr.KindComment
		ev.Tags = append(ev.Tags, root(), mention(), nostr.Tag{"k", "1"})
		ev.Content = text(rng, 20+rng.IntN(120))
	}
}

var words = strings.Fields(`relay note event cairn stone trail peer swarm chunk media
	video stream signal key filter query index store disk commit durable fast slow
	river mountain forest lake summit path marker north south east west morning`)

// text returns roughly n bytes of words.
func text(rng *rand.Rand, n int) string {
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[rng.IntN(len(words))])
	}
	return b.String()
}

func randomHex(rng *rand.Rand, n int) string {
	b := make([]byte, (n+7)/8*8)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	return hex.EncodeToString(b[:n])
}

// signedEvents returns n corpus events signed by keys (hex secrets), signed
// on every core. Event i gets created_at oldest+i, so no two are alike and
// they arrive in time order. mod, if not nil, adjusts each event before it
// is signed.
func signedEvents(ctx context.Context, c *corpus, keys []string, n int, oldest int64, seed uint64, mod func(*nostr.Event)) ([]*nostr.Event, error) {
	evs := make([]*nostr.Event, n)
	workers := runtime.GOMAXPROCS(0)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for i := w; i < n; i += workers {
				if i%1024 == w && ctx.Err() != nil {
					errs[w] = ctx.Err()
					return
				}
				ev := &nostr.Event{CreatedAt: nostr.Timestamp(oldest + int64(i))}
				c.shape(ev, rng)
				if mod != nil {
					mod(ev)
				}
				if err := ev.Sign(keys[i%len(keys)]); err != nil {
					errs[w] = fmt.Errorf("signing a benchmark event: %w", err)
					return
				}
				evs[i] = ev
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return evs, nil
}

// eventMsgs encodes ["EVENT", ev] client messages.
func eventMsgs(evs []*nostr.Event) ([][]byte, error) {
	msgs := make([][]byte, len(evs))
	for i, ev := range evs {
		raw, err := ev.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("encoding event: %w", err)
		}
		msgs[i] = append(append([]byte(`["EVENT",`), raw...), ']')
	}
	return msgs, nil
}

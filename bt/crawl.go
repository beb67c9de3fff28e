package bt

import (
	"context"
	"fmt"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/bt/wot"
	"github.com/cairn-nostr/cairn/event"
)

// Crawled is what Crawl reached: the users with their degree, and the
// verified events of every feed it fetched.
type Crawled struct {
	wot.Result
	Events map[string][]*nostr.Event // by author
	Raw    map[string][][]byte
	Files  []File // every index and bundle fetched, to seed again
}

// Follows are the pubkeys a user follows: the p tags of their newest kind
// 3 among evs (none: no kind 3).
func Follows(evs []*nostr.Event) []string {
	var newest *nostr.Event
	for _, ev := range evs {
		if ev.Kind == 3 && (newest == nil || ev.CreatedAt > newest.CreatedAt) {
			newest = ev
		}
	}
	if newest == nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, t := range newest.Tags {
		if len(t) >= 2 && t[0] == "p" && event.IsHex(t[1], 64) && !seen[t[1]] {
			seen[t[1]] = true
			out = append(out, t[1])
		}
	}
	return out
}

// Crawl walks the web of trust from root over the DHT alone: it follows
// root's feed (Follow: every event verified), takes the follows of their
// newest kind 3, follows those, and so on to b.MaxDepth, within b's bounds
// (wot decides; Parallel bounds the feeds fetched at once, and so the DHT
// lookups). A feed that cannot be had is reported, not fatal.
func (d *DHT) Crawl(ctx context.Context, c *Client, root string, b wot.Bounds, opt FollowOptions) (*Crawled, error) {
	if !event.IsHex(root, 64) {
		return nil, fmt.Errorf("crawl: root %q is not a hex pubkey", root)
	}
	say := func(f string, a ...any) {
		if opt.Progress != nil {
			opt.Progress(fmt.Sprintf(f, a...))
		}
	}
	cr := wot.New(root, b)
	out := &Crawled{Events: map[string][]*nostr.Event{}, Raw: map[string][][]byte{}}
	type result struct {
		user string
		fw   *Followed
		err  error
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	if !b.Deadline.IsZero() {
		ctx, cancel = context.WithDeadline(ctx, b.Deadline)
	}
	defer cancel()
	results := make(chan result)
	inflight := 0
	for !cr.Done(time.Now()) {
		for _, u := range cr.Next() {
			inflight++
			go func() {
				o := opt
				o.Progress = nil
				fw, err := d.Follow(ctx, c, u, o)
				results <- result{u, fw, err}
			}()
		}
		select {
		case r := <-results:
			inflight--
			if r.err != nil {
				say("%.16s: %v", r.user, r.err)
				cr.Failed(r.user, r.err.Error())
				continue
			}
			fl := Follows(r.fw.Events)
			say("%.16s: %d event(s), follows %d", r.user, len(r.fw.Events), len(fl))
			out.Events[r.user], out.Raw[r.user] = r.fw.Events, r.fw.Raw
			out.Files = append(out.Files, r.fw.Files...)
			cr.Found(r.user, fl)
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	cancel()
	for ; inflight > 0; inflight-- {
		<-results
	}
	out.Result = cr.Result(time.Now())
	if err := parent.Err(); err != nil {
		return out, err
	}
	say("crawl: %d user(s) reached, %d feed(s) fetched, %d failed", len(out.Depth), len(out.Found), len(out.Failed))
	return out, nil
}

// Package reconcile synchronises a local event store with a remote relay
// using NIP-77 negentropy: the two sides find the difference between their
// sets in a few round trips, then only the missing events move.
//
//	res, err := reconcile.Sync(ctx, st, "wss://relay.example", filter, reconcile.Both, nil)
package reconcile

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip77/negentropy"
	"github.com/nbd-wtf/go-nostr/nip77/negentropy/storage/vector"

	"github.com/cairn-nostr/cairn/relay/client"
	"github.com/cairn-nostr/cairn/store"
)

// Direction says which way events move.
type Direction int

const (
	Both Direction = iota // upload what the relay lacks, download what we lack
	Up                    // only upload
	Down                  // only download
)

// ParseDirection reads "both", "up" or "down".
func ParseDirection(s string) (Direction, error) {
	switch s {
	case "both", "":
		return Both, nil
	case "up":
		return Up, nil
	case "down":
		return Down, nil
	}
	return 0, fmt.Errorf("direction %q: use both, up or down", s)
}

// Result counts what moved.
type Result struct {
	Local, Remote int // events that only one side had, before the sync
	Up, Down      int // events sent and received successfully
	UpRefused     int // events the relay refused (its reasons are in Errors)
	DownInvalid   int // events received with a bad id or signature (dropped)
	Errors        []string
}

const (
	frameLimit = 120_000 // bytes per negentropy frame: hex doubles it on the wire
	batch      = 100     // ids per REQ or per burst of EVENTs
	timeout    = 30 * time.Second
)

// Sync reconciles st with the relay at url over the events matching f.
// progress, if not nil, is called with short status lines.
func Sync(ctx context.Context, st store.Store, url string, f nostr.Filter, dir Direction, progress func(string)) (Result, error) {
	if progress == nil {
		progress = func(string) {}
	}
	var res Result
	dctx, cancel := context.WithTimeout(ctx, timeout)
	c, err := client.Dial(dctx, url)
	cancel()
	if err != nil {
		return res, err
	}
	defer c.Close()

	vec := vector.New()
	f.Limit, f.LimitZero = 0, false
	err = st.IDs(ctx, f, 0, func(ts nostr.Timestamp, id [32]byte) error {
		vec.Insert(ts, hex.EncodeToString(id[:]))
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("reading local events: %w", err)
	}
	vec.Seal()
	progress(fmt.Sprintf("%d local events match the filter", vec.Size()))

	neg := negentropy.New(vec, frameLimit)
	var haves, haveNots []string
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); haves = collect(neg.Haves) }()
	go func() { defer wg.Done(); haveNots = collect(neg.HaveNots) }()

	const sub = "cairn-sync"
	fj, _ := json.Marshal(f)
	if err := c.Send(ctx, "NEG-OPEN", sub, json.RawMessage(fj), neg.Start()); err != nil {
		return res, err
	}
	done := false
	for !done {
		msg, err := next(ctx, c)
		if err != nil {
			return res, err
		}
		switch verb(msg) {
		case "NEG-MSG":
			var m string
			if len(msg) < 3 || json.Unmarshal(msg[2], &m) != nil {
				return res, errors.New("relay sent a malformed NEG-MSG")
			}
			out, err := neg.Reconcile(m)
			if err != nil {
				return res, fmt.Errorf("reconciling: %w", err)
			}
			if out == "" {
				done = true
				break
			}
			if err := c.Send(ctx, "NEG-MSG", sub, out); err != nil {
				return res, err
			}
		case "NEG-ERR":
			reason := ""
			if len(msg) >= 3 {
				json.Unmarshal(msg[2], &reason)
			}
			return res, fmt.Errorf("relay refused negentropy: %s", reason)
		case "NOTICE":
			var text string
			if len(msg) >= 2 {
				json.Unmarshal(msg[1], &text)
			}
			if text != "" {
				return res, fmt.Errorf("relay: %s (does it support NIP-77?)", text)
			}
		}
	}
	c.Send(ctx, "NEG-CLOSE", sub)
	wg.Wait()
	res.Local, res.Remote = len(haves), len(haveNots)
	progress(fmt.Sprintf("difference found: %d only here, %d only on the relay", res.Local, res.Remote))

	if dir != Down {
		if err := upload(ctx, c, st, haves, &res); err != nil {
			return res, err
		}
	}
	if dir != Up {
		if err := download(ctx, c, st, haveNots, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

func collect(ch chan string) []string {
	var l []string
	for id := range ch {
		l = append(l, id)
	}
	return l
}

func upload(ctx context.Context, c *client.Conn, st store.Store, ids []string, res *Result) error {
	for start := 0; start < len(ids); start += batch {
		part := ids[start:min(start+batch, len(ids))]
		want := map[string]bool{}
		err := st.Query(ctx, nostr.Filter{IDs: part}, len(part), func(raw []byte) error {
			var ev nostr.Event
			if err := ev.UnmarshalJSON(raw); err != nil {
				return err
			}
			want[ev.ID] = true
			return c.Send(ctx, "EVENT", json.RawMessage(raw))
		})
		if err != nil {
			return fmt.Errorf("uploading: %w", err)
		}
		for len(want) > 0 {
			msg, err := next(ctx, c)
			if err != nil {
				return fmt.Errorf("waiting for OK: %w", err)
			}
			if verb(msg) != "OK" || len(msg) < 4 {
				continue
			}
			var id, reason string
			var ok bool
			json.Unmarshal(msg[1], &id)
			json.Unmarshal(msg[2], &ok)
			json.Unmarshal(msg[3], &reason)
			if !want[id] {
				continue
			}
			delete(want, id)
			if ok {
				res.Up++
			} else {
				res.UpRefused++
				res.Errors = append(res.Errors, id+": "+reason)
			}
		}
	}
	return nil
}

func download(ctx context.Context, c *client.Conn, st store.Store, ids []string, res *Result) error {
	for start := 0; start < len(ids); start += batch {
		part := ids[start:min(start+batch, len(ids))]
		sub := fmt.Sprintf("cairn-dl-%d", start)
		if err := c.Send(ctx, "REQ", sub, map[string]any{"ids": part, "limit": len(part)}); err != nil {
			return err
		}
		for {
			msg, err := next(ctx, c)
			if err != nil {
				return fmt.Errorf("downloading: %w", err)
			}
			var s string
			if len(msg) >= 2 {
				json.Unmarshal(msg[1], &s)
			}
			if s != sub {
				continue
			}
			v := verb(msg)
			if v == "EOSE" || v == "CLOSED" {
				c.Send(ctx, "CLOSE", sub)
				break
			}
			if v != "EVENT" || len(msg) < 3 {
				continue
			}
			var ev nostr.Event
			if err := ev.UnmarshalJSON(msg[2]); err != nil || !ev.CheckID() {
				res.DownInvalid++
				continue
			}
			if ok, _ := ev.CheckSignature(); !ok {
				res.DownInvalid++
				continue
			}
			err = st.Save(ctx, &ev)
			switch {
			case err == nil, errors.Is(err, store.ErrDuplicate):
				res.Down++
			case errors.Is(err, store.ErrDeleted), errors.Is(err, store.ErrReplaced):
				res.Errors = append(res.Errors, ev.ID+": "+err.Error())
			default:
				return fmt.Errorf("storing %s: %w", ev.ID, err)
			}
		}
	}
	return nil
}

// next reads the relay's next message, waiting at most timeout.
func next(ctx context.Context, c *client.Conn) ([]json.RawMessage, error) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, msg, err := c.Read(rctx)
	if err != nil && ctx.Err() == nil && rctx.Err() != nil {
		return nil, errors.New("relay did not answer within 30 s")
	}
	return msg, err
}

func verb(msg []json.RawMessage) string { return client.Str(msg[0]) }

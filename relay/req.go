package relay

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/nbd-wtf/go-nostr"
)

// parseFilters reads the filters of a REQ or COUNT and applies the limits.
// It returns a CLOSED reason on failure.
func (r *Relay) parseFilters(verb string, args []json.RawMessage) (nostr.Filters, string) {
	if len(args) == 0 {
		return nil, "invalid: " + verb + " needs at least one filter object"
	}
	if len(args) > r.cfg.MaxFilters {
		return nil, fmt.Sprintf("invalid: %d filters in one %s; the limit is %d: split it into several", len(args), verb, r.cfg.MaxFilters)
	}
	fs := make(nostr.Filters, len(args))
	for i, a := range args {
		f, err := parseFilter(a)
		if err != nil {
			return nil, "invalid: filter " + itoa(int64(i)) + ": " + err.Error()
		}
		fs[i] = f
	}
	return fs, ""
}

// openSub reads the subscription id and filters that start a REQ or a
// COUNT, applying auth and limits. On a refusal it has already answered the
// client and returns ok false. closed sends CLOSED for this subscription.
func (r *Relay) openSub(c *Conn, verb string, args []json.RawMessage) (subID string, filters nostr.Filters, closed func(string), ok bool) {
	if len(args) == 0 {
		c.Notice("invalid: " + verb + " needs a subscription id and at least one filter")
		return "", nil, nil, false
	}
	subID, err := parseSubID(args[0], r.cfg.MaxSubIDLength)
	if err != nil {
		c.Notice("invalid: " + err.Error())
		return "", nil, nil, false
	}
	closed = func(reason string) {
		r.reject(reason)
		c.enqueue(msgWithSub("CLOSED", subID, reason))
	}
	if r.cfg.Auth == AuthAll && !c.isAuthed() {
		closed("auth-required: this relay serves only authenticated users; answer the AUTH challenge (NIP-42) first")
		return "", nil, nil, false
	}
	if msg := r.rejectRead(c); msg != "" {
		closed(msg)
		return "", nil, nil, false
	}
	filters, reason := r.parseFilters(verb, args[1:])
	if reason != "" {
		closed(reason)
		return "", nil, nil, false
	}
	return subID, filters, closed, true
}

func (r *Relay) handleReq(c *Conn, args []json.RawMessage) {
	subID, filters, closed, ok := r.openSub(c, "REQ", args)
	if !ok {
		return
	}

	sub := &subscription{id: subID, quotedID: appendJSONString(nil, subID), filters: filters}
	c.subsMu.Lock()
	old := *c.subs.Load()
	_, replacing := old[subID]
	if !replacing && len(old) >= r.cfg.MaxSubscriptions {
		c.subsMu.Unlock()
		closed(fmt.Sprintf("rate-limited: %d subscriptions are open on this connection, the limit is %d: CLOSE one first", len(old), r.cfg.MaxSubscriptions))
		return
	}
	next := make(map[string]*subscription, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[subID] = sub
	c.subs.Store(&next)
	c.subsMu.Unlock()
	if !replacing {
		r.m.subscriptions.Inc()
	}

	// Live delivery starts before the stored events are read, so nothing
	// published during the query is missed.
	var seen map[string]struct{}
	if len(filters) > 1 {
		seen = map[string]struct{}{}
	}
	start := time.Now()
	var slab slab
	for _, f := range filters {
		limit := r.effectiveLimit(f)
		if limit == 0 {
			continue
		}
		err := r.store.Query(c.ctx, f, limit, func(raw []byte) error {
			if seen != nil {
				id := idOfRaw(raw)
				if _, dup := seen[id]; dup {
					return nil
				}
				seen[id] = struct{}{}
			}
			r.m.eventsOut.Inc()
			return c.sendWait(slab.msgEvent(sub.quotedID, raw))
		})
		if err != nil {
			if c.ctx.Err() != nil {
				return
			}
			r.log.Error("query failed", "filter", f.String(), "err", err)
			r.dropSub(c, subID)
			closed("error: the query failed; try again later")
			return
		}
	}
	r.m.storeSeconds.WithLabelValues("query").Observe(time.Since(start).Seconds())
	c.sendWait(msgWithSub("EOSE", subID))
}

// effectiveLimit is how many stored events a filter may return: its own
// limit capped by MaxLimit, DefaultLimit when it has none, 0 for limit:0 or a
// NIP-50 search (not supported here).
func (r *Relay) effectiveLimit(f nostr.Filter) int {
	switch {
	case f.LimitZero || f.Search != "":
		return 0
	case f.Limit == 0:
		return r.cfg.DefaultLimit
	case f.Limit > r.cfg.MaxLimit:
		return r.cfg.MaxLimit
	}
	return f.Limit
}

func (r *Relay) dropSub(c *Conn, subID string) bool {
	c.subsMu.Lock()
	defer c.subsMu.Unlock()
	old := *c.subs.Load()
	if _, ok := old[subID]; !ok {
		return false
	}
	next := make(map[string]*subscription, len(old))
	for k, v := range old {
		if k != subID {
			next[k] = v
		}
	}
	c.subs.Store(&next)
	r.m.subscriptions.Dec()
	return true
}

func (r *Relay) handleClose(c *Conn, args []json.RawMessage) {
	if len(args) != 1 {
		c.Notice("invalid: CLOSE takes exactly one subscription id")
		return
	}
	subID, err := parseSubID(args[0], r.cfg.MaxSubIDLength)
	if err != nil {
		c.Notice("invalid: " + err.Error())
		return
	}
	r.dropSub(c, subID)
}

// handleCount answers NIP-45 COUNT. Several filters count the union.
func (r *Relay) handleCount(c *Conn, args []json.RawMessage) {
	subID, filters, closed, ok := r.openSub(c, "COUNT", args)
	if !ok {
		return
	}
	var err error
	var n int64
	if len(filters) == 1 {
		n, err = r.store.Count(c.ctx, filters[0])
	} else {
		ids := map[[32]byte]struct{}{}
		for _, f := range filters {
			err = r.store.IDs(c.ctx, f, r.cfg.MaxNegRecords, func(_ nostr.Timestamp, id [32]byte) error {
				ids[id] = struct{}{}
				return nil
			})
			if err != nil {
				break
			}
		}
		n = int64(len(ids))
	}
	if err != nil {
		if c.ctx.Err() == nil {
			closed("error: counting failed: " + err.Error())
		}
		return
	}
	b := msgWithSub("COUNT", subID)
	b = append(b[:len(b)-1], `,{"count":`...)
	b = append(b, itoa(n)...)
	b = append(b, "}]"...)
	c.enqueue(b)
}

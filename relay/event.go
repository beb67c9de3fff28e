package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip13"

	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/store"
)

func (r *Relay) handleEvent(c *Conn, args []json.RawMessage) {
	if len(args) != 1 {
		c.Notice("invalid: EVENT takes exactly one event object: [\"EVENT\", {...}]")
		return
	}
	r.m.eventsIn.Inc()
	ev, err := event.Decode(args[0])
	if err != nil {
		msg := "invalid: " + err.Error()
		if id := idOfRaw(args[0]); isHex(id, 64) {
			c.ok(id, false, msg)
		} else {
			c.Notice(msg)
		}
		return
	}
	if msg := r.precheck(c, ev); msg != "" {
		c.ok(ev.ID, false, msg)
		return
	}
	// Verification and storage run beside the reader, bounded per connection.
	select {
	case c.pending <- struct{}{}:
	case <-c.ctx.Done():
		return
	}
	c.inflight.Add(1)
	go r.ingest(c, ev)
}

// precheck runs the cheap checks, in the order that costs least: the
// connection's (authentication, rate limits), then the event's.
func (r *Relay) precheck(c *Conn, ev *nostr.Event) string {
	now := r.now()
	if r.cfg.Auth != AuthOff && !c.isAuthed() {
		return "auth-required: this relay accepts events only from authenticated users; answer the AUTH challenge (NIP-42) first"
	}
	if !c.limiter.AllowN(now, 1) {
		return fmt.Sprintf("rate-limited: slow down: this relay accepts %g events per second per connection", r.cfg.EventsPerSecond)
	}
	if !c.ipLimiter.AllowN(now, 1) {
		return fmt.Sprintf("rate-limited: slow down: this relay accepts %g events per second from one address", r.cfg.EventsPerSecondIP)
	}
	return r.policy(ev, now)
}

// policy is the relay's rules for an event itself, whoever sends it: a
// websocket client or the node in process (Publish).
func (r *Relay) policy(ev *nostr.Event, now time.Time) string {
	if ev.Kind == nostr.KindClientAuthentication {
		return "invalid: kind 22242 events are for the AUTH message (NIP-42), not EVENT"
	}
	if len(ev.Tags) > r.cfg.MaxEventTags {
		return fmt.Sprintf("invalid: event has %d tags; the limit is %d", len(ev.Tags), r.cfg.MaxEventTags)
	}
	if len(ev.Content) > r.cfg.MaxContentLength {
		return fmt.Sprintf("invalid: content is %d bytes; the limit is %d", len(ev.Content), r.cfg.MaxContentLength)
	}
	if min := r.cfg.MinPowDifficulty; min > 0 {
		if got := nip13.Difficulty(ev.ID); got < min {
			return fmt.Sprintf("pow: difficulty %d is less than %d: mine the id with a nonce tag (NIP-13)", got, min)
		}
	}
	if ev.CreatedAt.Time().After(now.Add(r.cfg.MaxFutureSkew)) {
		return fmt.Sprintf("invalid: created_at is more than %s in the future; check your clock", r.cfg.MaxFutureSkew)
	}
	if exp, ok := expiration(ev); ok && exp <= now.Unix() {
		return "invalid: this event's NIP-40 expiration has already passed"
	}
	return ""
}

// ingest verifies, stores and broadcasts one event, on a goroutine of its
// own beside the connection's reader, and releases its place in the
// connection's pending.
func (r *Relay) ingest(c *Conn, ev *nostr.Event) {
	defer func() { <-c.pending; c.inflight.Done() }()
	ok, reason := r.accept(c.ctx, c, ev)
	if !ok && reason == "" {
		return // the connection is closing
	}
	c.ok(ev.ID, ok, reason)
}

// accept verifies, stores and broadcasts an event that passed the cheap
// checks, and runs the OnEvent hooks. c is nil for an event published in
// process. ok false with no reason: ctx ended.
func (r *Relay) accept(ctx context.Context, c *Conn, ev *nostr.Event) (ok bool, reason string) {
	if err := verify(ev); err != nil {
		return false, "invalid: " + err.Error()
	}
	for _, hook := range r.RejectEvent {
		if reject, msg := hook(c, ev); reject {
			return false, msg
		}
	}
	return r.keep(ctx, ev)
}

// keep stores (unless ephemeral) and broadcasts an accepted event and runs
// the OnEvent hooks: accept's end, and Deliver's.
func (r *Relay) keep(ctx context.Context, ev *nostr.Event) (ok bool, reason string) {
	enc, err := store.Encode(ev)
	if err != nil {
		return false, "error: could not encode the event; try again"
	}
	raw := enc.JSON()
	if !nostr.IsEphemeralKind(ev.Kind) {
		start := time.Now()
		err := store.SaveEncoded(ctx, r.store, enc)
		r.m.storeSeconds.WithLabelValues("save").Observe(time.Since(start).Seconds())
		switch {
		case errors.Is(err, store.ErrDuplicate):
			// NIP-01: a copy of a stored event is accepted ("duplicate:"
			// explains); it was broadcast when first stored.
			return true, err.Error()
		case errors.Is(err, store.ErrReplaced), errors.Is(err, store.ErrDeleted):
			return false, err.Error()
		case errors.Is(err, context.Canceled):
			return false, ""
		case err != nil:
			r.log.Error("saving event", "id", ev.ID, "err", err)
			return false, "error: the event could not be stored; try again later"
		}
		r.m.eventsStored.Inc()
	}
	r.broadcast(ev, raw)
	r.listeners.deliver(ev)
	for _, hook := range r.OnEvent {
		hook(ev)
	}
	return true, ""
}

// Deliver stores and hands on an event its caller has already judged,
// as a websocket EVENT that passed every check: broadcast to subscribers
// and in-process listeners, OnEvent hooks. It skips the relay's policy and
// RejectEvent hooks, for events judged together rather than one at a
// time (a room pulled from another node: its log is judged as a whole).
// The caller verifies id and signature. A copy already stored is not
// broadcast again (ok, with the duplicate: reason).
func (r *Relay) Deliver(ctx context.Context, ev *nostr.Event) error {
	ok, reason := r.keep(ctx, ev)
	return refusal(ctx, ok, reason)
}

// refusal is the error of an accept or keep outcome: nil if ok, the
// context's error if it ended, else the reason wrapping ErrRefused.
func refusal(ctx context.Context, ok bool, reason string) error {
	switch {
	case ok:
		return nil
	case reason == "":
		return ctx.Err()
	}
	return fmt.Errorf("%w: %s", ErrRefused, reason)
}

// ErrRefused: Publish's event was refused; the error text carries the
// relay's reason with its NIP-01 prefix.
var ErrRefused = errors.New("refused")

// Publish runs a signed event through the same pipeline as a websocket
// EVENT (the relay's policy, id and signature checks, RejectEvent hooks,
// storage, broadcast to subscribers and in-process listeners, OnEvent
// hooks), for the node's own events: no connection, no AUTH, no rate limit.
// A refusal wraps ErrRefused.
func (r *Relay) Publish(ctx context.Context, ev *nostr.Event) error {
	if msg := r.policy(ev, r.now()); msg != "" {
		return fmt.Errorf("%w: %s", ErrRefused, msg)
	}
	ok, reason := r.accept(ctx, nil, ev)
	return refusal(ctx, ok, reason)
}

func (c *Conn) ok(id string, ok bool, reason string) {
	if !ok {
		c.r.reject(reason)
	}
	c.enqueue(msgOK(id, ok, reason))
}

// expiration returns an event's NIP-40 expiration time.
func expiration(ev *nostr.Event) (int64, bool) {
	t := ev.Tags.Find("expiration")
	if t == nil {
		return 0, false
	}
	v, err := strconv.ParseInt(t[1], 10, 64)
	return v, err == nil
}

// handleAuth checks a NIP-42 AUTH event against this connection's challenge.
func (r *Relay) handleAuth(c *Conn, args []json.RawMessage) {
	if len(args) != 1 {
		c.Notice("invalid: AUTH takes exactly one signed kind 22242 event")
		return
	}
	ev, err := event.Decode(args[0])
	if err != nil {
		c.Notice("invalid: " + err.Error())
		return
	}
	if msg := r.checkAuth(c, ev); msg != "" {
		c.ok(ev.ID, false, msg)
		return
	}
	c.authMu.Lock()
	seen := false
	for _, pk := range c.authed {
		seen = seen || pk == ev.PubKey
	}
	if !seen {
		c.authed = append(c.authed, ev.PubKey)
	}
	c.authMu.Unlock()
	c.ok(ev.ID, true, "")
}

func (r *Relay) checkAuth(c *Conn, ev *nostr.Event) string {
	if ev.Kind != nostr.KindClientAuthentication {
		return "invalid: AUTH needs a kind 22242 event"
	}
	switch err := verify(ev); err {
	case event.ErrID:
		return "invalid: the id does not match the event"
	case event.ErrSignature:
		return "invalid: signature verification failed"
	}
	if d := r.now().Sub(ev.CreatedAt.Time()); d > 10*time.Minute || d < -10*time.Minute {
		return "invalid: the AUTH event's created_at must be within 10 minutes of now"
	}
	if t := ev.Tags.Find("challenge"); t == nil || t[1] != c.challenge {
		return "invalid: the challenge tag does not match the challenge this relay sent"
	}
	t := ev.Tags.Find("relay")
	if t == nil {
		return "invalid: the AUTH event needs a relay tag with this relay's URL"
	}
	if !r.sameRelay(t[1], c.host) {
		return "invalid: the relay tag names another relay; use this relay's URL"
	}
	return ""
}

// sameRelay compares a URL from a relay tag with this relay's URL (or, when
// none is configured, the host the client connected to). The scheme and a
// trailing slash are not significant.
func (r *Relay) sameRelay(tag, reqHost string) bool {
	norm := func(s string) string {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Host == "" {
			return ""
		}
		return strings.ToLower(u.Host) + strings.TrimSuffix(u.Path, "/")
	}
	got := norm(tag)
	if got == "" {
		return false
	}
	if r.cfg.URL != "" && got == norm(r.cfg.URL) {
		return true
	}
	return got == strings.ToLower(reqHost)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strconv.Quote(s)
}

// Package relay is cairn's Nostr relay: NIP-01 over websockets, with NIP-09
// deletion and NIP-40 expiration (applied by the store), NIP-11 information,
// NIP-13 proof of work, NIP-42 authentication, NIP-45 COUNT and NIP-77
// negentropy reconciliation.
//
// A Relay is an http.Handler. Websocket upgrades become connections; a GET
// asking for application/nostr+json gets the NIP-11 document; anything else
// goes to Next (the node's web UI and API).
//
// Client messages are read by one dispatcher keyed by verb. Other parts of the
// node add verbs with Handle (NIP-95 adds PEER_*), so unknown verbs are not a
// framework's decision. Every refusal reaches the client as OK false, CLOSED
// or NOTICE text with a NIP-01 prefix and words that say what to do.
//
// Write path: the reader parses an EVENT and runs cheap checks (auth, rate,
// size, proof of work); the id and signature are then verified and the event
// saved on a goroutine of its own, bounded per connection, so a single
// connection uses every core and many events share one durable commit. `OK
// true` is sent only after the store reports the event durable; then the
// event fans out to matching subscriptions.
package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/nbd-wtf/go-nostr"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/cairn-nostr/cairn/store"
)

// Handler handles one client message verb. args are the message's elements
// after the verb; they are valid only during the call.
type Handler func(c *Conn, args []json.RawMessage)

// Options are the relay's collaborators.
type Options struct {
	Logger   *slog.Logger
	Registry prometheus.Registerer // nil: metrics are kept but not exported
	Now      func() time.Time      // nil: time.Now
}

// Relay serves Nostr clients. Create it with New.
type Relay struct {
	cfg   Config
	store store.Store
	log   *slog.Logger
	m     *metrics
	reg   prometheus.Registerer // where EnablePeers registers NIP-95's series; nil: none
	now   func() time.Time

	// Next serves requests that are neither websocket upgrades nor NIP-11.
	Next http.Handler

	// RejectEvent hooks run after the built-in checks and before storing; a
	// hook returning true refuses the event with msg (which should carry a
	// NIP-01 prefix). c is nil for an event published in process (Publish).
	RejectEvent []func(c *Conn, ev *nostr.Event) (reject bool, msg string)
	// OnEvent hooks run after an event is accepted (stored, or broadcast if
	// ephemeral), outside any lock.
	OnEvent []func(ev *nostr.Event)
	// RejectRead hooks run before a REQ, COUNT or NEG-OPEN is served, after
	// the auth check; a hook returning true refuses it with msg (CLOSED or
	// NEG-ERR, with a NIP-01 prefix).
	RejectRead []func(c *Conn) (reject bool, msg string)

	handlers  map[string]Handler
	listeners listeners
	peers     *peers // NIP-95, when EnablePeers was called

	mu       sync.RWMutex
	conns    map[*Conn]struct{}
	ipLimits map[string]*ipLimit
	closing  bool
	wg       sync.WaitGroup
}

type ipLimit struct {
	lim   *rate.Limiter
	conns int
}

// New returns a relay over st. cfg is validated.
func New(cfg Config, st store.Store, opts Options) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Relay{
		cfg:      cfg,
		store:    st,
		log:      opts.Logger,
		m:        newMetrics(opts.Registry),
		reg:      opts.Registry,
		now:      opts.Now,
		Next:     http.NotFoundHandler(),
		conns:    map[*Conn]struct{}{},
		ipLimits: map[string]*ipLimit{},
	}
	r.handlers = map[string]Handler{
		"EVENT":     r.handleEvent,
		"REQ":       r.handleReq,
		"CLOSE":     r.handleClose,
		"COUNT":     r.handleCount,
		"AUTH":      r.handleAuth,
		"NEG-OPEN":  r.handleNegOpen,
		"NEG-MSG":   r.handleNegMsg,
		"NEG-CLOSE": r.handleNegClose,
	}
	return r, nil
}

// Config returns the relay's configuration.
func (r *Relay) Config() Config { return r.cfg }

// Handle adds or replaces the handler of a message verb.
func (r *Relay) Handle(verb string, h Handler) { r.handlers[verb] = h }

// Stats is a snapshot for /api/status.
type Stats struct {
	Connections   int `json:"connections"`
	Subscriptions int `json:"subscriptions"`
}

// Stats counts open connections and subscriptions.
func (r *Relay) Stats() Stats {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := Stats{Connections: len(r.conns)}
	for c := range r.conns {
		s.Subscriptions += len(*c.subs.Load())
	}
	return s
}

// ServeHTTP routes websocket upgrades, NIP-11 requests and everything else.
func (r *Relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	switch {
	case strings.EqualFold(req.Header.Get("Upgrade"), "websocket"):
		r.serveWS(w, req)
	case req.URL.Path == "/" && strings.Contains(req.Header.Get("Accept"), "application/nostr+json"):
		r.serveNIP11(w, req)
	default:
		r.Next.ServeHTTP(w, req)
	}
}

// Close disconnects every client and waits for their goroutines. The store
// is the caller's to close afterwards.
func (r *Relay) Close() {
	r.mu.Lock()
	r.closing = true
	for c := range r.conns {
		c.close(websocket.StatusGoingAway, "relay shutting down")
	}
	r.mu.Unlock()
	r.wg.Wait()
}

func (r *Relay) serveWS(w http.ResponseWriter, req *http.Request) {
	var aw http.ResponseWriter = w
	cw := &corkWriter{ResponseWriter: w}
	if canHijack(w) {
		aw = cw
	}
	ws, err := websocket.Accept(aw, req, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // Nostr clients connect from any origin
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		r.log.Debug("websocket accept failed", "err", err)
		return
	}
	ip := remoteIP(req)
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		ws.Close(websocket.StatusGoingAway, "relay shutting down")
		return
	}
	il := r.ipLimits[ip]
	if il == nil {
		il = &ipLimit{lim: newLimiter(r.cfg.EventsPerSecondIP)}
		r.ipLimits[ip] = il
	}
	il.conns++
	c := newConn(r, ws, req, ip, il.lim)
	c.cork = cw.conn
	r.conns[c] = struct{}{}
	r.wg.Add(1)
	r.mu.Unlock()
	r.m.connections.Inc()

	defer func() {
		c.close(websocket.StatusNormalClosure, "")
		c.wait()
		r.mu.Lock()
		delete(r.conns, c)
		if il.conns--; il.conns == 0 {
			delete(r.ipLimits, ip)
		}
		r.mu.Unlock()
		r.m.connections.Dec()
		r.m.subscriptions.Sub(float64(len(*c.subs.Load())))
		r.wg.Done()
	}()
	c.run()
}

func newLimiter(perSecond float64) *rate.Limiter {
	if perSecond <= 0 {
		return rate.NewLimiter(rate.Inf, 0)
	}
	burst := int(2 * perSecond)
	if burst < 1 {
		burst = 1
	}
	return rate.NewLimiter(rate.Limit(perSecond), burst)
}

func remoteIP(req *http.Request) string {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		return req.RemoteAddr
	}
	return host
}

// broadcast sends ev to every matching subscription on every connection.
func (r *Relay) broadcast(ev *nostr.Event, raw []byte) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for c := range r.conns {
		for _, s := range *c.subs.Load() {
			if s.filters.Match(ev) {
				if c.enqueue(msgEvent(s.quotedID, raw)) {
					r.m.eventsOut.Inc()
				}
			}
		}
	}
}

// reject counts a refusal by its NIP-01 prefix.
func (r *Relay) reject(msg string) {
	prefix := "other"
	if i := strings.Index(msg, ":"); i > 0 && i < 16 {
		prefix = msg[:i]
	}
	r.m.rejects.WithLabelValues(prefix).Inc()
}

// Conn is one client websocket connection.
type Conn struct {
	r      *Relay
	ws     *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	ip     string
	host   string // Host header, for NIP-42 relay URL checks

	cork      *corkConn // under ws; nil if the server's connection could not be wrapped
	send      chan []byte
	closeOnce sync.Once

	limiter   *rate.Limiter // per connection
	ipLimiter *rate.Limiter // shared by the IP's connections
	pending   chan struct{} // bounds EVENTs in flight
	inflight  sync.WaitGroup
	loops     sync.WaitGroup
	lastMsg   atomic.Int64 // unix nanos

	challenge string
	authMu    sync.RWMutex
	authed    []string

	subsMu sync.Mutex                               // serialises writers of subs
	subs   atomic.Pointer[map[string]*subscription] // copy on write, read by broadcast
	negs   map[string]*negSession                   // reader goroutine only
}

type subscription struct {
	id       string
	quotedID []byte
	filters  nostr.Filters
}

func newConn(r *Relay, ws *websocket.Conn, req *http.Request, ip string, ipLim *rate.Limiter) *Conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Conn{
		r:         r,
		ws:        ws,
		ctx:       ctx,
		cancel:    cancel,
		ip:        ip,
		host:      req.Host,
		send:      make(chan []byte, r.cfg.SendQueue),
		limiter:   newLimiter(r.cfg.EventsPerSecond),
		ipLimiter: ipLim,
		pending:   make(chan struct{}, r.cfg.MaxPending),
		challenge: randomHex(16),
		negs:      map[string]*negSession{},
	}
	empty := map[string]*subscription{}
	c.subs.Store(&empty)
	c.lastMsg.Store(r.now().UnixNano())
	// Oversized messages up to 4x the limit are drained and refused with a
	// NOTICE; beyond that the websocket library closes the connection (1009).
	ws.SetReadLimit(int64(4*r.cfg.MaxMessageBytes) + 1024)
	return c
}

// Context is cancelled when the connection closes.
func (c *Conn) Context() context.Context { return c.ctx }

// RemoteIP is the client's address.
func (c *Conn) RemoteIP() string { return c.ip }

// AuthedPubkeys lists the pubkeys the client has authenticated as (NIP-42).
func (c *Conn) AuthedPubkeys() []string {
	c.authMu.RLock()
	defer c.authMu.RUnlock()
	return append([]string(nil), c.authed...)
}

// rejectRead runs the RejectRead hooks.
func (r *Relay) rejectRead(c *Conn) string {
	for _, hook := range r.RejectRead {
		if reject, msg := hook(c); reject {
			return msg
		}
	}
	return ""
}

func (c *Conn) isAuthed() bool {
	c.authMu.RLock()
	defer c.authMu.RUnlock()
	return len(c.authed) > 0
}

// Send queues a message for the client without blocking. It returns false
// and closes the connection if the client is not reading fast enough.
func (c *Conn) Send(msg []byte) bool { return c.enqueue(msg) }

func (c *Conn) enqueue(msg []byte) bool {
	select {
	case <-c.ctx.Done():
		return false
	default:
	}
	select {
	case c.send <- msg:
		return true
	default:
		c.r.m.dropped.Inc()
		c.r.log.Info("dropping slow connection", "ip", c.ip, "queued", len(c.send))
		c.close(websocket.StatusPolicyViolation, "rate-limited: you are not reading fast enough")
		return false
	}
}

// sendWait queues a message, waiting while the queue is full (query results:
// backpressure to the query instead of dropping the client).
func (c *Conn) sendWait(msg []byte) error {
	select {
	case c.send <- msg:
		return nil
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
}

// Notice sends a NOTICE.
func (c *Conn) Notice(text string) {
	c.r.reject(text)
	c.enqueue(msgNotice(text))
}

// closeGrace is how long a write may still take once the connection is
// closing: the close frame's, or one to a client that stopped reading.
const closeGrace = 500 * time.Millisecond

func (c *Conn) close(code websocket.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		c.cancel()
		if c.cork != nil { // reads and writes run without c.ctx (ioContext)
			now := time.Now()
			c.cork.SetReadDeadline(now)
			c.cork.SetWriteDeadline(now.Add(closeGrace))
		}
		go c.ws.Close(code, reason)
	})
}

// ioContext is the context the connection's reads and writes run under.
// The websocket library registers a context.AfterFunc for every read and
// write under a context that can end (an allocation and a lock each, per
// message); with the connection in hand (cork), they run under one that
// cannot, and close ends them with deadlines instead.
func (c *Conn) ioContext() context.Context {
	if c.cork != nil {
		return context.Background()
	}
	return c.ctx
}

func (c *Conn) wait() {
	c.loops.Wait()
	c.inflight.Wait()
}

func (c *Conn) run() {
	if c.r.cfg.Auth != AuthOff {
		c.enqueue(msgWithSub("AUTH", c.challenge))
	}
	c.loops.Add(2)
	go c.writeLoop()
	go c.keepAlive()
	c.readLoop()
}

func (c *Conn) readLoop() {
	max := c.r.cfg.MaxMessageBytes
	// Messages are read into scratch, reused from one message to the next:
	// handlers get args valid during the call only (Handler), and copy what
	// they keep (decoding copies).
	var scratch bytes.Buffer
	ctx := c.ioContext()
	for {
		_, rd, err := c.ws.Reader(ctx)
		if err != nil {
			if c.ctx.Err() == nil && websocket.CloseStatus(err) == -1 {
				c.r.log.Debug("read failed", "ip", c.ip, "err", err)
			}
			c.close(websocket.StatusNormalClosure, "")
			return
		}
		scratch.Reset()
		_, err = scratch.ReadFrom(io.LimitReader(rd, int64(max)+1))
		data := scratch.Bytes()
		if err == nil && len(data) > max {
			n, derr := io.Copy(io.Discard, rd)
			if derr != nil {
				c.close(websocket.StatusMessageTooBig, "message too large")
				return
			}
			c.Notice(tooLarge(int64(len(data))+n, max))
			continue
		}
		if err != nil {
			c.close(websocket.StatusMessageTooBig, "message too large")
			return
		}
		c.lastMsg.Store(c.r.now().UnixNano())
		c.dispatch(data)
		if scratch.Cap() > 1<<20 {
			scratch = bytes.Buffer{} // a rare large message leaves no large buffer behind
		}
	}
}

func tooLarge(n int64, max int) string {
	return "invalid: message of " + itoa(n) + " bytes exceeds this relay's limit of " + itoa(int64(max)) +
		" bytes (see max_message_length in NIP-11)"
}

func (c *Conn) dispatch(data []byte) {
	verb, args, err := parseMessage(data)
	if err != nil {
		c.Notice("invalid: " + err.Error())
		return
	}
	h, ok := c.r.handlers[verb]
	if !ok {
		c.r.m.messagesIn.WithLabelValues("unknown").Inc()
		c.Notice("invalid: unknown message type " + quote(verb) +
			"; this relay understands EVENT, REQ, CLOSE, COUNT, AUTH, NEG-OPEN, NEG-MSG and NEG-CLOSE")
		return
	}
	c.r.m.messagesIn.WithLabelValues(verb).Inc()
	h(c, args)
}

func (c *Conn) writeLoop() {
	defer c.loops.Done()
	if c.cork != nil {
		// A loop stopped in the middle of a batch sends what it held (a
		// close frame may be among it).
		defer c.cork.flush(time.Second)
	}
	ctx := c.ioContext()
	for {
		select {
		case <-c.ctx.Done():
			return
		case msg := <-c.send:
			// Messages queued behind this one are held and go out with the
			// last of them in one write (cork.go). No deadline per message: a
			// client that stops reading fills its queue and is dropped by
			// enqueue, whose close ends this write (closeGrace).
			for {
				more := c.cork != nil && len(c.send) > 0 && c.cork.corked() < maxCorked
				if c.cork != nil {
					c.cork.setHold(more)
				}
				if err := c.ws.Write(ctx, websocket.MessageText, msg); err != nil {
					c.close(websocket.StatusNormalClosure, "")
					return
				}
				if !more {
					break
				}
				msg = <-c.send // only this goroutine receives: one is there
			}
		}
	}
}

// keepAlive pings the client and closes connections that are dead (no pong)
// or idle (no message and no subscription for IdleTimeout).
func (c *Conn) keepAlive() {
	defer c.loops.Done()
	interval := c.r.cfg.PingInterval
	if it := c.r.cfg.IdleTimeout / 4; it < interval {
		interval = it
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	lastPing := c.r.now()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		now := c.r.now()
		idle := now.Sub(time.Unix(0, c.lastMsg.Load()))
		if idle >= c.r.cfg.IdleTimeout && len(*c.subs.Load()) == 0 && len(c.pending) == 0 {
			c.close(websocket.StatusNormalClosure, "idle timeout: reconnect when you have something to send")
			return
		}
		if now.Sub(lastPing) >= c.r.cfg.PingInterval {
			lastPing = now
			ctx, cancel := context.WithTimeout(c.ctx, c.r.cfg.PingInterval)
			err := c.ws.Ping(ctx)
			cancel()
			if err != nil && c.ctx.Err() == nil {
				c.close(websocket.StatusGoingAway, "no pong")
				return
			}
		}
	}
}

package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	websocket "github.com/cairn-nostr/cairn/internal/ws"
	"github.com/cairn-nostr/cairn/nostr"
)

var (
	// ErrClosed: the session is closed.
	ErrClosed = errors.New("session closed")
	// ErrSubscriptionClosed: the relay ended a subscription (CLOSED); the
	// error text carries its reason.
	ErrSubscriptionClosed = errors.New("relay closed the subscription")
	// ErrOverflow: a subscriber fell more than MaxQueued events behind.
	ErrOverflow = errors.New("subscriber too slow: events queued beyond the limit")
)

// SessionConfig configures a Session; the zero value is usable.
type SessionConfig struct {
	// Secret (hex) answers the relay's NIP-42 AUTH challenge when it
	// refuses an event or a REQ with auth-required:. Empty: never
	// authenticate.
	Secret string
	// MinBackoff and MaxBackoff bound the wait between reconnect attempts:
	// it doubles from MinBackoff (250 ms) to MaxBackoff (30 s), jittered,
	// and starts again from MinBackoff after a connection that lasted
	// MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// DialTimeout bounds one connection attempt (10 s).
	DialTimeout time.Duration
	// SinceMargin is how far before the newest created_at delivered a
	// subscription resumes after a reconnect (60 s): room for publishers'
	// clocks and for events in flight when the connection dropped.
	SinceMargin time.Duration
	// MaxSeen bounds the ids each subscription remembers to drop repeats
	// (4096).
	MaxSeen int
	// MaxQueued bounds the events queued for a subscriber that has not
	// taken them yet (16384); beyond it the subscription ends with
	// ErrOverflow.
	MaxQueued int
	Logger    *slog.Logger
}

func (c *SessionConfig) defaults() {
	if c.MinBackoff <= 0 {
		c.MinBackoff = 250 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	c.MaxBackoff = max(c.MaxBackoff, c.MinBackoff)
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.SinceMargin <= 0 {
		c.SinceMargin = time.Minute
	}
	if c.MaxSeen <= 0 {
		c.MaxSeen = 4096
	}
	if c.MaxQueued <= 0 {
		c.MaxQueued = 16384
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Session is a kept-alive connection to one relay: one websocket, always
// being read (so the relay's pings are answered), dialled again with capped
// exponential backoff whenever it drops, until Close or the context given
// to NewSession ends. Publishes, subscriptions and queries wait for a
// connection and carry over to the next one: a publish not acknowledged
// when the connection dropped is sent again, a subscription is sent again
// with since moved up to where it left off. It is safe for concurrent use.
//
// One goroutine owns all of the session's state and never waits on the
// network; a reader and a writer per connection, and a dialler, do the
// I/O. No lock is held across I/O.
type Session struct {
	url string
	cfg SessionConfig

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // the loop has ended
	io     sync.WaitGroup

	cmds      chan func(*loop)
	in        chan inMsg
	dialed    chan dialResult
	connected atomic.Bool
}

// NewSession starts a session with the relay at url (ws:// or wss://); it
// connects in the background. ctx ending closes it as Close does.
func NewSession(ctx context.Context, url string, cfg SessionConfig) (*Session, error) {
	if !strings.HasPrefix(url, "ws://") && !strings.HasPrefix(url, "wss://") {
		return nil, fmt.Errorf("relay url %q: want ws:// or wss://", url)
	}
	cfg.defaults()
	s := &Session{
		url: url, cfg: cfg,
		done:   make(chan struct{}),
		cmds:   make(chan func(*loop)),
		in:     make(chan inMsg),
		dialed: make(chan dialResult),
	}
	s.ctx, s.cancel = context.WithCancel(ctx)
	go s.run()
	return s, nil
}

// URL is the relay's.
func (s *Session) URL() string { return s.url }

// Connected reports whether the websocket is up now.
func (s *Session) Connected() bool { return s.connected.Load() }

// Close ends the session: the websocket is closed without waiting for the
// relay's close handshake, pending calls return ErrClosed. Natively it
// returns once every goroutine of the session has ended; under GOOS=js,
// where coder/websocket waits for the browser's close event, the
// connection's goroutines end when that event comes, after Close returns.
func (s *Session) Close() {
	s.cancel()
	<-s.done
	if waitIO {
		s.io.Wait()
	}
}

// do runs f on the loop.
func (s *Session) do(ctx context.Context, f func(*loop)) error {
	select {
	case s.cmds <- f:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return ErrClosed
	}
}

// post runs f on the loop unless the session has ended.
func (s *Session) post(f func(*loop)) { s.do(context.Background(), f) }

// Publish sends ev and waits for the relay's OK, through reconnects, until
// ctx ends. When the relay says auth-required: and the session has a
// Secret, it authenticates and sends ev again. A refusal wraps ErrRefused
// (ErrAuthRequired for auth-required:) with the relay's reason; a
// duplicate: refusal of an event sent before on a connection that dropped
// counts as accepted, since the relay already holds it.
func (s *Session) Publish(ctx context.Context, ev *nostr.Event) error {
	res := make(chan error, 1)
	if err := s.do(ctx, func(l *loop) { l.addPub(ev, res) }); err != nil {
		return fmt.Errorf("publishing to %s: %w", s.url, err)
	}
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		s.post(func(l *loop) { l.dropPub(ev.ID, res) })
		return fmt.Errorf("publishing to %s: %w", s.url, ctx.Err())
	}
}

// Query runs one REQ until EOSE and returns the events (not verified). A
// connection lost before EOSE runs it again on the next one.
func (s *Session) Query(ctx context.Context, f nostr.Filter) ([]*nostr.Event, error) {
	op := &subOp{filter: f, query: true, res: make(chan queryResult, 1)}
	if err := s.do(ctx, func(l *loop) { l.addSub(op) }); err != nil {
		return nil, fmt.Errorf("querying %s: %w", s.url, err)
	}
	select {
	case r := <-op.res:
		return r.evs, r.err
	case <-ctx.Done():
		s.post(func(l *loop) { l.endSub(op, nil, true) })
		return nil, fmt.Errorf("querying %s: %w", s.url, ctx.Err())
	}
}

// Subscribe calls fn for every event matching f, stored or live, until
// ctx ends, the relay closes the subscription (ErrSubscriptionClosed), or
// the session closes (ErrClosed). The subscription outlives reconnects: it
// is sent again on each new connection with since a little before the
// newest created_at it delivered, and events are delivered once each (by
// id, within SessionConfig.MaxSeen). Ephemeral events published while the
// connection was down are lost: relays do not store them. ready, when not
// nil, is called at the first EOSE. fn and ready run on the caller's
// goroutine, one at a time; events are not verified.
func (s *Session) Subscribe(ctx context.Context, f nostr.Filter, fn func(*nostr.Event), ready func()) error {
	op := &subOp{filter: f, box: &inbox{max: s.cfg.MaxQueued, sig: make(chan struct{}, 1)}, seen: newResume(s.cfg.MaxSeen)}
	if err := s.do(ctx, func(l *loop) { l.addSub(op) }); err != nil {
		return fmt.Errorf("subscribing to %s: %w", s.url, err)
	}
	defer s.post(func(l *loop) { l.endSub(op, nil, true) })
	for {
		select {
		case <-op.box.sig:
		case <-ctx.Done():
			return ctx.Err()
		}
		items, ended, end := op.box.take()
		for _, it := range items {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if it.ev != nil {
				fn(it.ev)
			} else if ready != nil {
				ready()
				ready = nil
			}
		}
		if ended {
			return end
		}
	}
}

// inbox queues a subscription's events for its subscriber.
type inbox struct {
	max   int
	mu    sync.Mutex
	items []item
	end   error
	ended bool
	sig   chan struct{} // capacity 1
}

type item struct{ ev *nostr.Event } // nil: EOSE

func (b *inbox) push(it item) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended || len(b.items) >= b.max {
		return false
	}
	b.items = append(b.items, it)
	wake(b.sig)
	return true
}

func (b *inbox) finish(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.ended {
		b.ended, b.end = true, err
		wake(b.sig)
	}
}

// take returns the queued items and whether (and why) the subscription
// ended.
func (b *inbox) take() (items []item, ended bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	items, b.items = b.items, nil
	return items, b.ended, b.end
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// link is one websocket connection.
type link struct {
	ws     *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	out    chan []byte // to the writer
	since  time.Time
}

// inMsg is what a link's reader or writer tells the loop: a message, or
// (err set) that the link is gone.
type inMsg struct {
	link  *link
	label string
	msg   []json.RawMessage
	err   error
}

type dialResult struct {
	ws  *websocket.Conn
	err error
}

type pubOp struct {
	seq      int
	ev       *nostr.Event
	waiters  []chan error
	sentOn   *link // the link it is awaiting an OK on; nil: to be sent
	sent     bool  // sent on a link that dropped before its OK
	needAuth bool  // refused with auth-required:, to be sent after AUTH
}

type subOp struct {
	id       string
	seq      int
	filter   nostr.Filter
	sentOn   *link
	caughtUp bool // EOSE seen on sentOn
	needAuth bool

	// a subscription
	box   *inbox
	seen  *resume
	eosed bool // EOSE passed to the subscriber

	// a query
	query bool
	res   chan queryResult // capacity 1
	evs   []*nostr.Event
	ids   map[string]bool
}

type queryResult struct {
	evs []*nostr.Event
	err error
}

// loop is the session's state, owned by its run goroutine.
type loop struct {
	s    *Session
	link *link
	outq [][]byte // messages for the current link's writer, in order

	pubs map[string]*pubOp
	subs map[string]*subOp
	seq  int

	attempt    int
	challenge  string
	authID     string // the AUTH event awaiting its OK
	authed     bool
	authFailed bool
}

func (s *Session) run() {
	defer close(s.done)
	l := &loop{s: s, pubs: map[string]*pubOp{}, subs: map[string]*subOp{}}
	defer l.shutdown()
	timer := time.NewTimer(0)
	defer timer.Stop()
	dialing := false
	for {
		var out chan []byte
		var head []byte
		if l.link != nil && len(l.outq) > 0 {
			out, head = l.link.out, l.outq[0]
		}
		var retry <-chan time.Time
		if l.link == nil && !dialing {
			retry = timer.C
		}
		select {
		case <-s.ctx.Done():
			return
		case f := <-s.cmds:
			f(l)
		case m := <-s.in:
			if m.link != l.link {
				continue
			}
			if m.err != nil {
				s.cfg.Logger.Debug("relay connection lost", "url", s.url, "err", m.err)
				timer.Reset(l.drop())
				continue
			}
			l.handle(m.label, m.msg)
		case out <- head:
			l.outq[0] = nil
			l.outq = l.outq[1:]
		case <-retry:
			dialing = true
			s.dial()
		case r := <-s.dialed:
			dialing = false
			if r.err != nil {
				s.cfg.Logger.Debug("relay dial failed", "url", s.url, "err", r.err)
				timer.Reset(l.nextBackoff())
				continue
			}
			l.connect(r.ws)
		}
	}
}

// dial connects in the background and hands the result to the loop.
func (s *Session) dial() {
	s.io.Add(1)
	go func() {
		defer s.io.Done()
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.DialTimeout)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, s.url, nil)
		if err == nil {
			ws.SetReadLimit(MaxMessage)
		}
		select {
		case s.dialed <- dialResult{ws, err}:
		case <-s.ctx.Done():
			if ws != nil {
				closeNow(ws)
			}
		}
	}()
}

// read reads lk until it fails; the read is always pending, so pings are
// answered.
func (s *Session) read(lk *link) {
	defer s.io.Done()
	for {
		_, b, err := lk.ws.Read(lk.ctx)
		if err != nil {
			s.report(lk, inMsg{link: lk, err: err})
			return
		}
		var msg []json.RawMessage
		if json.Unmarshal(b, &msg) != nil || len(msg) == 0 {
			continue
		}
		select {
		case s.in <- inMsg{link: lk, label: Str(msg[0]), msg: msg}:
		case <-lk.ctx.Done():
			return
		}
	}
}

// write writes what the loop hands it until lk fails.
func (s *Session) write(lk *link) {
	defer s.io.Done()
	for {
		select {
		case b := <-lk.out:
			if err := lk.ws.Write(lk.ctx, websocket.MessageText, b); err != nil {
				s.report(lk, inMsg{link: lk, err: err})
				return
			}
		case <-lk.ctx.Done():
			return
		}
	}
}

func (s *Session) report(lk *link, m inMsg) {
	select {
	case s.in <- m:
	case <-lk.ctx.Done():
	}
}

func (l *loop) connect(ws *websocket.Conn) {
	s := l.s
	ctx, cancel := context.WithCancel(s.ctx)
	l.link = &link{ws: ws, ctx: ctx, cancel: cancel, out: make(chan []byte), since: time.Now()}
	l.outq = nil
	l.challenge, l.authID, l.authed, l.authFailed = "", "", false, false
	s.connected.Store(true)
	s.io.Add(2)
	go s.read(l.link)
	go s.write(l.link)
	for _, op := range sortedBySeq(l.subs, func(o *subOp) int { return o.seq }) {
		l.sendReq(op)
	}
	for _, p := range sortedBySeq(l.pubs, func(p *pubOp) int { return p.seq }) {
		l.sendEvent(p)
	}
}

func sortedBySeq[T any](m map[string]T, seq func(T) int) []T {
	out := make([]T, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b T) int { return seq(a) - seq(b) })
	return out
}

// drop ends the current link and returns the wait before the next dial.
func (l *loop) drop() time.Duration {
	lk := l.link
	l.link = nil
	l.outq = nil
	lk.cancel()
	closeNow(lk.ws)
	l.s.connected.Store(false)
	now := time.Now()
	for _, p := range l.pubs {
		if p.sentOn == lk {
			p.sent = true
		}
		p.sentOn, p.needAuth = nil, false
	}
	for _, op := range l.subs {
		if op.caughtUp && !op.query {
			op.seen.liveUntil(nostr.Timestamp(now.Unix()))
		}
		op.sentOn, op.caughtUp, op.needAuth = nil, false, false
	}
	if now.Sub(lk.since) >= l.s.cfg.MaxBackoff {
		l.attempt = 0
	}
	return l.nextBackoff()
}

func (l *loop) nextBackoff() time.Duration {
	d := backoff(l.attempt, l.s.cfg.MinBackoff, l.s.cfg.MaxBackoff, jitter())
	l.attempt++
	return d
}

// shutdown runs as the loop ends: the link closes, every call waiting
// returns ErrClosed.
func (l *loop) shutdown() {
	if l.link != nil {
		l.link.cancel()
		closeNow(l.link.ws)
		l.link = nil
	}
	l.s.connected.Store(false)
	for id, p := range l.pubs {
		for _, w := range p.waiters {
			w <- fmt.Errorf("publishing to %s: %w", l.s.url, ErrClosed)
		}
		delete(l.pubs, id)
	}
	for _, op := range l.subs {
		l.endSub(op, fmt.Errorf("%s: %w", l.s.url, ErrClosed), false)
	}
}

// send queues one message for the current link.
func (l *loop) send(msg ...any) {
	if l.link == nil {
		return
	}
	b, err := json.Marshal(msg)
	if err != nil {
		l.s.cfg.Logger.Debug("unencodable message", "err", err)
		return
	}
	l.outq = append(l.outq, b)
}

func (l *loop) addPub(ev *nostr.Event, res chan error) {
	if p := l.pubs[ev.ID]; p != nil {
		p.waiters = append(p.waiters, res)
		return
	}
	l.seq++
	p := &pubOp{seq: l.seq, ev: ev, waiters: []chan error{res}}
	l.pubs[ev.ID] = p
	if l.link != nil {
		l.sendEvent(p)
	}
}

// dropPub forgets a caller that stopped waiting; an event nobody waits for
// is not sent again.
func (l *loop) dropPub(id string, res chan error) {
	p := l.pubs[id]
	if p == nil {
		return
	}
	p.waiters = slices.DeleteFunc(p.waiters, func(w chan error) bool { return w == res })
	if len(p.waiters) == 0 {
		delete(l.pubs, id)
	}
}

func (l *loop) sendEvent(p *pubOp) {
	p.sentOn = l.link
	l.send("EVENT", p.ev)
}

func (l *loop) finishPub(p *pubOp, err error) {
	delete(l.pubs, p.ev.ID)
	for _, w := range p.waiters {
		w <- err
	}
}

func (l *loop) addSub(op *subOp) {
	l.seq++
	op.seq = l.seq
	op.id = "cairn" + strconv.Itoa(l.seq)
	l.subs[op.id] = op
	if l.link != nil {
		l.sendReq(op)
	}
}

func (l *loop) sendReq(op *subOp) {
	f := op.filter
	if op.query {
		op.evs, op.ids = nil, map[string]bool{}
	} else {
		f = op.seen.filter(f, l.s.cfg.SinceMargin)
	}
	op.sentOn, op.caughtUp = l.link, false
	l.send("REQ", op.id, f)
}

// endSub ends op with err (a query's result, a subscription's return),
// sending CLOSE when the relay still has it open. It does nothing when op
// has ended already.
func (l *loop) endSub(op *subOp, err error, closeIt bool) {
	if l.subs[op.id] != op {
		return
	}
	delete(l.subs, op.id)
	if closeIt && op.sentOn != nil && op.sentOn == l.link {
		l.send("CLOSE", op.id)
	}
	if op.query {
		op.res <- queryResult{err: err}
	} else {
		op.box.finish(err)
	}
}

func (l *loop) handle(label string, msg []json.RawMessage) {
	switch label {
	case "AUTH":
		if len(msg) > 1 {
			l.challenge = Str(msg[1])
		}
	case "OK":
		l.onOK(msg)
	case "EVENT":
		l.onEvent(msg)
	case "EOSE":
		l.onEOSE(msg)
	case "CLOSED":
		l.onClosed(msg)
	case "NOTICE":
		if len(msg) > 1 {
			l.s.cfg.Logger.Debug("relay notice", "url", l.s.url, "notice", Str(msg[1]))
		}
	}
}

func (l *loop) canAuth() bool {
	return l.s.cfg.Secret != "" && l.challenge != "" && !l.authed && !l.authFailed
}

// authenticate sends the AUTH answer to the challenge, once per connection.
func (l *loop) authenticate() {
	if l.authID != "" {
		return
	}
	ev := nostr.Event{
		Kind:      nostr.KindClientAuthentication,
		CreatedAt: nostr.Now(),
		Tags:      nostr.Tags{{"relay", l.s.url}, {"challenge", l.challenge}},
	}
	if err := ev.Sign(l.s.cfg.Secret); err != nil {
		l.authFailed = true
		l.failAuthWaiting(fmt.Errorf("authenticating to %s: %w", l.s.url, err))
		return
	}
	l.authID = ev.ID
	l.send("AUTH", &ev)
}

// afterAuth sends again what waited for authentication.
func (l *loop) afterAuth() {
	for _, op := range sortedBySeq(l.subs, func(o *subOp) int { return o.seq }) {
		if op.needAuth {
			op.needAuth = false
			l.sendReq(op)
		}
	}
	for _, p := range sortedBySeq(l.pubs, func(p *pubOp) int { return p.seq }) {
		if p.needAuth {
			p.needAuth = false
			l.sendEvent(p)
		}
	}
}

func (l *loop) failAuthWaiting(err error) {
	for _, p := range l.pubs {
		if p.needAuth {
			l.finishPub(p, err)
		}
	}
	for _, op := range l.subs {
		if op.needAuth {
			l.endSub(op, err, false)
		}
	}
}

func (l *loop) onOK(msg []json.RawMessage) {
	if len(msg) < 3 {
		return
	}
	id := Str(msg[1])
	var ok bool
	json.Unmarshal(msg[2], &ok)
	reason := ""
	if len(msg) > 3 {
		reason = Str(msg[3])
	}
	if id != "" && id == l.authID {
		l.authID = ""
		if ok {
			l.authed = true
			l.afterAuth()
		} else {
			l.authFailed = true
			l.failAuthWaiting(fmt.Errorf("authenticating to %s: %w: %s", l.s.url, ErrRefused, reason))
		}
		return
	}
	p := l.pubs[id]
	if p == nil || p.sentOn != l.link {
		return
	}
	authRequired := strings.HasPrefix(reason, "auth-required:")
	switch {
	case ok:
		l.finishPub(p, nil)
	case authRequired && l.canAuth():
		p.sentOn, p.needAuth = nil, true
		l.authenticate()
	case authRequired:
		l.finishPub(p, fmt.Errorf("%w: %s", ErrAuthRequired, reason))
	case p.sent && strings.HasPrefix(reason, "duplicate:"):
		l.finishPub(p, nil)
	default:
		l.finishPub(p, fmt.Errorf("%w: %s", ErrRefused, reason))
	}
}

func (l *loop) onEvent(msg []json.RawMessage) {
	if len(msg) < 3 {
		return
	}
	op := l.subs[Str(msg[1])]
	if op == nil || op.sentOn != l.link {
		return
	}
	var ev nostr.Event
	if json.Unmarshal(msg[2], &ev) != nil {
		return
	}
	if op.query {
		if !op.ids[ev.ID] {
			op.ids[ev.ID] = true
			op.evs = append(op.evs, &ev)
		}
		return
	}
	if !op.seen.add(ev.ID, ev.CreatedAt) {
		return
	}
	if !op.box.push(item{&ev}) {
		l.endSub(op, fmt.Errorf("%s: %w", l.s.url, ErrOverflow), true)
	}
}

func (l *loop) onEOSE(msg []json.RawMessage) {
	if len(msg) < 2 {
		return
	}
	op := l.subs[Str(msg[1])]
	if op == nil || op.sentOn != l.link {
		return
	}
	if op.query {
		delete(l.subs, op.id)
		l.send("CLOSE", op.id)
		op.res <- queryResult{evs: op.evs}
		return
	}
	op.caughtUp = true
	if !op.eosed {
		op.eosed = true
		if !op.box.push(item{}) {
			l.endSub(op, fmt.Errorf("%s: %w", l.s.url, ErrOverflow), true)
		}
	}
}

func (l *loop) onClosed(msg []json.RawMessage) {
	if len(msg) < 2 {
		return
	}
	op := l.subs[Str(msg[1])]
	if op == nil || op.sentOn != l.link {
		return
	}
	reason := ""
	if len(msg) > 2 {
		reason = Str(msg[2])
	}
	if strings.HasPrefix(reason, "auth-required:") && l.canAuth() {
		op.sentOn, op.needAuth = nil, true
		l.authenticate()
		return
	}
	l.endSub(op, fmt.Errorf("%w: %s: %s", ErrSubscriptionClosed, l.s.url, reason), false)
}

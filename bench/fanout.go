package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// fanoutTag marks the events of the fan-out test; every subscription asks
// for it.
const fanoutTag = "cairn-bench-fanout"

// subscribers is a set of connections that count the EVENT messages they
// receive. A round ends when the expected number has arrived.
type subscribers struct {
	conns []*websocket.Conn
	round atomic.Pointer[round]
	errc  chan error
	wg    sync.WaitGroup

	eoseWant int64
	eose     atomic.Int64
	eoseDone chan struct{}
}

type round struct {
	want int64
	got  atomic.Int64
	done chan struct{}
}

func newSubscribers(ctx context.Context, url string, conns int) (*subscribers, error) {
	wss, err := dialAll(ctx, url, conns)
	if err != nil {
		return nil, err
	}
	s := &subscribers{conns: wss, errc: make(chan error, 1), eoseDone: make(chan struct{})}
	for _, ws := range wss {
		s.wg.Go(func() { s.read(ctx, ws) })
	}
	return s, nil
}

func (s *subscribers) read(ctx context.Context, ws *websocket.Conn) {
	for {
		_, msg, err := ws.Read(ctx)
		if err != nil {
			s.report(fmt.Errorf("subscriber connection: %w", err))
			return
		}
		switch {
		case verbIs(msg, "EVENT"):
			if r := s.round.Load(); r != nil && r.got.Add(1) == r.want {
				close(r.done)
			}
		case verbIs(msg, "EOSE"):
			if s.eose.Add(1) == s.eoseWant {
				close(s.eoseDone)
			}
		case verbIs(msg, "CLOSED"), verbIs(msg, "NOTICE"):
			s.report(fmt.Errorf("relay refused a subscription: %.200s", msg))
		}
	}
}

func (s *subscribers) report(err error) {
	select {
	case s.errc <- err:
	default:
	}
}

// subscribe opens perConn subscriptions to the fan-out events on every
// connection (limit 0: live events only) and waits for their EOSEs.
func (s *subscribers) subscribe(ctx context.Context, perConn int) error {
	s.eoseWant = int64(len(s.conns) * perConn)
	for _, ws := range s.conns {
		for j := range perConn {
			req := `["REQ","s` + strconv.Itoa(j) + `",{"#t":["` + fanoutTag + `"],"limit":0}]`
			if err := write(ctx, ws, []byte(req)); err != nil {
				return fmt.Errorf("subscribing: %w", err)
			}
		}
	}
	select {
	case <-s.eoseDone:
		return nil
	case err := <-s.errc:
		return err
	case <-time.After(ioTimeout):
		return fmt.Errorf("subscribing: %d of %d EOSEs after %s", s.eose.Load(), s.eoseWant, ioTimeout)
	}
}

// run starts a round expecting want EVENT messages, calls trigger and
// returns the time from just before trigger until the last message arrived.
func (s *subscribers) run(want int, trigger func() error) (time.Duration, error) {
	r := &round{want: int64(want), done: make(chan struct{})}
	s.round.Store(r)
	defer s.round.Store(nil)
	start := time.Now()
	if err := trigger(); err != nil {
		return 0, err
	}
	select {
	case <-r.done:
		return time.Since(start), nil
	case err := <-s.errc:
		return 0, err
	case <-time.After(ioTimeout):
		return 0, fmt.Errorf("fan-out round: %d of %d deliveries after %s", r.got.Load(), want, ioTimeout)
	}
}

func (s *subscribers) close() {
	closeAll(s.conns)
	s.wg.Wait()
}

// publisher sends EVENTs on one connection and reports each OK with the
// time it arrived.
type publisher struct {
	ws  *websocket.Conn
	oks chan okAt
	wg  sync.WaitGroup
}

type okAt struct {
	accepted bool
	reason   string
	at       time.Time
	err      error
}

func newPublisher(ctx context.Context, url string) (*publisher, error) {
	ws, err := dial(ctx, url)
	if err != nil {
		return nil, err
	}
	p := &publisher{ws: ws, oks: make(chan okAt, 16)}
	p.wg.Go(func() {
		for {
			_, msg, err := ws.Read(ctx)
			if err != nil {
				select {
				case p.oks <- okAt{err: err}:
				default:
				}
				return
			}
			if ok, reason, valid := parseOK(msg); valid {
				p.oks <- okAt{accepted: ok, reason: reason, at: time.Now()}
			}
		}
	})
	return p, nil
}

// ok waits for the next OK, which must accept the event.
func (p *publisher) ok() (time.Time, error) {
	select {
	case r := <-p.oks:
		switch {
		case r.err != nil:
			return time.Time{}, fmt.Errorf("publisher connection: %w", r.err)
		case !r.accepted:
			return time.Time{}, fmt.Errorf("relay refused a fan-out event: %s", r.reason)
		}
		return r.at, nil
	case <-time.After(ioTimeout):
		return time.Time{}, fmt.Errorf("no OK for a fan-out event after %s", ioTimeout)
	}
}

func (p *publisher) close() {
	p.ws.CloseNow()
	p.wg.Wait()
}

// fanoutResult holds the latencies of the fan-out rounds.
type fanoutResult struct {
	raw       []time.Duration // plain websocket server, same messages
	ephemeral []time.Duration // relay, ephemeral event (verify + match + send)
	stored    []time.Duration // relay, regular event (verify + durable save + match + send)
	storedOK  []time.Duration // relay, regular event: until the publisher's OK
}

// fanout publishes each event of ephemeral and stored through the relay at
// relayURL, to subs subscriptions over subs/perConn connections, and, in
// the same rounds, broadcasts the same messages from a plain websocket
// server. Rounds alternate so that a noisy neighbour hurts all three alike.
func fanout(ctx context.Context, relayURL string, ephemeral, stored [][]byte, rawEvent []byte, subs, perConn int) (fanoutResult, error) {
	var res fanoutResult
	ctx, cancel := context.WithTimeout(ctx, phaseTimeout)
	defer cancel()
	conns := subs / perConn

	raw, err := startRawServer(nil)
	if err != nil {
		return res, err
	}
	defer raw.close()
	rawSubs, err := newSubscribers(ctx, raw.url(), conns)
	if err != nil {
		return res, err
	}
	defer rawSubs.close()
	if err := raw.waitConns(ctx, conns); err != nil {
		return res, err
	}
	var rawMsgs [][]byte
	for j := range perConn {
		m := []byte(`["EVENT","s` + strconv.Itoa(j) + `",`)
		rawMsgs = append(rawMsgs, append(append(m, rawEvent...), ']'))
	}

	relaySubs, err := newSubscribers(ctx, relayURL, conns)
	if err != nil {
		return res, err
	}
	defer relaySubs.close()
	if err := relaySubs.subscribe(ctx, perConn); err != nil {
		return res, err
	}
	pub, err := newPublisher(ctx, relayURL)
	if err != nil {
		return res, err
	}
	defer pub.close()

	publish := func(msg []byte) (all, ok time.Duration, err error) {
		start := time.Now()
		all, err = relaySubs.run(subs, func() error { return write(ctx, pub.ws, msg) })
		if err != nil {
			return 0, 0, err
		}
		at, err := pub.ok()
		return all, at.Sub(start), err
	}
	for i := range min(len(ephemeral), len(stored)) {
		d, err := rawSubs.run(subs, func() error { raw.broadcast(rawMsgs); return nil })
		if err != nil {
			return res, fmt.Errorf("raw fan-out: %w", err)
		}
		res.raw = append(res.raw, d)
		if d, _, err = publish(ephemeral[i]); err != nil {
			return res, fmt.Errorf("relay fan-out, ephemeral event: %w", err)
		}
		res.ephemeral = append(res.ephemeral, d)
		d, ok, err := publish(stored[i])
		if err != nil {
			return res, fmt.Errorf("relay fan-out, stored event: %w", err)
		}
		res.stored = append(res.stored, d)
		res.storedOK = append(res.storedOK, ok)
	}
	return res, nil
}

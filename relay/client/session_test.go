package client_test

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/internal/netproxy"
	"github.com/cairn-nostr/cairn/relay"
	"github.com/cairn-nostr/cairn/relay/client"
	"github.com/cairn-nostr/cairn/store"
)

// startRelay runs a relay with cfg over a memory store on 127.0.0.1 and
// returns its address (host:port).
func startRelay(t *testing.T, cfg relay.Config) string {
	t.Helper()
	st := store.NewMemory()
	r, err := relay.New(cfg, st, relay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(func() { r.Close(); srv.Close(); st.Close() })
	return strings.TrimPrefix(srv.URL, "http://")
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func fastSession(t *testing.T, url string, cfg client.SessionConfig) *client.Session {
	t.Helper()
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = 10*time.Millisecond, 100*time.Millisecond
	}
	s, err := client.NewSession(context.Background(), url, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// A session left idle through several of the relay's pings keeps its one
// connection and publishes on the first try; a Conn that is not reading
// meanwhile is dropped for missing the pongs.
func TestSessionAnswersPings(t *testing.T) {
	cfg := relay.DefaultConfig()
	cfg.PingInterval = 200 * time.Millisecond
	cfg.IdleTimeout = time.Minute
	addr := startRelay(t, cfg)
	ps, pc := netproxy.New(t, addr), netproxy.New(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	s, err := client.NewSession(ctx, ps.URL(), client.SessionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first := recv(t, ps.Accepted, "the session's connection")

	// Two Conns in turn, each dialled once the one before was dropped, so
	// the session lives through at least two rounds of ping and timeout.
	for i := range 2 {
		c, err := client.Dial(ctx, pc.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctrl := recv(t, pc.Accepted, "the Conn's connection")
		recv(t, ctrl.Ended, "the relay dropping a Conn that does not read")
		if err := c.Publish(ctx, "EVENT", note(t, nostr.GeneratePrivateKey(), "late")); err == nil {
			t.Fatalf("Conn %d: publish after the relay dropped it succeeded", i)
		}
	}
	if !s.Connected() {
		t.Fatal("session not connected")
	}
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	defer pcancel()
	if err := s.Publish(pctx, note(t, nostr.GeneratePrivateKey(), "after a quiet while")); err != nil {
		t.Fatalf("publish after idling: %v", err)
	}
	select {
	case <-first.Ended:
		t.Fatal("the session's connection was dropped")
	case <-ps.Accepted:
		t.Fatal("the session reconnected")
	default:
	}
}

// Events published while the session is disconnected and after it has
// reconnected reach the subscriber, each exactly once, across two cuts.
func TestSessionSubscriptionSurvivesCuts(t *testing.T) {
	addr := startRelay(t, relay.DefaultConfig())
	p := netproxy.New(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := fastSession(t, p.URL(), client.SessionConfig{})
	other, err := client.Dial(ctx, "ws://"+addr)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	sk := nostr.GeneratePrivateKey()
	pk, _ := nostr.GetPublicKey(sk)
	publish := func(content string) string {
		t.Helper()
		ev := note(t, sk, content)
		if err := other.Publish(ctx, "EVENT", ev); err != nil {
			t.Fatal(err)
		}
		return ev.ID
	}

	got := make(chan string, 64)
	ready := make(chan struct{})
	sctx, stop := context.WithCancel(ctx)
	subErr := make(chan error, 1)
	go func() {
		subErr <- s.Subscribe(sctx, nostr.Filter{Kinds: []int{1}, Authors: []string{pk}},
			func(ev *nostr.Event) { got <- ev.ID }, func() { close(ready) })
	}()
	recv(t, ready, "EOSE")
	count := map[string]int{}
	expect := func(ids ...string) {
		t.Helper()
		want := map[string]bool{}
		for _, id := range ids {
			want[id] = true
		}
		for range ids {
			id := recv(t, got, "an event")
			count[id]++
			if !want[id] {
				t.Fatalf("got %s, want one of %v", id, ids)
			}
		}
	}
	e1 := publish("before the cut")
	expect(e1)

	// Cut, and keep the relay unreachable until the session has tried
	// again: what is published then is stored and must come on reconnect.
	conn := recv(t, p.Accepted, "the first connection")
	p.Kill(true)
	recv(t, conn.Ended, "the cut")
	recv(t, p.Refused, "a reconnect attempt")
	e2, e3 := publish("while down 1"), publish("while down 2")
	p.Up()
	expect(e2, e3)
	e4 := publish("after reconnecting")
	expect(e4)

	// A second cut: the resumed REQ asks again for e1..e4 (since is only a
	// little before the newest); none is delivered twice. The query runs on
	// the new connection after the resumed REQ, so once it is answered any
	// repeat is queued before e5.
	conn = recv(t, p.Accepted, "the second connection")
	p.Kill(false)
	recv(t, conn.Ended, "the second cut")
	if _, err := s.Query(ctx, nostr.Filter{Kinds: []int{1}, Authors: []string{pk}}); err != nil {
		t.Fatal(err)
	}
	recv(t, p.Accepted, "the third connection")
	e5 := publish("after the second cut")
	expect(e5)
	select {
	case id := <-got:
		t.Fatalf("extra event %s", id)
	default:
	}
	for _, id := range []string{e1, e2, e3, e4, e5} {
		if count[id] != 1 {
			t.Errorf("%s delivered %d times", id, count[id])
		}
	}
	stop()
	if err := recv(t, subErr, "Subscribe to return"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe returned %v", err)
	}
}

// A publish issued while the connection is dead is sent when it is back.
func TestSessionPublishAcrossCut(t *testing.T) {
	addr := startRelay(t, relay.DefaultConfig())
	p := netproxy.New(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := fastSession(t, p.URL(), client.SessionConfig{})
	sk := nostr.GeneratePrivateKey()
	if err := s.Publish(ctx, note(t, sk, "first")); err != nil {
		t.Fatal(err)
	}
	conn := recv(t, p.Accepted, "the connection")

	// Relay unreachable: the publish waits.
	p.Kill(true)
	recv(t, conn.Ended, "the cut")
	recv(t, p.Refused, "a reconnect attempt")
	ev := note(t, sk, "while down")
	res := make(chan error, 1)
	go func() { res <- s.Publish(ctx, ev) }()
	recv(t, p.Refused, "another reconnect attempt")
	recv(t, p.Refused, "a third reconnect attempt")
	select {
	case err := <-res:
		t.Fatalf("publish returned while the relay was unreachable: %v", err)
	default:
	}
	p.Up()
	if err := recv(t, res, "the publish"); err != nil {
		t.Fatalf("publish after reconnect: %v", err)
	}

	// Cut with the publish right behind it, before the session can notice.
	conn = recv(t, p.Accepted, "the second connection")
	p.Kill(false)
	recv(t, conn.Ended, "the second cut")
	ev2 := note(t, sk, "right after a cut")
	if err := s.Publish(ctx, ev2); err != nil {
		t.Fatalf("publish right after a cut: %v", err)
	}

	direct, err := client.Dial(ctx, "ws://"+addr)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	evs, err := direct.Query(ctx, nostr.Filter{IDs: []string{ev.ID, ev2.ID}})
	if err != nil || len(evs) != 2 {
		t.Fatalf("stored: %d events, %v", len(evs), err)
	}
	// A stored event published again is accepted (NIP-01: OK true, "duplicate:").
	if err := s.Publish(ctx, ev); err != nil {
		t.Fatalf("publishing a stored event again: %v", err)
	}
	// A refusal on the first try is an error carrying the reason.
	bad := *ev
	bad.Content = "tampered"
	err = s.Publish(ctx, &bad)
	if !errors.Is(err, client.ErrRefused) || !strings.Contains(err.Error(), "invalid:") {
		t.Fatalf("publishing a tampered event: %v", err)
	}
}

// Publish and Subscribe answer the relay's AUTH with the session's key.
func TestSessionAuth(t *testing.T) {
	cfg := relay.DefaultConfig()
	cfg.Auth = relay.AuthAll
	addr := startRelay(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sk := nostr.GeneratePrivateKey()
	pk, _ := nostr.GetPublicKey(sk)

	anon := fastSession(t, "ws://"+addr, client.SessionConfig{})
	if err := anon.Publish(ctx, note(t, sk, "anonymous")); !errors.Is(err, client.ErrAuthRequired) {
		t.Fatalf("publish without a key: %v", err)
	}
	if _, err := anon.Query(ctx, nostr.Filter{Kinds: []int{1}}); !errors.Is(err, client.ErrSubscriptionClosed) {
		t.Fatalf("query without a key: %v", err)
	}

	s := fastSession(t, "ws://"+addr, client.SessionConfig{Secret: sk})
	ready := make(chan struct{})
	got := make(chan string, 1)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go s.Subscribe(sctx, nostr.Filter{Kinds: []int{1}, Authors: []string{pk}},
		func(ev *nostr.Event) { got <- ev.ID }, func() { close(ready) })
	recv(t, ready, "EOSE after AUTH")
	ev := note(t, sk, "authenticated")
	if err := s.Publish(ctx, ev); err != nil {
		t.Fatalf("publish with a key: %v", err)
	}
	if id := recv(t, got, "the event"); id != ev.ID {
		t.Fatalf("got %s", id)
	}
	evs, err := s.Query(ctx, nostr.Filter{IDs: []string{ev.ID}})
	if err != nil || len(evs) != 1 {
		t.Fatalf("query: %v %v", evs, err)
	}
}

// Close returns at once while the relay does not answer, pending calls
// return ErrClosed, and no goroutine is left.
func TestSessionCloseWhileUnreachable(t *testing.T) {
	// A listener that accepts and never answers: the websocket handshake
	// hangs, as with a relay behind a dead route.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(held)
				return
			}
			held <- c
		}
	}()
	defer func() {
		ln.Close()
		for c := range held {
			c.Close()
		}
	}()
	// A relay with the proxy down: refused at once, retried with backoff.
	p := netproxy.New(t, startRelay(t, relay.DefaultConfig()))
	p.Kill(true)

	for _, tc := range []struct {
		name  string
		url   string
		tried <-chan struct{}
	}{
		{"hanging", "ws://" + ln.Addr().String(), nil},
		{"refusing", p.URL(), p.Refused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			s, err := client.NewSession(context.Background(), tc.url, client.SessionConfig{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.tried != nil {
				recv(t, tc.tried, "a connection attempt")
			} else {
				c := recv(t, held, "a connection attempt")
				defer c.Close()
			}
			var wg sync.WaitGroup
			errs := make(chan error, 2)
			wg.Add(2)
			go func() {
				defer wg.Done()
				errs <- s.Publish(context.Background(), note(t, nostr.GeneratePrivateKey(), "never sent"))
			}()
			go func() {
				defer wg.Done()
				errs <- s.Subscribe(context.Background(), nostr.Filter{Kinds: []int{1}}, func(*nostr.Event) {}, nil)
			}()
			closed := make(chan struct{})
			start := time.Now()
			go func() { s.Close(); close(closed) }()
			recv(t, closed, "Close")
			if d := time.Since(start); d > time.Second {
				t.Errorf("Close took %v", d)
			}
			for range 2 {
				if err := recv(t, errs, "a pending call"); !errors.Is(err, client.ErrClosed) {
					t.Errorf("pending call returned %v, want ErrClosed", err)
				}
			}
			wg.Wait()
			if s.Connected() {
				t.Error("connected after Close")
			}
			noLeak(t, before)
		})
	}
}

// Close of a connected session cuts the websocket at once; the relay sees
// it go.
func TestSessionCloseConnected(t *testing.T) {
	p := netproxy.New(t, startRelay(t, relay.DefaultConfig()))
	before := runtime.NumGoroutine()
	s, err := client.NewSession(context.Background(), p.URL(), client.SessionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	conn := recv(t, p.Accepted, "the connection")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Query(ctx, nostr.Filter{Kinds: []int{1}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close() // twice is harmless
	recv(t, conn.Ended, "the connection to close")
	if _, err := s.Query(ctx, nostr.Filter{}); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("query after Close: %v", err)
	}
	noLeak(t, before)
}

// noLeak waits for the goroutine count to come back to before. Close has
// waited for the session's own goroutines; what may still be winding down
// are net/http's and the proxy's, whose exit the test cannot wait on.
func noLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second) // bounded; generous for loaded machines
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

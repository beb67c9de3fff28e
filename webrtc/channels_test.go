//go:build !js

package webrtc

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// pairChannels returns two Channels, "a" and "b", whose signals go
// straight to each other (in place of a relay's PEER_SIGNAL), and counts
// the signals by simple-peer type.
func pairChannels(t *testing.T) (a, b *Channels, types map[string]int) {
	t.Helper()
	types = map[string]int{}
	ch := make(chan func(), 256)
	deliver := func(to **Channels, from string) func(context.Context, string, json.RawMessage) error {
		return func(_ context.Context, _ string, data json.RawMessage) error {
			var s spSignal
			json.Unmarshal(data, &s)
			ch <- func() { types[s.Type]++; (*to).Signal(from, data) }
			return nil
		}
	}
	a = NewChannels(ChannelsConfig{Loopback: true, Send: deliver(&b, "a")})
	b = NewChannels(ChannelsConfig{Loopback: true, Send: deliver(&a, "b")})
	done := make(chan struct{})
	go func() {
		for {
			select {
			case f := <-ch:
				f()
			case <-done:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(done)
		a.Close()
		b.Close()
	})
	return a, b, types
}

// TestChannelsExchange: a channel negotiated with simple-peer's signal
// objects opens on loopback and carries text messages both ways, in order.
func TestChannelsExchange(t *testing.T) {
	a, b, _ := pairChannels(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	acc := make(chan *MsgConn, 1)
	go func() {
		c, err := b.Accept(ctx)
		if err == nil {
			acc <- c
		}
	}()
	ca, err := a.Dial(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	var cb *MsgConn
	select {
	case cb = <-acc:
	case <-ctx.Done():
		t.Fatal("no channel accepted")
	}
	if cb.Peer() != "a" || ca.Peer() != "b" {
		t.Fatalf("peers %q %q", cb.Peer(), ca.Peer())
	}
	for i := range 20 {
		if err := ca.Send(fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		m, err := cb.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(`{"n":%d}`, i); string(m) != want {
			t.Fatalf("message %d: %s, want %s", i, m, want)
		}
	}
	cb.Send([]byte("back"))
	if m, err := ca.Recv(ctx); err != nil || string(m) != "back" {
		t.Fatalf("reply %q %v", m, err)
	}
	ca.Close()
	if _, err := cb.Recv(ctx); err == nil {
		t.Fatal("the far side still reads after Close")
	}
}

// TestChannelsBadSignals: malformed signal objects and answers nobody
// waits for are dropped without effect.
func TestChannelsBadSignals(t *testing.T) {
	a, _, _ := pairChannels(t)
	for _, s := range []string{`nope`, `{"type":"offer"}`, `{"type":"answer","sdp":"v=0"}`, `{"type":"candidate"}`, `{"renegotiate":true}`, `[]`} {
		a.Signal("x", json.RawMessage(s))
	}
	a.Signal("", json.RawMessage(`{"type":"offer","sdp":"v=0"}`))
	a.mu.Lock()
	n := len(a.nego)
	a.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d negotiations after bad signals", n)
	}
}

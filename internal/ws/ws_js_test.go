//go:build js

package ws

import (
	"context"
	"strings"
	"syscall/js"
	"testing"
	"time"
)

// A scripted WebSocket replaces the browser's: it opens (or fails, as
// globalThis.wsScript says) as soon as Dial listens, then the test delivers
// messages and closes it by hand and reads what was sent.
const fakeWS = `globalThis.WebSocket = class {
  constructor(url) { this.url = url; this.sent = []; this.closedWith = null; globalThis.lastWS = this; }
  set onopen(f) { this._open = f; if (f && globalThis.wsScript === "open") queueMicrotask(() => this._open && this._open({})); }
  get onopen() { return this._open; }
  set onclose(f) { this._close = f; if (f && globalThis.wsScript === "refuse") queueMicrotask(() => this._close && this._close({code: 1006, reason: ""})); }
  get onclose() { return this._close; }
  send(d) { if (this.closedWith) throw new Error("InvalidStateError: closed"); this.sent.push(typeof d === "string" ? d : "bin:" + d.length); }
  close(code, reason) { this.closedWith = [code || 1005, reason || ""]; }
}`

func install(t *testing.T) {
	t.Helper()
	js.Global().Call("eval", fakeWS)
}

func fake() js.Value { return js.Global().Get("lastWS") }

func fire(name string, ev map[string]any) { fake().Call("on"+name, ev) }

// dial dials the fake, which opens at once.
func dial(t *testing.T) *Conn {
	t.Helper()
	js.Global().Set("wsScript", "open")
	c, _, err := Dial(context.Background(), "ws://relay.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestReadWriteInOrder(t *testing.T) {
	install(t)
	c := dial(t)
	if fake().Get("binaryType").String() != "arraybuffer" {
		t.Error("binaryType is not arraybuffer")
	}
	for _, m := range []string{"one", "two", "three"} {
		fire("message", map[string]any{"data": m})
	}
	u := js.Global().Get("Uint8Array").New(3)
	fire("message", map[string]any{"data": u.Get("buffer")})
	for _, want := range []string{"one", "two", "three"} {
		typ, b, err := c.Read(context.Background())
		if err != nil || typ != MessageText || string(b) != want {
			t.Fatalf("Read = %v %q %v; want text %q", typ, b, err, want)
		}
	}
	if typ, b, err := c.Read(context.Background()); err != nil || typ != MessageBinary || len(b) != 3 {
		t.Fatalf("binary Read = %v %v %v", typ, b, err)
	}
	if err := c.Write(context.Background(), MessageText, []byte(`["REQ"]`)); err != nil {
		t.Fatal(err)
	}
	if s := fake().Get("sent").Index(0).String(); s != `["REQ"]` {
		t.Errorf("sent %q", s)
	}
	// Messages that came before the close are still read; then the close.
	fire("message", map[string]any{"data": "last"})
	fire("close", map[string]any{"code": 1006, "reason": ""})
	if _, b, err := c.Read(context.Background()); err != nil || string(b) != "last" {
		t.Fatalf("Read after close = %q %v", b, err)
	}
	if _, _, err := c.Read(context.Background()); err == nil || !strings.Contains(err.Error(), "1006") {
		t.Fatalf("Read of a closed socket: %v", err)
	}
	if err := c.Write(context.Background(), MessageText, []byte("x")); err == nil {
		t.Error("Write to a closed socket succeeded")
	}
}

func TestReadLimitAndContext(t *testing.T) {
	install(t)
	c := dial(t)
	c.SetReadLimit(4)
	fire("message", map[string]any{"data": "too long"})
	if _, _, err := c.Read(context.Background()); err == nil || !strings.Contains(err.Error(), "read limited") {
		t.Fatalf("oversized message: %v", err)
	}
	if fake().Get("closedWith").IsNull() {
		t.Error("an oversized message did not close the socket")
	}

	c = dial(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := c.Read(ctx); err == nil {
		t.Fatal("Read with a cancelled context succeeded")
	}
	if fake().Get("closedWith").IsNull() {
		t.Error("a cancelled Read did not close the socket, as coder/websocket does")
	}
}

func TestDialFails(t *testing.T) {
	install(t)
	js.Global().Set("wsScript", "refuse")
	if _, _, err := Dial(context.Background(), "ws://127.0.0.1:1", nil); err == nil || !strings.Contains(err.Error(), "dial") {
		t.Fatalf("Dial of a refused socket: %v", err)
	}

	js.Global().Set("wsScript", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, _, err := Dial(ctx, "ws://never.test", nil); err == nil {
		t.Fatal("Dial that never opens returned no error")
	}
	if fake().Get("closedWith").IsNull() {
		t.Error("a timed-out Dial left its socket open")
	}
}

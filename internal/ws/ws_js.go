//go:build js

package ws

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall/js"
	"time"
)

// MessageType is a message's type: text or binary.
type MessageType int

// The message types, numbered as in the websocket protocol.
const (
	MessageText   MessageType = 1
	MessageBinary MessageType = 2
)

// StatusCode is a close code.
type StatusCode int

// StatusNormalClosure is the close code of a normal close.
const StatusNormalClosure StatusCode = 1000

// DialOptions is accepted for coder/websocket's signature; the browser has
// no options to give.
type DialOptions struct{}

// Response stands for the HTTP response coder/websocket returns; the
// browser does not show it.
type Response struct{}

// Conn is a browser WebSocket.
type Conn struct {
	v     js.Value
	funcs []js.Func

	mu     sync.Mutex
	q      []message
	qbytes int
	limit  int64
	err    error         // why the connection ended; set once
	wake   chan struct{} // a message was queued or the connection ended
	closed chan struct{} // the browser's close event came
}

type message struct {
	typ  MessageType
	data []byte
}

// Dial opens a websocket to url and waits until it is open, failed, or ctx
// ends.
func Dial(ctx context.Context, url string, _ *DialOptions) (c *Conn, _ *Response, err error) {
	defer func() {
		if e := recover(); e != nil {
			err = fmt.Errorf("failed to WebSocket dial: %v", e)
		}
	}()
	ctor := js.Global().Get("WebSocket")
	if ctor.IsUndefined() {
		return nil, nil, errors.New("failed to WebSocket dial: this environment has no WebSocket")
	}
	c = &Conn{v: ctor.New(url), limit: 32768, wake: make(chan struct{}, 1), closed: make(chan struct{})}
	c.v.Set("binaryType", "arraybuffer")
	opened := make(chan struct{})
	c.on("open", func(js.Value) { close(opened) })
	c.on("message", c.message)
	c.on("close", func(e js.Value) {
		c.fail(fmt.Errorf("websocket closed: status %d%s", e.Get("code").Int(), reasonSuffix(e.Get("reason").String())))
		close(c.closed)
		c.release()
	})
	select {
	case <-opened:
		return c, nil, nil
	case <-c.closed:
		return nil, nil, fmt.Errorf("failed to WebSocket dial: %w", c.cause())
	case <-ctx.Done():
		c.CloseNow()
		return nil, nil, fmt.Errorf("failed to WebSocket dial: %w", ctx.Err())
	}
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return ": " + r
}

// on sets the socket's on<name> handler; handlers never block.
func (c *Conn) on(name string, f func(ev js.Value)) {
	fn := js.FuncOf(func(_ js.Value, args []js.Value) any {
		f(args[0])
		return nil
	})
	c.funcs = append(c.funcs, fn)
	c.v.Set("on"+name, fn)
}

// release clears the handlers once the socket has closed.
func (c *Conn) release() {
	for _, name := range []string{"open", "message", "close"} {
		c.v.Set("on"+name, js.Null())
	}
	for _, f := range c.funcs {
		f.Release()
	}
	c.funcs = nil
}

func (c *Conn) message(ev js.Value) {
	d := ev.Get("data")
	var m message
	if d.Type() == js.TypeString {
		m = message{typ: MessageText, data: []byte(d.String())}
	} else {
		u := js.Global().Get("Uint8Array").New(d)
		m = message{typ: MessageBinary, data: make([]byte, u.Length())}
		js.CopyBytesToGo(m.data, u)
	}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	if int64(len(m.data)) > c.limit {
		c.mu.Unlock()
		c.fail(fmt.Errorf("read limited at %d bytes: a message of %d bytes", c.limit, len(m.data)))
		c.v.Call("close")
		return
	}
	c.q = append(c.q, m)
	c.qbytes += len(m.data)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// fail records why the connection ended, the first time.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Conn) cause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// SetReadLimit sets the largest message Read accepts (32 KiB until set); a
// larger one closes the connection.
func (c *Conn) SetReadLimit(n int64) {
	c.mu.Lock()
	c.limit = n
	c.mu.Unlock()
}

// Read returns the next message. Messages that arrived before the
// connection ended are still returned.
func (c *Conn) Read(ctx context.Context) (MessageType, []byte, error) {
	for {
		c.mu.Lock()
		if len(c.q) > 0 {
			m := c.q[0]
			c.q[0] = message{}
			c.q = c.q[1:]
			c.qbytes -= len(m.data)
			c.mu.Unlock()
			return m.typ, m.data, nil
		}
		err := c.err
		c.mu.Unlock()
		if err != nil {
			return 0, nil, fmt.Errorf("failed to read: %w", err)
		}
		select {
		case <-c.wake:
		case <-ctx.Done():
			c.CloseNow()
			return 0, nil, fmt.Errorf("failed to read: %w", ctx.Err())
		}
	}
}

// Write sends one message.
func (c *Conn) Write(ctx context.Context, typ MessageType, b []byte) (err error) {
	if err := ctx.Err(); err != nil {
		c.CloseNow()
		return fmt.Errorf("failed to write: %w", err)
	}
	if err := c.cause(); err != nil {
		return fmt.Errorf("failed to write: %w", err)
	}
	defer func() {
		if e := recover(); e != nil {
			err = fmt.Errorf("failed to write: %v", e)
		}
	}()
	if typ == MessageText {
		c.v.Call("send", string(b))
		return nil
	}
	a := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(a, b)
	c.v.Call("send", a)
	return nil
}

// Close closes the connection with code and reason and waits briefly for
// the browser's close event.
func (c *Conn) Close(code StatusCode, reason string) (err error) {
	c.fail(errors.New("websocket closed by this side"))
	func() {
		defer func() {
			if e := recover(); e != nil {
				err = fmt.Errorf("failed to close: %v", e)
			}
		}()
		c.v.Call("close", int(code), reason)
	}()
	if err != nil {
		return err
	}
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-c.closed:
	case <-t.C:
	}
	return nil
}

// CloseNow starts closing the connection and returns at once.
func (c *Conn) CloseNow() error {
	c.fail(errors.New("websocket closed by this side"))
	defer func() { recover() }()
	c.v.Call("close")
	return nil
}

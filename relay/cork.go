package relay

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"
)

// The websocket library flushes every message to the socket with a write
// call of its own. A connection's write loop that has several messages
// queued (the results of a REQ, the OKs of a burst of EVENTs) holds them in
// a corkConn instead and sends them with one write: fewer system calls on
// the relay's side and fewer wake-ups and reads on the client's.

// maxCorked bounds the bytes a corkConn holds before it writes them.
const maxCorked = 64 << 10

// corkConn is the hijacked connection under a websocket. While held, writes
// are appended to buf; the first write after hold is released goes out
// together with them (one writev). Writes come from the websocket library,
// which serialises frames, and from the write loop's hold and release: mu
// orders them.
type corkConn struct {
	net.Conn
	mu   sync.Mutex
	hold bool
	buf  []byte
}

// setHold turns holding on or off.
func (c *corkConn) setHold(hold bool) {
	c.mu.Lock()
	c.hold = hold
	c.mu.Unlock()
}

// corked is how many bytes are held.
func (c *corkConn) corked() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.buf)
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hold && len(c.buf)+len(p) <= maxCorked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	if len(c.buf) == 0 {
		return c.Conn.Write(p)
	}
	held := len(c.buf)
	bufs := net.Buffers{c.buf, p}
	n, err := bufs.WriteTo(c.Conn)
	c.buf = c.buf[:0]
	if cap(c.buf) > 16<<10 { // an idle connection keeps no large buffer
		c.buf = nil
	}
	if n -= int64(held); n < 0 {
		n = 0
	}
	return int(n), err
}

// flush releases the hold and writes what is held, giving up after
// timeout (the client may have stopped reading). It is for a write loop
// that stops in the middle of a batch.
func (c *corkConn) flush(timeout time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold = false
	if len(c.buf) == 0 {
		return
	}
	c.Conn.SetWriteDeadline(time.Now().Add(timeout))
	c.Conn.Write(c.buf)
	c.Conn.SetWriteDeadline(time.Time{})
	c.buf = nil
}

// canHijack reports whether w, or a ResponseWriter it wraps (Unwrap), can
// hijack its connection, as the websocket library looks for one.
func canHijack(w http.ResponseWriter) bool {
	for {
		switch t := w.(type) {
		case http.Hijacker:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return false
		}
	}
}

// corkWriter hands the websocket library a corkConn when it hijacks the
// HTTP connection. It wraps only a ResponseWriter that can hijack, so that
// one that cannot is still refused by the library before it answers 101.
type corkWriter struct {
	http.ResponseWriter
	conn *corkConn // set by Hijack
}

func (w *corkWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *corkWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil { // nothing is buffered, normally
		nc.Close()
		return nil, nil, err
	}
	w.conn = &corkConn{Conn: nc}
	brw.Writer.Reset(w.conn)
	return w.conn, brw, nil
}

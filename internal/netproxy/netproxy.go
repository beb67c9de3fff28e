// Package netproxy is a TCP proxy on loopback for tests: it forwards
// connections to a target and cuts them on command, so a test can show a
// client surviving a relay that drops it.
//
//	p := netproxy.New(t, relayAddr)
//	c := dial(p.URL())
//	p.Kill(true) // cut every connection; refuse new ones
//	p.Up()       // accept again
package netproxy

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to a target and cuts them on command.
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool // connections are refused (accepted and closed at once)
	live  map[*Conn]struct{}
	wg    sync.WaitGroup
	quit  bool
	extra []net.Conn

	// Accepted gets each connection forwarded, Refused one value for each
	// connection refused while down. They are buffered (64 and 1024): a
	// test that makes more connections must read them.
	Accepted chan *Conn
	Refused  chan struct{}
}

// Conn is one forwarded connection; Ended is closed when it is gone.
type Conn struct {
	a, b  net.Conn
	Ended chan struct{}
	once  sync.Once
}

// Cut closes both sides.
func (c *Conn) Cut() {
	c.once.Do(func() {
		c.a.Close()
		c.b.Close()
		close(c.Ended)
	})
}

// New listens on 127.0.0.1 and forwards to target (host:port) until the
// test ends.
func New(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, live: map[*Conn]struct{}{},
		Accepted: make(chan *Conn, 64), Refused: make(chan struct{}, 1024)}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.Close)
	return p
}

// URL is the proxy as a websocket URL.
func (p *Proxy) URL() string { return "ws://" + p.ln.Addr().String() }

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			p.Refused <- struct{}{}
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		pc := &Conn{a: c, b: up, Ended: make(chan struct{})}
		p.mu.Lock()
		if p.down || p.quit {
			p.mu.Unlock()
			pc.Cut()
			continue
		}
		p.live[pc] = struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		p.Accepted <- pc
		go p.pipe(pc, up, c)
		go p.pipe(pc, c, up)
	}
}

func (p *Proxy) pipe(pc *Conn, dst, src net.Conn) {
	defer p.wg.Done()
	io.Copy(dst, src)
	pc.Cut()
	p.mu.Lock()
	delete(p.live, pc)
	p.mu.Unlock()
}

// Kill cuts every connection now open; with down, it refuses new ones
// until Up.
func (p *Proxy) Kill(down bool) {
	p.mu.Lock()
	p.down = down
	var cut []*Conn
	for pc := range p.live {
		cut = append(cut, pc)
	}
	p.mu.Unlock()
	for _, pc := range cut {
		pc.Cut()
	}
}

// Up accepts new connections again.
func (p *Proxy) Up() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// Close stops the proxy and cuts every connection.
func (p *Proxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	p.quit = true
	p.mu.Unlock()
	p.Kill(true)
	p.wg.Wait()
}

package relay

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// Held writes go out with the first write after the hold is released, in
// order; without a hold every write goes straight out.
func TestCorkConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := &corkConn{Conn: a}
	got := make(chan string, 8)
	go func() {
		buf := make([]byte, 1024)
		for {
			n, err := b.Read(buf)
			if err != nil {
				close(got)
				return
			}
			got <- string(buf[:n])
		}
	}()
	read := func() string {
		t.Helper()
		var s string
		timeout := time.After(5 * time.Second)
		for {
			select {
			case part := <-got:
				s += part
			case <-time.After(20 * time.Millisecond):
				return s
			case <-timeout:
				t.Fatal("no data")
			}
		}
	}
	write := func(s string) {
		t.Helper()
		if n, err := c.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("write %q: %d, %v", s, n, err)
		}
	}

	write("plain ")
	if s := read(); s != "plain " {
		t.Fatalf("read %q", s)
	}
	c.setHold(true)
	write("one ")
	write("two ")
	if s := read(); s != "" || c.corked() != 8 {
		t.Fatalf("held writes went out: %q, %d held", s, c.corked())
	}
	c.setHold(false)
	write("three")
	if s := read(); s != "one two three" || c.corked() != 0 {
		t.Fatalf("read %q, %d still held", s, c.corked())
	}

	// A write that would pass the bound goes out with what is held.
	c.setHold(true)
	write("x")
	big := string(make([]byte, maxCorked))
	go c.Write([]byte(big)) // net.Pipe blocks until read
	if s := read(); len(s) != 1+maxCorked || s[0] != 'x' {
		t.Fatalf("read %d bytes", len(s))
	}

	// flush sends what is held when the loop stops mid-batch.
	write("tail")
	c.flush(time.Second)
	if s := read(); s != "tail" {
		t.Fatalf("flush: read %q", s)
	}
	c.Close()
	io.Copy(io.Discard, b)
}

type plainWriter struct{ http.ResponseWriter }

type wrappingWriter struct{ http.ResponseWriter }

func (w wrappingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type hijackWriter struct{ http.ResponseWriter }

func (hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) { return nil, nil, nil }

func TestCanHijack(t *testing.T) {
	if canHijack(plainWriter{}) || canHijack(wrappingWriter{plainWriter{}}) {
		t.Error("a writer that cannot hijack would be wrapped")
	}
	if !canHijack(hijackWriter{}) || !canHijack(wrappingWriter{hijackWriter{}}) {
		t.Error("a writer that can hijack (or wraps one) would not be wrapped")
	}
}

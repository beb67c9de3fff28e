package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// ioTimeout bounds a connection attempt or a wait for one message; a
// benchmark that stalls this long has found a bug, not a figure.
const ioTimeout = 60 * time.Second

// phaseTimeout bounds one phase (an ingest run, the queries, the fan-out).
const phaseTimeout = 15 * time.Minute

func dial(ctx context.Context, url string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", url, err)
	}
	ws.SetReadLimit(64 << 20)
	return ws, nil
}

func dialAll(ctx context.Context, url string, n int) ([]*websocket.Conn, error) {
	conns := make([]*websocket.Conn, 0, n)
	for range n {
		ws, err := dial(ctx, url)
		if err != nil {
			closeAll(conns)
			return nil, err
		}
		conns = append(conns, ws)
	}
	return conns, nil
}

func closeAll(conns []*websocket.Conn) {
	for _, ws := range conns {
		ws.CloseNow()
	}
}

// write sends a text message. Reads and writes take the phase's context,
// which has a deadline, rather than a timer each: the client shares the
// machine with the relay, so it should cost as little as it can.
func write(ctx context.Context, ws *websocket.Conn, msg []byte) error {
	return ws.Write(ctx, websocket.MessageText, msg)
}

// verbIs reports whether a relay message is a JSON array starting with verb.
func verbIs(msg []byte, verb string) bool {
	return len(msg) > len(verb)+4 && msg[0] == '[' && msg[1] == '"' &&
		string(msg[2:2+len(verb)]) == verb && msg[2+len(verb)] == '"'
}

// parseOK reads an ["OK", id, accepted, reason] message. The relay writes
// OK messages in one fixed layout, read without decoding; anything else is
// decoded as JSON. valid is false when msg is not an OK message.
func parseOK(msg []byte) (accepted bool, reason string, valid bool) {
	const pre = `["OK","`
	if len(msg) >= len(pre)+64+7 && string(msg[:len(pre)]) == pre && string(msg[len(pre)+64:len(pre)+66]) == `",` {
		rest := msg[len(pre)+66:]
		if bytes.Equal(rest, []byte(`true,""]`)) {
			return true, "", true
		}
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(msg, &arr); err != nil || len(arr) != 4 || string(arr[0]) != `"OK"` {
		return false, "", false
	}
	if err := json.Unmarshal(arr[2], &accepted); err != nil {
		return false, "", false
	}
	json.Unmarshal(arr[3], &reason)
	return accepted, reason, true
}

// rawServer is a plain websocket server on loopback with no Nostr logic in
// it: the transport ceiling for the relay's figures. It replays prepared
// responses (a client sends the index of one as a decimal string) and
// broadcasts prepared messages to every connection on demand, through a
// queue and a writer goroutine per connection, as the relay does.
type rawServer struct {
	responses [][][]byte
	srv       *http.Server
	ln        net.Listener

	mu      sync.Mutex
	conns   []*rawConn
	arrived chan struct{} // a value per accepted connection
	wg      sync.WaitGroup
}

type rawConn struct {
	ws   *websocket.Conn
	kick chan [][]byte
}

func startRawServer(responses [][][]byte) (*rawServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the raw websocket server: %w", err)
	}
	s := &rawServer{responses: responses, ln: ln, arrived: make(chan struct{}, 1<<16)}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve)}
	s.wg.Go(func() { s.srv.Serve(ln) })
	return s, nil
}

func (s *rawServer) url() string { return "ws://" + s.ln.Addr().String() }

func (s *rawServer) serve(w http.ResponseWriter, req *http.Request) {
	ws, err := websocket.Accept(w, req, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	ws.SetReadLimit(1 << 20)
	c := &rawConn{ws: ws, kick: make(chan [][]byte, 1)}
	s.mu.Lock()
	s.conns = append(s.conns, c)
	s.mu.Unlock()
	s.arrived <- struct{}{}
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	s.wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case msgs := <-c.kick:
				for _, m := range msgs {
					if ws.Write(ctx, websocket.MessageText, m) != nil {
						return
					}
				}
			}
		}
	})
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return
		}
		i, err := strconv.Atoi(string(b))
		if err != nil || i < 0 || i >= len(s.responses) {
			return
		}
		for _, m := range s.responses[i] {
			if ws.Write(ctx, websocket.MessageText, m) != nil {
				return
			}
		}
	}
}

// waitConns waits until n connections have been accepted.
func (s *rawServer) waitConns(ctx context.Context, n int) error {
	for range n {
		select {
		case <-s.arrived:
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(ioTimeout):
			return fmt.Errorf("raw websocket server: connections did not arrive")
		}
	}
	return nil
}

// broadcast queues msgs on every connection.
func (s *rawServer) broadcast(msgs [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		select {
		case c.kick <- msgs:
		default: // the previous broadcast is still being written: the round will time out
		}
	}
}

func (s *rawServer) close() {
	s.mu.Lock()
	for _, c := range s.conns {
		c.ws.CloseNow()
	}
	s.mu.Unlock()
	s.srv.Close()
	s.wg.Wait()
}

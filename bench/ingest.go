package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// ingestResult is one ingest run: EVENTs published over websockets until
// every OK came back.
type ingestResult struct {
	elapsed  time.Duration
	usage    usage  // of the process (relay and clients), connections open
	accepted int    // OK true
	refused  int    // OK false
	refusal  string // the first refusal's reason
}

// ingest publishes msgs (encoded EVENT messages) through conns websockets to
// url, each connection keeping up to window EVENTs unanswered, and times
// until the last OK arrives. The connections are open before the clock starts.
func ingest(ctx context.Context, url string, msgs [][]byte, conns, window int) (ingestResult, error) {
	var res ingestResult
	wss, err := dialAll(ctx, url, conns)
	if err != nil {
		return res, err
	}
	defer closeAll(wss)
	ctx, cancel := context.WithTimeout(ctx, phaseTimeout)
	defer cancel()

	var accepted, refused atomic.Int64
	var refusal atomic.Value
	errs := make([]error, conns)
	fail := func(i int, err error) {
		errs[i] = err
		cancel()
	}
	var wg sync.WaitGroup
	m := markNow()
	start := time.Now()
	for i, ws := range wss {
		part := msgs[i*len(msgs)/conns : (i+1)*len(msgs)/conns]
		slots := make(chan struct{}, window)
		wg.Go(func() { // writer
			for _, m := range part {
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					return
				}
				if err := write(ctx, ws, m); err != nil {
					fail(i, fmt.Errorf("sending EVENT: %w", err))
					return
				}
			}
		})
		wg.Go(func() { // reader
			var buf bytes.Buffer // reused: the client should cost little
			for range part {
				if err := readOK(ctx, ws, &buf, &accepted, &refused, &refusal); err != nil {
					fail(i, err)
					return
				}
				<-slots
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.usage = m.usage()
	res.accepted, res.refused = int(accepted.Load()), int(refused.Load())
	if r, ok := refusal.Load().(string); ok {
		res.refusal = r
	}
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("ingest over %d connections, after %d acks: %w", conns, res.accepted+res.refused, err)
	}
	return res, nil
}

// readOK reads messages into buf until an OK and counts it.
func readOK(ctx context.Context, ws *websocket.Conn, buf *bytes.Buffer, accepted, refused *atomic.Int64, refusal *atomic.Value) error {
	for {
		_, rd, err := ws.Reader(ctx)
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(rd)
		}
		if err != nil {
			return fmt.Errorf("waiting for OK: %w", err)
		}
		msg := buf.Bytes()
		ok, reason, valid := parseOK(msg)
		switch {
		case !valid && verbIs(msg, "NOTICE"):
			return fmt.Errorf("relay sent a notice: %.200s", msg)
		case !valid:
			continue
		case ok:
			accepted.Add(1)
		default:
			if refused.Add(1) == 1 {
				refusal.Store(reason)
			}
		}
		return nil
	}
}

package p2p

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/cairn-nostr/cairn/swarm/wire"
)

func TestFetch(t *testing.T) {
	for _, tr := range []string{TransportTCP, TransportQUIC} {
		t.Run(tr, func(t *testing.T) {
			srv := newHost(t, noDHT)
			cli := newHost(t, noDHT)
			connect(t, cli, srv, tr)
			sizes := []int{1, 1000, wire.MaxDataLen, wire.MaxDataLen + 1, 5 << 20}
			var total uint64
			for i, n := range sizes {
				data, _ := chunk(uint64(i), n)
				hash := put(t, srv, data)
				var calls, last int
				got, err := cli.FetchProgress(ctxTimeout(t, 30*time.Second), srv.ID(), hash, hash, func(received, total int) {
					calls++
					if received < last || received > total || total != n {
						t.Errorf("progress %d/%d after %d, chunk of %d", received, total, last, n)
					}
					last = received
				})
				if err != nil {
					t.Fatalf("%d bytes: %v", n, err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("%d bytes: fetched bytes differ", n)
				}
				if last != n || calls == 0 {
					t.Fatalf("%d bytes: progress ended at %d after %d calls", n, last, calls)
				}
				total += uint64(n)
			}
			// Both sides count on the transport used; the chunk stream was
			// opened once and reused.
			cs, ss := cli.Stats().Transports, srv.Stats().Transports
			if c := cs[tr]; c.ChunksFetched != uint64(len(sizes)) || c.BytesDown < total {
				t.Errorf("client %s counters %+v, want %d chunks, >= %d bytes down", tr, c, len(sizes), total)
			}
			if c := ss[tr]; c.ChunksServed != uint64(len(sizes)) || c.BytesUp != cs[tr].BytesDown || c.BytesDown != cs[tr].BytesUp {
				t.Errorf("server %s counters %+v, client %+v", tr, c, cs[tr])
			}
			if cs[TransportAll] != cs[tr] {
				t.Errorf("libp2p total %+v != %s %+v", cs[TransportAll], tr, cs[tr])
			}
			if n := len(cli.Libp2p().Network().ConnsToPeer(srv.ID())[0].GetStreams()); n != 1 {
				t.Errorf("%d streams to the server, want 1 (the reused chunk stream)", n)
			}
		})
	}
}

func TestFetchRefusals(t *testing.T) {
	clock := newFakeClock()
	srv := newHost(t, func(c *Config) { c.DHT = false; c.Now = clock.Now })
	liar := newHost(t, func(c *Config) { c.DHT = false; c.Blobs = lyingBlobs{c.Blobs} })
	cli := newHost(t, noDHT)
	connect(t, cli, srv, "")
	connect(t, cli, liar, "")
	ctx := ctxTimeout(t, 30*time.Second)

	small, smallHash := chunk(1, 500)
	put(t, srv, small)

	t.Run("not found", func(t *testing.T) {
		_, missing := chunk(99, 10)
		if _, err := cli.Fetch(ctx, srv.ID(), missing, missing); !errors.Is(err, ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
	})

	t.Run("hash mismatch", func(t *testing.T) {
		for _, n := range []int{500, 2 << 20} {
			data, _ := chunk(7, n)
			hash := put(t, liar, data)
			got, err := cli.Fetch(ctx, liar.ID(), hash, hash)
			if !errors.Is(err, ErrHashMismatch) || got != nil {
				t.Fatalf("%d bytes: got %d bytes, %v; want ErrHashMismatch", n, len(got), err)
			}
		}
		// The stream stayed in step: the next answer is right.
		_, missing := chunk(98, 10)
		if _, err := cli.Fetch(ctx, liar.ID(), missing, missing); !errors.Is(err, ErrNotFound) {
			t.Fatalf("after mismatch: %v", err)
		}
		if cli.Banned(liar.ID()) {
			t.Fatal("a hash mismatch banned the peer: that is swarm/sched's call")
		}
	})

	t.Run("busy", func(t *testing.T) {
		clock.Advance(time.Hour) // a fresh window
		for i := range DefaultRequestsPerSecond {
			if _, err := cli.Fetch(ctx, srv.ID(), smallHash, smallHash); err != nil {
				t.Fatalf("request %d: %v", i+1, err)
			}
		}
		if _, err := cli.Fetch(ctx, srv.ID(), smallHash, smallHash); !errors.Is(err, ErrBusy) {
			t.Fatalf("request 11 in one second: %v, want ErrBusy", err)
		}
		clock.Advance(time.Second)
		if _, err := cli.Fetch(ctx, srv.ID(), smallHash, smallHash); err != nil {
			t.Fatalf("next second: %v", err)
		}
	})
}

// TestBusyRealClock checks the limit against the wall clock: 15 requests
// fired at once, to a server allowing 10 a second, cannot all fall into
// separate seconds.
func TestBusyRealClock(t *testing.T) {
	srv := newHost(t, func(c *Config) { noDHT(c); c.Limits.RequestsPerSecond = 10 })
	cli := newHost(t, noDHT)
	connect(t, cli, srv, "")
	data, hash := chunk(1, 100)
	put(t, srv, data)
	busy := 0
	for range 15 {
		_, err := cli.Fetch(ctxTimeout(t, 10*time.Second), srv.ID(), hash, hash)
		switch {
		case errors.Is(err, ErrBusy):
			busy++
		case err != nil:
			t.Fatal(err)
		}
	}
	if busy < 1 {
		t.Fatalf("15 requests in a burst, none BUSY")
	}
}

// rawStream opens a chunk stream from a to b without the client.
func rawStream(t *testing.T, a, b *Host) (network.Stream, *bufio.Reader) {
	t.Helper()
	s, err := a.Libp2p().NewStream(ctxTimeout(t, 10*time.Second), b.ID(), ChunkProtocol)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Reset() })
	s.SetDeadline(time.Now().Add(20 * time.Second))
	return s, bufio.NewReader(s)
}

func writeMsg(t *testing.T, w io.Writer, m wire.Msg) {
	t.Helper()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := wire.WriteFrame(w, b); err != nil {
		t.Fatal(err)
	}
}

// TestPipelined sends requests back to back on one stream: the answers come
// in order, laid out exactly as wire.EncodeChunk lays them out, and the
// eleventh request of the second is BUSY.
func TestPipelined(t *testing.T) {
	clock := newFakeClock()
	srv := newHost(t, func(c *Config) { c.DHT = false; c.Now = clock.Now })
	cli := newHost(t, noDHT)
	connect(t, cli, srv, "")
	small, smallHash := chunk(1, 1000)
	large, largeHash := chunk(2, 3*wire.FragmentSize+123)
	put(t, srv, small)
	put(t, srv, large)
	_, missing := chunk(3, 1)

	asks := [][32]byte{smallHash, largeHash, missing, smallHash, largeHash, missing, smallHash, largeHash, missing, smallHash, largeHash, smallHash}
	var want [][]byte
	for i, h := range asks {
		var msgs [][]byte
		var err error
		switch {
		case i >= DefaultRequestsPerSecond:
			msgs = [][]byte{mustEncode(t, &wire.Error{Hash: h, Reason: wire.ReasonBusy})}
		case h == missing:
			msgs = [][]byte{mustEncode(t, &wire.Error{Hash: h, Reason: wire.ReasonNotFound})}
		case h == smallHash:
			msgs, err = wire.EncodeChunk(h, small)
		default:
			msgs, err = wire.EncodeChunk(h, large)
		}
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, msgs...)
	}

	s, br := rawStream(t, cli, srv)
	var batch bytes.Buffer
	for _, h := range asks {
		writeMsg(t, &batch, &wire.Request{Hash: h, Root: h})
	}
	if _, err := s.Write(batch.Bytes()); err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		got, err := wire.ReadFrame(br, nil)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(got, w) {
			t.Fatalf("frame %d: got %d bytes %x…, want %d bytes %x…", i, len(got), got[:min(8, len(got))], len(w), w[:min(8, len(w))])
		}
	}
	// Custody challenges are answered too (in the next window).
	clock.Advance(time.Second)
	c := &wire.CustodyChallenge{Hash: largeHash, Offset: 77, Nonce: [32]byte{9}}
	writeMsg(t, s, c)
	b, err := wire.ReadFrame(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := wire.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := m.(*wire.CustodyProof); !ok || !c.Check(large, p) {
		t.Fatalf("custody answer %#v does not check", m)
	}
}

func mustEncode(t *testing.T, m wire.Msg) []byte {
	t.Helper()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMalformedFrames(t *testing.T) {
	srv := newHost(t, noDHT)
	cli := newHost(t, noDHT)
	connect(t, cli, srv, "")
	valid := mustEncode(t, &wire.Request{})
	oversized := binary.BigEndian.AppendUint32(nil, wire.MaxMessageSize+1)
	for i, bad := range [][]byte{
		append(binary.BigEndian.AppendUint32(nil, 3), 0x99, 1, 2),     // unknown type
		append(binary.BigEndian.AppendUint32(nil, 10), valid[:10]...), // truncated REQUEST
		oversized, // a frame over 4 MiB, refused before its body
	} {
		if srv.Banned(cli.ID()) {
			t.Fatalf("banned after %d strikes", i)
		}
		s, br := rawStream(t, cli, srv)
		if _, err := s.Write(bad); err != nil {
			t.Fatal(err)
		}
		_, err := br.ReadByte()
		if !errors.Is(err, network.ErrReset) {
			t.Fatalf("bad frame %d: read %v, want a reset", i, err)
		}
	}
	// Three strikes: banned, connections closed and refused.
	waitFor(t, func() bool { return srv.Banned(cli.ID()) }, "ban")
	waitFor(t, func() bool { return srv.Libp2p().Network().Connectedness(cli.ID()) != network.Connected }, "disconnect")
	err := cli.Libp2p().Connect(ctxTimeout(t, 5*time.Second), srv.AddrInfo())
	if err == nil {
		// The dial may complete on our side before the server's gater
		// closes it, and NewStream returns before the server has seen the
		// stream when the peerstore already lists the protocol (lazy
		// negotiation): the stream must fail to carry an answer.
		var s network.Stream
		s, err = cli.Libp2p().NewStream(ctxTimeout(t, 5*time.Second), srv.ID(), ChunkProtocol)
		if err == nil {
			defer s.Reset()
			s.SetDeadline(time.Now().Add(5 * time.Second))
			if err = wire.WriteFrame(s, valid); err == nil {
				_, err = wire.ReadFrame(s, nil)
			}
		}
	}
	if err == nil {
		t.Fatal("a banned peer was answered on a chunk stream")
	}
}

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBadServer(t *testing.T) {
	data, hash := chunk(5, 5<<20)
	msgs, err := wire.EncodeChunk(hash, data)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		serve   func(s network.Stream) // after reading the request; the stream stays open until the client gives up
		want    error                  // errors.Is target, or nil for any error
		wantMsg string
	}{
		{"closes mid-chunk", func(s network.Stream) {
			for _, m := range msgs[:4] {
				wire.WriteFrame(s, m)
			}
			s.CloseWrite() // a clean end of stream, mid-chunk
		}, io.ErrUnexpectedEOF, ""},
		{"stalls mid-chunk", func(s network.Stream) {
			for _, m := range msgs[:4] {
				wire.WriteFrame(s, m)
			}
		}, nil, "sent nothing"},
		{"sends a fragment of the wrong size", func(s network.Stream) {
			wire.WriteFrame(s, msgs[0])
			wire.WriteFrame(s, msgs[1][:100])
		}, ErrProtocol, ""},
		{"answers another chunk", func(s network.Stream) {
			wire.WriteFrame(s, mustEncode(t, &wire.Error{Hash: [32]byte{1}, Reason: wire.ReasonBusy}))
		}, ErrProtocol, ""},
		{"sends an oversized frame", func(s network.Stream) {
			s.Write(binary.BigEndian.AppendUint32(nil, wire.MaxMessageSize+1))
		}, ErrProtocol, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newHost(t, noDHT)
			cli := newHost(t, func(c *Config) { c.DHT = false; c.Limits.RequestTimeout = 500 * time.Millisecond })
			// The server holds the stream until the client's Fetch has
			// returned: what the client saw is what serve sent, not a
			// reset from the server's end.
			fetched := make(chan struct{})
			defer close(fetched)
			srv.Libp2p().SetStreamHandler(ChunkProtocol, func(s network.Stream) {
				defer s.Reset()
				if _, err := wire.ReadFrame(s, nil); err != nil {
					return
				}
				tc.serve(s)
				<-fetched
			})
			connect(t, cli, srv, "")
			start := time.Now()
			_, err := cli.Fetch(ctxTimeout(t, 20*time.Second), srv.ID(), hash, hash)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("got %v, want %v %q", err, tc.want, tc.wantMsg)
			}
			if errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
				t.Fatalf("took %v (%v): the client hung", time.Since(start), err)
			}
		})
	}
}

func TestFetchCancel(t *testing.T) {
	// The server sends the first four fragments of a chunk, then stalls
	// until the end of the test: a fetch can only end by its context.
	var gated *gatedBlobs
	srv := newHost(t, func(c *Config) {
		c.DHT = false
		gated = newGatedBlobs(c.Blobs, 4*wire.FragmentSize)
		c.Blobs = gated
	})
	t.Cleanup(gated.release) // before the host closes: its handlers wait in ReadAt
	cli := newHost(t, noDHT)
	connect(t, cli, srv, "")
	data, hash := chunk(3, 5<<20)
	put(t, srv, data)
	small, smallHash := chunk(4, 100)
	put(t, srv, small)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	_, err := cli.FetchProgress(ctx, srv.ID(), hash, hash, func(received, total int) {
		if received >= 3*wire.FragmentSize {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("cancel took effect after %v", d)
	}
	// A deadline mid-transfer, then a fetch on a fresh stream that works.
	_, err = cli.Fetch(ctxTimeout(t, 300*time.Millisecond), srv.ID(), hash, hash)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	got, err := cli.Fetch(ctxTimeout(t, 20*time.Second), srv.ID(), smallHash, smallHash)
	if err != nil || !bytes.Equal(got, small) {
		t.Fatalf("fetch after cancel: %v", err)
	}
}

// TestIdleStream: the server closes a stream idle for IdleTimeout, and the
// client replaces it without the caller noticing.
func TestIdleStream(t *testing.T) {
	srv := newHost(t, func(c *Config) { c.DHT = false; c.Limits.IdleTimeout = 300 * time.Millisecond })
	cli := newHost(t, noDHT) // its own idle timeout stays 60 s
	connect(t, cli, srv, "")
	data, hash := chunk(4, 1000)
	put(t, srv, data)

	// closed gets a value each time the server is done with a stream.
	closed := make(chan struct{}, 8)
	srv.Libp2p().SetStreamHandler(ChunkProtocol, func(s network.Stream) {
		srv.handleChunkStream(s)
		closed <- struct{}{}
	})
	ctx := ctxTimeout(t, 20*time.Second)
	waitClosed := func(what string) {
		t.Helper()
		select {
		case <-closed:
		case <-ctx.Done():
			t.Fatalf("the server did not close the %s", what)
		}
	}

	s, br := rawStream(t, cli, srv)
	start := time.Now()
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("idle stream: %v, want EOF", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
		t.Fatalf("idle stream closed after %v", d)
	}
	s.Reset()
	waitClosed("raw stream")

	// The second fetch finds the first one's stream closed by the server.
	for i := range 2 {
		if _, err := cli.Fetch(ctx, srv.ID(), hash, hash); err != nil {
			t.Fatalf("fetch %d: %v", i, err)
		}
		waitClosed(fmt.Sprintf("stream of fetch %d", i))
	}
}

// TestCloseNoLeak: hosts that fetched, provided and were closed leave no
// goroutines behind.
func TestCloseNoLeak(t *testing.T) {
	run := func() {
		a, err := New(context.Background(), TestingConfig(t))
		if err != nil {
			t.Fatal(err)
		}
		b, err := New(context.Background(), TestingConfig(t))
		if err != nil {
			t.Fatal(err)
		}
		connect(t, a, b, "")
		connect(t, b, a, TransportQUIC)
		data, hash := chunk(1, 300<<10)
		put(t, b, data)
		if _, err := a.Fetch(ctxTimeout(t, 10*time.Second), b.ID(), hash, hash); err != nil {
			t.Fatal(err)
		}
		a.Close()
		b.Close()
		if _, err := a.Fetch(context.Background(), b.ID(), hash, hash); !errors.Is(err, ErrClosed) {
			t.Fatalf("fetch after close: %v", err)
		}
	}
	run() // warm up process-wide singletons
	runtime.GC()
	before := runtime.NumGoroutine()
	run()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestChallengeBeforeQueued: a custody challenge sent after three pipelined
// requests is answered before the chunks queued behind the one being sent,
// as an Entropy downloader (which asks three chunks at once and wants a
// proof within 5 s) needs. The server's upload is capped so that the
// chunks take a while to send and the challenge arrives while the first is
// still going out.
func TestChallengeBeforeQueued(t *testing.T) {
	srv := newHost(t, func(c *Config) { noDHT(c); c.Limits.UploadBytesPerSecond = 1 << 20 })
	cli := newHost(t, noDHT)
	connect(t, cli, srv, "")
	var hashes [][32]byte
	var datas [][]byte
	for i := range 3 {
		data, hash := chunk(uint64(100+i), 384<<10)
		put(t, srv, data)
		hashes, datas = append(hashes, hash), append(datas, data)
	}
	s, br := rawStream(t, cli, srv)
	for _, h := range hashes {
		writeMsg(t, s, &wire.Request{Hash: h, Root: h})
	}
	c := &wire.CustodyChallenge{Hash: hashes[2], Offset: 1000, Nonce: [32]byte{7}}
	writeMsg(t, s, c)

	var (
		ra      wire.Reassembler
		headers int // chunks sent before the proof
		proved  bool
		chunks  int
	)
	for chunks < 3 {
		b, err := wire.ReadFrame(br, nil)
		if err != nil {
			t.Fatalf("after %d chunks: %v", chunks, err)
		}
		m, err := ra.Feed(b)
		if err != nil {
			t.Fatal(err)
		}
		if m == nil { // a DATA_HEADER or a fragment
			continue
		}
		switch m := m.(type) {
		case *wire.CustodyProof:
			if !c.Check(datas[2], m) {
				t.Fatal("the custody proof does not check")
			}
			proved = true
		case *wire.Data:
			if m.Hash != hashes[chunks] {
				t.Fatalf("chunk %d answered out of order", chunks)
			}
			chunks++
			if !proved {
				headers++
			}
		default:
			t.Fatalf("unexpected %T", m)
		}
	}
	if !proved {
		t.Fatal("no custody proof before the three chunks were sent")
	}
	if headers > 1 {
		t.Fatalf("the proof came after %d chunks; want it right after the one being sent", headers)
	}
}

// TestFetchesInParallel: fetches to one peer run at once, each on its own
// stream, so the requests a download has in flight at a peer are all on
// the wire; the server's upload is capped so that they overlap.
func TestFetchesInParallel(t *testing.T) {
	srv := newHost(t, func(c *Config) { noDHT(c); c.Limits.UploadBytesPerSecond = 1 << 20 })
	cli := newHost(t, noDHT)
	connect(t, cli, srv, "")
	const n = 3
	errs := make(chan error, n)
	for i := range n {
		data, hash := chunk(uint64(200+i), 512<<10)
		put(t, srv, data)
		go func() {
			_, err := cli.Fetch(ctxTimeout(t, 20*time.Second), srv.ID(), hash, hash)
			errs <- err
		}()
	}
	streams := func() int {
		k := 0
		for _, c := range cli.Libp2p().Network().ConnsToPeer(srv.ID()) {
			for _, s := range c.GetStreams() {
				if s.Protocol() == ChunkProtocol {
					k++
				}
			}
		}
		return k
	}
	most := 0
	for done := 0; done < n; {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
			done++
		case <-time.After(10 * time.Millisecond):
			most = max(most, streams())
		}
	}
	if most < n {
		t.Fatalf("at most %d chunk streams open for %d fetches at once", most, n)
	}
}

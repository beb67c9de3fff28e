//go:build !js

package webrtc

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/nostr"
	"github.com/pion/webrtc/v4"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/relay"
	"github.com/cairn-nostr/cairn/store"
	"github.com/cairn-nostr/cairn/swarm"
)

// world is a relay and nodes on loopback that the test tears down itself,
// so that it can count goroutines afterwards.
type world struct{ closers []func() }

func (w *world) close() {
	for i := len(w.closers) - 1; i >= 0; i-- {
		w.closers[i]()
	}
	w.closers = nil
}

func (w *world) relay(t *testing.T) string {
	t.Helper()
	st := store.NewMemory()
	r, err := relay.New(relay.DefaultConfig(), st, relay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	w.closers = append(w.closers, func() { st.Close() }, srv.Close, r.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func (w *world) node(t *testing.T, url string, blobs blobstore.Blobs) *Node {
	t.Helper()
	rc := &RelayClient{URL: url}
	w.closers = append(w.closers, rc.Close)
	cfg := DefaultConfig()
	cfg.SecretKey = nostr.GeneratePrivateKey()
	cfg.Signal = rc
	cfg.Loopback = true
	cfg.Blobs = blobs
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.closers = append(w.closers, n.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(15 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// noLeak waits for the goroutine count to come back to before: pion's
// and net/http's goroutines end shortly after the nodes and the relay
// close, with no event to wait on.
func noLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func oneChunk(t *testing.T) (blobstore.Blobs, [32]byte) {
	t.Helper()
	blobs := blobstore.NewMemory(1 << 20)
	data := randBytes(42, 100_000)
	h := sha256.Sum256(data)
	if err := blobs.Put(h, data); err != nil {
		t.Fatal(err)
	}
	return blobs, h
}

// A peer that opens more than one DataChannel on its connection: the
// answering node keeps the first "entropy" channel, closes the others
// (in the offer or opened later), and leaves no goroutine behind.
func TestExtraDataChannelsClosed(t *testing.T) {
	before := runtime.NumGoroutine()
	w := &world{}
	defer w.close()
	url := w.relay(t)
	blobs, h := oneChunk(t)
	seeder := w.node(t, url, blobs)
	leecher := w.node(t, url, nil)
	closed := make(chan string, 4)
	leecher.onOffer = func(pc *webrtc.PeerConnection) {
		for _, label := range []string{Label, "other"} {
			dc, err := pc.CreateDataChannel(label, nil)
			if err != nil {
				t.Error(err)
				return
			}
			dc.OnClose(func() { closed <- label })
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	root := [32]byte{7}
	c, err := leecher.Dial(ctx, seeder.PubKey(), root)
	if err != nil {
		t.Fatal(err)
	}
	in, err := seeder.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	await(t, closed, "an extra channel to close")
	await(t, closed, "the other extra channel to close")

	// One more, once the connection is up.
	late, err := c.pc.CreateDataChannel(Label, nil)
	if err != nil {
		t.Fatal(err)
	}
	late.OnClose(func() { closed <- "late" })
	await(t, closed, "the late channel to close")

	if got, err := c.Fetch(ctx, h, root, nil); err != nil || sha256.Sum256(got) != h {
		t.Fatalf("fetch over the kept channel: %v", err)
	}
	if in.isClosed() || seeder.openConn(leecher.PubKey()) != in || seeder.Stats().Conns != 1 {
		t.Fatalf("seeder: kept channel closed %v, registered %v, %d conns",
			in.isClosed(), seeder.openConn(leecher.PubKey()) == in, seeder.Stats().Conns)
	}
	w.close()
	noLeak(t, before)
}

// A second connection dialled by the same peer replaces the first, which
// is closed on both sides, not left open outside the node's map.
func TestSecondConnReplacesFirst(t *testing.T) {
	w := &world{}
	defer w.close()
	url := w.relay(t)
	blobs, h := oneChunk(t)
	seeder := w.node(t, url, blobs)
	leecher := w.node(t, url, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pk := seeder.PubKey()

	c1, err := leecher.Dial(ctx, pk, [32]byte{1})
	if err != nil {
		t.Fatal(err)
	}
	s1, err := seeder.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := leecher.Dial(ctx, pk, [32]byte{2})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := seeder.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	await(t, c1.closed, "the dialler's first channel to close")
	await(t, s1.closed, "the answerer's first channel to close")
	if c2.isClosed() || s2.isClosed() {
		t.Fatal("the second channel closed")
	}
	if leecher.openConn(pk) != c2 || seeder.openConn(leecher.PubKey()) != s2 {
		t.Fatal("the second channel is not the registered one")
	}
	// The Transport finds the second channel in the node's map.
	got, err := leecher.Transport().Fetch(ctx, swarm.PeerID(pk), h, [32]byte{2}, nil)
	if err != nil || sha256.Sum256(got) != h {
		t.Fatalf("fetch over the second channel: %v", err)
	}
	if st := leecher.Stats(); st.Conns != 1 {
		t.Fatalf("leecher has %d channels", st.Conns)
	}
}

// Two nodes dialling each other at once (for different roots, so neither
// offer is dropped as a duplicate) end with one channel, the one the
// smaller pubkey dialled, on both sides.
func TestSimultaneousDials(t *testing.T) {
	w := &world{}
	defer w.close()
	url := w.relay(t)
	a, b := w.node(t, url, nil), w.node(t, url, nil)
	small, big := a, b
	if big.PubKey() < small.PubKey() {
		small, big = big, small
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type result struct {
		c   *Conn
		err error
	}
	fromBig := make(chan result, 1)
	go func() {
		c, err := big.Dial(ctx, small.PubKey(), [32]byte{2})
		fromBig <- result{c, err}
	}()
	kept, err := small.Dial(ctx, big.PubKey(), [32]byte{1})
	if err != nil {
		t.Fatal(err)
	}
	if !kept.outbound {
		t.Fatal("the smaller pubkey's Dial returned a channel it did not dial")
	}
	// big accepts the channel small dialled: it is the one big keeps.
	in, err := big.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// big's own Dial either gets that same channel, or its own (later
	// closed), or fails when its channel closes before small's opened.
	if r := await(t, fromBig, "big's Dial"); r.c != nil && r.c != in {
		await(t, r.c.closed, "big's own channel to close")
	}
	if kept.isClosed() || in.isClosed() {
		t.Fatal("a kept channel closed")
	}
	if small.openConn(big.PubKey()) != kept || big.openConn(small.PubKey()) != in {
		t.Fatal("the kept channels are not the registered ones")
	}
}

func TestKeepNew(t *testing.T) {
	for _, tc := range []struct {
		me, peer       string
		oldOut, newOut bool
		keep           bool
	}{
		{"a", "b", true, true, true},   // this side dialled again
		{"a", "b", false, false, true}, // the peer dialled again
		{"a", "b", false, true, true},  // both dialled: keep a's (this side's)
		{"a", "b", true, false, false},
		{"b", "a", false, true, false}, // both dialled: keep a's (the peer's)
		{"b", "a", true, false, true},
	} {
		if got := keepNew(tc.me, tc.peer, tc.oldOut, tc.newOut); got != tc.keep {
			t.Errorf("%+v: keepNew %v", tc, got)
		}
	}
}

// A Fetch waiting for its turn to send (while a chunk goes out to the
// peer) returns when its ctx ends.
func TestFetchWaitingToSendCancels(t *testing.T) {
	w := &world{}
	defer w.close()
	url := w.relay(t)
	blobs, h := oneChunk(t)
	seeder := w.node(t, url, blobs)
	leecher := w.node(t, url, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := leecher.Dial(ctx, seeder.PubKey(), [32]byte{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.take(ctx); err != nil { // as sending a chunk does
		t.Fatal(err)
	}
	fctx, stop := context.WithCancel(ctx)
	res := make(chan error, 1)
	go func() {
		_, err := c.Fetch(fctx, h, [32]byte{}, nil)
		res <- err
	}()
	stop()
	if err := await(t, res, "the fetch to give up"); !errors.Is(err, context.Canceled) {
		t.Fatalf("fetch: %v", err)
	}
	c.release()
	if got, err := c.Fetch(ctx, h, [32]byte{}, nil); err != nil || sha256.Sum256(got) != h {
		t.Fatalf("fetch once the turn is free: %v", err)
	}
}

// An offer that restarts ICE on a live connection (Entropy sends one when
// its connection fails) comes with the DTLS certificate of that
// connection: it is answered on the same PeerConnection, with the same
// certificate, and the open channel stays the peer's connection, rather
// than a new PeerConnection (a new certificate the offerer's DTLS session
// cannot accept) replacing it.
func TestICERestartKeepsConn(t *testing.T) {
	w := &world{}
	defer w.close()
	url := w.relay(t)
	blobs, h := oneChunk(t)
	seeder := w.node(t, url, blobs)
	leecher := w.node(t, url, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	root := [32]byte{3}
	c, err := leecher.Dial(ctx, seeder.PubKey(), root)
	if err != nil {
		t.Fatal(err)
	}
	in, err := seeder.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := sdpAttr(c.pc.RemoteDescription().SDP, "fingerprint")
	ufrag := sdpAttr(c.pc.RemoteDescription().SDP, "ice-ufrag")

	// The leecher restarts ICE as Entropy does: a new offer on its live
	// PeerConnection, with new ICE credentials. (Another root, so the
	// seeder does not drop it as a duplicate of the first offer.)
	root2 := [32]byte{4}
	k := sigKey{seeder.PubKey(), root2}
	p := &peerState{pc: c.pc, answer: make(chan webrtc.SessionDescription, 1)}
	leecher.mu.Lock()
	leecher.peers[k] = p
	leecher.mu.Unlock()
	tr := gather(c.pc, leecher.cfg.Loopback)
	offer, err := c.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := describe(c.pc, offer, tr)
	if err != nil {
		t.Fatal(err)
	}
	if err := leecher.publish(ctx, seeder.PubKey(), root2, TypeOffer, payload); err != nil {
		t.Fatal(err)
	}
	leecher.trickle(ctx, seeder.PubKey(), root2, tr)
	ans := await(t, p.answer, "the answer to the ICE restart")
	if got := sdpAttr(ans.SDP, "fingerprint"); got != before {
		t.Fatalf("the restart was answered with certificate %s, the connection's is %s: a new PeerConnection", got, before)
	}
	if got := sdpAttr(ans.SDP, "ice-ufrag"); got == ufrag {
		t.Fatalf("the answer kept the ICE credentials %s: ICE did not restart", got)
	}
	if err := setRemote(&leecher.mu, p, ans); err != nil {
		t.Fatal(err)
	}
	// ICE checks again: the channel carries a chunk once it has.
	for st := c.pc.ICEConnectionState(); st != webrtc.ICEConnectionStateConnected && st != webrtc.ICEConnectionStateCompleted; st = c.pc.ICEConnectionState() {
		if ctx.Err() != nil {
			t.Fatalf("ICE did not reconnect after the restart: %s", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got, err := c.Fetch(ctx, h, root, nil); err != nil || sha256.Sum256(got) != h {
		t.Fatalf("fetch after the restart: %v", err)
	}
	leecher.mu.Lock()
	delete(leecher.peers, k)
	leecher.mu.Unlock()
	if in.isClosed() || c.isClosed() || seeder.openConn(leecher.PubKey()) != in || seeder.Stats().Conns != 1 {
		t.Fatalf("after the restart: seeder's channel closed %v, still registered %v, %d conns; leecher's closed %v",
			in.isClosed(), seeder.openConn(leecher.PubKey()) == in, seeder.Stats().Conns, c.isClosed())
	}
}

func sdpAttr(sdp, name string) string { return sdpAttrValue(sdp, name) }

package p2p

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/credit"
	"github.com/cairn-nostr/cairn/credit/tally"
	"github.com/cairn-nostr/cairn/swarm/wire"
)

// receiptLog collects what a host's Credit hooks report.
type receiptLog struct {
	mu         sync.Mutex
	got, sent  []credit.Receipt
	gotSignal  chan struct{}
	sk, pubkey string
}

func newReceiptLog() *receiptLog {
	sk := nostr.GeneratePrivateKey()
	pub, _ := nostr.GetPublicKey(sk)
	return &receiptLog{gotSignal: make(chan struct{}, 64), sk: sk, pubkey: pub}
}

func (l *receiptLog) credit() Credit {
	return Credit{
		SecretKey: l.sk,
		Receipts:  true,
		OnReceipt: func(r credit.Receipt, _ *nostr.Event) {
			l.mu.Lock()
			l.got = append(l.got, r)
			l.mu.Unlock()
			l.gotSignal <- struct{}{}
		},
		OnReceiptSent: func(r credit.Receipt) {
			l.mu.Lock()
			l.sent = append(l.sent, r)
			l.mu.Unlock()
		},
	}
}

func (l *receiptLog) wait(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for range n {
		select {
		case <-l.gotSignal:
		case <-timeout:
			t.Fatalf("timed out waiting for %d receipts", n)
		}
	}
}

// TestReceiptsOverLibp2p: the fetcher of each chunk signs a receipt naming
// the seeder (whose pubkey it learned from the seeder's hello) and sends it
// on the chunk stream; the seeder checks it against the fetcher's hello and
// counts it once. Fetching the same chunk again earns no second credit.
func TestReceiptsOverLibp2p(t *testing.T) {
	sl, cl := newReceiptLog(), newReceiptLog()
	srv := newHost(t, func(c *Config) { c.DHT = false; c.Credit = sl.credit() })
	cli := newHost(t, func(c *Config) { c.DHT = false; c.Credit = cl.credit() })
	connect(t, cli, srv, "")
	small, _ := chunk(1, 1000)
	big, _ := chunk(2, 300<<10)
	hs, hb := put(t, srv, small), put(t, srv, big)
	root := [32]byte{7}
	for _, h := range [][32]byte{hs, hb} {
		if _, err := cli.Fetch(ctxTimeout(t, 15*time.Second), srv.ID(), h, root); err != nil {
			t.Fatal(err)
		}
	}
	sl.wait(t, 2)
	sl.mu.Lock()
	for i, r := range sl.got {
		want := [][32]byte{hs, hb}[i]
		n := []int{len(small), len(big)}[i]
		if r.Receiver != cl.pubkey || r.Seeder != sl.pubkey || r.Chunk != want || r.Bytes != int64(n) || r.Root != root {
			t.Errorf("receipt %d: %+v", i, r)
		}
	}
	sl.mu.Unlock()
	cl.mu.Lock()
	if len(cl.sent) != 2 || cl.sent[1].Seeder != sl.pubkey {
		t.Errorf("sent %+v", cl.sent)
	}
	cl.mu.Unlock()
	// Again: served, signed, sent, and refused as a replay.
	if _, err := cli.Fetch(ctxTimeout(t, 15*time.Second), srv.ID(), hs, root); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return srv.ReceiptStats().Refused == 1 }, "the replay refused")
	st := srv.ReceiptStats()
	if st.Accepted != 2 || !strings.Contains(st.LastRefusal, "already counted") || cli.ReceiptStats().Sent != 3 {
		t.Fatalf("server %+v, client %+v", st, cli.ReceiptStats())
	}
}

// TestNoHelloNoReceipt: a seeder without a Nostr key answers without a
// hello; the fetcher, not knowing whom to name, sends no receipt, and the
// chunk still arrives. A fetcher without one says no hello; a seeder with
// one serves it all the same and counts nothing.
func TestNoHelloNoReceipt(t *testing.T) {
	cl := newReceiptLog()
	plain := newHost(t, noDHT)
	cli := newHost(t, func(c *Config) { c.DHT = false; c.Credit = cl.credit() })
	connect(t, cli, plain, "")
	data, _ := chunk(3, 5000)
	h := put(t, plain, data)
	if _, err := cli.Fetch(ctxTimeout(t, 15*time.Second), plain.ID(), h, h); err != nil {
		t.Fatal(err)
	}
	if st := cli.ReceiptStats(); st.Sent != 0 {
		t.Fatalf("sent %+v to a seeder that said no hello", st)
	}
	sl := newReceiptLog()
	srv := newHost(t, func(c *Config) { c.DHT = false; c.Credit = sl.credit() })
	connect(t, plain, srv, "")
	h = put(t, srv, data)
	if _, err := plain.Fetch(ctxTimeout(t, 15*time.Second), srv.ID(), h, h); err != nil {
		t.Fatal(err)
	}
	if st := srv.ReceiptStats(); st != (tally.Stats{}) {
		t.Fatalf("stats %+v", st)
	}
}

// TestBadHello: a hello naming another peer, a forged one, one sent after
// a request and one from a server that was not greeted are protocol
// violations.
func TestBadHello(t *testing.T) {
	sl, cl := newReceiptLog(), newReceiptLog()
	srv := newHost(t, func(c *Config) { c.DHT = false; c.Credit = sl.credit() })
	cli := newHost(t, noDHT)
	connect(t, cli, srv, "")
	signed := func(peerID string) []byte {
		msg, err := tally.Hello(cl.sk, peerID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	forged := signed(cli.ID().String())
	forged[len(forged)-10] ^= 1 // inside the signature's hex
	if forged[len(forged)-10] < '0' {
		forged[len(forged)-10] = 'a'
	}
	for name, frames := range map[string][][]byte{
		"names another peer": {signed(srv.ID().String())},
		"forged":             {forged},
		"after a request":    {mustEncode(t, &wire.Request{}), signed(cli.ID().String())},
	} {
		t.Run(name, func(t *testing.T) {
			s, br := rawStream(t, cli, srv)
			for _, f := range frames {
				if err := wire.WriteFrame(s, f); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			for err == nil { // an answer to the request may come first
				_, err = wire.ReadFrame(br, nil)
			}
			if !errors.Is(err, network.ErrReset) {
				t.Fatalf("read %v, want a reset", err)
			}
		})
	}
	waitFor(t, func() bool { return srv.Banned(cli.ID()) }, "the ban after three bad hellos")

	// A server's HELLO to a client that sent none.
	other := newHost(t, noDHT)
	srv2 := newHost(t, noDHT)
	hello := signed(srv2.ID().String())
	srv2.Libp2p().SetStreamHandler(ChunkProtocol, func(s network.Stream) {
		defer s.Reset()
		if _, err := wire.ReadFrame(s, nil); err == nil {
			wire.WriteFrame(s, hello)
		}
		s.Read(make([]byte, 1))
	})
	connect(t, other, srv2, "")
	if _, err := other.Fetch(ctxTimeout(t, 15*time.Second), srv2.ID(), [32]byte{1}, [32]byte{1}); !errors.Is(err, ErrProtocol) {
		t.Fatalf("unasked hello: %v", err)
	}
}

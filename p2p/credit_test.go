package p2p

import (
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/blobstore"
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
	var badHellos sync.Map // peer ID → count, from Credit.OnBadHello
	srv := newHost(t, func(c *Config) {
		c.DHT = false
		c.Credit = sl.credit()
		c.Credit.OnBadHello = func(p peer.ID, err error) {
			v, _ := badHellos.LoadOrStore(p, new(atomic.Int32))
			v.(*atomic.Int32).Add(1)
		}
	})
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
			// A reset; or, once the third strike banned the client, the
			// connection closed under the stream.
			if !errors.Is(err, network.ErrReset) && !errors.Is(err, io.EOF) {
				t.Fatalf("read %v, want a reset", err)
			}
		})
	}
	waitFor(t, func() bool { return srv.Banned(cli.ID()) }, "the ban after three bad hellos")
	// The hellos that did not check (another peer's, forged) were told.
	if v, ok := badHellos.Load(cli.ID()); !ok || v.(*atomic.Int32).Load() != 2 {
		t.Fatalf("OnBadHello heard %v of the 2 bad hellos", v)
	}

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

// TestGateOverLibp2p: a peer past its grant is throttled while the seeder
// is otherwise idle; refused (ERROR INSUFFICIENT_CREDIT) while the seeder
// is busy serving a peer in credit and the content is not scarce; served
// throttled again when the content is scarce; and served at once after it
// uploaded to the seeder.
func TestGateOverLibp2p(t *testing.T) {
	const chunkSize = 64 << 10
	sl, cl, dl := newReceiptLog(), newReceiptLog(), newReceiptLog()
	gate := tally.NewGate(credit.GateConfig{Grant: 2 * chunkSize, DebtorRate: 4 * chunkSize, MaxWait: 2 * time.Second}, nil)
	var scarce atomic.Bool
	held := newGatedBlobs(blobstore.NewMemory(0), 1<<20)
	srv := newHost(t, func(c *Config) {
		c.DHT = false
		c.Blobs = held
		c.Credit = sl.credit()
		c.Credit.Gate = gate
		c.Credit.Scarce = func([32]byte) bool { return scarce.Load() }
	})
	cliGate := tally.NewGate(credit.GateConfig{}, nil)
	cli := newHost(t, func(c *Config) { c.DHT = false; c.Credit = cl.credit(); c.Credit.Gate = cliGate })
	other := newHost(t, func(c *Config) { c.DHT = false; c.Credit = dl.credit() })
	connect(t, cli, srv, "")
	connect(t, other, srv, "")
	var hashes [][32]byte
	for i := range 6 {
		data, _ := chunk(uint64(100+i), chunkSize)
		hashes = append(hashes, put(t, srv, data))
	}
	fetch := func(h *Host, hash [32]byte) error {
		_, err := h.Fetch(ctxTimeout(t, 15*time.Second), srv.ID(), hash, hash)
		return err
	}
	for _, h := range hashes[:3] { // the grant, and one more asked at balance 0
		if err := fetch(cli, h); err != nil {
			t.Fatal(err)
		}
	}
	if st := srv.GateStats(); st.Throttled != 0 || st.Refused != 0 || gate.Balance(cl.pubkey) != -chunkSize {
		t.Fatalf("after the grant: %+v, balance %d", st, gate.Balance(cl.pubkey))
	}
	// Busy: another peer's big chunk is on its way (held past 1 MiB).
	big, _ := chunk(200, 3<<20)
	hb := put(t, srv, big)
	done := make(chan error, 1)
	go func() { done <- fetch(other, hb) }()
	waitFor(t, func() bool { return srv.inCredit.Load() == 1 }, "the other peer being served")
	if err := fetch(cli, hashes[3]); !errors.Is(err, ErrInsufficientCredit) {
		t.Fatalf("a debtor while busy: %v", err)
	}
	scarce.Store(true)
	if err := fetch(cli, hashes[3]); err != nil {
		t.Fatalf("a debtor while busy, scarce content: %v", err)
	}
	scarce.Store(false)
	held.release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Idle again: throttled, not refused.
	if err := fetch(cli, hashes[4]); err != nil {
		t.Fatal(err)
	}
	if st := srv.GateStats(); st.Throttled != 2 || st.Refused != 1 {
		t.Fatalf("gate stats %+v", st)
	}
	// Reciprocating: the seeder fetches three chunks from the debtor.
	for i := range 3 {
		data, _ := chunk(uint64(300+i), chunkSize)
		if _, err := srv.Fetch(ctxTimeout(t, 15*time.Second), cli.ID(), put(t, cli, data), [32]byte{}); err != nil {
			t.Fatal(err)
		}
	}
	if b := gate.Balance(cl.pubkey); b != 0 {
		t.Fatalf("balance after uploading %d", b)
	}
	before := srv.GateStats()
	if err := fetch(cli, hashes[5]); err != nil {
		t.Fatal(err)
	}
	if st := srv.GateStats(); st != before {
		t.Fatalf("a peer back in credit was gated: %+v -> %+v", before, st)
	}
	if b := cliGate.Balance(sl.pubkey); b != credit.WelcomeGrant+6*chunkSize-3*chunkSize {
		t.Fatalf("the client's view of the seeder: %d", b)
	}
}

package p2p

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/swarm/wire"
)

// orderBlobs records the order in which chunks are first read.
type orderBlobs struct {
	blobstore.Blobs
	mu    sync.Mutex
	order [][32]byte
}

func (o *orderBlobs) ReadAt(hash [32]byte, p []byte, off int64) (int, error) {
	if off == 0 {
		o.mu.Lock()
		o.order = append(o.order, hash)
		o.mu.Unlock()
	}
	return o.Blobs.ReadAt(hash, p, off)
}

// TestPremiumServedFirst: a seeder serving one chunk at a time
// (Limits.MaxServing 1) is busy with a large chunk; a peer without premium
// asks, then one with premium credits asks; when the slot frees, the
// premium peer is served first, then the other. A request that waits past
// 5 s is answered BUSY.
func TestPremiumServedFirst(t *testing.T) {
	hogL, plainL, premL := newReceiptLog(), newReceiptLog(), newReceiptLog()
	order := &orderBlobs{Blobs: blobstore.NewMemory(0)}
	gated := newGatedBlobs(order, wire.FragmentSize)
	srv := newHost(t, func(c *Config) {
		c.DHT = false
		c.Blobs = gated
		c.Limits.MaxServing = 1
		c.Credit = newReceiptLog().credit()
		c.Credit.Premium = func(pubkey string) int64 {
			if pubkey == premL.pubkey {
				return 3
			}
			return 0
		}
	})
	t.Cleanup(gated.release) // before the host closes: its handlers wait in ReadAt
	var clients []*Host
	for _, l := range []*receiptLog{hogL, plainL, premL} {
		h := newHost(t, func(c *Config) { c.DHT = false; c.Credit = l.credit() })
		connect(t, h, srv, "")
		clients = append(clients, h)
	}
	hog, plain, prem := clients[0], clients[1], clients[2]
	big, bigHash := chunk(1, 4*wire.FragmentSize)
	put(t, srv, big)
	small1, plainHash := chunk(2, 1000)
	put(t, srv, small1)
	small2, premHash := chunk(3, 1000)
	put(t, srv, small2)

	errs := make(chan error, 3)
	fetch := func(h *Host, hash [32]byte) {
		_, err := h.Fetch(ctxTimeout(t, 20*time.Second), srv.ID(), hash, hash)
		errs <- err
	}
	busy := func() int {
		srv.slots.mu.Lock()
		defer srv.slots.mu.Unlock()
		return srv.slots.q.Busy()
	}
	go fetch(hog, bigHash)
	waitFor(t, func() bool { return busy() == 1 }, "the large chunk in the one slot")
	go fetch(plain, plainHash)
	waitFor(t, func() bool { return srv.Waiting() == 1 }, "the plain peer waiting")
	go fetch(prem, premHash)
	waitFor(t, func() bool { return srv.Waiting() == 2 }, "the premium peer waiting")
	gated.release()
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	order.mu.Lock()
	got := fmt.Sprintf("%x", order.order)
	order.mu.Unlock()
	want := fmt.Sprintf("%x", [][32]byte{bigHash, premHash, plainHash})
	if got != want {
		t.Fatalf("served in the order %s, want the large chunk, the premium peer's, the plain peer's %s", got, want)
	}

	// Waiting past 5 s: BUSY.
	gated2 := newGatedBlobs(blobstore.NewMemory(0), wire.FragmentSize)
	srv2 := newHost(t, func(c *Config) { c.DHT = false; c.Blobs = gated2; c.Limits.MaxServing = 1 })
	t.Cleanup(gated2.release)
	connect(t, hog, srv2, "")
	connect(t, plain, srv2, "")
	put(t, srv2, big)
	put(t, srv2, small1)
	go func() {
		_, err := hog.Fetch(ctxTimeout(t, 30*time.Second), srv2.ID(), bigHash, bigHash)
		errs <- err
	}()
	waitFor(t, func() bool { srv2.slots.mu.Lock(); defer srv2.slots.mu.Unlock(); return srv2.slots.q.Busy() == 1 }, "the slot taken")
	if _, err := plain.Fetch(ctxTimeout(t, 20*time.Second), srv2.ID(), plainHash, plainHash); !errors.Is(err, ErrBusy) {
		t.Fatalf("a request that waited past the bound: %v, want ErrBusy", err)
	}
	if srv2.Waiting() != 0 {
		t.Fatalf("%d still waiting after giving up", srv2.Waiting())
	}
	gated2.release()
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// TestMaxServingRefused: a negative MaxServing is refused.
func TestMaxServingRefused(t *testing.T) {
	if err := (Limits{MaxServing: -1}).Validate(); err == nil {
		t.Fatal("MaxServing -1 accepted")
	}
}

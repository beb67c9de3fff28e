package p2p

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestChallenge: a holder answers CUSTODY_CHALLENGE with
// sha256(chunk[:offset] + nonce + chunk[offset:]); once it deleted the
// chunk it answers NOT_FOUND. With hellos on, each side learns the other's
// pubkey (PeerOf).
func TestChallenge(t *testing.T) {
	for _, hello := range []bool{false, true} {
		sl, cl := newReceiptLog(), newReceiptLog()
		srv := newHost(t, func(c *Config) {
			c.DHT = false
			if hello {
				c.Credit = sl.credit()
			}
		})
		cli := newHost(t, func(c *Config) {
			c.DHT = false
			if hello {
				c.Credit = cl.credit()
			}
		})
		connect(t, cli, srv, "")
		data, _ := chunk(3, 200<<10)
		hash := put(t, srv, data)
		nonce := [32]byte{1, 2, 3}
		for _, off := range []uint32{0, 1000, uint32(len(data))} {
			got, err := cli.Challenge(ctxTimeout(t, 5*time.Second), srv.ID(), hash, off, nonce)
			if err != nil {
				t.Fatal(err)
			}
			want := sha256.Sum256(append(append(append([]byte{}, data[:off]...), nonce[:]...), data[off:]...))
			if got != want {
				t.Fatalf("hello=%v offset %d: proof %x, want %x", hello, off, got[:4], want[:4])
			}
		}
		if p, ok := cli.PeerOf(sl.pubkey); ok != hello || hello && p != srv.ID() {
			t.Fatalf("hello=%v: PeerOf the server = %v %v", hello, p, ok)
		}
		if p, ok := srv.PeerOf(cl.pubkey); ok != hello || hello && p != cli.ID() {
			t.Fatalf("hello=%v: PeerOf the client = %v %v", hello, p, ok)
		}
		if err := srv.cfg.Blobs.Delete(hash); err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Challenge(ctxTimeout(t, 5*time.Second), srv.ID(), hash, 0, nonce); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a deleted chunk: %v", err)
		}
	}
}

// TestOfferCustody: an offer goes to the handler and its answer comes
// back; an oversized offer is refused before it is sent; a peer with no
// handler is an error.
func TestOfferCustody(t *testing.T) {
	srv := newHost(t, noDHT)
	cli := newHost(t, noDHT)
	connect(t, cli, srv, "")
	if _, err := cli.OfferCustody(ctxTimeout(t, 5*time.Second), srv.ID(), []byte("x")); err == nil {
		t.Fatal("an offer to a host not serving custody went through")
	}
	srv.HandleCustody(func(_ context.Context, from peer.ID, b []byte) ([]byte, error) {
		if from != cli.ID() {
			return nil, errors.New("wrong peer")
		}
		return append([]byte("re: "), b...), nil
	})
	got, err := cli.OfferCustody(ctxTimeout(t, 5*time.Second), srv.ID(), []byte("hold this"))
	if err != nil || string(got) != "re: hold this" {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := cli.OfferCustody(ctxTimeout(t, 5*time.Second), srv.ID(), make([]byte, MaxCustodyMessage+1)); err == nil {
		t.Fatal("an oversized offer was sent")
	}
}

//go:build !js

package webrtc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/credit"
	"github.com/cairn-nostr/cairn/credit/tally"
	"github.com/cairn-nostr/cairn/swarm"
)

// TestGateOverWebRTC: a seeder gates WebRTC requests on the requester's
// signaling pubkey. A peer that uploaded to it (the seeder fetched chunks
// from it) is served every chunk at once; a free rider is served its grant,
// then throttled: its next chunk is sent later from a timer while the
// channel goes on answering (a request behind it is refused with ERROR
// INSUFFICIENT_CREDIT, its turn being past MaxWait, before the throttled
// chunk arrives), and that chunk still arrives whole.
func TestGateOverWebRTC(t *testing.T) {
	const chunkSize = 64 << 10
	gate := tally.NewGate(credit.GateConfig{Grant: chunkSize, DebtorRate: chunkSize / 3, MaxWait: 5 * time.Second}, nil)
	url := testRelay(t)
	held := blobstore.NewMemory(0)
	var hashes [][32]byte
	for i := range 5 {
		b := randBytes(uint64(200+i), chunkSize)
		h := sha256.Sum256(b)
		if err := held.Put(h, b); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
	}
	seeder := testNode(t, url, held, func(c *Config) { c.Gate = gate })
	// The reciprocating peer holds chunks the seeder fetches first.
	theirs := blobstore.NewMemory(0)
	var given [][32]byte
	for i := range 4 {
		b := randBytes(uint64(300+i), chunkSize)
		h := sha256.Sum256(b)
		if err := theirs.Put(h, b); err != nil {
			t.Fatal(err)
		}
		given = append(given, h)
	}
	giver := testNode(t, url, theirs, nil)
	rider := testNode(t, url, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	root := sha256.Sum256([]byte("root"))
	for _, h := range given {
		if _, err := seeder.Transport().Fetch(ctx, swarm.PeerID(giver.PubKey()), h, root, nil); err != nil {
			t.Fatalf("seeder fetching from the giver: %v", err)
		}
	}
	if b := gate.Balance(giver.PubKey()); b != chunkSize+4*chunkSize {
		t.Fatalf("giver's balance %d after uploading 4 chunks", b)
	}
	fetch := func(n *Node, h [32]byte) error {
		got, err := n.Transport().Fetch(ctx, swarm.PeerID(seeder.PubKey()), h, root, nil)
		if err == nil {
			if want, _ := held.Get(h); !bytes.Equal(got, want) {
				return errors.New("wrong bytes")
			}
		}
		return err
	}
	for i, h := range hashes {
		if err := fetch(giver, h); err != nil {
			t.Fatalf("giver, chunk %d: %v", i, err)
		}
	}
	if a := gate.Accounts()[giver.PubKey()]; a.Throttled != 0 || a.Refused != 0 || a.Served != 5*chunkSize {
		t.Fatalf("the reciprocating peer was gated: %+v", a)
	}

	// The free rider: the grant, one at balance 0, then one throttled with
	// no wait (its turn is now).
	for i, h := range hashes[:3] {
		if err := fetch(rider, h); err != nil {
			t.Fatalf("rider, chunk %d: %v", i, err)
		}
	}
	if a := gate.Accounts()[rider.PubKey()]; a.Throttled != 1 || a.Refused != 0 {
		t.Fatalf("rider after its grant: %+v", a)
	}
	// Its next chunk's turn is chunkSize/DebtorRate = 3 s away.
	late := make(chan error, 1)
	go func() { late <- fetch(rider, hashes[3]) }()
	deadline := time.Now().Add(20 * time.Second)
	for gate.Accounts()[rider.PubKey()].Throttled < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the throttled request never reached the gate")
		}
		time.Sleep(10 * time.Millisecond) // polling the gate for the event
	}
	// The one after it would wait 6 s > MaxWait: refused, and answered
	// while the throttled chunk is still due.
	if err := fetch(rider, hashes[4]); !errors.Is(err, swarm.ErrInsufficientCredit) {
		t.Fatalf("rider's request past MaxWait: %v, want ErrInsufficientCredit", err)
	}
	select {
	case err := <-late:
		t.Fatalf("the throttled chunk came before the refusal behind it (err %v): the channel waited for it", err)
	default:
	}
	if err := <-late; err != nil {
		t.Fatalf("the throttled chunk: %v", err)
	}
	if a := gate.Accounts()[rider.PubKey()]; a.Throttled != 2 || a.Refused != 1 || a.Received != 0 {
		t.Fatalf("rider's account %+v", a)
	}
	if st := seeder.GateStats(); st.Throttled != 2 || st.Refused != 1 {
		t.Fatalf("seeder gate stats %+v", st)
	}
}

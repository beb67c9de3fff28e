//go:build !js

package webrtc

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/nostr"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/media"
	"github.com/cairn-nostr/cairn/relay"
	"github.com/cairn-nostr/cairn/store"
	"github.com/cairn-nostr/cairn/swarm"
)

// A whole swarm.Download over the webrtc Transport: concurrent first
// fetches share one dial, every chunk arrives verified, the file assembles.
func TestSwarmDownload(t *testing.T) {
	data := randBytes(5, 2<<20+12345)
	path := filepath.Join(t.TempDir(), "file.bin")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	seedBlobs := blobstore.NewMemory(0)
	plan, _, err := swarm.Share(context.Background(), path, seedBlobs, media.Chunker{TargetSize: 512 << 10}, "")
	if err != nil {
		t.Fatal(err)
	}
	m := plan.Map()
	url := testRelay(t)
	seeder := testNode(t, url, seedBlobs, nil)
	leecher := testNode(t, url, nil, nil)
	blobs := blobstore.NewMemory(0)
	d, err := swarm.NewDownload(swarm.Config{Map: m, Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.AddPeer(swarm.PeerID(seeder.PubKey()), leecher.Transport(), swarm.HasAll)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Wait(ctx); err != nil {
		t.Fatalf("download: %v (%+v)", err, d.Progress())
	}
	var out bytes.Buffer
	if err := swarm.Assemble(ctx, &out, m, blobs); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("assembled file differs")
	}
	if p := d.Progress(); p.Transports[TransportName] != int64(len(data)) {
		t.Fatalf("transports %v, want %d bytes over webrtc", p.Transports, len(data))
	}
	if leecher.Stats().Conns != 1 {
		t.Fatalf("%d channels, want 1", leecher.Stats().Conns)
	}
}

// Three malformed messages ban the peer: its channel closes and it is
// refused.
func TestStrikesBan(t *testing.T) {
	url := testRelay(t)
	seeder := testNode(t, url, blobstore.NewMemory(1<<20), nil)
	leecher := testNode(t, url, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := leecher.Dial(ctx, seeder.PubKey(), [32]byte{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := c.sendAll([][]byte{{0x01, 0xff}}); err != nil { // a short REQUEST
			t.Fatal(err)
		}
	}
	select {
	case <-c.closed:
	case <-ctx.Done():
		t.Fatal("banned peer's channel still open")
	}
	seeder.mu.Lock()
	banned := seeder.bannedLocked(leecher.PubKey())
	seeder.mu.Unlock()
	if !banned {
		t.Fatal("peer not banned after 3 strikes")
	}
}

// A channel with no traffic for IdleTimeout is closed on both sides.
func TestIdleClose(t *testing.T) {
	url := testRelay(t)
	short := func(c *Config) { c.IdleTimeout = 300 * time.Millisecond }
	seeder := testNode(t, url, nil, short)
	leecher := testNode(t, url, nil, short)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := leecher.Dial(ctx, seeder.PubKey(), [32]byte{})
	if err != nil {
		t.Fatal(err)
	}
	if a, err := seeder.Accept(ctx); err != nil || a.Peer() != leecher.PubKey() {
		t.Fatalf("accept: %v", err)
	}
	select {
	case <-c.closed:
	case <-ctx.Done():
		t.Fatal("idle channel still open")
	}
	for time.Sleep(10 * time.Millisecond); seeder.Stats().Conns != 0 || leecher.Stats().Conns != 0; time.Sleep(10 * time.Millisecond) {
		if ctx.Err() != nil {
			t.Fatalf("channels left: %d, %d", seeder.Stats().Conns, leecher.Stats().Conns)
		}
	}
}

// No goroutine outlives the nodes (pion's included) once they are closed.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		st := store.NewMemory()
		r, err := relay.New(relay.DefaultConfig(), st, relay.Options{})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(r)
		defer st.Close()
		defer srv.Close()
		defer r.Close()
		url := "ws" + strings.TrimPrefix(srv.URL, "http")
		var nodes []*Node
		for range 2 {
			rc := &RelayClient{URL: url}
			cfg := DefaultConfig()
			cfg.SecretKey = nostr.GeneratePrivateKey()
			cfg.Signal = rc
			cfg.Loopback = true
			n, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			defer n.Close()
			if err := n.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			nodes = append(nodes, n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err = nodes[0].Transport().Fetch(ctx, swarm.PeerID(nodes[1].PubKey()), [32]byte{1}, [32]byte{}, nil)
		if !errors.Is(err, swarm.ErrNotFound) {
			t.Fatal(err)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

//go:build !js

package webrtc

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/swarm"
)

// BenchmarkThroughput compares node->node chunk transfer (cairn's protocol:
// REQUEST, DATA_HEADER + 64 KiB fragments, reassembly and SHA-256 on the
// receiver; with and without a signed receipt per chunk, checked by the
// seeder) with a raw pion DataChannel moving the same bytes as 64 KiB
// messages with the same flow control, both on loopback.
func BenchmarkThroughput(b *testing.B) {
	const chunk = 5 << 20
	for _, receipts := range []bool{true, false} {
		name := "cairn"
		if !receipts {
			name = "cairn-no-receipts"
		}
		b.Run(name, func(b *testing.B) {
			url := testRelay(b)
			blobs := blobstore.NewMemory(16 << 20)
			data := randBytes(1, chunk)
			h := sha256.Sum256(data)
			blobs.Put(h, data)
			fast := func(c *Config) { c.RequestsPerSecond, c.Receipts = 1<<20, receipts }
			seeder := testNode(b, url, blobs, fast)
			leecher := testNode(b, url, nil, fast)
			tr := leecher.Transport()
			ctx := context.Background()
			peer := swarm.PeerID(seeder.PubKey())
			if _, err := tr.Fetch(ctx, peer, h, [32]byte{}, nil); err != nil { // connect
				b.Fatal(err)
			}
			b.SetBytes(chunk)
			b.ResetTimer()
			for range b.N {
				if _, err := tr.Fetch(ctx, peer, h, [32]byte{}, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("raw", func(b *testing.B) {
		cfg := Config{Loopback: true}
		api := newAPI(&cfg)
		pa, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			b.Fatal(err)
		}
		defer pa.Close()
		pb, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			b.Fatal(err)
		}
		defer pb.Close()
		dc, err := pa.CreateDataChannel("raw", nil)
		if err != nil {
			b.Fatal(err)
		}
		got := make(chan int, 1024)
		pb.OnDataChannel(func(d *webrtc.DataChannel) {
			d.OnMessage(func(m webrtc.DataChannelMessage) { got <- len(m.Data) })
		})
		negotiate := func(from, to *webrtc.PeerConnection, sd webrtc.SessionDescription) {
			g := webrtc.GatheringCompletePromise(from)
			if err := from.SetLocalDescription(sd); err != nil {
				b.Fatal(err)
			}
			<-g
			if err := to.SetRemoteDescription(*from.LocalDescription()); err != nil {
				b.Fatal(err)
			}
		}
		offer, _ := pa.CreateOffer(nil)
		negotiate(pa, pb, offer)
		answer, _ := pb.CreateAnswer(nil)
		negotiate(pb, pa, answer)
		open := make(chan struct{})
		dc.OnOpen(func() { close(open) })
		select {
		case <-open:
		case <-time.After(10 * time.Second):
			b.Fatal("raw channel did not open")
		}
		low := make(chan struct{}, 1)
		dc.SetBufferedAmountLowThreshold(LowThreshold)
		dc.OnBufferedAmountLow(func() { signal(low) })
		msg := randBytes(2, 64<<10)
		b.SetBytes(chunk)
		b.ResetTimer()
		for range b.N {
			go func() {
				for sent := 0; sent < chunk; sent += len(msg) {
					for dc.BufferedAmount() > MaxBuffered {
						<-low
					}
					dc.Send(msg)
				}
			}()
			for n := 0; n < chunk; n += <-got {
			}
		}
	})
}

//go:build !js

package webrtc

import (
	"context"
	"crypto/sha256"
	"syscall"
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

// BenchmarkReceiptsRatio is the cost of receipts over a DataChannel: two
// seeder/leecher pairs on loopback, one signing and checking a receipt per
// 5 MiB chunk and one not, fetching in alternation so that both see the
// same load. It reports each pair's MB/s and their ratio (on/off), and the
// ratio of MB per CPU-second (the process's CPU while each pair fetched):
//
//	go test -run '^$' -bench ReceiptsRatio -benchtime 40x -count 3 ./webrtc/
func BenchmarkReceiptsRatio(b *testing.B) {
	const chunk = 5 << 20
	type pair struct {
		tr        swarm.Transport
		peer      swarm.PeerID
		h         [32]byte
		took, cpu time.Duration
		leecher   *Node
	}
	url := testRelay(b)
	mk := func(receipts bool, seed uint64) *pair {
		blobs := blobstore.NewMemory(16 << 20)
		data := randBytes(seed, chunk)
		h := sha256.Sum256(data)
		blobs.Put(h, data)
		fast := func(c *Config) { c.RequestsPerSecond, c.Receipts = 1<<20, receipts }
		seeder := testNode(b, url, blobs, fast)
		leecher := testNode(b, url, nil, fast)
		p := &pair{tr: leecher.Transport(), peer: swarm.PeerID(seeder.PubKey()), h: h, leecher: leecher}
		if _, err := p.tr.Fetch(context.Background(), p.peer, h, [32]byte{}, nil); err != nil { // connect
			b.Fatal(err)
		}
		return p
	}
	off, on := mk(false, 1), mk(true, 2)
	b.SetBytes(2 * chunk)
	b.ResetTimer()
	for range b.N {
		for _, p := range []*pair{off, on} {
			start, cpu := time.Now(), cpuTime()
			if _, err := p.tr.Fetch(context.Background(), p.peer, p.h, [32]byte{}, nil); err != nil {
				b.Fatal(err)
			}
			p.took += time.Since(start)
			p.cpu += cpuTime() - cpu
		}
	}
	b.StopTimer()
	if on.leecher.ReceiptStats().Sent == 0 {
		b.Fatal("no receipt sent")
	}
	mbps := func(p *pair) float64 { return float64(b.N) * chunk / 1e6 / p.took.Seconds() }
	b.ReportMetric(mbps(off), "off-MB/s")
	b.ReportMetric(mbps(on), "on-MB/s")
	b.ReportMetric(mbps(on)/mbps(off), "on/off")
	b.ReportMetric(off.cpu.Seconds()/on.cpu.Seconds(), "cpu-on/off")
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

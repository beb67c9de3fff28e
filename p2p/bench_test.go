package p2p

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/blobstore"
	"github.com/cairn-nostr/cairn/swarm"
)

// cpuTime is the process's user+system CPU time: both peers run in this
// process, so CPU per chunk is a measure that a machine shared with other
// work does not distort the way wall-clock throughput is.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds cpu-ms/op and MB/cpu-s (megabytes moved per second of
// CPU) to a benchmark's results.
func reportCPU(b *testing.B, start time.Duration) {
	cpu := cpuTime() - start
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(b.N)*benchChunk/1e6/cpu.Seconds(), "MB/cpu-s")
}

// The two benchmarks move the same bytes — 5 MiB chunks, requested one
// after another by one peer from another on loopback, SHA-256 verified on
// the receiver — so that their ratio is the cost of libp2p (TLS, yamux, the
// wire framing, the blob store read) over a bare socket:
//
//	go test -run '^$' -bench . -benchtime 100x -count 3 ./p2p/
//
// Wall-clock MB/s is only meaningful on an idle machine; cpu-ms/op and
// MB/cpu-s (both peers' CPU, as they share the process) hold up under load.
//
// BenchmarkFetch lifts the 10 requests/s limit, which otherwise caps one
// peer at 50 MiB/s by design.

const benchChunk = 5 << 20

func BenchmarkFetch(b *testing.B) {
	for _, tr := range []string{TransportTCP, TransportQUIC} {
		b.Run(tr, func(b *testing.B) {
			unlimited := func(c *Config) { c.DHT = false; c.Limits.RequestsPerSecond = -1 }
			srv := newHost(b, unlimited)
			cli := newHost(b, unlimited)
			connect(b, cli, srv, tr)
			var hashes [][32]byte
			for i := range 4 {
				data, _ := chunk(uint64(i), benchChunk)
				hashes = append(hashes, put(b, srv, data))
			}
			ctx := context.Background()
			if _, err := cli.Fetch(ctx, srv.ID(), hashes[0], hashes[0]); err != nil { // open the stream
				b.Fatal(err)
			}
			b.SetBytes(benchChunk)
			b.ResetTimer()
			cpu := cpuTime()
			for i := range b.N {
				h := hashes[i%len(hashes)]
				if _, err := cli.Fetch(ctx, srv.ID(), h, h); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportCPU(b, cpu)
		})
	}
}

func BenchmarkRawTCP(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var chunks [][]byte
	var hashes [][32]byte
	for i := range 4 {
		data, hash := chunk(uint64(i), benchChunk)
		chunks, hashes = append(chunks, data), append(hashes, hash)
	}
	done := make(chan struct{})
	go func() { // the server: one byte names a chunk, the chunk follows
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var req [1]byte
		for {
			if _, err := io.ReadFull(c, req[:]); err != nil {
				return
			}
			if _, err := c.Write(chunks[req[0]]); err != nil {
				return
			}
		}
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, benchChunk)
	b.SetBytes(benchChunk)
	b.ResetTimer()
	cpu := cpuTime()
	for i := range b.N {
		k := i % len(chunks)
		if _, err := c.Write([]byte{byte(k)}); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
		if sha256.Sum256(buf) != hashes[k] {
			b.Fatal("hash mismatch")
		}
	}
	b.StopTimer()
	reportCPU(b, cpu)
	c.Close()
	<-done
}

// BenchmarkLibp2pStream is BenchmarkRawTCP over a bare libp2p stream (TCP,
// TLS, yamux; no chunk protocol): the gap between it and BenchmarkFetch is
// what the chunk protocol itself costs.
func BenchmarkLibp2pStream(b *testing.B) {
	const proto = "/cairn/bench/raw"
	srv := newHost(b, noDHT)
	cli := newHost(b, noDHT)
	connect(b, cli, srv, TransportTCP)
	var chunks [][]byte
	var hashes [][32]byte
	for i := range 4 {
		data, hash := chunk(uint64(i), benchChunk)
		chunks, hashes = append(chunks, data), append(hashes, hash)
	}
	srv.Libp2p().SetStreamHandler(proto, func(s network.Stream) {
		defer s.Reset()
		var req [1]byte
		for {
			if _, err := io.ReadFull(s, req[:]); err != nil {
				return
			}
			if _, err := s.Write(chunks[req[0]]); err != nil {
				return
			}
		}
	})
	s, err := cli.Libp2p().NewStream(context.Background(), srv.ID(), proto)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Reset()
	buf := make([]byte, benchChunk)
	b.SetBytes(benchChunk)
	b.ResetTimer()
	cpu := cpuTime()
	for i := range b.N {
		k := i % len(chunks)
		if _, err := s.Write([]byte{byte(k)}); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(s, buf); err != nil {
			b.Fatal(err)
		}
		if sha256.Sum256(buf) != hashes[k] {
			b.Fatal("hash mismatch")
		}
	}
	b.StopTimer()
	reportCPU(b, cpu)
}

// BenchmarkSwarmCapped: a swarm download over SwarmTransport from four
// seeders, each capped at R bytes/s of upload (Limits.UploadBytesPerSecond),
// to one fetcher. The aim is a rate of at least 0.85 x 4R ("of-4R"), and
// the time to the first verified chunk ("first-chunk-ms");
// "of-4R-sustained" leaves out the bytes the seeders' token buckets let
// through at once when a download starts. One iteration is one whole
// 24 MiB download into a fresh store.
//
//	go test ./p2p/ -run '^$' -bench SwarmCapped -benchtime 3x
func BenchmarkSwarmCapped(b *testing.B) {
	for _, rate := range []int64{2 << 20, 4 << 20} {
		b.Run(fmt.Sprintf("R=%dMiB", rate>>20), func(b *testing.B) {
			c := big(b)
			ss := newSeeders(b, c, 4, 0, rate)
			fetcher := swarmHost(b, nil, 0)
			tr := fetcher.SwarmTransport()
			for _, s := range ss {
				connect(b, fetcher, s.h, "")
			}
			var total, first time.Duration
			b.ResetTimer()
			for range b.N {
				blobs := blobstore.NewMemory(0)
				d, err := swarm.NewDownload(swarm.Config{Map: c.m, Blobs: blobs})
				if err != nil {
					b.Fatal(err)
				}
				for _, s := range ss {
					d.AddPeer(SwarmPeer(s.h.ID()), tr, swarm.HasAll)
				}
				err = d.Wait(context.Background())
				p := d.Progress()
				d.Close()
				if err != nil {
					b.Fatal(err)
				}
				total += p.Elapsed
				first += p.FirstChunk
				// Let the seeders' buckets refill to their burst only, as
				// after any pause.
				time.Sleep(200 * time.Millisecond)
			}
			b.StopTimer()
			mibps := float64(c.m.Size) * float64(b.N) / total.Seconds() / (1 << 20)
			b.ReportMetric(mibps, "MiB/s")
			b.ReportMetric(mibps/float64(4*rate>>20), "of-4R")
			// Each seeder's bucket starts with a burst (a tenth of a
			// second at R): without it, the sustained rate.
			burst := float64(4 * max(rate/10, 64<<10+4))
			sustained := (float64(c.m.Size)*float64(b.N) - burst*float64(b.N)) / total.Seconds()
			b.ReportMetric(sustained/float64(4*rate), "of-4R-sustained")
			b.ReportMetric(float64(first.Milliseconds())/float64(b.N), "first-chunk-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkReceipts is the cost of receipts over libp2p: two pairs of hosts
// on loopback TCP, one with hellos and receipts (the fetcher signs a kind
// 7772 for every 5 MiB chunk and the seeder checks it) and one without,
// fetching in alternation so that both see the same load. It reports each
// pair's MB/s and their ratio (on/off), and the ratio of MB per CPU-second
// (cpu-on/off: the process's CPU while each pair fetched):
//
//	go test -run '^$' -bench Receipts -benchtime 200x -count 3 ./p2p/
func BenchmarkReceipts(b *testing.B) {
	type pair struct {
		srv, cli *Host
		hashes   [][32]byte
		took     time.Duration
		cpu      time.Duration // the process's CPU while this pair fetched
	}
	mk := func(receipts bool) *pair {
		mut := func(c *Config) {
			c.DHT = false
			c.Limits.RequestsPerSecond = -1
			if receipts {
				sk := nostr.GeneratePrivateKey()
				c.Credit = Credit{SecretKey: sk, Receipts: true}
			}
		}
		p := &pair{srv: newHost(b, mut), cli: newHost(b, mut)}
		connect(b, p.cli, p.srv, TransportTCP)
		for i := range 4 {
			data, _ := chunk(uint64(i), benchChunk)
			p.hashes = append(p.hashes, put(b, p.srv, data))
		}
		if _, err := p.cli.Fetch(context.Background(), p.srv.ID(), p.hashes[0], p.hashes[0]); err != nil {
			b.Fatal(err)
		}
		return p
	}
	off, on := mk(false), mk(true)
	b.SetBytes(2 * benchChunk)
	b.ResetTimer()
	for i := range b.N {
		for _, p := range []*pair{off, on} {
			h := p.hashes[i%len(p.hashes)]
			start, cpu := time.Now(), cpuTime()
			if _, err := p.cli.Fetch(context.Background(), p.srv.ID(), h, h); err != nil {
				b.Fatal(err)
			}
			p.took += time.Since(start)
			p.cpu += cpuTime() - cpu
		}
	}
	b.StopTimer()
	if st := on.cli.ReceiptStats(); st.Sent < int64(b.N) {
		b.Fatalf("receipts sent %d of %d", st.Sent, b.N)
	}
	mbps := func(p *pair) float64 { return float64(b.N) * benchChunk / 1e6 / p.took.Seconds() }
	b.ReportMetric(mbps(off), "off-MB/s")
	b.ReportMetric(mbps(on), "on-MB/s")
	b.ReportMetric(mbps(on)/mbps(off), "on/off")
	// MB per CPU-second, which load from elsewhere distorts less.
	b.ReportMetric(off.cpu.Seconds()/on.cpu.Seconds(), "cpu-on/off")
}

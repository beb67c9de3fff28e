package media

import (
	"bytes"
	"crypto/sha256"
	"sync"
	"testing"
	"time"
)

// benchSize is the size of the benchmark files: 64 MiB, about 13 chunks of
// the default 5 MiB.
const benchSize = 64 << 20

var (
	benchOnce            sync.Once
	benchFMP4, benchWebM []byte
	benchOther           []byte
)

// benchFiles builds a 64 MiB fragmented MP4 (256 fragments of 25 x 10 KB
// video samples and one audio sample), a WebM of 1-second clusters of the
// same shape, and random bytes.
func benchFiles(b *testing.B) {
	benchOnce.Do(func() {
		var frags []tfrag
		for i := 0; i < 256; i++ {
			frags = append(frags, tfrag{video: gop(true, 25, 10<<10), audio: []tsample{{size: 6 << 10, dur: 1000, sync: true}}})
		}
		benchFMP4 = buildFMP4(b, frags, fmp4Options{}).data
		var clusters [][]byte
		for i := 0; len(clusters) < 256; i++ {
			blocks := [][]byte{elUint(idTimecode, uint64(i)*1000), simpleBlock(2, 0, true, 6<<10)}
			for j := 0; j < 25; j++ {
				blocks = append(blocks, simpleBlock(1, int16(j*40), j == 0, 10<<10))
			}
			clusters = append(clusters, el(idCluster, blocks...))
		}
		benchWebM = webmFile(256000, clusters...)
		benchOther = randomBytes(benchSize, 9)
	})
}

func benchSplit(b *testing.B, data []byte, want Container) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := Split(bytes.NewReader(data), int64(len(data)), Chunker{})
		if err != nil || p.Container != want {
			b.Fatal(p.Container, err)
		}
	}
}

// BenchmarkSplitFMP4, BenchmarkSplitWebM and BenchmarkSplitOther measure
// scan + cut + hash; BenchmarkSHA256 is the raw hashing of the same 64 MiB
// (one sha256 over all of it), the ceiling Split can approach.
func BenchmarkSplitFMP4(b *testing.B)  { benchFiles(b); benchSplit(b, benchFMP4, FragmentedMP4) }
func BenchmarkSplitWebM(b *testing.B)  { benchFiles(b); benchSplit(b, benchWebM, WebM) }
func BenchmarkSplitOther(b *testing.B) { benchFiles(b); benchSplit(b, benchOther, Other) }

func BenchmarkSHA256(b *testing.B) {
	benchFiles(b)
	data := benchFMP4
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		h := sha256.New()
		h.Write(data)
		h.Sum(nil)
	}
}

// BenchmarkSplitVsSHA256 alternates Split and raw SHA-256 over the same
// 64 MiB fragmented MP4 and reports both throughputs and their ratio, so
// that load from other processes affects both alike.
func BenchmarkSplitVsSHA256(b *testing.B) {
	benchFiles(b)
	data := benchFMP4
	var tSplit, tSHA time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := Split(bytes.NewReader(data), int64(len(data)), Chunker{}); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		h := sha256.New()
		h.Write(data)
		h.Sum(nil)
		tSplit += mid.Sub(start)
		tSHA += time.Since(mid)
	}
	mb := float64(len(data)) * float64(b.N) / 1e6
	b.ReportMetric(mb/tSplit.Seconds(), "split-MB/s")
	b.ReportMetric(mb/tSHA.Seconds(), "sha256-MB/s")
	b.ReportMetric(tSHA.Seconds()/tSplit.Seconds(), "split/sha256")
}

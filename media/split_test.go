package media

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/cairn-nostr/cairn/media/chunkmap"
)

func randomBytes(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func TestSplitOther(t *testing.T) {
	data := randomBytes(25000, 1)
	p, err := split(t, data, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if p.Container != Other || p.Init != nil || p.MIME != "" || len(p.Chunks) != 3 {
		t.Fatalf("plan %+v", p)
	}
	for i, c := range p.Chunks {
		if c.Keyframe || c.DurationMs != 0 || c.Offset != int64(i)*10000 {
			t.Errorf("chunk %d = %+v", i, c)
		}
	}
	if p.Chunks[2].Length != 5000 {
		t.Errorf("last chunk %d bytes", p.Chunks[2].Length)
	}
}

func TestSplitEmpty(t *testing.T) {
	p, err := split(t, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Chunks) != 0 || p.Root != sha256.Sum256(nil) || p.TargetSize != DefaultTargetSize {
		t.Fatalf("plan %+v", p)
	}
}

func TestSplitFixedIgnoresFormat(t *testing.T) {
	data := buildFMP4(t, []tfrag{av(true), av(true)}, fmp4Options{}).data
	p, err := SplitFixed(bytes.NewReader(data), int64(len(data)), Chunker{TargetSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, p, data)
	if p.Container != Other || p.Init != nil || p.Chunks[0].Length != 4096 {
		t.Fatalf("plan %+v", p)
	}
}

func TestChunkerValidate(t *testing.T) {
	for _, c := range []Chunker{{TargetSize: -1}, {TargetSize: MaxTargetSize + 1}} {
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: err %v", c, err)
		}
		if _, err := Split(bytes.NewReader(nil), 0, c); !errors.Is(err, ErrConfig) {
			t.Errorf("Split with %+v: err %v", c, err)
		}
	}
	for _, c := range []Chunker{{}, {TargetSize: 1}, {TargetSize: MaxTargetSize}} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if MaxTargetSize*6/5 > chunkmap.MaxChunkLen {
		t.Errorf("1.2 x MaxTargetSize exceeds MaxChunkLen")
	}
}

// errReader fails every read at or past failAt.
type errReader struct {
	r      io.ReaderAt
	failAt int64
}

var errDisk = errors.New("disk on fire")

func (e errReader) ReadAt(b []byte, off int64) (int, error) {
	if off+int64(len(b)) > e.failAt {
		return 0, errDisk
	}
	return e.r.ReadAt(b, off)
}

func TestSplitReaderErrors(t *testing.T) {
	media := buildFMP4(t, []tfrag{av(true), av(true)}, fmp4Options{}).data
	other := randomBytes(200000, 2)
	tests := []struct {
		name string
		r    io.ReaderAt
		size int64
		want error
	}{
		{"file shorter than size (media)", bytes.NewReader(media[:len(media)-100]), int64(len(media)), ErrTruncated},
		{"file shorter than size (other)", bytes.NewReader(other[:150000]), 200000, ErrTruncated},
		{"read error while scanning", errReader{bytes.NewReader(media), 100}, int64(len(media)), errDisk},
		{"read error while hashing", errReader{bytes.NewReader(other), 150000}, 200000, errDisk},
		{"negative size", bytes.NewReader(nil), -1, ErrConfig},
		{"size over the limit", bytes.NewReader(nil), MaxFileSize + 1, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Split(tt.r, tt.size, Chunker{TargetSize: 1000}); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
}

func TestPlanMap(t *testing.T) {
	data := buildFMP4(t, []tfrag{av(true), av(false), av(true)}, fmp4Options{}).data
	p, err := split(t, data, 8000)
	if err != nil {
		t.Fatal(err)
	}
	m := p.Map()
	m.Title = "test"
	ev := m.Event()
	got, err := chunkmap.Parse(&ev)
	if err != nil {
		t.Fatal(err)
	}
	if got.Root != p.Root || got.Size != p.Size || got.ChunkSize != 8000 || got.MIME != p.MIME ||
		!reflect.DeepEqual(got.Chunks, p.Hashes()) || *got.Init != *p.Init || len(got.ChunkInfo) != len(p.Chunks) {
		t.Fatalf("parsed map %+v", got)
	}
	for i, ci := range got.ChunkInfo {
		c := p.Chunks[i]
		if ci.Offset != c.Offset || ci.Length != c.Length || ci.DurationMs != c.DurationMs {
			t.Errorf("chunk-info %d = %+v, chunk %+v", i, ci, c)
		}
	}

	// A plain file: no init, no chunk-info, Entropy's size rule holds.
	other := randomBytes(25000, 3)
	p, err = split(t, other, 10000)
	if err != nil {
		t.Fatal(err)
	}
	ev = p.Map().Event()
	got, err = chunkmap.Parse(&ev)
	if err != nil {
		t.Fatal(err)
	}
	if got.Init != nil || got.ChunkInfo != nil || got.MIME != "" || len(got.Chunks) != 3 {
		t.Fatalf("parsed map %+v", got)
	}
}

package wire

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"math/rand"
	"reflect"
	"testing"
)

func chunkOf(n int, seed int64) ([32]byte, []byte) {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return sha256.Sum256(b), b
}

// TestEncodeChunkReassemble sends chunks of many sizes through EncodeChunk and
// a Reassembler and gets them back, also over framed streams.
func TestEncodeChunkReassemble(t *testing.T) {
	sizes := []int{0, 1, 1000, MaxDataLen - 1, MaxDataLen, MaxDataLen + 1, 2 * MaxDataLen, 2*MaxDataLen + 37, 5 << 20, MaxChunkSize}
	for i, n := range sizes {
		hash, data := chunkOf(n, int64(i))
		msgs, err := EncodeChunk(hash, data)
		if err != nil {
			t.Fatalf("EncodeChunk(%d): %v", n, err)
		}
		wantMsgs := 1
		if n > MaxDataLen {
			wantMsgs = 1 + (n+FragmentSize-1)/FragmentSize
			if Type(msgs[0][0]) != TypeDataHeader {
				t.Fatalf("size %d: first message is %v", n, Type(msgs[0][0]))
			}
		} else if Type(msgs[0][0]) != TypeData {
			t.Fatalf("size %d: message is %v", n, Type(msgs[0][0]))
		}
		if len(msgs) != wantMsgs {
			t.Fatalf("size %d: %d messages, want %d", n, len(msgs), wantMsgs)
		}

		// Message-oriented (DataChannel) and framed (stream) delivery.
		var stream bytes.Buffer
		for _, m := range msgs {
			if err := WriteFrame(&stream, m); err != nil {
				t.Fatal(err)
			}
		}
		for _, viaStream := range []bool{false, true} {
			var r Reassembler
			var got Msg
			for j, m := range msgs {
				if viaStream {
					m, err = ReadFrame(&stream, nil)
					if err != nil {
						t.Fatal(err)
					}
				}
				out, err := r.Feed(m)
				if err != nil {
					t.Fatalf("size %d msg %d: %v", n, j, err)
				}
				if out != nil {
					if j != len(msgs)-1 {
						t.Fatalf("size %d: chunk completed early at message %d", n, j)
					}
					got = out
				}
			}
			d, ok := got.(*Data)
			if !ok || d.Hash != hash || !bytes.Equal(d.Data, data) || !d.Verify() {
				t.Fatalf("size %d (stream %v): reassembled %T wrong", n, viaStream, got)
			}
			if r.Active() {
				t.Fatal("reassembler still active after a complete chunk")
			}
		}
	}
}

func TestEncodeChunkTooLarge(t *testing.T) {
	if _, err := EncodeChunk(hashA, make([]byte, MaxChunkSize+1)); !errors.Is(err, ErrChunkTooLarge) {
		t.Fatalf("error = %v", err)
	}
}

func headerMsg(t *testing.T, total uint32) []byte {
	t.Helper()
	b, err := (&DataHeader{Hash: hashA, Total: total}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReassemblerRefusals(t *testing.T) {
	frag := make([]byte, FragmentSize)
	cases := []struct {
		name  string
		total uint32
		msgs  [][]byte // fed after the header; the last one must fail
		want  error
	}{
		{"header mid chunk", 3 * FragmentSize, [][]byte{frag, headerMsg(t, 100)}, ErrHeaderMidChunk},
		{"header right after header", 3 * FragmentSize, [][]byte{headerMsg(t, 100)}, ErrHeaderMidChunk},
		{"overrun on last fragment", FragmentSize + 10, [][]byte{frag, make([]byte, 11)}, ErrFragmentOverrun},
		{"overrun small chunk", 10, [][]byte{make([]byte, 11)}, ErrFragmentOverrun},
		{"short last fragment", FragmentSize + 10, [][]byte{frag, make([]byte, 9)}, ErrFragmentSize},
		{"short middle fragment", 3 * FragmentSize, [][]byte{make([]byte, 100)}, ErrFragmentSize},
		{"fragment over 64 KiB", 3 * FragmentSize, [][]byte{make([]byte, FragmentSize+1)}, ErrFragmentSize},
		{"empty fragment", 3 * FragmentSize, [][]byte{{}}, ErrFragmentSize},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r Reassembler
			if m, err := r.Feed(headerMsg(t, tc.total)); m != nil || err != nil {
				t.Fatalf("Feed(header) = %v, %v", m, err)
			}
			var err error
			for i, m := range tc.msgs {
				var out Msg
				out, err = r.Feed(m)
				if out != nil {
					t.Fatalf("message %d completed a chunk", i)
				}
				if i < len(tc.msgs)-1 && err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			if r.Active() {
				t.Fatal("reassembler still active after an error")
			}
			// It is usable again.
			hash, data := chunkOf(MaxDataLen+5, 1)
			msgs, _ := EncodeChunk(hash, data)
			var got Msg
			for _, m := range msgs {
				if got, err = r.Feed(m); err != nil {
					t.Fatalf("after error: %v", err)
				}
			}
			if d, ok := got.(*Data); !ok || !bytes.Equal(d.Data, data) {
				t.Fatal("after error: chunk not reassembled")
			}
		})
	}
}

// TestFragmentLooksLikeHeader checks that a final fragment which happens to
// look like a DATA_HEADER is taken as the fragment it is.
func TestFragmentLooksLikeHeader(t *testing.T) {
	last := headerMsg(t, 100) // 37 bytes starting with 0x04
	data := append(make([]byte, FragmentSize), last...)
	hash := sha256.Sum256(data)
	msgs, err := EncodeChunk(hash, data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(msgs[len(msgs)-1], last) {
		t.Fatal("test setup: last fragment is not the header look-alike")
	}
	var r Reassembler
	var got Msg
	for _, m := range msgs {
		if got, err = r.Feed(m); err != nil {
			t.Fatal(err)
		}
	}
	if d, ok := got.(*Data); !ok || !d.Verify() {
		t.Fatal("chunk ending in a header look-alike not reassembled")
	}
}

func TestFragmentWithoutHeader(t *testing.T) {
	var r Reassembler
	if _, err := r.Fragment(make([]byte, 10)); !errors.Is(err, ErrNoHeader) {
		t.Fatalf("Fragment without header: %v", err)
	}
	// Through Feed a stray fragment is decoded as a message and refused.
	if _, err := r.Feed([]byte{0x00, 1, 2, 3}); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("Feed(stray fragment) = %v", err)
	}
}

func TestStartRefusals(t *testing.T) {
	var r Reassembler
	if err := r.Start(&DataHeader{Hash: hashA, Total: 0}); !errors.Is(err, ErrEmptyChunk) {
		t.Errorf("Start(0) = %v", err)
	}
	if err := r.Start(&DataHeader{Hash: hashA, Total: MaxChunkSize + 1}); !errors.Is(err, ErrChunkTooLarge) {
		t.Errorf("Start(too large) = %v", err)
	}
	if r.Active() {
		t.Fatal("active after refused header")
	}
	if err := r.Start(&DataHeader{Hash: hashA, Total: 10}); err != nil {
		t.Fatal(err)
	}
	if h, rec, total, ok := r.Progress(); !ok || h != hashA || rec != 0 || total != 10 {
		t.Fatalf("Progress = %x %d %d %v", h[:4], rec, total, ok)
	}
	if err := r.Start(&DataHeader{Hash: hashB, Total: 10}); !errors.Is(err, ErrHeaderMidChunk) {
		t.Fatalf("second Start = %v", err)
	}
	if r.Active() {
		t.Fatal("active after header mid chunk")
	}
}

func TestFeedPassesOtherMessages(t *testing.T) {
	var r Reassembler
	for _, m := range []Msg{
		&Request{Hash: hashA, Root: hashB},
		&Error{Hash: hashA, Reason: ReasonBusy},
		&CustodyProof{Hash: hashA, Proof: hashB},
		&Data{Hash: hashA, Data: []byte{1}},
	} {
		b, _ := m.Encode()
		got, err := r.Feed(b)
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("Feed(%v) = %#v, %v", m.Type(), got, err)
		}
	}
	if _, err := r.Feed([]byte{0x08, 1}); !errors.Is(err, ErrUnsupportedType) {
		t.Fatalf("Feed(TAG_UPDATE) = %v", err)
	}
}

func TestResetDropsChunk(t *testing.T) {
	var r Reassembler
	_, _ = r.Feed(headerMsg(t, 3*FragmentSize))
	_, _ = r.Feed(make([]byte, FragmentSize))
	r.Reset()
	if r.Active() {
		t.Fatal("active after Reset")
	}
	if _, err := r.Fragment(make([]byte, FragmentSize)); !errors.Is(err, ErrNoHeader) {
		t.Fatalf("Fragment after Reset = %v", err)
	}
}

// TestReassemblerSpace: fragments read into Space, some copied in between,
// come back as the chunk; Due follows the fragments, and a wrong-sized
// fragment is still refused.
func TestReassemblerSpace(t *testing.T) {
	n := 3*FragmentSize + 123
	hash, data := chunkOf(n, 9)
	var r Reassembler
	if r.Due() != 0 || r.Space() != nil {
		t.Fatal("a fragment due before any header")
	}
	if err := r.Start(&DataHeader{Hash: hash, Total: uint32(n)}); err != nil {
		t.Fatal(err)
	}
	var got *Data
	for k, off := 0, 0; off < n; k++ {
		due := min(FragmentSize, n-off)
		if r.Due() != due {
			t.Fatalf("fragment %d: Due %d, want %d", k, r.Due(), due)
		}
		frag := data[off : off+due]
		if k%2 == 0 { // read into the chunk
			sp := r.Space()
			if len(sp) != due {
				t.Fatalf("fragment %d: Space of %d bytes, want %d", k, len(sp), due)
			}
			copy(sp, frag)
			frag = sp
		}
		d, err := r.Fragment(frag)
		if err != nil {
			t.Fatal(err)
		}
		off += due
		if (d != nil) != (off == n) {
			t.Fatalf("fragment %d: chunk %v at %d of %d", k, d != nil, off, n)
		}
		got = d
	}
	if got.Hash != hash || !bytes.Equal(got.Data, data) {
		t.Fatal("chunk read into Space differs")
	}
	if err := r.Start(&DataHeader{Hash: hash, Total: uint32(n)}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Fragment(r.Space()[:10]); !errors.Is(err, ErrFragmentSize) {
		t.Fatalf("a short fragment in Space: %v, want ErrFragmentSize", err)
	}
}

package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

var (
	hashA = sha256.Sum256([]byte("a"))
	hashB = sha256.Sum256([]byte("b"))
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func be32(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestEncodeLayout pins the byte layout of every message against bytes
// assembled by hand from the Entropy table.
func TestEncodeLayout(t *testing.T) {
	receipt := []byte(`{"kind":7772}`)
	cases := []struct {
		name string
		msg  Msg
		want []byte
	}{
		{"request", &Request{Hash: hashA, Root: hashB}, cat([]byte{0x01}, hashA[:], hashB[:])},
		{"data", &Data{Hash: hashA, Data: []byte{9, 8, 7}}, cat([]byte{0x02}, hashA[:], []byte{0, 0, 0, 3}, []byte{9, 8, 7})},
		{"data empty", &Data{Hash: hashA}, cat([]byte{0x02}, hashA[:], []byte{0, 0, 0, 0})},
		{"data max", &Data{Hash: hashA, Data: make([]byte, MaxDataLen)}, cat([]byte{0x02}, hashA[:], []byte{0, 1, 0, 0}, make([]byte, MaxDataLen))},
		{"error not found", &Error{Hash: hashA, Reason: ReasonNotFound}, cat([]byte{0x03}, hashA[:], []byte{0})},
		{"error credit", &Error{Hash: hashA, Reason: ReasonInsufficientCredit}, cat([]byte{0x03}, hashA[:], []byte{1})},
		{"error busy", &Error{Hash: hashA, Reason: ReasonBusy}, cat([]byte{0x03}, hashA[:], []byte{2})},
		{"data header", &DataHeader{Hash: hashA, Total: 5 << 20}, cat([]byte{0x04}, hashA[:], []byte{0, 0x50, 0, 0})},
		{"data header max", &DataHeader{Hash: hashA, Total: MaxChunkSize}, cat([]byte{0x04}, hashA[:], []byte{0, 0x70, 0, 0})},
		{"custody challenge", &CustodyChallenge{Hash: hashA, Offset: 0x01020304, Nonce: hashB}, cat([]byte{0x05}, hashA[:], []byte{1, 2, 3, 4}, hashB[:])},
		{"custody proof", &CustodyProof{Hash: hashA, Proof: hashB}, cat([]byte{0x06}, hashA[:], hashB[:])},
		{"receipt", &Receipt{Hash: hashA, Event: receipt}, cat([]byte{0x07}, hashA[:], be32(uint32(len(receipt))), receipt)},
		{"hello", &Hello{Event: receipt}, cat([]byte{0x09}, be32(uint32(len(receipt))), receipt)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.msg.Encode()
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("Encode = %x\nwant     %x", got, tc.want)
			}
			prefix := []byte("xyz")
			app, err := tc.msg.AppendTo(prefix)
			if err != nil || !bytes.Equal(app, cat(prefix, tc.want)) {
				t.Fatalf("AppendTo = %x, %v", app, err)
			}
			dec, err := Decode(got)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if dec.Type() != Type(tc.want[0]) {
				t.Fatalf("Type = %v", dec.Type())
			}
			if !reflect.DeepEqual(normalize(dec), normalize(tc.msg)) {
				t.Fatalf("Decode = %#v, want %#v", dec, tc.msg)
			}
		})
	}
}

// normalize makes nil and empty payloads compare equal.
func normalize(m Msg) Msg {
	switch v := m.(type) {
	case *Data:
		if len(v.Data) == 0 {
			return &Data{Hash: v.Hash}
		}
	case *Receipt:
		if len(v.Event) == 0 {
			return &Receipt{Hash: v.Hash}
		}
	}
	return m
}

// TestRequestFixedVector is a literal vector, so a layout change can't slip
// through a symmetric encoder/decoder bug.
func TestRequestFixedVector(t *testing.T) {
	b := unhex(t, "01"+
		"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"+
		"3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d")
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := &Request{Hash: hashA, Root: hashB}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("Decode = %#v", m)
	}
}

func TestDecodeRefusals(t *testing.T) {
	data := func(lenField uint32, n int) []byte {
		return cat([]byte{0x02}, hashA[:], be32(lenField), make([]byte, n))
	}
	receipt := func(lenField uint32, js []byte) []byte {
		return cat([]byte{0x07}, hashA[:], be32(lenField), js)
	}
	header := func(total uint32) []byte { return cat([]byte{0x04}, hashA[:], be32(total)) }
	bigJSON := []byte(`"` + strings.Repeat("x", MaxReceiptLen-1) + `"`) // MaxReceiptLen+1 bytes

	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrEmpty},
		{"over 4 MiB", cat([]byte{0x02}, make([]byte, MaxMessageSize)), ErrTooLarge},
		{"unknown type 0x00", []byte{0x00, 1, 2}, ErrUnknownType},
		{"unknown type 0x0a", cat([]byte{0x0a}, hashA[:]), ErrUnknownType},
		{"unknown type 0xff", []byte{0xff}, ErrUnknownType},
		{"tag update", []byte{0x08, 0, 0}, ErrUnsupportedType},
		{"request short", cat([]byte{0x01}, hashA[:], hashB[:31]), ErrLength},
		{"request long", cat([]byte{0x01}, hashA[:], hashB[:], []byte{0}), ErrLength},
		{"request with entropy v0 pubkey", cat([]byte{0x01}, hashA[:], hashB[:], []byte{0, 2, 'h', 'i'}), ErrLength},
		{"request type only", []byte{0x01}, ErrLength},
		{"data no length", cat([]byte{0x02}, hashA[:], []byte{0, 0, 0}), ErrLength},
		{"data len field high", data(4, 3), ErrLengthField},
		{"data len field low", data(2, 3), ErrLengthField},
		{"data len field huge", data(0xffffffff, 3), ErrLengthField},
		{"data over 64 KiB", data(MaxDataLen+1, MaxDataLen+1), ErrDataTooLarge},
		{"error short", cat([]byte{0x03}, hashA[:]), ErrLength},
		{"error long", cat([]byte{0x03}, hashA[:], []byte{0, 0}), ErrLength},
		{"error reason 3", cat([]byte{0x03}, hashA[:], []byte{3}), ErrUnknownReason},
		{"error reason 255", cat([]byte{0x03}, hashA[:], []byte{255}), ErrUnknownReason},
		{"header short", cat([]byte{0x04}, hashA[:], []byte{0, 0, 1}), ErrLength},
		{"header long", cat(header(100), []byte{0}), ErrLength},
		{"header over 7 MiB", header(MaxChunkSize + 1), ErrChunkTooLarge},
		{"header max u32", header(0xffffffff), ErrChunkTooLarge},
		{"header zero", header(0), ErrEmptyChunk},
		{"challenge short", cat([]byte{0x05}, hashA[:], be32(1), hashB[:31]), ErrLength},
		{"challenge long", cat([]byte{0x05}, hashA[:], be32(1), hashB[:], []byte{0}), ErrLength},
		{"proof short", cat([]byte{0x06}, hashA[:], hashB[:31]), ErrLength},
		{"proof long", cat([]byte{0x06}, hashA[:], hashB[:], []byte{0}), ErrLength},
		{"receipt no length", cat([]byte{0x07}, hashA[:]), ErrLength},
		{"receipt len field high", receipt(10, []byte(`{}`)), ErrLengthField},
		{"receipt len field low", receipt(1, []byte(`{}`)), ErrLengthField},
		{"receipt over 8 KiB", receipt(uint32(len(bigJSON)), bigJSON), ErrReceiptTooLarge},
		{"receipt empty", receipt(0, nil), ErrBadReceipt},
		{"receipt not json", receipt(3, []byte(`{x}`)), ErrBadReceipt},
		{"hello no length", []byte{0x09, 0, 0}, ErrLength},
		{"hello len field high", cat([]byte{0x09}, be32(10), []byte(`{}`)), ErrLengthField},
		{"hello len field low", cat([]byte{0x09}, be32(1), []byte(`{}`)), ErrLengthField},
		{"hello over 8 KiB", cat([]byte{0x09}, be32(uint32(len(bigJSON))), bigJSON), ErrHelloTooLarge},
		{"hello empty", cat([]byte{0x09}, be32(0)), ErrBadHello},
		{"hello not json", cat([]byte{0x09}, be32(3), []byte(`{x}`)), ErrBadHello},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode(tc.b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode error = %v, want %v", err, tc.want)
			}
			if m != nil {
				t.Fatalf("Decode returned %#v with error", m)
			}
		})
	}
}

func TestLimitsAccepted(t *testing.T) {
	js := []byte(`"` + strings.Repeat("x", MaxReceiptLen-2) + `"`) // exactly MaxReceiptLen
	for name, m := range map[string]Msg{
		"data 64 KiB":     &Data{Hash: hashA, Data: make([]byte, MaxDataLen)},
		"header 1 byte":   &DataHeader{Hash: hashA, Total: 1},
		"header 7 MiB":    &DataHeader{Hash: hashA, Total: MaxChunkSize},
		"receipt 8 KiB":   &Receipt{Hash: hashA, Event: js},
		"hello 8 KiB":     &Hello{Event: js},
		"challenge max":   &CustodyChallenge{Hash: hashA, Offset: 0xffffffff},
		"error reason ok": &Error{Reason: ReasonBusy},
	} {
		b, err := m.Encode()
		if err != nil {
			t.Errorf("%s: Encode: %v", name, err)
			continue
		}
		if _, err := Decode(b); err != nil {
			t.Errorf("%s: Decode: %v", name, err)
		}
	}
}

func TestEncodeRefusals(t *testing.T) {
	cases := []struct {
		name string
		msg  Msg
		want error
	}{
		{"data over 64 KiB", &Data{Data: make([]byte, MaxDataLen+1)}, ErrDataTooLarge},
		{"error reason", &Error{Reason: 7}, ErrUnknownReason},
		{"header zero", &DataHeader{}, ErrEmptyChunk},
		{"header over 7 MiB", &DataHeader{Total: MaxChunkSize + 1}, ErrChunkTooLarge},
		{"receipt over 8 KiB", &Receipt{Event: []byte(`"` + strings.Repeat("x", MaxReceiptLen) + `"`)}, ErrReceiptTooLarge},
		{"receipt not json", &Receipt{Event: []byte("nope")}, ErrBadReceipt},
		{"hello over 8 KiB", &Hello{Event: []byte(`"` + strings.Repeat("x", MaxReceiptLen) + `"`)}, ErrHelloTooLarge},
		{"hello not json", &Hello{Event: []byte("nope")}, ErrBadHello},
	}
	for _, tc := range cases {
		dst := []byte("keep")
		out, err := tc.msg.AppendTo(dst)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: error = %v, want %v", tc.name, err, tc.want)
		}
		if !bytes.Equal(out, []byte("keep")) {
			t.Errorf("%s: dst changed to %q", tc.name, out)
		}
		if _, err := tc.msg.Encode(); !errors.Is(err, tc.want) {
			t.Errorf("%s: Encode error = %v", tc.name, err)
		}
	}
}

func TestDecodeDoesNotAlias(t *testing.T) {
	b, _ := (&Data{Hash: hashA, Data: []byte{1, 2, 3}}).Encode()
	m, _ := Decode(b)
	b[len(b)-1] = 99
	if m.(*Data).Data[2] != 3 {
		t.Fatal("decoded DATA aliases its input")
	}
}

func TestCustody(t *testing.T) {
	chunk := []byte("hello chunk")
	nonce := hashB
	for _, off := range []uint32{0, 3, uint32(len(chunk))} {
		got, err := CustodyHash(chunk, off, nonce)
		if err != nil {
			t.Fatal(err)
		}
		want := sha256.Sum256(cat(chunk[:off], nonce[:], chunk[off:]))
		if got != want {
			t.Fatalf("CustodyHash(offset %d) = %x, want %x", off, got, want)
		}
		c := &CustodyChallenge{Hash: hashA, Offset: off, Nonce: nonce}
		p, err := c.Answer(chunk)
		if err != nil || p.Hash != hashA || p.Proof != want {
			t.Fatalf("Answer = %#v, %v", p, err)
		}
		if !c.Check(chunk, p) {
			t.Fatal("Check refused a good proof")
		}
		bad := *p
		bad.Proof[0] ^= 1
		if c.Check(chunk, &bad) || c.Check(chunk[1:], p) || c.Check(chunk, nil) {
			t.Fatal("Check accepted a bad proof")
		}
	}
	if _, err := CustodyHash(chunk, uint32(len(chunk))+1, nonce); !errors.Is(err, ErrCustodyOffset) {
		t.Fatalf("offset beyond chunk: error = %v", err)
	}
	c := &CustodyChallenge{Offset: 0xffffffff}
	if _, err := c.Answer(chunk); !errors.Is(err, ErrCustodyOffset) {
		t.Fatalf("Answer with offset beyond chunk: error = %v", err)
	}
	if c.Check(chunk, &CustodyProof{}) {
		t.Fatal("Check accepted a proof for an impossible offset")
	}
}

func TestDataVerify(t *testing.T) {
	d := &Data{Hash: sha256.Sum256([]byte("x")), Data: []byte("x")}
	if !d.Verify() {
		t.Fatal("Verify refused matching data")
	}
	d.Data = []byte("y")
	if d.Verify() {
		t.Fatal("Verify accepted wrong data")
	}
}

func TestStrings(t *testing.T) {
	if TypeDataHeader.String() != "DATA_HEADER" || Type(0x42).String() != "type 0x42" {
		t.Error("Type.String")
	}
	if ReasonBusy.String() != "busy" || Reason(9).String() != "reason 9" || Reason(9).Valid() {
		t.Error("Reason.String/Valid")
	}
}

// --- stream framing ---

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	msgs := [][]byte{{0x01}, bytes.Repeat([]byte{7}, 1000), make([]byte, MaxMessageSize)}
	for _, m := range msgs {
		if err := WriteFrame(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	if got := buf.Bytes()[:FrameHeaderLen]; !bytes.Equal(got, []byte{0, 0, 0, 1}) {
		t.Fatalf("frame prefix = %x", got)
	}
	scratch := make([]byte, 0, 2048)
	for i, want := range msgs {
		got, err := ReadFrame(&buf, scratch)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("frame %d: got %d bytes", i, len(got))
		}
	}
	if _, err := ReadFrame(&buf, nil); err != io.EOF {
		t.Fatalf("ReadFrame at end = %v, want io.EOF", err)
	}
}

func TestFrameReusesBuffer(t *testing.T) {
	var buf bytes.Buffer
	_ = WriteFrame(&buf, []byte("abc"))
	scratch := make([]byte, 16)
	got, err := ReadFrame(&buf, scratch)
	if err != nil || &got[0] != &scratch[0] {
		t.Fatalf("ReadFrame did not reuse the buffer (%v)", err)
	}
}

func TestFrameRefusals(t *testing.T) {
	if err := WriteFrame(io.Discard, nil); !errors.Is(err, ErrEmpty) {
		t.Errorf("WriteFrame(empty) = %v", err)
	}
	if err := WriteFrame(io.Discard, make([]byte, MaxMessageSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("WriteFrame(too large) = %v", err)
	}
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"zero length", []byte{0, 0, 0, 0}, ErrEmpty},
		{"over 4 MiB", be32(MaxMessageSize + 1), ErrTooLarge},
		{"max u32", []byte{0xff, 0xff, 0xff, 0xff}, ErrTooLarge},
		{"partial prefix", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"truncated body", cat(be32(10), []byte{1, 2, 3}), io.ErrUnexpectedEOF},
		{"prefix only", be32(10), io.ErrUnexpectedEOF},
	}
	for _, tc := range cases {
		if _, err := ReadFrame(bytes.NewReader(tc.in), nil); !errors.Is(err, tc.want) {
			t.Errorf("%s: error = %v, want %v", tc.name, err, tc.want)
		}
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestWriteFrameError(t *testing.T) {
	if err := WriteFrame(errWriter{}, []byte{1}); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("WriteFrame error = %v", err)
	}
}

// FuzzDecode checks that Decode never panics and that decoding is the exact
// inverse of encoding.
func FuzzDecode(f *testing.F) {
	for _, m := range []Msg{
		&Request{Hash: hashA, Root: hashB},
		&Data{Hash: hashA, Data: []byte("chunk")},
		&Error{Hash: hashA, Reason: ReasonBusy},
		&DataHeader{Hash: hashA, Total: 100000},
		&CustodyChallenge{Hash: hashA, Offset: 5, Nonce: hashB},
		&CustodyProof{Hash: hashA, Proof: hashB},
		&Receipt{Hash: hashA, Event: []byte(`{"kind":7772,"tags":[]}`)},
		&Hello{Event: []byte(`{"kind":27772,"tags":[]}`)},
	} {
		b, err := m.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x08})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if m != nil {
				t.Fatalf("message and error: %#v, %v", m, err)
			}
			return
		}
		enc, err := m.Encode()
		if err != nil {
			t.Fatalf("Encode of decoded %#v: %v", m, err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("Encode(Decode(b)) = %x, b = %x", enc, b)
		}
		m2, err := Decode(enc)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("Decode(Encode(m)) = %#v, %v; m = %#v", m2, err, m)
		}
		// The framed form round-trips too.
		var buf bytes.Buffer
		if err := WriteFrame(&buf, enc); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFrame(&buf, nil)
		if err != nil || !bytes.Equal(got, enc) {
			t.Fatalf("frame round trip: %v", err)
		}
	})
}

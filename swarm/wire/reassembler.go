package wire

import "fmt"

// Reassembler turns a DATA_HEADER and the raw fragments that follow it back
// into a chunk. It is a pure state machine with no I/O; the zero value is
// ready to use. It is not safe for concurrent use: keep one per connection.
//
// The receive loop is:
//
//	var r wire.Reassembler
//	for each message b from the peer {
//		m, err := r.Feed(b)
//		switch {
//		case errors.Is(err, wire.ErrUnsupportedType): // Entropy TAG_UPDATE: skip
//		case err != nil:                              // protocol violation
//		case m == nil:                                // header or fragment taken
//		default:                                      // handle m; a *Data is a whole chunk
//		}
//	}
//
// Fragments must come exactly as Entropy sends them: every fragment but the
// last is FragmentSize bytes and the last carries the remainder. Anything
// else is refused, and so is a 37-byte message starting with 0x04 where a
// fragment of another size is due (ErrHeaderMidChunk: a new header before the
// chunk completed). After any error the Reassembler is idle again and the
// partial chunk is dropped.
type Reassembler struct {
	active bool
	hash   [32]byte
	total  int
	buf    []byte
}

// Active reports whether a chunk is in progress.
func (r *Reassembler) Active() bool { return r.active }

// Progress returns the hash, bytes received and total of the chunk in
// progress; ok is false when none is.
func (r *Reassembler) Progress() (hash [32]byte, received, total int, ok bool) {
	return r.hash, len(r.buf), r.total, r.active
}

// Due is the size of the fragment expected next; 0 when no chunk is in
// progress.
func (r *Reassembler) Due() int {
	if !r.active {
		return 0
	}
	return min(FragmentSize, r.total-len(r.buf))
}

// Space is where the fragment due goes in the chunk (Due bytes; nil when
// none is due). A reader may read the fragment straight into it and hand
// it to Fragment or Feed, which then copy nothing.
func (r *Reassembler) Space() []byte {
	n := r.Due()
	if n == 0 {
		return nil
	}
	return r.buf[len(r.buf) : len(r.buf)+n]
}

// Reset drops any chunk in progress.
func (r *Reassembler) Reset() {
	*r = Reassembler{}
}

// Start begins a chunk announced by h. It refuses a header while another
// chunk is in progress (ErrHeaderMidChunk, and the old chunk is dropped) and
// a header breaking the limits Decode enforces.
func (r *Reassembler) Start(h *DataHeader) error {
	if r.active {
		old := r.hash
		r.Reset()
		return fmt.Errorf("header for %x during chunk %x: %w", h.Hash[:4], old[:4], ErrHeaderMidChunk)
	}
	if err := checkTotal(h.Total); err != nil {
		return fmt.Errorf("starting chunk: %w", err)
	}
	r.active = true
	r.hash = h.Hash
	r.total = int(h.Total)
	r.buf = make([]byte, 0, r.total)
	return nil
}

// Fragment adds one raw fragment to the chunk in progress. It returns the
// whole chunk once the last fragment arrives, and nil before that. The
// fragment is copied, unless it was read into Space.
func (r *Reassembler) Fragment(b []byte) (*Data, error) {
	if !r.active {
		return nil, fmt.Errorf("fragment of %d bytes: %w", len(b), ErrNoHeader)
	}
	want := min(FragmentSize, r.total-len(r.buf))
	if len(b) != want {
		received, total := len(r.buf), r.total
		r.Reset()
		switch {
		case len(b) == DataHeaderLen && Type(b[0]) == TypeDataHeader:
			return nil, fmt.Errorf("fragment due (%d of %d bytes received): %w", received, total, ErrHeaderMidChunk)
		case received+len(b) > total:
			return nil, fmt.Errorf("fragment of %d bytes after %d of %d: %w", len(b), received, total, ErrFragmentOverrun)
		default:
			return nil, fmt.Errorf("fragment of %d bytes, want %d: %w", len(b), want, ErrFragmentSize)
		}
	}
	if &b[0] == &r.buf[:len(r.buf)+1][len(r.buf)] {
		r.buf = r.buf[:len(r.buf)+len(b)] // read into Space
	} else {
		r.buf = append(r.buf, b...)
	}
	if len(r.buf) < r.total {
		return nil, nil
	}
	d := &Data{Hash: r.hash, Data: r.buf}
	r.Reset()
	return d, nil
}

// Feed takes the next message from the peer. While a chunk is in progress it
// is a fragment; otherwise it is decoded, and a DATA_HEADER starts a chunk.
// Feed returns nil (and no error) when it kept the message for a chunk, a
// *Data when a chunk is complete (from one DATA or from fragments), and any
// other decoded message as is.
func (r *Reassembler) Feed(b []byte) (Msg, error) {
	if r.active {
		d, err := r.Fragment(b)
		if d == nil || err != nil {
			return nil, err
		}
		return d, nil
	}
	m, err := Decode(b)
	if err != nil {
		return nil, err
	}
	if h, ok := m.(*DataHeader); ok {
		return nil, r.Start(h)
	}
	return m, nil
}

package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// FrameHeaderLen is the size of the length prefix of a stream frame.
const FrameHeaderLen = 4

// AppendFrame appends msg framed for a byte stream (u32 big-endian length,
// then msg) to dst. It refuses an empty message and one over MaxMessageSize.
func AppendFrame(dst, msg []byte) ([]byte, error) {
	if err := checkFrameLen(uint64(len(msg))); err != nil {
		return dst, fmt.Errorf("framing message: %w", err)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(msg)))
	return append(dst, msg...), nil
}

// WriteFrame writes msg to w as one frame, in a single Write call.
func WriteFrame(w io.Writer, msg []byte) error {
	frame, err := AppendFrame(make([]byte, 0, FrameHeaderLen+len(msg)), msg)
	if err != nil {
		return err
	}
	if _, err := w.Write(frame); err != nil {
		return fmt.Errorf("writing frame: %w", err)
	}
	return nil
}

// ReadFrame reads one frame from r and returns its message. The message is
// read into buf when it fits (so it is overwritten by the next call that
// reuses buf), otherwise into a new slice. The length is checked before any
// allocation: a frame over MaxMessageSize or of zero bytes is refused. ReadFrame
// returns io.EOF only when r ends cleanly between frames, and
// io.ErrUnexpectedEOF when it ends inside one.
func ReadFrame(r io.Reader, buf []byte) ([]byte, error) {
	var hdr [FrameHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("reading frame length: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if err := checkFrameLen(uint64(n)); err != nil {
		return nil, fmt.Errorf("reading frame: %w", err)
	}
	if cap(buf) >= int(n) {
		buf = buf[:n]
	} else {
		buf = make([]byte, n)
	}
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading %d-byte frame: %w", n, err)
	}
	return buf, nil
}

func checkFrameLen(n uint64) error {
	if n == 0 {
		return ErrEmpty
	}
	if n > MaxMessageSize {
		return fmt.Errorf("%d bytes: %w", n, ErrTooLarge)
	}
	return nil
}

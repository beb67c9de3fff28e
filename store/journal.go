package store

import "context"

// Journal reads a Store in the order its events were stored: each stored
// event has a serial that only grows, so a reader that keeps the last
// serial it handled (a cursor) resumes after a crash exactly where it
// stopped. Events deleted (NIP-09), replaced or expired before the reader
// reaches them are not seen. Both implementations (Open and NewMemory)
// are Journals.
type Journal interface {
	// After calls fn with the serial and raw JSON of each stored,
	// unexpired event whose serial is above after, in serial order,
	// stopping after max events (max <= 0: no bound). raw is valid only
	// during the call; fn returning an error stops the walk and After
	// returns that error.
	After(ctx context.Context, after uint64, max int, fn func(serial uint64, raw []byte) error) error
}

func (s *eventStore) After(ctx context.Context, after uint64, max int, fn func(serial uint64, raw []byte) error) error {
	now := s.now().Unix()
	return s.view(func(tx kvReader) error {
		n := 0
		return scan(tx, eventKey(after+1), prefixEnd([]byte{pfxEvent}), false, func(k, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			serial, err := decodeU64(k[1:], "an event key")
			if err != nil {
				return err
			}
			h, raw, err := parseRecord(v)
			if err != nil {
				return err
			}
			if h.expired(now) {
				return nil
			}
			if err := fn(serial, raw); err != nil {
				return err
			}
			n++
			if max > 0 && n >= max {
				return errStop
			}
			return nil
		})
	})
}

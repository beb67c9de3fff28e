package credit

import "time"

// Book is a seeder's view of the receipts it is owed: what it served to
// whom, and which receipts it already counted. It decides; the caller
// stores and sends.
type Book struct {
	self    string
	served  map[servedKey]servedChunk
	counted map[countKey]int64 // receipt time, kept until it could no longer be fresh
	maxLive int
}

type servedKey struct {
	peer  string
	chunk [32]byte
}

type servedChunk struct {
	bytes int64
	at    time.Time
}

type countKey struct {
	receiver, seeder string
	chunk            [32]byte
}

// maxServed bounds the served chunks remembered; the oldest go first.
const maxServed = 1 << 16

// NewBook returns the book of the seeder self (its pubkey).
func NewBook(self string) *Book {
	return &Book{self: self, served: map[servedKey]servedChunk{}, counted: map[countKey]int64{}, maxLive: maxServed}
}

// Served records that n bytes of chunk went to peer at now: a receipt for
// it may then count.
func (b *Book) Served(peer string, chunk [32]byte, n int64, now time.Time) {
	b.expire(now)
	k := servedKey{peer, chunk}
	s := b.served[k]
	s.bytes += n
	s.at = now
	b.served[k] = s
	if len(b.served) > b.maxLive {
		var oldest servedKey
		first := true
		for k, v := range b.served {
			if first || v.at.Before(b.served[oldest].at) {
				oldest, first = k, false
			}
		}
		delete(b.served, oldest)
	}
}

// Accept decides whether a receipt counts: signed by a receiver other than
// this seeder, naming this seeder, fresh (at most MaxReceiptAge old and
// MaxReceiptSkew ahead), for a chunk served to its signer and for no more
// bytes than were served, and counted once per (receiver, seeder, chunk).
func (b *Book) Accept(r Receipt, now time.Time) (Receipt, error) {
	b.expire(now)
	switch {
	case r.Seeder != b.self:
		return r, ErrWrongSeeder
	case r.Receiver == b.self:
		return r, ErrSelfSigned
	}
	at := time.Unix(r.At, 0)
	if now.Sub(at) > MaxReceiptAge {
		return r, ErrExpired
	}
	if at.Sub(now) > MaxReceiptSkew {
		return r, ErrFuture
	}
	ck := countKey{r.Receiver, r.Seeder, r.Chunk}
	if _, dup := b.counted[ck]; dup {
		return r, ErrReplay
	}
	sk := servedKey{r.Receiver, r.Chunk}
	s, ok := b.served[sk]
	if !ok || r.Bytes > s.bytes {
		return r, ErrNotServed
	}
	b.counted[ck] = r.At
	delete(b.served, sk)
	return r, nil
}

// expire forgets counted receipts too old to be accepted again anyway, and
// served chunks whose receipt can no longer be fresh.
func (b *Book) expire(now time.Time) {
	for k, at := range b.counted {
		if now.Sub(time.Unix(at, 0)) > MaxReceiptAge+MaxReceiptSkew {
			delete(b.counted, k)
		}
	}
	for k, s := range b.served {
		if now.Sub(s.at) > MaxReceiptAge {
			delete(b.served, k)
		}
	}
}

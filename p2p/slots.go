package p2p

import (
	"sync"
	"time"

	"github.com/cairn-nostr/cairn/credit/rep"
)

// slotWait bounds how long a request waits for a serving slot before it
// is answered BUSY.
const slotWait = 5 * time.Second

// slots bounds the chunks served at once (Limits.MaxServing): the queue's
// decision (credit/rep.Queue: premium first) behind a lock, each waiter
// parked on a channel of its own.
type slots struct {
	mu   sync.Mutex
	q    *rep.Queue
	next uint64
	wake map[uint64]chan struct{}
}

func newSlots(n int) *slots {
	if n <= 0 {
		return nil
	}
	return &slots{q: rep.NewQueue(n), wake: map[uint64]chan struct{}{}}
}

// serveSlot waits for a serving slot for the peer speaking for pubkey and
// returns its release; ErrBusy after slotWait, ErrClosed when the host
// closes. A requester with premium credits (Credit.Premium) goes first.
func (h *Host) serveSlot(pubkey string) (release func(), err error) {
	s := h.slots
	if s == nil {
		return func() {}, nil
	}
	var premium int64
	if pubkey != "" && h.cfg.Credit.Premium != nil {
		premium = h.cfg.Credit.Premium(pubkey)
	}
	s.mu.Lock()
	s.next++
	id := s.next
	if s.q.Ask(id, premium) {
		s.mu.Unlock()
		return s.release, nil
	}
	ch := make(chan struct{})
	s.wake[id] = ch
	s.mu.Unlock()
	t := time.NewTimer(slotWait)
	defer t.Stop()
	select {
	case <-ch:
		return s.release, nil
	case <-t.C:
		err = ErrBusy
	case <-h.ctx.Done():
		err = ErrClosed
	}
	s.mu.Lock()
	left := s.q.Leave(id)
	delete(s.wake, id)
	s.mu.Unlock()
	if !left { // handed a slot as it gave up: give it back
		s.release()
	}
	return nil, err
}

// release frees a slot and wakes the waiter the queue chose.
func (s *slots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if next, ok := s.q.Done(); ok {
		close(s.wake[next])
		delete(s.wake, next)
	}
}

// Waiting is how many chunk requests wait for a serving slot now.
func (h *Host) Waiting() int {
	if h.slots == nil {
		return 0
	}
	h.slots.mu.Lock()
	defer h.slots.mu.Unlock()
	return h.slots.q.Waiting()
}

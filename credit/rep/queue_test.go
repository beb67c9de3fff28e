package rep

import (
	"fmt"
	"testing"
)

// TestQueuePremiumFirst: with every slot taken, the waiter with the most
// premium goes next, equal premiums in the order they asked; a waiter
// that left is skipped; a freed slot with nobody waiting is free again.
func TestQueuePremiumFirst(t *testing.T) {
	q := NewQueue(1)
	if !q.Ask(1, 0) {
		t.Fatal("a free slot was not taken")
	}
	// In order of asking: 2 (0), 3 (5), 4 (0), 5 (5), 6 (9), 7 (negative: 0).
	for _, w := range []struct {
		id      uint64
		premium int64
	}{{2, 0}, {3, 5}, {4, 0}, {5, 5}, {6, 9}, {7, -3}} {
		if q.Ask(w.id, w.premium) {
			t.Fatalf("%d took a slot while busy", w.id)
		}
	}
	if !q.Leave(4) || q.Leave(4) || q.Leave(99) {
		t.Fatal("Leave of a waiter, twice, and of a stranger")
	}
	var order []uint64
	for {
		next, ok := q.Done()
		if !ok {
			break
		}
		order = append(order, next)
	}
	if fmt.Sprint(order) != "[6 3 5 2 7]" {
		t.Fatalf("served %v, want [6 3 5 2 7]", order)
	}
	if q.Busy() != 0 || q.Waiting() != 0 {
		t.Fatalf("busy %d, waiting %d after all were served", q.Busy(), q.Waiting())
	}
	if !q.Ask(8, 0) || !NewQueue(0).Ask(1, 0) {
		t.Fatal("a freed slot, or the one slot of NewQueue(0), was not taken")
	}
}

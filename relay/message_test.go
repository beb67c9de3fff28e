package relay

import (
	"strings"
	"testing"
)

// A slab cuts the same messages msgEvent builds, each its own bytes, across
// blocks and for a result too large to share one.
func TestSlabMessages(t *testing.T) {
	var s slab
	quoted := []byte(`"sub"`)
	var got, want [][]byte
	for i := range 2000 {
		raw := []byte(`{"content":"` + strings.Repeat("x", i%700) + `"}`)
		if i == 1000 {
			raw = []byte(strings.Repeat("y", slabBlock))
		}
		got = append(got, s.msgEvent(quoted, raw))
		want = append(want, msgEvent(quoted, raw))
	}
	for i := range got {
		if string(got[i]) != string(want[i]) {
			t.Fatalf("message %d: %.80q, want %.80q", i, got[i], want[i])
		}
		if cap(got[i]) != len(got[i]) {
			t.Fatalf("message %d can grow into the next one (cap %d, len %d)", i, cap(got[i]), len(got[i]))
		}
	}
}

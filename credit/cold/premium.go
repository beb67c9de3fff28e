package cold

import (
	"math"
	"time"
)

// Premium is Entropy's premium credit for holding a chunk: round(days x
// max(1, 10 - replicas) x (0.5 if the assignment expired rather than was
// renewed)), at least 1. Scarcer chunks (fewer replicas) earn more.
func Premium(held time.Duration, replicas int, expired bool) int64 {
	f := held.Hours() / 24 * float64(max(1, 10-replicas))
	if expired {
		f *= 0.5
	}
	return max(1, int64(math.Round(f)))
}

package p2p

import (
	"context"
	"sync"
	"time"

	"github.com/cairn-nostr/cairn/swarm/wire"
)

// uploadLimiter is the token bucket of Limits.UploadBytesPerSecond, shared
// by every chunk stream of a host. It is kept as a GCRA: tat is the time at
// which every byte reserved so far will have been paid for; a frame may go
// once tat, minus the burst, is not in the future. Reservations are taken in
// arrival order, so concurrent streams share the rate fairly.
type uploadLimiter struct {
	perByte float64       // nanoseconds per byte
	burst   time.Duration // the burst, as time at the rate

	mu  sync.Mutex
	tat time.Time
}

// newUploadLimiter returns a limiter for rate bytes per second, or nil
// (unlimited) for rate <= 0.
func newUploadLimiter(rate int64) *uploadLimiter {
	if rate <= 0 {
		return nil
	}
	burst := max(rate/10, wire.FrameHeaderLen+wire.FragmentSize)
	perByte := float64(time.Second) / float64(rate)
	return &uploadLimiter{perByte: perByte, burst: time.Duration(float64(burst) * perByte)}
}

// wait blocks until n more bytes may be sent, or ctx ends. A nil limiter
// never waits.
func (l *uploadLimiter) wait(ctx context.Context, n int) error {
	if l == nil {
		return nil
	}
	now := time.Now()
	l.mu.Lock()
	t := l.tat
	if t.Before(now) {
		t = now
	}
	l.tat = t.Add(time.Duration(float64(n) * l.perByte))
	at := l.tat.Add(-l.burst)
	l.mu.Unlock()
	d := at.Sub(now)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

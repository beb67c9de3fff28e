package bench

import (
	"runtime"
	"time"
)

// usage is what this process used over a span of a run: CPU time (relay,
// store and clients together: they share the process), time its threads
// waited for a CPU, and bytes passed to write calls (store pages and
// sockets).
//
// CPU time per event does not change when a neighbour takes the cores away;
// wall-clock rates do. Busy plus waiting near 100% of the cores means the
// phase is CPU-bound (on its own work, or on a neighbour's); well under
// means it waits for something else (fsync, a bound on work in flight).
type usage struct {
	wall, cpu time.Duration
	waited    time.Duration // runnable but not running; -1 where unknown
	written   int64         // bytes passed to write calls; -1 where unknown
}

// mark is a point to measure usage from.
type mark struct {
	at          time.Time
	cpu, waited time.Duration
	written     int64
}

func markNow() mark {
	return mark{at: time.Now(), cpu: cpuNow(), waited: runQueueWait(), written: bytesWritten()}
}

// usage returns what the process used since m.
func (m mark) usage() usage {
	n := markNow()
	u := usage{wall: n.at.Sub(m.at), cpu: n.cpu - m.cpu, waited: -1, written: -1}
	if m.waited >= 0 && n.waited >= 0 {
		u.waited = max(n.waited-m.waited, 0)
	}
	if m.written >= 0 && n.written >= 0 {
		u.written = n.written - m.written
	}
	return u
}

// cpuPer is the CPU time per operation, in microseconds.
func (u usage) cpuPer(n int) float64 {
	if n <= 0 {
		return 0
	}
	return float64(u.cpu) / float64(n) / float64(time.Microsecond)
}

// busy is the CPU time as a percentage of every core over the wall time.
func (u usage) busy() float64 {
	if u.wall <= 0 {
		return 0
	}
	return 100 * float64(u.cpu) / float64(u.wall) / float64(runtime.GOMAXPROCS(0))
}

// starved is the time threads waited for a CPU as a percentage of every
// core over the wall time, or -1.
func (u usage) starved() float64 {
	if u.wall <= 0 || u.waited < 0 {
		return -1
	}
	return 100 * float64(u.waited) / float64(u.wall) / float64(runtime.GOMAXPROCS(0))
}

// writtenPer is the bytes written per operation in KiB, or -1.
func (u usage) writtenPer(n int) float64 {
	if u.written < 0 || n <= 0 {
		return -1
	}
	return float64(u.written) / float64(n) / 1024
}

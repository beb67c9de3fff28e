//go:build unix

package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// cpuNow is the CPU time (user and system) this process has used.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bytesWritten is the bytes this process has passed to write calls (Linux
// /proc/self/io wchar: files and sockets), or -1. For a store it counts the
// pages each commit writes. (write_bytes, which counts pages as they are
// dirtied, reads several times higher for LMDB's rewrites on ext4 than the
// disk's own counters, so it is not used.)
func bytesWritten() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("wchar:")); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// loadAverage is the 1, 5 and 15 minute load averages (Linux), or "".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := bytes.Fields(b)
	if len(f) < 3 {
		return ""
	}
	return string(bytes.Join(f[:3], []byte(" ")))
}

// runQueueWait is the time this process's threads have spent runnable but
// waiting for a CPU (Linux schedstat, summed over threads), or -1.
func runQueueWait() time.Duration {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return -1
	}
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join("/proc/self/task", t.Name(), "schedstat"))
		if err != nil {
			continue // the thread has exited
		}
		f := bytes.Fields(b)
		if len(f) < 2 {
			return -1
		}
		ns, err := strconv.ParseInt(string(f[1]), 10, 64)
		if err != nil {
			return -1
		}
		total += time.Duration(ns)
	}
	return total
}

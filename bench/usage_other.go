//go:build !unix

package bench

import "time"

// cpuNow is not measured on this platform.
func cpuNow() time.Duration { return 0 }

// bytesWritten is not measured on this platform.
func bytesWritten() int64 { return -1 }

// loadAverage is not known on this platform.
func loadAverage() string { return "" }

// runQueueWait is not measured on this platform.
func runQueueWait() time.Duration { return -1 }

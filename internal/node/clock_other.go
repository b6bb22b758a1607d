//go:build !linux

package node

import "time"

// bootClockSource falls back to Go's monotonic clock outside Linux; it
// may stop while the system is suspended (see fenceClock).
func bootClockSource() func() time.Duration {
	start := time.Now()
	return func() time.Duration { return time.Since(start) }
}

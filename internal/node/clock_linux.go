//go:build linux

package node

import (
	"time"

	"golang.org/x/sys/unix"
)

// bootClockSource returns a reader of CLOCK_BOOTTIME, which keeps counting
// while the system is suspended (unlike CLOCK_MONOTONIC, Go's monotonic
// clock). If the kernel refuses it, Go's monotonic clock is used.
func bootClockSource() func() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return monoClockSource()
	}
	return func() time.Duration {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
			// It answered once; it does not start failing. Should it,
			// stopping the clock would trust the deadline: panic instead.
			panic("node: clock_gettime(CLOCK_BOOTTIME): " + err.Error())
		}
		return time.Duration(ts.Nano())
	}
}

func monoClockSource() func() time.Duration {
	start := time.Now()
	return func() time.Duration { return time.Since(start) }
}

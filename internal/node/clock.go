package node

import (
	"strings"
	"sync/atomic"
	"time"

	"github.com/tandem-db/tandem/internal/failpoint"
)

// fenceClock is the clock the fencing deadline is measured on: the lease
// proof (grant or renewal send time + TTL - FenceMargin) and every check
// of it (the role machine's ticks, the write gate at every write and
// before every acknowledgement).
//
// It must keep counting while the system is suspended: the arbiter's
// lease keeps expiring during a VM suspend, but Go's monotonic clock
// (CLOCK_MONOTONIC on Linux) stops, so a node resumed after a long
// suspend would trust a deadline that already passed. On Linux it reads
// CLOCK_BOOTTIME (clock_linux.go); elsewhere it falls back to Go's
// monotonic clock (clock_other.go), which may not count a suspend.
//
// Now returns wall0 + the boot clock's advance since start, as a
// time.Time without a monotonic reading (so comparisons between its
// values use that reading alone); it reads like the wall clock at start
// plus elapsed time, and never goes backwards.
//
// Failpoint "node/clock-jump": armed as error(D) with D a Go duration
// (e.g. TANDEM_FAILPOINTS="node/clock-jump=error(30s)"), the clock reads
// D later, as after a D-long suspend; the jump stays after the point is
// disarmed (the largest armed D counts, like time lost in a suspend: it
// never comes back). A spec without a duration is ignored.
type fenceClock struct {
	wall0 time.Time // wall clock at start, monotonic reading stripped
	boot0 time.Duration
	// read returns the boot clock: time since an arbitrary origin that
	// keeps counting across suspend. Tests replace it before use.
	read func() time.Duration
	// jump is the largest failpoint jump seen, in nanoseconds.
	jump atomic.Int64
}

func newFenceClock() *fenceClock {
	return newFenceClockFrom(bootClockSource())
}

func newFenceClockFrom(read func() time.Duration) *fenceClock {
	return &fenceClock{wall0: time.Now().Round(0), boot0: read(), read: read}
}

// Now is the current time on the fence clock.
func (c *fenceClock) Now() time.Time {
	if failpoint.Enabled {
		if d := clockJumpFailpoint(); d > 0 {
			for {
				cur := c.jump.Load()
				if int64(d) <= cur || c.jump.CompareAndSwap(cur, int64(d)) {
					break
				}
			}
		}
	}
	return c.wall0.Add(c.read() - c.boot0 + time.Duration(c.jump.Load()))
}

const clockJumpPoint = "node/clock-jump"

// clockJumpFailpoint is the duration node/clock-jump is armed with (0 if
// it is not armed or its argument is not a duration).
func clockJumpFailpoint() time.Duration {
	err := failpoint.Inject(clockJumpPoint)
	if err == nil {
		return 0
	}
	_, arg, ok := strings.Cut(err.Error(), clockJumpPoint+": ")
	if !ok {
		return 0
	}
	d, perr := time.ParseDuration(strings.TrimSpace(arg))
	if perr != nil {
		return 0
	}
	return d
}

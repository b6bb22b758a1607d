package node

import (
	"testing"
	"time"
)

func TestLagClock(t *testing.T) {
	var c lagClock
	t0 := time.Unix(1000, 0)
	c.observe(10, t0)
	c.observe(20, t0.Add(time.Second))
	c.observe(20, t0.Add(2*time.Second)) // no progress: ignored
	c.observe(30, t0.Add(3*time.Second))
	now := t0.Add(5 * time.Second)
	for _, tc := range []struct {
		durable uint64
		want    time.Duration
	}{
		{30, 0}, {35, 0}, {25, 2 * time.Second}, {20, 2 * time.Second}, {19, 4 * time.Second}, {0, 5 * time.Second},
	} {
		if got := c.lag(tc.durable, now); got != tc.want {
			t.Errorf("lag(%d) = %v, want %v", tc.durable, got, tc.want)
		}
	}
	// A stalled standby's lag grows with time.
	if a, b := c.lag(20, now), c.lag(20, now.Add(time.Second)); b-a != time.Second {
		t.Errorf("stalled lag grew by %v, want 1s", b-a)
	}
	c.forget(20)
	if got := c.lag(25, now); got != 2*time.Second {
		t.Errorf("after forget: lag(25) = %v, want 2s", got)
	}
	for i := range 3 * maxLagSamples {
		c.observe(uint64(100+i), now.Add(time.Duration(i)*time.Millisecond))
	}
	if n := len(c.samples); n > maxLagSamples {
		t.Errorf("%d samples kept, max %d", n, maxLagSamples)
	}
}

// fakeApplied is an appliedClock with the times of some LSNs.
type fakeApplied map[uint64]time.Time

func (f fakeApplied) AppliedAt(lsn uint64) (time.Time, bool) {
	at, ok := f[lsn]
	return at, ok
}

// TestLagClockUsesAppliedTimes: with the engine's applied times, the lag
// is exact (not rounded to a tick); LSNs the engine has no time for fall
// back to the tick samples.
func TestLagClockUsesAppliedTimes(t *testing.T) {
	t0 := time.Unix(1000, 0)
	src := fakeApplied{21: t0.Add(1100 * time.Millisecond), 22: t0.Add(1200 * time.Millisecond)}
	c := lagClock{src: src}
	c.observe(10, t0)
	c.observe(20, t0.Add(time.Second))
	c.observe(30, t0.Add(2*time.Second)) // a tick after 21 and 22 were applied
	now := t0.Add(3 * time.Second)
	for _, tc := range []struct {
		durable uint64
		want    time.Duration
	}{
		{20, 1900 * time.Millisecond}, // 21 applied at 1.1s: exact
		{21, 1800 * time.Millisecond},
		{22, 1 * time.Second}, // 23: no applied time, the tick at 2s
		{15, 2 * time.Second}, // 16: no applied time, the tick at 1s
		{30, 0},               // has everything
	} {
		if got := c.lag(tc.durable, now); got != tc.want {
			t.Errorf("lag(%d) = %v, want %v", tc.durable, got, tc.want)
		}
	}
}

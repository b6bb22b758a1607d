package node

import (
	"sort"
	"sync"
	"time"
)

// lagClock turns a standby's LSN lag into seconds: a standby that has
// everything up to d lags by now minus the time the first LSN after d was
// applied here. The time comes from src, the engine, which takes it as
// its applied LSN advances (engine.AppliedAt: exact); for LSNs src has no
// time for (applied before the engine opened, or thinned away), from
// samples of this node's last LSN taken every loop tick (observe), which
// understate a lag by up to a tick. The lag keeps growing while a stream
// stalls, and is 0 for a standby that has everything. Samples older than
// every standby's position are dropped; at most maxLagSamples are kept
// (the oldest are merged away, which can only understate an old lag).
type lagClock struct {
	src     appliedClock // nil: the tick samples only
	mu      sync.Mutex
	samples []lagSample // increasing lsn and time. Guarded by mu.
}

// appliedClock says when an LSN was applied (*engine.Engine).
type appliedClock interface {
	AppliedAt(lsn uint64) (time.Time, bool)
}

type lagSample struct {
	lsn uint64 // this node's last LSN reached this value ...
	at  time.Time
}

const maxLagSamples = 4096

// observe records that the last LSN is lsn at now.
func (c *lagClock) observe(lsn uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.samples); n > 0 && c.samples[n-1].lsn >= lsn {
		return
	}
	if len(c.samples) >= maxLagSamples {
		c.samples = append(c.samples[:0], c.samples[len(c.samples)/2:]...)
	}
	c.samples = append(c.samples, lagSample{lsn: lsn, at: now})
}

// lag returns how long ago the first record after durable appeared here
// (0 when durable is at or past the last sample).
func (c *lagClock) lag(durable uint64, now time.Time) time.Duration {
	if c.src != nil {
		if at, ok := c.src.AppliedAt(durable + 1); ok {
			return max(0, now.Sub(at))
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	i := sort.Search(len(c.samples), func(i int) bool { return c.samples[i].lsn > durable })
	if i == len(c.samples) {
		return 0
	}
	return max(0, now.Sub(c.samples[i].at))
}

// forget drops samples no standby needs (all at or below minDurable,
// keeping the newest such one).
func (c *lagClock) forget(minDurable uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := sort.Search(len(c.samples), func(i int) bool { return c.samples[i].lsn > minDurable })
	if i > 1 {
		c.samples = append(c.samples[:0], c.samples[i-1:]...)
	}
}

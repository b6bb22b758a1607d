package ha

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalidConfig is wrapped by every error Config.Validate returns.
var ErrInvalidConfig = errors.New("ha: invalid configuration")

// Defaults (see DefaultConfig): chosen for a failover of about 2 s.
const (
	DefaultLeaseTTL = 2 * time.Second
)

// Config holds the timing of the role state machine.
//
// The safety rule: an active's write deadline is SentAt + LeaseTTL -
// FenceMargin, where SentAt is when a lease grant or keep-alive that the
// arbiter acknowledged was sent; the arbiter keeps the lease at least until
// SentAt + LeaseTTL, so with FenceMargin > 0 an active closes writes
// strictly before its lease (and with it the leader key) can expire.
type Config struct {
	// NodeID names this node in the group (non-empty, no '/').
	NodeID string
	// LeaseTTL is the session lease TTL: whole seconds, >= 1s
	// (default 2s). If the arbiter grants a longer TTL, keep the requested
	// one here: a shorter assumed TTL only fences earlier.
	LeaseTTL time.Duration
	// RenewInterval is how often the loop renews the lease with a
	// keep-alive probe (default LeaseTTL/4).
	RenewInterval time.Duration
	// FenceMargin is how long before the earliest possible lease expiry an
	// active stops acknowledging writes (default LeaseTTL/4). It absorbs
	// clock-rate differences, tick granularity and the time between the
	// write gate's check and the client seeing the acknowledgement.
	FenceMargin time.Duration
	// StandAsideTimeout is how long a candidate that is not the best placed
	// live member waits for a better one to win before campaigning anyway
	// (default LeaseTTL).
	StandAsideTimeout time.Duration
	// EndDeadLeaderLease lets a standby end a dead leader's lease early
	// (default false; a sync-mode node turns it on): when the stream from
	// the leader ended and its peer port refuses connections
	// (LeaderPeerRefused), a standby whose own member entry is eligible —
	// in sync mode, listed in the sync set, so it holds every acknowledged
	// write — asks the arbiter to revoke the leader's lease (EndLeaderLease)
	// instead of waiting up to LeaseTTL for it to expire.
	//
	// Safe in sync mode even if the "dead" leader is alive (its port
	// refused for another reason): it can acknowledge nothing more, since
	// every acknowledgement waits for all of the sync set, the winner
	// among them, and the winner stops following before it opens; it cannot
	// shrink the sync set either, since that write is guarded by the
	// leader key that is gone. It self-fences when its next renewal finds
	// the lease gone. Not used in async mode, where it could let two nodes
	// acknowledge writes at once.
	EndDeadLeaderLease bool
}

// DefaultConfig returns the default timing for nodeID.
func DefaultConfig(nodeID string) Config {
	return Config{NodeID: nodeID}.WithDefaults()
}

// WithDefaults fills zero fields: LeaseTTL 2s, RenewInterval and
// FenceMargin LeaseTTL/4, StandAsideTimeout LeaseTTL.
func (c Config) WithDefaults() Config {
	if c.LeaseTTL == 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.RenewInterval == 0 {
		c.RenewInterval = c.LeaseTTL / 4
	}
	if c.FenceMargin == 0 {
		c.FenceMargin = c.LeaseTTL / 4
	}
	if c.StandAsideTimeout == 0 {
		c.StandAsideTimeout = c.LeaseTTL
	}
	return c
}

// Deadline is the write deadline a lease renewal sent at sentAt gives:
// sentAt + LeaseTTL - FenceMargin.
func (c Config) Deadline(sentAt time.Time) time.Time {
	return sentAt.Add(c.LeaseTTL - c.FenceMargin)
}

// Validate rejects a configuration under which self-fencing could come
// after the lease expires at the arbiter, or an active could not keep its
// writes open between two renewals. Errors name the field and its value.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("ha: %s: %w", fmt.Sprintf(format, args...), ErrInvalidConfig)
	}
	switch {
	case c.NodeID == "" || strings.ContainsAny(c.NodeID, "/\x00") || len(c.NodeID) > 128:
		return bad("NodeID = %q: must be 1-128 characters without '/'", c.NodeID)
	case c.LeaseTTL < time.Second:
		return bad("LeaseTTL = %v: must be >= 1s", c.LeaseTTL)
	case c.LeaseTTL%time.Second != 0:
		return bad("LeaseTTL = %v: must be a whole number of seconds (etcd lease TTLs are seconds)", c.LeaseTTL)
	case c.RenewInterval <= 0:
		return bad("RenewInterval = %v: must be > 0", c.RenewInterval)
	case c.FenceMargin <= 0:
		return bad("FenceMargin = %v: must be > 0 (the write deadline must come strictly before the lease can expire)", c.FenceMargin)
	case c.FenceMargin >= c.LeaseTTL:
		return bad("FenceMargin = %v: must be < LeaseTTL (%v)", c.FenceMargin, c.LeaseTTL)
	case c.RenewInterval+c.FenceMargin >= c.LeaseTTL:
		return bad("RenewInterval (%v) + FenceMargin (%v) = %v: must be < LeaseTTL (%v), or the write deadline lapses between two renewals",
			c.RenewInterval, c.FenceMargin, c.RenewInterval+c.FenceMargin, c.LeaseTTL)
	case c.StandAsideTimeout <= 0:
		return bad("StandAsideTimeout = %v: must be > 0", c.StandAsideTimeout)
	}
	return nil
}

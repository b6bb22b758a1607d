package node

import (
	"sync/atomic"
	"time"

	"github.com/tandem-db/tandem/internal/merr"
)

// writeGate is the engine's WriteGate on an HA node: open only between
// OpenWrites and CloseWrites, and only until the deadline the role machine
// gave. Allow and AllowAck compare the fence clock (clock.go: it keeps
// counting across a system suspend) with the deadline at every call, so a
// process resumed after a long pause (SIGSTOP, VM freeze or suspend)
// refuses to acknowledge before the loop has even ticked. Only the loop
// goroutine opens, extends and closes it, and a switchover drains it and
// limits its acknowledgements; Allow and AllowAck are called by any
// writer.
type writeGate struct {
	nodeID string
	clock  *fenceClock // the deadline's clock; the machine's times come from it too
	st     atomic.Pointer[gateState]
	// closed explains a refusal while the gate is closed.
	closed func() error
}

type gateState struct {
	epoch uint64
	until time.Time // deadline on the fence clock (exclusive)
	// drain: a switchover takes no new writes, but writes already
	// appended may still be acknowledged (AllowAck) until the deadline.
	drain bool
	// limited: while draining, only writes at LSN <= ackLimit may be
	// acknowledged: ackLimit is the switchover's write barrier LSN, the
	// last one the target is made to hold before the hand-over.
	limited  bool
	ackLimit uint64
}

func newWriteGate(nodeID string, clock *fenceClock, closed func() error) *writeGate {
	return &writeGate{nodeID: nodeID, clock: clock, closed: closed}
}

// open opens writes at epoch until the fence-clock time until (clearing
// any drain and acknowledgement limit).
func (g *writeGate) open(epoch uint64, until time.Time) {
	g.st.Store(&gateState{epoch: epoch, until: until})
}

// extend moves the deadline later (never earlier); no-op while closed.
// Like drain and limitAcks it compares-and-swaps, so it keeps a drain or
// limit set concurrently by a switchover.
func (g *writeGate) extend(until time.Time) {
	for {
		cur := g.st.Load()
		if cur == nil || !until.After(cur.until) {
			return
		}
		next := *cur
		next.until = until
		if g.st.CompareAndSwap(cur, &next) {
			return
		}
	}
}

func (g *writeGate) close() { g.st.Store(nil) }

// drain stops new writes but lets the ones in flight be acknowledged
// (until the deadline, or close). No-op while closed.
func (g *writeGate) drain() {
	for {
		cur := g.st.Load()
		if cur == nil {
			return
		}
		next := *cur
		next.drain = true
		if g.st.CompareAndSwap(cur, &next) {
			return
		}
	}
}

// limitAcks refuses, from now on, to acknowledge writes above lsn while
// the gate drains (a switchover's barrier LSN). It reports false if the
// gate is closed or not draining (nothing to limit).
func (g *writeGate) limitAcks(lsn uint64) bool {
	for {
		cur := g.st.Load()
		if cur == nil || !cur.drain {
			return false
		}
		next := *cur
		next.limited, next.ackLimit = true, lsn
		if g.st.CompareAndSwap(cur, &next) {
			return true
		}
	}
}

// state returns the open epoch and the time left, or ok=false if closed
// or past the deadline.
func (g *writeGate) state() (epoch uint64, left time.Duration, ok bool) {
	s := g.st.Load()
	if s == nil {
		return 0, 0, false
	}
	left = s.until.Sub(g.clock.Now())
	return s.epoch, left, left > 0 && !s.drain
}

// leadEpoch is the epoch this node leads at while the gate is open or
// draining and before the deadline; 0 otherwise.
func (g *writeGate) leadEpoch() uint64 {
	s := g.st.Load()
	if s == nil || !g.clock.Now().Before(s.until) {
		return 0
	}
	return s.epoch
}

// Allow implements engine.WriteGate.
func (g *writeGate) Allow() (uint64, error) {
	s := g.st.Load()
	if s == nil {
		return 0, g.closed()
	}
	if !g.clock.Now().Before(s.until) {
		return 0, merr.NotServing("node %s: write deadline passed: its arbiter lease was not renewed in time (self-fenced)", g.nodeID)
	}
	if s.drain {
		return 0, merr.NotServing("node %s: a switchover is handing the active role to another node", g.nodeID)
	}
	return s.epoch, nil
}

// AllowAck implements engine.AckGate: the write at lsn, already appended,
// may be acknowledged while the gate is open or draining, before the
// deadline — and while draining after the switchover's write barrier,
// only up to the barrier LSN.
func (g *writeGate) AllowAck(lsn uint64) error {
	s := g.st.Load()
	if s == nil {
		return g.closed()
	}
	if !g.clock.Now().Before(s.until) {
		return merr.NotServing("node %s: write deadline passed: its arbiter lease was not renewed in time (self-fenced)", g.nodeID)
	}
	if s.drain && s.limited && lsn > s.ackLimit {
		return merr.NotServing("node %s: the write at lsn %d came after the switchover's hand-over point (lsn %d)", g.nodeID, lsn, s.ackLimit)
	}
	return nil
}

package node

import (
	"sync/atomic"
	"time"

	"github.com/tandem-db/tandem/internal/merr"
)

// writeGate is the engine's WriteGate on an HA node: open only between
// OpenWrites and CloseWrites, and only until the deadline the role machine
// gave. Allow compares a monotonic clock with the deadline at every call,
// so a process resumed after a long pause (SIGSTOP, VM freeze) refuses to
// acknowledge before the loop has even ticked. Only the loop goroutine
// opens, extends and closes it; Allow is called by any writer.
type writeGate struct {
	nodeID string
	base   time.Time            // monotonic reference point
	since  func() time.Duration // monotonic time since base (tests replace it)
	st     atomic.Pointer[gateState]
	// closed explains a refusal while the gate is closed.
	closed func() error
}

type gateState struct {
	epoch uint64
	until time.Duration // deadline, as time since base
	// drain: a switchover takes no new writes, but writes already
	// appended may still be acknowledged (AllowAck) until the deadline.
	drain bool
}

func newWriteGate(nodeID string, closed func() error) *writeGate {
	g := &writeGate{nodeID: nodeID, base: time.Now(), closed: closed}
	g.since = func() time.Duration { return time.Since(g.base) }
	return g
}

// open opens writes at epoch until the monotonic time until.
func (g *writeGate) open(epoch uint64, until time.Time) {
	g.st.Store(&gateState{epoch: epoch, until: until.Sub(g.base)})
}

// extend moves the deadline later (never earlier); no-op while closed.
func (g *writeGate) extend(until time.Time) {
	cur := g.st.Load()
	if cur == nil {
		return
	}
	if u := until.Sub(g.base); u > cur.until {
		g.st.Store(&gateState{epoch: cur.epoch, until: u, drain: cur.drain})
	}
}

func (g *writeGate) close() { g.st.Store(nil) }

// drain stops new writes but lets the ones in flight be acknowledged
// (until the deadline, or close). No-op while closed.
func (g *writeGate) drain() {
	if cur := g.st.Load(); cur != nil {
		g.st.Store(&gateState{epoch: cur.epoch, until: cur.until, drain: true})
	}
}

// state returns the open epoch and the time left, or ok=false if closed
// or past the deadline.
func (g *writeGate) state() (epoch uint64, left time.Duration, ok bool) {
	s := g.st.Load()
	if s == nil {
		return 0, 0, false
	}
	left = s.until - g.since()
	return s.epoch, left, left > 0 && !s.drain
}

// leadEpoch is the epoch this node leads at while the gate is open or
// draining and before the deadline; 0 otherwise.
func (g *writeGate) leadEpoch() uint64 {
	s := g.st.Load()
	if s == nil || g.since() >= s.until {
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
	if g.since() >= s.until {
		return 0, merr.NotServing("node %s: write deadline passed: its arbiter lease was not renewed in time (self-fenced)", g.nodeID)
	}
	if s.drain {
		return 0, merr.NotServing("node %s: a switchover is handing the active role to another node", g.nodeID)
	}
	return s.epoch, nil
}

// AllowAck implements engine.AckGate: a write already appended may be
// acknowledged while the gate is open or draining, before the deadline.
func (g *writeGate) AllowAck() error {
	s := g.st.Load()
	if s == nil {
		return g.closed()
	}
	if g.since() >= s.until {
		return merr.NotServing("node %s: write deadline passed: its arbiter lease was not renewed in time (self-fenced)", g.nodeID)
	}
	return nil
}

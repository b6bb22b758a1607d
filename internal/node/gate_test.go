package node

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/internal/merr"
)

// TestWriteGateClock: the gate compares the fence clock with the deadline
// at every call, so a paused process refuses as soon as it runs again,
// before the loop ticks.
func TestWriteGateClock(t *testing.T) {
	var now time.Duration
	clk := newFenceClockFrom(func() time.Duration { return now })
	g := newWriteGate("n1", clk, func() error { return merr.Wrapf(merr.ErrServiceUnavailable, "closed") })
	if _, err := g.Allow(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("closed gate: %v", err)
	}
	g.open(7, clk.wall0.Add(100*time.Millisecond))
	if ep, err := g.Allow(); err != nil || ep != 7 {
		t.Fatalf("open gate: %d %v", ep, err)
	}
	now = 99 * time.Millisecond
	if _, err := g.Allow(); err != nil {
		t.Fatal(err)
	}
	// The process was paused past the deadline: refused at once.
	now = 100 * time.Millisecond
	_, err := g.Allow()
	if !errors.Is(err, merr.ErrServiceUnavailable) || !strings.Contains(err.Error(), "write deadline passed") {
		t.Fatalf("past deadline: %v", err)
	}
	if _, _, ok := g.state(); ok {
		t.Fatal("state reports open past the deadline")
	}
	// Extensions only move the deadline later.
	g.extend(clk.wall0.Add(200 * time.Millisecond))
	g.extend(clk.wall0.Add(150 * time.Millisecond))
	if ep, left, ok := g.state(); !ok || ep != 7 || left != 100*time.Millisecond {
		t.Fatalf("state %d %v %v", ep, left, ok)
	}
	g.close()
	if _, err := g.Allow(); err == nil {
		t.Fatal("closed gate allows")
	}
	g.extend(clk.wall0.Add(time.Hour)) // no-op while closed
	if _, err := g.Allow(); err == nil {
		t.Fatal("extend reopened the gate")
	}
}

func TestConfigValidate(t *testing.T) {
	base := Config{Group: "g", NodeID: "n1", Arbiter: []string{"127.0.0.1:2379"}}
	base.Engine.DataDir = t.TempDir()
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Group = "a/b" }, "Group"},
		{func(c *Config) { c.NodeID = "" }, "NodeID"},
		{func(c *Config) { c.Engine.DataDir = "" }, "DataDir"},
		{func(c *Config) { c.Arbiter = nil }, "Arbiter"},
		{func(c *Config) { c.HA.FenceMargin = -time.Second }, "FenceMargin = -1s"},
		{func(c *Config) { c.HA.LeaseTTL = 1500 * time.Millisecond }, "LeaseTTL = 1.5s"},
		{func(c *Config) { c.TickInterval = time.Second }, "TickInterval = 1s"},
	} {
		c := base
		tc.mod(&c)
		err := c.withDefaults().validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err %v, want one naming %q", err, tc.want)
		}
	}
	if err := base.withDefaults().validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Start with an empty config: %v", err)
	}
}

// TestWriteGateDrain: while a switchover drains, new writes are refused
// (as not serving) but writes already appended may be acknowledged until
// the deadline; the sender keeps its epoch.
func TestWriteGateDrain(t *testing.T) {
	var now time.Duration
	clk := newFenceClockFrom(func() time.Duration { return now })
	g := newWriteGate("n1", clk, func() error { return merr.NotServing("closed") })
	g.drain() // closed: no-op
	if err := g.AllowAck(1); err == nil {
		t.Fatal("closed gate acknowledges")
	}
	g.open(3, clk.wall0.Add(100*time.Millisecond))
	g.drain()
	if _, err := g.Allow(); err == nil || !strings.Contains(err.Error(), merr.NotServingTag) {
		t.Fatalf("draining gate takes a new write: %v", err)
	}
	if err := g.AllowAck(1); err != nil {
		t.Fatalf("draining gate refuses an acknowledgement: %v", err)
	}
	if _, _, ok := g.state(); ok {
		t.Fatal("state reports writes open while draining")
	}
	if g.leadEpoch() != 3 {
		t.Fatalf("lead epoch while draining %d, want 3", g.leadEpoch())
	}
	g.extend(clk.wall0.Add(200 * time.Millisecond)) // keeps draining
	now = 150 * time.Millisecond
	if _, err := g.Allow(); err == nil {
		t.Fatal("extend undrained the gate")
	}
	now = 200 * time.Millisecond
	if err := g.AllowAck(1); err == nil || g.leadEpoch() != 0 {
		t.Fatal("draining gate acknowledges past the deadline")
	}
	g.open(3, clk.wall0.Add(time.Second)) // a failed switchover reopens
	if _, err := g.Allow(); err != nil {
		t.Fatal(err)
	}
}

// TestWriteGateAckLimit: after a switchover's write barrier, a draining
// gate acknowledges writes up to the barrier LSN only; reopening clears
// the limit; a gate that is not draining takes no limit.
func TestWriteGateAckLimit(t *testing.T) {
	var now time.Duration
	clk := newFenceClockFrom(func() time.Duration { return now })
	g := newWriteGate("n1", clk, func() error { return merr.NotServing("closed") })
	g.open(4, clk.wall0.Add(time.Second))
	if g.limitAcks(10) {
		t.Fatal("limit taken while open (not draining)")
	}
	if err := g.AllowAck(11); err != nil {
		t.Fatal(err)
	}
	g.drain()
	if !g.limitAcks(10) {
		t.Fatal("limit refused while draining")
	}
	if err := g.AllowAck(10); err != nil {
		t.Fatalf("write at the barrier LSN refused: %v", err)
	}
	if err := g.AllowAck(11); err == nil || !strings.Contains(err.Error(), "hand-over point (lsn 10)") {
		t.Fatalf("write above the barrier LSN: %v", err)
	}
	g.extend(clk.wall0.Add(2 * time.Second)) // keeps the limit
	if err := g.AllowAck(11); err == nil {
		t.Fatal("extend dropped the limit")
	}
	g.open(4, clk.wall0.Add(2*time.Second)) // a failed switchover reopens
	if err := g.AllowAck(11); err != nil {
		t.Fatal(err)
	}
}

// TestFenceClockSource: the fence clock follows its source (on Linux
// CLOCK_BOOTTIME, which counts a suspend) and not Go's monotonic clock: a
// suspend-like jump of the source alone puts the deadline in the past.
func TestFenceClockSource(t *testing.T) {
	var boot time.Duration
	clk := newFenceClockFrom(func() time.Duration { return boot })
	g := newWriteGate("n1", clk, func() error { return merr.NotServing("closed") })
	g.open(2, clk.Now().Add(2*time.Second))
	if _, err := g.Allow(); err != nil {
		t.Fatal(err)
	}
	boot += time.Hour // suspended for an hour: Go's monotonic clock did not move
	if _, err := g.Allow(); err == nil || !strings.Contains(err.Error(), "write deadline passed") {
		t.Fatalf("after a suspend-like jump: %v", err)
	}
	if err := g.AllowAck(1); err == nil {
		t.Fatal("acknowledges after a suspend-like jump")
	}
	// The real source is CLOCK_BOOTTIME on Linux: it advances.
	real := newFenceClock()
	a := real.Now()
	b := real.Now()
	if b.Before(a) {
		t.Fatalf("fence clock went backwards: %v then %v", a, b)
	}
}

package localgroup

import (
	"context"
	"fmt"
	"time"
)

// KillArbiter SIGKILLs arbiter member i (0-based, as in Arbiters) and
// waits until it is gone. Not to be called concurrently with Close.
func (c *Cluster) KillArbiter(i int) error {
	if i < 0 || i >= len(c.Arbiters) {
		return fmt.Errorf("localgroup: no arbiter member %d", i)
	}
	if p := c.Arbiters[i]; p != nil {
		p.Kill()
	}
	return nil
}

// RestartArbiter kills arbiter member i if it still runs and starts it
// again on the same data directory and ports (etcd ignores the initial
// cluster for a used data directory: the member rejoins), returning once
// it serves. A member serves once it is part of a quorum, so with three
// members at least one other must be up. Not to be called concurrently
// with Close.
func (c *Cluster) RestartArbiter(ctx context.Context, i int) error {
	if i < 0 || i >= len(c.arbiterArgs) {
		return fmt.Errorf("localgroup: no arbiter member %d", i)
	}
	if c.closed.Load() {
		return errClosed
	}
	c.KillArbiter(i)
	name := fmt.Sprintf("a%d", i+1)
	p, _, err := c.start(ctx, name, c.arbiterArgs[i], arbiterReady)
	if p != nil {
		c.Arbiters[i] = p
	}
	if err != nil {
		return fmt.Errorf("arbiter %s: %w", name, err)
	}
	if c.closed.Load() {
		p.Kill()
		return errClosed
	}
	return nil
}

// ArbiterLeader returns the index (as in Arbiters) of the arbiter member
// that is the etcd leader, asking each member's status.
func (c *Cluster) ArbiterLeader(ctx context.Context) (int, error) {
	cl, err := c.Arbiter(ctx)
	if err != nil {
		return -1, err
	}
	var lastErr error
	for i, ep := range c.Endpoints {
		sctx, cancel := context.WithTimeout(ctx, time.Second) // a dead member does not answer
		st, err := cl.Etcd().Status(sctx, ep)
		cancel()
		if err != nil {
			lastErr = err
			continue
		}
		if st.Leader != 0 && st.Leader == st.Header.MemberId {
			return i, nil
		}
	}
	return -1, fmt.Errorf("localgroup: no arbiter member says it is the etcd leader (last error: %v)", lastErr)
}

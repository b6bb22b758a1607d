//go:build failpoints

package node

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/milvusclient"

	"github.com/tandem-db/tandem/internal/failpoint"
	"github.com/tandem-db/tandem/internal/testutil"
)

// armFailpoint arms name with spec for the rest of the test.
func armFailpoint(t *testing.T, name, spec string) {
	t.Helper()
	if err := failpoint.Enable(name, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { failpoint.Disable(name) })
}

// startPair starts two async nodes and returns the active and the standby
// once the standby follows it, with an SDK client on a collection "c".
func startPair(ctx context.Context, t *testing.T) (active, standby *Node, epoch uint64, c *milvusclient.Client) {
	t.Helper()
	eps := startArbiter(t)
	base := t.TempDir()
	var nodes []*Node
	for _, id := range []string{"n1", "n2"} {
		nodes = append(nodes, startNode(t, nodeConfig(t, id, filepath.Join(base, id), eps)))
	}
	active, st := awaitAny(ctx, t, nodes, writable)
	standby = others(nodes, active)[0]
	awaitFollowers(ctx, t, []*Node{standby}, active.cfg.NodeID, st.Epoch)
	c = sdk(t, active.Addr())
	if err := c.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("c", 4).WithAutoID(false)); err != nil {
		t.Fatal(err)
	}
	if err := insertRows(ctx, c, "c", 0, 10); err != nil {
		t.Fatal(err)
	}
	return active, standby, st.Epoch, c
}

// hasRow reports whether node n (the active) holds row id in "c".
func hasRow(ctx context.Context, t *testing.T, n *Node, id int) bool {
	t.Helper()
	rs, err := sdk(t, n.Addr()).Query(ctx, milvusclient.NewQueryOption("c").WithFilter(fmt.Sprintf("id == %d", id)).WithOutputFields("count(*)"))
	if err != nil {
		t.Fatalf("query %s: %v", n.cfg.NodeID, err)
	}
	cnt, err := rs.GetColumn("count(*)").GetAsInt64(0)
	if err != nil {
		t.Fatal(err)
	}
	return cnt == 1
}

// TestWindow3SwitchoverInFlightWrite: a writer that passed the gate's
// Allow (its epoch stamped) but is not applied yet when a switchover
// drains the gate must not be acknowledged unless the target holds it.
// The writer is paused at engine/write-admitted while the switchover
// runs; the old active's observer is paused so it keeps its draining gate
// after the hand-over (as when its watch is slow).
//
// Before the fix the switchover settled on the applied LSN without the
// writer, handed over, and the writer was then acknowledged at the old
// epoch while the new active lacks it. After it, the write barrier waits
// for the writer, the target is made to hold it, and acknowledgements
// above the barrier LSN are refused.
func TestWindow3SwitchoverInFlightWrite(t *testing.T) {
	ctx := ctxT(t, 90*time.Second)
	active, target, epoch, c := startPair(ctx, t)

	armFailpoint(t, "engine/write-admitted", "pause")
	armFailpoint(t, "node/observe-leader/"+active.cfg.NodeID, "pause")
	armFailpoint(t, "node/switchover-barrier", "sleep(0s)") // counts the switchover reaching its barrier
	const row = 1000
	werr := make(chan error, 1)
	go func() { werr <- insertRows(ctx, c, "c", row, 1) }()
	if err := failpoint.WaitHit(ctx, "engine/write-admitted", 1); err != nil {
		t.Fatal(err)
	}

	type swResult struct {
		res SwitchoverResult
		err error
	}
	swc := make(chan swResult, 1)
	go func() {
		res, err := active.Switchover(ctx, target.cfg.NodeID)
		swc <- swResult{res, err}
	}()
	// Either the switchover reaches its write barrier (which waits for
	// the paused writer) or, without one, it completes.
	barrier := make(chan error, 1)
	bctx, bcancel := context.WithCancel(ctx)
	defer bcancel()
	go func() { barrier <- failpoint.WaitHit(bctx, "node/switchover-barrier", 1) }()
	var sw swResult
	done := false
	select {
	case sw = <-swc:
		done = true
		t.Logf("the switchover completed while a write that passed the gate was unapplied: %+v %v", sw.res, sw.err)
		if sw.err == nil {
			// Let the new active take over before the writer goes on.
			if _, err := target.Await(ctx, func(s Status) bool { return writable(s) && s.Epoch == sw.res.Epoch }); err != nil {
				t.Fatal(err)
			}
		}
	case err := <-barrier:
		if err != nil {
			t.Fatal(err)
		}
	}
	failpoint.Disable("engine/write-admitted") // the writer goes on
	wErr := <-werr
	if !done {
		sw = <-swc
	}
	if sw.err != nil {
		t.Fatalf("switchover: %v", sw.err)
	}
	if _, err := target.Await(ctx, func(s Status) bool { return writable(s) && s.Epoch == sw.res.Epoch }); err != nil {
		t.Fatalf("%s did not take over: %v", target.cfg.NodeID, err)
	}
	oldLast := active.Engine().LastLSN()
	t.Logf("write: %v; switchover %s -> %s at lsn %d (epoch %d -> %d); old active's last lsn %d",
		wErr, sw.res.From, sw.res.To, sw.res.LSN, epoch, sw.res.Epoch, oldLast)
	if wErr == nil {
		if !hasRow(ctx, t, target, row) {
			t.Fatalf("the write was acknowledged by the old active (its last lsn %d, handed over at lsn %d) but the new active %s lacks it",
				oldLast, sw.res.LSN, target.cfg.NodeID)
		}
		if oldLast > sw.res.LSN {
			t.Fatalf("the old active appended lsn %d past the handed-over lsn %d", oldLast, sw.res.LSN)
		}
	}
	failpoint.Disable("node/observe-leader/" + active.cfg.NodeID)
	awaitFollowers(ctx, t, []*Node{active}, target.cfg.NodeID, sw.res.Epoch)
}

// TestWindow4AmbiguousHandover: the hand-over transaction commits but the
// switchover gets an error (arbiter/handover-after-commit). Before the
// fix the old active reopened writes at its epoch while the target was
// the active (its observer is paused, as when its watch is slow), and
// acknowledged a write the new active lacks. After it, the leader key is
// confirmed first: the hand-over is reported done and writes stay closed.
// Second, when the leader key cannot be read either
// (arbiter/confirm-leader), writes stay closed until it can.
func TestWindow4AmbiguousHandover(t *testing.T) {
	ctx := ctxT(t, 90*time.Second)
	old, target, epoch, _ := startPair(ctx, t)

	armFailpoint(t, "arbiter/handover-after-commit", "1*error(reply lost)")
	armFailpoint(t, "node/observe-leader/"+old.cfg.NodeID, "pause")
	res, err := old.Switchover(ctx, target.cfg.NodeID)
	t.Logf("switchover with a lost reply: %+v, %v", res, err)
	if _, aerr := target.Await(ctx, func(s Status) bool { return writable(s) && s.Epoch == epoch+1 }); aerr != nil {
		t.Fatalf("%s did not take over: %v", target.cfg.NodeID, aerr)
	}
	const row = 2000
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	werr := insertRows(wctx, sdk(t, old.Addr()), "c", row, 1)
	cancel()
	if werr == nil {
		t.Fatalf("the old active %s acknowledged a write at epoch %d after handing the lead to %s at epoch %d (switchover error: %v); the new active has it: %v",
			old.cfg.NodeID, epoch, target.cfg.NodeID, epoch+1, err, hasRow(ctx, t, target, row))
	}
	if err != nil || res.Epoch != epoch+1 || res.To != target.cfg.NodeID {
		t.Fatalf("the hand-over committed: want success at epoch %d, got %+v, %v", epoch+1, res, err)
	}
	failpoint.Disable("node/observe-leader/" + old.cfg.NodeID)
	awaitFollowers(ctx, t, []*Node{old}, target.cfg.NodeID, epoch+1)

	// The reply is lost and the arbiter cannot be asked either: writes
	// stay closed until it can.
	armFailpoint(t, "arbiter/handover-after-commit", "1*error(reply lost)")
	armFailpoint(t, "arbiter/confirm-leader", "error(unreachable)")
	armFailpoint(t, "node/observe-leader/"+target.cfg.NodeID, "pause")
	testutil.EventuallyCtx(ctx, t, old.cfg.NodeID+" streams from "+target.cfg.NodeID, func() bool { return len(target.repl.sender.Peers()) == 1 })
	_, err = target.Switchover(ctx, old.cfg.NodeID)
	if err == nil || !strings.Contains(err.Error(), "unknown") {
		t.Fatalf("switchover with an unknown outcome: %v", err)
	}
	if _, aerr := old.Await(ctx, func(s Status) bool { return writable(s) && s.Epoch == epoch+2 }); aerr != nil {
		t.Fatalf("%s did not take over: %v", old.cfg.NodeID, aerr)
	}
	if _, gerr := target.gate.Allow(); gerr == nil {
		t.Fatal("writes reopened while the hand-over's outcome is unknown")
	}
	wctx, cancel = context.WithTimeout(ctx, 5*time.Second)
	werr = insertRows(wctx, sdk(t, target.Addr()), "c", row+1, 1)
	cancel()
	if werr == nil {
		t.Fatal("a write was acknowledged while the hand-over's outcome is unknown")
	}
	failpoint.Disable("arbiter/confirm-leader") // the arbiter answers again: settled as handed over
	failpoint.Disable("node/observe-leader/" + target.cfg.NodeID)
	awaitFollowers(ctx, t, []*Node{target}, old.cfg.NodeID, epoch+2)
}

// TestWindow10SuspendClockJump: the write deadline is measured on a clock
// that counts a system suspend. node/clock-jump moves that clock an hour
// ahead (a suspend-like jump: Go's monotonic clock does not move): the
// gate must refuse writes at once, before the loop ticks, and the node
// must become writable again after its next lease renewal. Before the fix
// the deadline was measured on Go's monotonic clock and writes went on.
func TestWindow10SuspendClockJump(t *testing.T) {
	ctx := ctxT(t, 60*time.Second)
	eps := startArbiter(t)
	n := startNode(t, nodeConfig(t, "n1", filepath.Join(t.TempDir(), "n1"), eps))
	st, err := n.Await(ctx, writable)
	if err != nil {
		t.Fatal(err)
	}
	c := sdk(t, n.Addr())
	if err := c.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("c", 4).WithAutoID(false)); err != nil {
		t.Fatal(err)
	}
	if err := insertRows(ctx, c, "c", 0, 10); err != nil {
		t.Fatal(err)
	}
	armFailpoint(t, "node/clock-jump", "error(1h)")
	if _, err := n.gate.Allow(); err == nil || !strings.Contains(err.Error(), "write deadline passed") {
		t.Fatalf("after a suspend-like clock jump of 1h the gate allows writes (err %v)", err)
	}
	if err := n.gate.AllowAck(n.Engine().LastLSN()); err == nil {
		t.Fatal("after a suspend-like clock jump of 1h the gate acknowledges")
	}
	if err := insertRows(ctx, c, "c", 10, 1); err == nil {
		t.Fatal("a write was acknowledged after a suspend-like clock jump of 1h")
	}
	// The jump stays when the point is disarmed (time lost in a suspend
	// does not come back); the next renewal proves the lease again.
	failpoint.Disable("node/clock-jump")
	st2, err := n.Await(ctx, func(s Status) bool { return writable(s) })
	if err != nil {
		t.Fatalf("not writable again after the jump: %v", err)
	}
	if err := insertRows(ctx, c, "c", 10, 1); err != nil {
		t.Fatal(err)
	}
	t.Logf("epoch %d before the jump, %d after; fence deadline %v", st.Epoch, st2.Epoch, st2.FenceDeadline)
}

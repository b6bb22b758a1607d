package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/milvusclient"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/replication"
	"github.com/tandem-db/tandem/internal/wal"
)

// countRows returns count(*) of coll through the SDK.
func countRows(ctx context.Context, t *testing.T, c *milvusclient.Client, coll string) int64 {
	t.Helper()
	rs, err := c.Query(ctx, milvusclient.NewQueryOption(coll).WithOutputFields("count(*)"))
	if err != nil {
		t.Fatalf("count(*) of %s: %v", coll, err)
	}
	n, err := rs.GetColumn("count(*)").GetAsInt64(0)
	if err != nil {
		t.Fatalf("count(*) of %s: %v", coll, err)
	}
	return n
}

// awaitCaughtUp waits until every node in ns has applied and made durable
// lsn, then checks that its digest equals want.
func awaitCaughtUp(ctx context.Context, t *testing.T, ns []*Node, lsn uint64, want string) {
	t.Helper()
	for _, n := range ns {
		if _, err := n.Engine().WaitApplied(ctx, lsn); err != nil {
			t.Fatalf("%s: wait applied %d: %v (%+v)", n.cfg.NodeID, lsn, err, n.Status().Replication)
		}
		if err := n.Engine().WaitDurable(ctx, lsn); err != nil {
			t.Fatalf("%s: wait durable %d: %v", n.cfg.NodeID, lsn, err)
		}
		if got := n.Engine().LastLSN(); got != lsn {
			t.Fatalf("%s applied lsn %d, want %d", n.cfg.NodeID, got, lsn)
		}
		d, err := n.Engine().Digest()
		if err != nil {
			t.Fatal(err)
		}
		if d != want {
			t.Fatalf("%s digest %s at lsn %d, want %s", n.cfg.NodeID, d, lsn, want)
		}
	}
}

func digestAt(t *testing.T, n *Node) (uint64, string) {
	t.Helper()
	lsn := n.Engine().LastLSN()
	if err := n.Engine().WaitDurable(context.Background(), lsn); err != nil {
		t.Fatal(err)
	}
	d, err := n.Engine().Digest()
	if err != nil {
		t.Fatal(err)
	}
	if n.Engine().LastLSN() != lsn {
		t.Fatalf("%s: lsn moved while taking its digest", n.cfg.NodeID)
	}
	return lsn, d
}

// TestReplicatedFailover: rows written through the SDK on the active reach
// the standbys; after the active is killed the new active has every
// acknowledged row, accepts writes at the new epoch, and the killed node,
// restarted, follows it and converges to the same digest.
func TestReplicatedFailover(t *testing.T) {
	eps := startArbiter(t)
	base := t.TempDir()
	dirs := map[string]string{}
	var nodes []*Node
	for _, id := range []string{"n1", "n2", "n3"} {
		dirs[id] = filepath.Join(base, id)
		nodes = append(nodes, startNode(t, nodeConfig(t, id, dirs[id], eps)))
	}
	ctx := ctxT(t, 60*time.Second)

	active, st := awaitAny(ctx, t, nodes, writable)
	epoch1 := st.Epoch
	awaitFollowers(ctx, t, others(nodes, active), active.cfg.NodeID, epoch1)

	c := sdk(t, active.Addr())
	if err := c.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("c", 4).WithAutoID(false)); err != nil {
		t.Fatal(err)
	}
	const batches, per = 10, 50
	for b := range batches {
		if err := insertRows(ctx, c, "c", b*per, per); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Delete(ctx, milvusclient.NewDeleteOption("c").WithInt64IDs("id", []int64{0, 1, 2})); err != nil {
		t.Fatal(err)
	}
	acked := int64(batches*per - 3)
	if n := countRows(ctx, t, c, "c"); n != acked {
		t.Fatalf("count(*) on the active = %d, want %d", n, acked)
	}
	lsn1, d1 := digestAt(t, active)
	awaitCaughtUp(ctx, t, others(nodes, active), lsn1, d1)
	for _, n := range others(nodes, active) {
		if rs := n.Status().Replication; rs == nil || rs.Receiver != "streaming" {
			t.Fatalf("%s replication status %+v, want streaming", n.cfg.NodeID, rs)
		}
	}
	for _, n := range others(nodes, active) {
		// The active learns of it from the standby's ack.
		if err := active.repl.sender.WaitDurable(ctx, n.cfg.NodeID, lsn1); err != nil {
			t.Fatal(err)
		}
	}
	if sbs := active.Status().Replication.Standbys; len(sbs) != 2 || sbs[0].LagLSN != 0 || sbs[1].LagLSN != 0 {
		t.Fatalf("active's standbys %+v, want 2 with no lag", sbs)
	}
	t.Logf("standbys caught up with the active %s at lsn %d (epoch %d)", active.cfg.NodeID, lsn1, epoch1)

	// Kill the active abruptly; the new one has every acknowledged row.
	killed := active
	t0 := time.Now()
	killed.kill()
	rest := others(nodes, killed)
	active, st = awaitAny(ctx, t, rest, func(st Status) bool { return writable(st) && st.Epoch > epoch1 })
	epoch2 := st.Epoch
	t.Logf("kill -> new active %s open for writes at epoch %d: %v", active.cfg.NodeID, epoch2, time.Since(t0).Round(time.Millisecond))
	if st.PositionEpoch != epoch2 {
		t.Fatalf("new active's log is at epoch %d, want %d", st.PositionEpoch, epoch2)
	}
	c2 := sdk(t, active.Addr())
	if n := countRows(ctx, t, c2, "c"); n != acked {
		t.Fatalf("count(*) on the new active = %d, want %d acknowledged rows", n, acked)
	}

	// Writes continue at the new epoch and reach the remaining standby.
	if err := insertRows(ctx, c2, "c", 10_000, per); err != nil {
		t.Fatal(err)
	}
	acked += per
	if n := countRows(ctx, t, c2, "c"); n != acked {
		t.Fatalf("count(*) after writing at epoch %d = %d, want %d", epoch2, n, acked)
	}
	awaitFollowers(ctx, t, others(rest, active), active.cfg.NodeID, epoch2)
	lsn2, d2 := digestAt(t, active)
	awaitCaughtUp(ctx, t, others(rest, active), lsn2, d2)

	// The killed node restarts, follows the new active and converges.
	restarted := startNode(t, nodeConfig(t, killed.cfg.NodeID, dirs[killed.cfg.NodeID], eps))
	awaitFollowers(ctx, t, []*Node{restarted}, active.cfg.NodeID, epoch2)
	awaitCaughtUp(ctx, t, []*Node{restarted}, lsn2, d2)
	if _, err := restarted.Await(ctx, func(st Status) bool { return st.PositionEpoch == epoch2 }); err != nil {
		t.Fatalf("restarted node's log epoch: %v", err)
	}
	t.Logf("restarted %s converged at lsn %d (digest %.12s)", restarted.cfg.NodeID, lsn2, d2)

	// One more write reaches everyone.
	if err := insertRows(ctx, c2, "c", 20_000, 1); err != nil {
		t.Fatal(err)
	}
	lsn3, d3 := digestAt(t, active)
	awaitCaughtUp(ctx, t, append(others(rest, active), restarted), lsn3, d3)
}

// TestSyncModeAck: in sync mode a write is acknowledged only once a
// standby has it durable; with no standby connected the write fails at
// the request's deadline (not acknowledged), and succeeds again once a
// standby is back.
func TestSyncModeAck(t *testing.T) {
	eps := startArbiter(t)
	base := t.TempDir()
	cfgs := map[string]Config{}
	var nodes []*Node
	for _, id := range []string{"n1", "n2"} {
		cfg := nodeConfig(t, id, filepath.Join(base, id), eps)
		cfg.SyncMode = SyncSync
		cfgs[id] = cfg
		nodes = append(nodes, startNode(t, cfg))
	}
	ctx := ctxT(t, 60*time.Second)
	active, st := awaitAny(ctx, t, nodes, writable)
	standby := others(nodes, active)[0]
	awaitFollowers(ctx, t, []*Node{standby}, active.cfg.NodeID, st.Epoch)
	if rs := active.Status().Replication; rs == nil || rs.Mode != SyncSync || rs.MinSyncStandbys != 1 {
		t.Fatalf("replication status %+v", rs)
	}

	c := sdk(t, active.Addr())
	if err := c.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("c", 4).WithAutoID(false)); err != nil {
		t.Fatal(err)
	}
	for b := range 5 {
		if err := insertRows(ctx, c, "c", b*10, 10); err != nil {
			t.Fatal(err)
		}
		// Acknowledged, so already durable on the standby.
		if lsn, d := active.Engine().LastLSN(), standby.Engine().DurableLSN(); d < lsn {
			t.Fatalf("write at lsn %d acknowledged while the standby has only %d durable", lsn, d)
		}
	}

	// No standby: the write is not acknowledged within its deadline.
	if err := standby.Close(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	err := insertRows(wctx, c, "c", 1000, 1)
	cancel()
	if err == nil {
		t.Fatal("write acknowledged in sync mode without a standby")
	}
	t.Logf("without a standby: %v", err)

	// The standby comes back: writes are acknowledged again.
	back := startNode(t, cfgs[standby.cfg.NodeID])
	awaitFollowers(ctx, t, []*Node{back}, active.cfg.NodeID, st.Epoch)
	if err := insertRows(ctx, c, "c", 2000, 1); err != nil {
		t.Fatal(err)
	}
	if lsn, d := active.Engine().LastLSN(), back.Engine().DurableLSN(); d < lsn {
		t.Fatalf("write at lsn %d acknowledged while the standby has only %d durable", lsn, d)
	}
	lsn, dg := digestAt(t, active)
	awaitCaughtUp(ctx, t, []*Node{back}, lsn, dg)
}

// TestAsyncDivergenceReported: in async mode an active can acknowledge
// writes its standby never received; when it dies and comes back, the
// new active tells it where the logs diverge: it saves the records past
// that point in DATA_DIR/diverged/, reports the cut in its status, cuts
// its log, rebuilds and converges to the new active's state.
func TestAsyncDivergenceReported(t *testing.T) {
	eps := startArbiter(t)
	base := t.TempDir()
	cfg1 := nodeConfig(t, "n1", filepath.Join(base, "n1"), eps)
	n1 := startNode(t, cfg1)
	ctx := ctxT(t, 60*time.Second)
	st, err := n1.Await(ctx, writable)
	if err != nil {
		t.Fatal(err)
	}
	epoch1 := st.Epoch
	c := sdk(t, n1.Addr())
	if err := c.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("c", 4).WithAutoID(false)); err != nil {
		t.Fatal(err)
	}
	if err := insertRows(ctx, c, "c", 0, 10); err != nil {
		t.Fatal(err)
	}
	n2 := startNode(t, nodeConfig(t, "n2", filepath.Join(base, "n2"), eps))
	awaitFollowers(ctx, t, []*Node{n2}, "n1", epoch1)
	common, d := digestAt(t, n1)
	awaitCaughtUp(ctx, t, []*Node{n2}, common, d)

	// n2 stops receiving; n1 acknowledges writes n2 never gets.
	n2.repl.StopFollow()
	if err := insertRows(ctx, c, "c", 100, 5); err != nil {
		t.Fatal(err)
	}
	lost := n1.Engine().LastLSN()
	n1.kill()
	st2, err := n2.Await(ctx, func(st Status) bool { return writable(st) && st.Epoch > epoch1 })
	if err != nil {
		t.Fatal(err)
	}
	if got := n2.Engine().LastLSN(); got != common+1 {
		t.Fatalf("new active at lsn %d, want %d (common prefix + epoch start)", got, common+1)
	}

	back := startNode(t, cfg1)
	awaitFollowers(ctx, t, []*Node{back}, "n2", st2.Epoch)
	rst, err := back.repl.recv.WaitStatus(ctx, func(s replication.Status) bool { return s.Cuts >= 1 })
	if err != nil {
		t.Fatalf("restarted n1 never cut its log: %v: %+v", err, back.Status().Replication)
	}
	cut := rst.LastCut
	if cut.After != common || cut.Count != lost-common || cut.First != common+1 || cut.Last != lost || cut.Saved == 0 {
		t.Fatalf("cut %+v, want records %d..%d cut and saved", cut, common+1, lost)
	}
	n := 0
	if err := wal.ReadFile(cut.File, func(wal.Record) error { n++; return nil }); err != nil || uint64(n) != cut.Saved {
		t.Fatalf("diverged file %s: %d records, %v", cut.File, n, err)
	}
	if rs := back.Status().Replication; rs.Cuts != 1 || rs.LastCut == nil || rs.LastCut.File != cut.File {
		t.Fatalf("status does not report the cut: %+v", rs)
	}
	t.Logf("n1 diverged after lsn %d: records %d..%d cut and saved to %s", common, cut.First, cut.Last, cut.File)
	// If n1's checkpoint already held the cut records (its engine closed
	// with a checkpoint), it keeps its state until a snapshot replaces it.
	if _, err := back.repl.recv.WaitStatus(ctx, func(s replication.Status) bool {
		return s.State == replication.StateStreaming && (!s.LastCut.NeedSnapshot || s.Snapshots >= 1)
	}); err != nil {
		t.Fatalf("n1 never streamed again after the cut: %v: %+v", err, back.Status().Replication)
	}
	lsn, dg := digestAt(t, n2)
	awaitCaughtUp(ctx, t, []*Node{back}, lsn, dg)
}

// syncStandbys returns the standbys of the sync set n keeps as the active.
func syncStandbys(st Status) []string {
	if st.Replication == nil || st.Replication.Sync == nil || !st.Replication.Sync.Written {
		return nil
	}
	return st.Replication.Sync.Standbys
}

// TestSyncSetPromotion: in sync mode the active keeps the arbiter's sync
// set; a standby that stops receiving is dropped from it (in the arbiter
// first), and only members of the set can be promoted: with the active and
// the only in-sync standby dead, the remaining standby stays a standby;
// when the in-sync standby returns it wins and holds every acknowledged
// row.
func TestSyncSetPromotion(t *testing.T) {
	eps := startArbiter(t)
	base := t.TempDir()
	cfgs := map[string]Config{}
	var nodes []*Node
	for _, id := range []string{"n1", "n2", "n3"} {
		cfg := nodeConfig(t, id, filepath.Join(base, id), eps)
		cfg.SyncMode = SyncSync
		cfg.SyncTimeout = 300 * time.Millisecond
		cfgs[id] = cfg
		nodes = append(nodes, startNode(t, cfg))
	}
	ctx := ctxT(t, 90*time.Second)
	active, st := awaitAny(ctx, t, nodes, writable)
	rest := others(nodes, active)
	awaitFollowers(ctx, t, rest, active.cfg.NodeID, st.Epoch)
	if _, err := active.Await(ctx, func(st Status) bool { return len(syncStandbys(st)) == 2 }); err != nil {
		t.Fatalf("both standbys never joined the sync set: %v: %+v", err, active.Status().Replication)
	}
	c := sdk(t, active.Addr())
	if err := c.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("c", 4).WithAutoID(false)); err != nil {
		t.Fatal(err)
	}
	if err := insertRows(ctx, c, "c", 0, 100); err != nil {
		t.Fatal(err)
	}

	// The lagging standby: it stops receiving and leaves the sync set.
	inSync, lagging := rest[0], rest[1]
	lagging.repl.StopFollow()
	if err := insertRows(ctx, c, "c", 100, 100); err != nil {
		t.Fatal(err) // waits for the drop, then is acknowledged with inSync only
	}
	if got := syncStandbys(active.Status()); len(got) != 1 || got[0] != syncName(inSync) {
		t.Fatalf("sync set standbys %v, want [%s]", got, syncName(inSync))
	}
	cli, err := arbiter.Dial(ctx, eps, arbiter.DialOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	set, err := cli.Group("g1").SyncSet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{syncName(active), syncName(inSync)}; set == nil || set.Epoch != st.Epoch || !slices.Equal(set.Nodes, sortedCopy(want)) {
		t.Fatalf("arbiter sync set %+v, want %v at epoch %d", set, want, st.Epoch)
	}
	if err := insertRows(ctx, c, "c", 200, 100); err != nil {
		t.Fatal(err)
	}
	acked := countRows(ctx, t, c, "c")

	// The active and the in-sync standby die: the lagging one, which lacks
	// acknowledged writes, must not be promoted.
	active.kill()
	inSync.kill()
	if _, err := lagging.Await(ctxT(t, 3*active.cfg.HA.LeaseTTL), func(st Status) bool { return st.Role == "active" }); err == nil {
		t.Fatalf("%s, not in the sync set, was promoted", lagging.cfg.NodeID)
	}
	back := startNode(t, cfgs[inSync.cfg.NodeID])
	st2, err := back.Await(ctx, writable)
	if err != nil {
		t.Fatalf("in-sync standby %s not promoted after restart: %v: %+v", back.cfg.NodeID, err, back.Status())
	}
	if st2.Epoch <= st.Epoch {
		t.Fatalf("new epoch %d <= %d", st2.Epoch, st.Epoch)
	}
	c2 := sdk(t, back.Addr())
	if got := countRows(ctx, t, c2, "c"); got != acked {
		t.Fatalf("new active %s has %d rows, %d were acknowledged", back.cfg.NodeID, got, acked)
	}
	// The lagging node follows the new active, catches up and joins its
	// sync set; writes are acknowledged again.
	if _, err := back.Await(ctx, func(st Status) bool { return len(syncStandbys(st)) == 1 }); err != nil {
		t.Fatalf("%s never joined the new sync set: %v: %+v", lagging.cfg.NodeID, err, back.Status().Replication)
	}
	if err := insertRows(ctx, c2, "c", 300, 10); err != nil {
		t.Fatal(err)
	}
	lsn, dg := digestAt(t, back)
	awaitCaughtUp(ctx, t, []*Node{lagging}, lsn, dg)
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// TestSwitchover: a planned switchover under continuous acknowledged
// inserts hands the active role to a standby with no loss and a short
// pause; refusals name the reason.
func TestSwitchover(t *testing.T) {
	eps := startArbiter(t)
	base := t.TempDir()
	var nodes []*Node
	for _, id := range []string{"n1", "n2", "n3"} {
		cfg := nodeConfig(t, id, filepath.Join(base, id), eps)
		cfg.SyncMode = SyncSync
		nodes = append(nodes, startNode(t, cfg))
	}
	ctx := ctxT(t, 90*time.Second)
	active, st := awaitAny(ctx, t, nodes, writable)
	rest := others(nodes, active)
	if _, err := active.Await(ctx, func(st Status) bool { return len(syncStandbys(st)) == 2 }); err != nil {
		t.Fatalf("sync set never full: %v", err)
	}
	if _, err := rest[0].Switchover(ctx, ""); !errors.Is(err, ErrSwitchoverNotActive) {
		t.Fatalf("switchover on a standby: %v, want ErrSwitchoverNotActive", err)
	}
	if _, err := active.Switchover(ctx, "nobody"); !errors.Is(err, ErrSwitchoverNoTarget) {
		t.Fatalf("switchover to a non-member: %v, want ErrSwitchoverNoTarget", err)
	}
	c := sdk(t, active.Addr())
	if err := c.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("c", 4).WithAutoID(false)); err != nil {
		t.Fatal(err)
	}
	if err := insertRows(ctx, c, "c", 0, 10); err != nil { // still writable after the refusals
		t.Fatal(err)
	}

	// A writer inserts batch after batch into whichever node is active.
	var mu sync.Mutex
	var ackedAt []time.Time
	ackedBatches := []int{0}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		cur := c
		for b := 1; ; b++ {
			select {
			case <-stop:
				return
			default:
			}
			wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := insertRows(wctx, cur, "c", b*10, 10)
			cancel()
			if err == nil {
				mu.Lock()
				ackedBatches = append(ackedBatches, b)
				ackedAt = append(ackedAt, time.Now())
				mu.Unlock()
				continue
			}
			for _, n := range nodes {
				if n.Status().WritesOpen {
					cur = sdk(t, n.Addr())
				}
			}
		}
	}()
	awaitAcked := func(n int) {
		t.Helper()
		for {
			mu.Lock()
			got := len(ackedAt)
			mu.Unlock()
			if got >= n {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%d of %d batches acknowledged", got, n)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	awaitAcked(20)
	t0 := time.Now()
	res, err := active.Switchover(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	target := map[string]*Node{}
	for _, n := range nodes {
		target[n.cfg.NodeID] = n
	}
	nt := target[res.To]
	st2, err := nt.Await(ctx, func(s Status) bool { return writable(s) && s.Epoch == res.Epoch })
	if err != nil {
		t.Fatalf("%s did not take over: %v", res.To, err)
	}
	mu.Lock()
	n0 := len(ackedAt)
	mu.Unlock()
	awaitAcked(n0 + 20)
	close(stop)
	<-done
	var pause time.Duration
	mu.Lock()
	prev := t0
	for _, at := range ackedAt {
		if at.After(t0) {
			pause = max(pause, at.Sub(prev))
			prev = at
		}
	}
	batches := slices.Clone(ackedBatches)
	mu.Unlock()
	t.Logf("switchover %s (epoch %d) -> %s (epoch %d) at lsn %d: writes paused on the old active %.1f ms; longest gap between acknowledged inserts %v",
		res.From, res.FromEpoch, res.To, st2.Epoch, res.LSN, res.PausedMs, pause.Round(time.Millisecond))
	if res.From != active.cfg.NodeID || res.FromEpoch != st.Epoch || res.Epoch != st.Epoch+1 {
		t.Fatalf("result %+v", res)
	}
	// Every acknowledged batch is on the new active.
	c2 := sdk(t, nt.Addr())
	for _, b := range batches {
		rs, err := c2.Query(ctx, milvusclient.NewQueryOption("c").WithFilter(fmt.Sprintf("id >= %d and id < %d", b*10, b*10+10)).WithOutputFields("count(*)"))
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := rs.GetColumn("count(*)").GetAsInt64(0); n != 10 {
			t.Fatalf("batch %d (acknowledged) has %d of 10 rows on the new active", b, n)
		}
	}
	// The old active follows the new one.
	awaitFollowers(ctx, t, []*Node{active}, res.To, res.Epoch)
}

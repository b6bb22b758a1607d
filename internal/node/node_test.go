package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/milvusclient"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/ha"
	"github.com/tandem-db/tandem/internal/merr"
)

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startArbiter starts a single in-process etcd member with etcd's default
// timing (so the minimum lease TTL is the 2 s default of ha.Config).
func startArbiter(t *testing.T) []string {
	m, _ := startMember(t, filepath.Join(t.TempDir(), "etcd"), "http://127.0.0.1:0", "http://127.0.0.1:0")
	return m.ClientEndpoints()
}

func startMember(t *testing.T, dir, client, peer string) (*arbiter.Member, arbiter.MemberConfig) {
	t.Helper()
	cfg := arbiter.DefaultMemberConfig("arb", dir)
	cfg.ListenClientURLs = []string{client}
	cfg.ListenPeerURLs = []string{peer}
	cfg.InitialCluster = ""
	cfg.Logger = testLogger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := arbiter.StartMember(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m, cfg
}

func nodeConfig(t *testing.T, id, dir string, eps []string) Config {
	return Config{
		Group: "g1", NodeID: id,
		Engine:     engine.Config{DataDir: dir, Logger: testLogger(t)},
		Listen:     "127.0.0.1:0",
		PeerListen: "127.0.0.1:0",
		HTTPListen: "127.0.0.1:0",
		Arbiter:    eps,
		Dial:       arbiter.DialOptions{Logger: testLogger(t)},
		Logger:     testLogger(t),
		Version:    "test",
		SyncMode:   SyncAsync,
	}
}

func startNode(t *testing.T, cfg Config) *Node {
	t.Helper()
	n, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.Close(ctx)
	})
	return n
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// awaitAny returns the first of nodes whose status satisfies cond.
func awaitAny(ctx context.Context, t *testing.T, nodes []*Node, cond func(Status) bool) (*Node, Status) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type hit struct {
		n  *Node
		st Status
	}
	ch := make(chan hit, len(nodes))
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if st, err := n.Await(ctx, cond); err == nil {
				ch <- hit{n, st}
			}
		}()
	}
	select {
	case h := <-ch:
		cancel()
		wg.Wait()
		return h.n, h.st
	case <-ctx.Done():
		wg.Wait()
		var b strings.Builder
		for _, n := range nodes {
			fmt.Fprintf(&b, "\n  %+v", n.Status())
		}
		t.Fatalf("no node reached the condition: %v%s", ctx.Err(), b.String())
		return nil, Status{}
	}
}

func writable(st Status) bool { return st.WritesOpen && st.Role == "active" }

func others(all []*Node, x *Node) []*Node {
	var out []*Node
	for _, n := range all {
		if n != x {
			out = append(out, n)
		}
	}
	return out
}

// awaitFollowers waits until every node in ns is a standby following
// leader at epoch.
func awaitFollowers(ctx context.Context, t *testing.T, ns []*Node, leader string, epoch uint64) {
	t.Helper()
	for _, n := range ns {
		if _, err := n.Await(ctx, func(st Status) bool {
			return st.Role == "standby" && st.Leader != nil && st.Leader.NodeID == leader && st.Leader.Epoch == epoch && !st.WritesOpen
		}); err != nil {
			t.Fatalf("%s does not follow %s at epoch %d: %v: %+v", n.cfg.NodeID, leader, epoch, err, n.Status())
		}
	}
}

func sdk(t *testing.T, addr string) *milvusclient.Client {
	t.Helper()
	c, err := milvusclient.New(ctxT(t, 30*time.Second), &milvusclient.ClientConfig{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func insertRows(ctx context.Context, c *milvusclient.Client, coll string, from, n int) error {
	ids := make([]int64, n)
	vecs := make([][]float32, n)
	for i := range ids {
		ids[i] = int64(from + i)
		vecs[i] = []float32{float32(i), 1, 2, 3}
	}
	_, err := c.Insert(ctx, milvusclient.NewColumnBasedInsertOption(coll,
		column.NewColumnInt64("id", ids), column.NewColumnFloatVector("vector", 4, vecs)))
	return err
}

// TestGroupFailover runs an in-process arbiter and three nodes: exactly one
// becomes active; standbys refuse clients naming the active; killing the
// active (its lease must expire) elects another at a higher epoch; the
// killed node restarts as a standby; a graceful stop hands over fast.
func TestGroupFailover(t *testing.T) {
	eps := startArbiter(t)
	base := t.TempDir()
	dirs := map[string]string{}
	var nodes []*Node
	for _, id := range []string{"n1", "n2", "n3"} {
		dirs[id] = filepath.Join(base, id)
		nodes = append(nodes, startNode(t, nodeConfig(t, id, dirs[id], eps)))
	}
	ctx := ctxT(t, 60*time.Second)

	// Exactly one active; the others follow it.
	active, st := awaitAny(ctx, t, nodes, writable)
	epoch1 := st.Epoch
	awaitFollowers(ctx, t, others(nodes, active), active.cfg.NodeID, epoch1)
	t.Logf("first active %s at epoch %d", active.cfg.NodeID, epoch1)

	// The active serves the SDK; a standby refuses with the active's address.
	c := sdk(t, active.Addr())
	if err := c.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("c", 4).WithAutoID(false)); err != nil {
		t.Fatal(err)
	}
	if err := insertRows(ctx, c, "c", 0, 10); err != nil {
		t.Fatal(err)
	}
	standby := others(nodes, active)[0]
	sc := sdk(t, standby.Addr())
	err := insertRows(ctx, sc, "c", 100, 1)
	want := fmt.Sprintf("node %s is standby; the active is %s at %s", standby.cfg.NodeID, active.cfg.NodeID, active.Addr())
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("insert on standby: %v, want an error containing %q", err, want)
	}
	if !strings.Contains(err.Error(), merr.ErrServiceUnavailable.Msg) {
		t.Fatalf("insert on standby: %v, want %q", err, merr.ErrServiceUnavailable.Msg)
	}
	if _, err := sc.GetServerVersion(ctx, milvusclient.NewGetServerVersionOption()); err != nil {
		t.Fatalf("GetServerVersion on a standby: %v", err)
	}

	// Kill the active: no resign, its lease must expire.
	killed := active
	t0 := time.Now()
	killed.kill()
	rest := others(nodes, killed)
	active, st = awaitAny(ctx, t, rest, func(st Status) bool { return writable(st) && st.Epoch > epoch1 })
	t.Logf("kill -> new active %s open for writes at epoch %d: %v", active.cfg.NodeID, st.Epoch, time.Since(t0).Round(time.Millisecond))
	epoch2 := st.Epoch
	awaitFollowers(ctx, t, others(rest, active), active.cfg.NodeID, epoch2)
	c2 := sdk(t, active.Addr())
	if err := c2.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("c2", 4).WithAutoID(false)); err != nil {
		t.Fatal(err)
	}

	// The killed node restarts on its data directory as a standby.
	restarted := startNode(t, nodeConfig(t, killed.cfg.NodeID, dirs[killed.cfg.NodeID], eps))
	awaitFollowers(ctx, t, []*Node{restarted}, active.cfg.NodeID, epoch2)
	if restarted.Status().WritesOpen {
		t.Fatal("restarted node has writes open")
	}
	nodes = append(rest, restarted)

	// Graceful stop of the active: it resigns, a standby takes over fast.
	stopped := active
	t0 = time.Now()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if err := stopped.Close(cctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	active, st = awaitAny(ctx, t, others(nodes, stopped), func(st Status) bool { return writable(st) && st.Epoch > epoch2 })
	handover := time.Since(t0)
	t.Logf("graceful stop -> new active %s open for writes at epoch %d: %v", active.cfg.NodeID, st.Epoch, handover.Round(time.Millisecond))
	if handover > 1500*time.Millisecond {
		t.Errorf("graceful handover took %v, want well under a second", handover)
	}
	awaitFollowers(ctx, t, others(others(nodes, stopped), active), active.cfg.NodeID, st.Epoch)
}

// TestSingleNodeRestart: a one-node group becomes active, keeps its data
// across a graceful restart and comes back at a higher epoch.
func TestSingleNodeRestart(t *testing.T) {
	eps := startArbiter(t)
	dir := t.TempDir()
	cfg := nodeConfig(t, "solo", dir, eps)
	cfg.PeerListen = "off"
	n := startNode(t, cfg)
	ctx := ctxT(t, 60*time.Second)
	st, err := n.Await(ctx, writable)
	if err != nil {
		t.Fatal(err)
	}
	c := sdk(t, n.Addr())
	if err := c.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("c", 4).WithAutoID(false)); err != nil {
		t.Fatal(err)
	}
	if err := insertRows(ctx, c, "c", 0, 5); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	n2 := startNode(t, cfg)
	st2, err := n2.Await(ctx, writable)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restart -> writable in %v at epoch %d (was %d)", time.Since(t0).Round(time.Millisecond), st2.Epoch, st.Epoch)
	if st2.Epoch <= st.Epoch || st2.PositionEpoch != st2.Epoch {
		t.Fatalf("epoch %d (position %d) after %d", st2.Epoch, st2.PositionEpoch, st.Epoch)
	}
	stats, err := n2.Engine().CollectionStats("", "c")
	if err != nil || stats.RowCount != 5 {
		t.Fatalf("rows %v %v", stats, err)
	}
	if n2.Role() != ha.Active {
		t.Fatalf("role %v", n2.Role())
	}
}

// TestArbiterLossFencesActive: when the arbiter goes away the active
// closes writes before its lease could expire, and no standby promotes;
// when the arbiter comes back, a node is writable again.
func TestArbiterLossFencesActive(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etcd")
	m, _ := startMember(t, dir, "http://127.0.0.1:0", "http://127.0.0.1:0")
	eps, peers := m.ClientEndpoints(), m.PeerEndpoints()
	base := t.TempDir()
	var nodes []*Node
	for _, id := range []string{"n1", "n2"} {
		nodes = append(nodes, startNode(t, nodeConfig(t, id, filepath.Join(base, id), eps)))
	}
	ctx := ctxT(t, 60*time.Second)
	active, st := awaitAny(ctx, t, nodes, writable)
	awaitFollowers(ctx, t, others(nodes, active), active.cfg.NodeID, st.Epoch)
	standby := others(nodes, active)[0]

	t0 := time.Now()
	closed := make(chan struct{})
	go func() { m.Close(); close(closed) }()
	fst, err := active.Await(ctx, func(st Status) bool { return st.Role == "fenced" })
	if err != nil {
		t.Fatal(err)
	}
	fencedBy := time.Now() // the fence happened at or before this
	<-closed
	// The last acknowledged renewal was sent at FenceDeadline-(TTL-margin):
	// the lease lives at least until FenceDeadline+margin at the arbiter.
	expiry := fst.FenceDeadline.Add(active.cfg.HA.FenceMargin)
	t.Logf("arbiter stopping -> active %s fenced within %v; %v before its lease could expire",
		active.cfg.NodeID, fencedBy.Sub(t0).Round(time.Millisecond), expiry.Sub(fencedBy).Round(time.Millisecond))
	if !fencedBy.Before(expiry) {
		t.Fatalf("fenced by %v, not before the lease's earliest expiry %v", fencedBy, expiry)
	}
	if fst.WritesOpen {
		t.Fatal("fenced with writes open")
	}
	if _, err := active.gate.Allow(); err == nil {
		t.Fatal("the write gate still allows writes")
	}
	if st := standby.Status(); st.WritesOpen {
		t.Fatalf("standby promoted without an arbiter: %+v", st)
	}

	// The arbiter comes back on the same addresses and data.
	t1 := time.Now()
	startMember(t, dir, eps[0], peers[0])
	w, wst := awaitAny(ctx, t, nodes, writable)
	t.Logf("arbiter back -> %s writable at epoch %d (was %s at %d) after %v", w.cfg.NodeID, wst.Epoch, active.cfg.NodeID, st.Epoch, time.Since(t1).Round(time.Millisecond))
	if wst.Epoch < st.Epoch {
		t.Fatalf("epoch went back from %d to %d", st.Epoch, wst.Epoch)
	}
	// Stop the nodes while the arbiter still runs (cleanups run in reverse).
	for _, n := range nodes {
		if err := n.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

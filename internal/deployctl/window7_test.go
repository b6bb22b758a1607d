//go:build failpoints

package deployctl

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/milvusclient"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/cdc"
	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/failpoint"
	"github.com/tandem-db/tandem/internal/node"
)

func testLogger() *slog.Logger {
	if testing.Verbose() && os.Getenv("DEPLOYCTL_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startArbiter(t *testing.T) *arbiter.Member {
	t.Helper()
	cfg := arbiter.DefaultMemberConfig("arb", filepath.Join(t.TempDir(), "etcd"))
	cfg.ListenClientURLs = []string{"http://127.0.0.1:0"}
	cfg.ListenPeerURLs = []string{"http://127.0.0.1:0"}
	cfg.InitialCluster = ""
	cfg.Logger = testLogger()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := arbiter.StartMember(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// startDepNode starts a one-node group (async replication, the change
// stream on its peer port) following deployment dep in the arbiter eps.
func startDepNode(t *testing.T, group, id string, eps []string, dep node.DeploymentConfig) *node.Node {
	t.Helper()
	dep.Heartbeat = 100 * time.Millisecond
	n, err := node.Start(node.Config{
		Group: group, NodeID: id,
		Engine:     engine.Config{DataDir: t.TempDir(), Logger: testLogger()},
		Listen:     "127.0.0.1:0",
		PeerListen: "127.0.0.1:0",
		HTTPListen: "off",
		Arbiter:    eps,
		Dial:       arbiter.DialOptions{Logger: testLogger()},
		Logger:     testLogger(),
		Version:    "test",
		SyncMode:   node.SyncAsync,
		Deployment: dep,
	})
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

type pair struct {
	leadArb, altArb *arbiter.Member
	lead, alt       *node.Node
	leadCl          *milvusclient.Client
	opts            Options
}

func dialer() Dialer {
	return func(ctx context.Context, eps []string) (*arbiter.Client, error) {
		return arbiter.Dial(ctx, eps, arbiter.DialOptions{Logger: testLogger()})
	}
}

func upsert(ctx context.Context, c *milvusclient.Client, from, n int) error {
	ids := make([]int64, n)
	vecs := make([][]float32, n)
	for i := range ids {
		ids[i] = int64(from + i)
		vecs[i] = []float32{float32(from + i), 1, 2, 3}
	}
	_, err := c.Upsert(ctx, milvusclient.NewColumnBasedInsertOption("c",
		column.NewColumnInt64("id", ids), column.NewColumnFloatVector("vector", 4, vecs)))
	return err
}

// startPair starts deployment "lead" (group gl) and its alternative "alt"
// (group ga), each with its own arbiter, creates collection c with rows
// 0..99 on lead and waits until alt applied them.
func startPair(t *testing.T, ctx context.Context) *pair {
	t.Helper()
	p := &pair{leadArb: startArbiter(t), altArb: startArbiter(t), opts: Options{Dial: dialer()}}
	leadEps := p.leadArb.ClientEndpoints()
	p.lead = startDepNode(t, "gl", "l1", leadEps, node.DeploymentConfig{Name: "lead"})
	p.alt = startDepNode(t, "ga", "a1", p.altArb.ClientEndpoints(), node.DeploymentConfig{Name: "alt",
		AlternativeOf: leadEps, LeadingGroup: "gl", LeadingName: "lead"})
	c, err := milvusclient.New(ctx, &milvusclient.ClientConfig{Address: p.lead.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	p.leadCl = c
	// Writable once the node is the active and its deployment manager
	// confirmed the leading role.
	if _, err := p.lead.Await(ctx, func(st node.Status) bool {
		return st.WritesOpen && st.Deployment != nil && st.Deployment.Role == cdc.RoleLeading && st.Deployment.Final != nil
	}); err != nil {
		t.Fatalf("lead never became writable: %v: %+v", err, p.lead.Status())
	}
	if err := c.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("c", 4).WithAutoID(false)); err != nil {
		t.Fatal(err)
	}
	if err := upsert(ctx, c, 0, 100); err != nil {
		t.Fatal(err)
	}
	awaitUpstream(t, ctx, p.alt, p.lead.Engine().LastLSN())
	return p
}

// awaitUpstream waits until n applied the upstream record at lsn.
func awaitUpstream(t *testing.T, ctx context.Context, n *node.Node, lsn uint64) {
	t.Helper()
	for n.Engine().UpstreamPosition().LSN < lsn {
		select {
		case <-ctx.Done():
			t.Fatalf("alternative at upstream %+v, want lsn %d: %+v", n.Engine().UpstreamPosition(), lsn, n.Status().Deployment)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func record(t *testing.T, ctx context.Context, m *arbiter.Member, name string) *cdc.DeploymentRecord {
	t.Helper()
	cli, err := dialer()(ctx, m.ClientEndpoints())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	rec, _, err := cdc.GetRecord(ctx, cli, name)
	if err != nil || rec == nil {
		t.Fatalf("record %s: %v, %v", name, rec, err)
	}
	return rec
}

// TestWindow7FailoverFencesOldLeadingWrites: a failover while the old
// leading deployment's active is alive and reachable. A client write to
// it is held durable but not yet acknowledged (failpoint
// deployment/before-ack-check) while the failover runs; released after
// the alternative was promoted, it must be refused — before the fix
// (promotion first, no generation check on the write path) the old
// leading active acknowledged it, a write the new leading deployment may
// never get. Every write acknowledged before the switch is on the new
// leading deployment; writes to the old side after it are refused.
func TestWindow7FailoverFencesOldLeadingWrites(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPair(t, ctx)

	const fp = "deployment/before-ack-check"
	if err := failpoint.Enable(fp, "pause"); err != nil {
		t.Fatal(err)
	}
	defer failpoint.Disable(fp)
	held := make(chan error, 1)
	go func() { held <- upsert(ctx, p.leadCl, 1000, 10) }()
	if err := failpoint.WaitHit(ctx, fp, 1); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep, err := Failover(ctx, p.opts, nil, p.altArb.ClientEndpoints(), "")
	if err != nil {
		t.Fatalf("failover: %v", err)
	}
	t.Logf("failover in %v: %+v", time.Since(start), rep)
	if rec := record(t, ctx, p.altArb, "alt"); rec.Role != cdc.RoleLeading {
		t.Fatalf("alt not promoted: %+v", rec)
	}
	// The alternative is leading now: release the held write.
	failpoint.Disable(fp)
	if err := <-held; err == nil {
		t.Fatalf("the old leading deployment acknowledged a write after the alternative was promoted (fence %q)", rep.Fence)
	} else {
		t.Logf("held write refused: %v", err)
	}
	if rep.Fence != FenceConfirmed {
		t.Fatalf("fence %q, want %q (the old active was alive)", rep.Fence, FenceConfirmed)
	}
	// New writes to the old leading deployment are refused.
	if err := upsert(ctx, p.leadCl, 2000, 10); err == nil {
		t.Fatalf("the old leading deployment acknowledged a new write after the failover")
	}
	// Every write acknowledged before the switch is on the new leading
	// deployment, which takes writes.
	ac, err := milvusclient.New(ctx, &milvusclient.ClientConfig{Address: p.alt.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Close(context.Background())
	ids := make([]int64, 100)
	for i := range ids {
		ids[i] = int64(i)
	}
	rs, err := ac.Get(ctx, milvusclient.NewQueryOption("c").WithIDs(column.NewColumnInt64("id", ids)).WithOutputFields("id"))
	if err != nil || rs.ResultCount != 100 {
		t.Fatalf("new leading deployment has %d of the 100 acknowledged rows (%v)", rs.ResultCount, err)
	}
	for {
		err := upsert(ctx, ac, 3000, 10)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the new leading deployment takes no writes: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestWindow7FailoverRefusesUnfencedPromotion: with the old leading
// deployment's arbiter unreachable nothing can fence it, so a failover
// is refused (and changes nothing) unless NoFence is set; with it, the
// alternative is promoted and the report states the risk. Before the fix
// the failover promoted at once.
func TestWindow7FailoverRefusesUnfencedPromotion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPair(t, ctx)
	p.leadArb.Close()
	o := p.opts
	o.FenceTimeout = 2 * time.Second
	_, err := Failover(ctx, o, nil, p.altArb.ClientEndpoints(), "")
	if err == nil {
		t.Fatalf("failover promoted the alternative although the old leading deployment could not be fenced")
	}
	if !errors.Is(err, ErrNotFenced) {
		t.Fatalf("failover error %v, want ErrNotFenced", err)
	}
	t.Logf("refused: %v", err)
	if rec := record(t, ctx, p.altArb, "alt"); rec.Role != cdc.RoleAlternative || rec.Generation != 1 {
		t.Fatalf("a refused failover changed the alternative's record: %+v", rec)
	}
	o.NoFence = true
	rep, err := Failover(ctx, o, nil, p.altArb.ClientEndpoints(), "")
	if err != nil {
		t.Fatalf("failover --no-fence: %v", err)
	}
	if rep.Fence != FenceNone || rep.Risk == "" || rep.OldLeadingTold {
		t.Fatalf("unfenced failover report: %+v", rep)
	}
	if rec := record(t, ctx, p.altArb, "alt"); rec.Role != cdc.RoleLeading {
		t.Fatalf("alt not promoted: %+v", rec)
	}
}

// TestWindow7FailoverFenceBoundWhenOldNodesDown: the old leading
// deployment's arbiter answers but none of its nodes do: the failover
// fences the record and waits out its fence bound (no node can still
// acknowledge writes as leading by then) before promoting.
func TestWindow7FailoverFenceBoundWhenOldNodesDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPair(t, ctx)
	cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
	p.lead.Close(cctx)
	ccancel()
	start := time.Now()
	rep, err := Failover(ctx, p.opts, nil, p.altArb.ClientEndpoints(), "")
	if err != nil {
		t.Fatalf("failover: %v", err)
	}
	took := time.Since(start)
	t.Logf("failover with the old nodes down: %v, %+v", took, rep)
	if rep.Fence != FenceBoundPassed || !rep.OldLeadingTold {
		t.Fatalf("report %+v, want fence %q and the old record told", rep, FenceBoundPassed)
	}
	if took < cdc.DefaultFenceBound {
		t.Fatalf("promoted after %v, before the fence bound %v", took, cdc.DefaultFenceBound)
	}
	if rec := record(t, ctx, p.leadArb, "lead"); rec.Role != cdc.RoleAlternative || rec.Rejoin == nil {
		t.Fatalf("old leading record: %+v", rec)
	}
}

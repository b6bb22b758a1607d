package node

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/milvusclient"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/engine"
)

// syncName is n's sync set entry: node@incarnation.
func syncName(n *Node) string { return arbiter.SyncMember(n.cfg.NodeID, n.inc.ID()) }

// syncGroup starts len(ids) sync-mode nodes, waits for an active with
// every other node in its sync set, and writes rows 0..99 through it.
func syncGroup(t *testing.T, eps []string, ids ...string) (cfgs map[string]Config, active *Node, rest []*Node) {
	t.Helper()
	base := t.TempDir()
	cfgs = map[string]Config{}
	var nodes []*Node
	for _, id := range ids {
		cfg := nodeConfig(t, id, filepath.Join(base, id), eps)
		cfg.SyncMode = SyncSync
		cfg.SyncTimeout = 300 * time.Millisecond
		cfgs[id] = cfg
		nodes = append(nodes, startNode(t, cfg))
	}
	ctx := ctxT(t, 60*time.Second)
	active, st := awaitAny(ctx, t, nodes, writable)
	rest = others(nodes, active)
	awaitFollowers(ctx, t, rest, active.cfg.NodeID, st.Epoch)
	if _, err := active.Await(ctx, func(st Status) bool { return len(syncStandbys(st)) == len(rest) }); err != nil {
		t.Fatalf("the standbys never joined the sync set: %v: %+v", err, active.Status().Replication)
	}
	c := sdk(t, active.Addr())
	if err := c.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("c", 4).WithAutoID(false)); err != nil {
		t.Fatal(err)
	}
	if err := insertRows(ctx, c, "c", 0, 100); err != nil {
		t.Fatal(err)
	}
	return cfgs, active, rest
}

// staysOff asserts that n does not become the active within 3 lease TTLs
// (the dead leader's key expires within one, and a live candidate
// campaigns right after), and that the arbiter shows no leader afterwards.
func staysOff(t *testing.T, n *Node, eps []string) {
	t.Helper()
	d := 3 * n.cfg.HA.LeaseTTL
	if st, err := n.Await(ctxT(t, d), func(st Status) bool { return st.Role == "active" }); err == nil {
		t.Fatalf("%s became the active at epoch %d outside the sync set", n.cfg.NodeID, st.Epoch)
	}
	cli, err := arbiter.Dial(ctxT(t, 10*time.Second), eps, arbiter.DialOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if l, _, err := cli.Group("g1").Leader(ctxT(t, 10*time.Second)); err != nil || l != nil {
		t.Fatalf("leader %+v, %v: want none", l, err)
	}
}

// TestWindow5AsyncMemberCannotWinOutsideS: a member started with
// --sync-mode async is not in the sync set S of a sync group; when every
// member of S is dead it must not win (the arbiter decides from S, not
// from the candidate's flags). The group's recorded mode is deleted first
// (as for a group recorded before the upgrade), so that the node passes
// its start-up mode check and its campaign reaches the arbiter's rule.
func TestWindow5AsyncMemberCannotWinOutsideS(t *testing.T) {
	eps := startArbiter(t)
	cfgs, active, rest := syncGroup(t, eps, "n1", "n2")
	etcd, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	if _, err := etcd.Delete(ctxT(t, 10*time.Second), arbiter.KeyPrefix+"g1/mode"); err != nil {
		t.Fatal(err)
	}
	cfg := nodeConfig(t, "n3", filepath.Join(t.TempDir(), "n3"), eps) // async
	n3 := startNode(t, cfg)
	ctx := ctxT(t, 60*time.Second)
	awaitFollowers(ctx, t, []*Node{n3}, active.cfg.NodeID, active.Status().Epoch)
	lsn, dg := digestAt(t, active)
	awaitCaughtUp(ctx, t, []*Node{n3}, lsn, dg) // n3 holds every row: only S keeps it out

	active.kill()
	rest[0].kill()
	staysOff(t, n3, eps)

	// A member of S comes back and wins.
	back := startNode(t, cfgs[rest[0].cfg.NodeID])
	if _, err := back.Await(ctx, writable); err != nil {
		t.Fatalf("%s (in S) not promoted: %v: %+v", back.cfg.NodeID, err, back.Status())
	}
}

// TestWindow5ModeMismatchRefusedAtStart: a node whose --sync-mode differs
// from the group's recorded mode fails at start with an error naming both
// modes and the flag, and never campaigns.
func TestWindow5ModeMismatchRefusedAtStart(t *testing.T) {
	eps := startArbiter(t)
	_, active, rest := syncGroup(t, eps, "n1", "n2")
	cfg := nodeConfig(t, "n3", filepath.Join(t.TempDir(), "n3"), eps) // async
	n3 := startNode(t, cfg)
	select {
	case <-n3.Failed():
	case <-ctxT(t, 30*time.Second).Done():
		t.Fatalf("n3 (async) did not fail in a sync group: %+v", n3.Status())
	}
	err := n3.Err()
	if !errors.Is(err, ErrModeMismatch) {
		t.Fatalf("Err() = %v, want ErrModeMismatch", err)
	}
	for _, want := range []string{"group g1 runs in sync mode", "--sync-mode async", "--sync-mode sync", "tandem set-mode"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	active.kill()
	rest[0].kill()
	staysOff(t, n3, eps)
}

// TestWindow6WipedDataDirLosesSyncMembership: a standby of S whose data
// dir is wiped comes back as a new incarnation: with every other member of
// S dead it must not win with its empty log (which would lose every
// acknowledged write and push the others' logs into diverged/). When a
// real member of S returns it wins with every row, and the wiped node
// rejoins S under its new incarnation.
func TestWindow6WipedDataDirLosesSyncMembership(t *testing.T) {
	eps := startArbiter(t)
	cfgs, active, rest := syncGroup(t, eps, "n1", "n2")
	ctx := ctxT(t, 90*time.Second)
	acked := countRows(ctx, t, sdk(t, active.Addr()), "c")
	wiped := rest[0]
	wcfg := cfgs[wiped.cfg.NodeID]
	active.kill()
	wiped.kill()
	if err := os.RemoveAll(wcfg.Engine.DataDir); err != nil {
		t.Fatal(err)
	}
	w := startNode(t, wcfg)
	staysOff(t, w, eps)

	back := startNode(t, cfgs[active.cfg.NodeID])
	if _, err := back.Await(ctx, writable); err != nil {
		t.Fatalf("%s (in S) not promoted: %v: %+v", back.cfg.NodeID, err, back.Status())
	}
	if got := countRows(ctx, t, sdk(t, back.Addr()), "c"); got != acked {
		t.Fatalf("new active has %d rows, %d were acknowledged", got, acked)
	}
	if _, err := back.Await(ctx, func(st Status) bool {
		s := syncStandbys(st)
		return len(s) == 1 && s[0] == syncName(w)
	}); err != nil {
		t.Fatalf("the wiped node never rejoined S as %s: %v: %+v", syncName(w), err, back.Status().Replication)
	}
}

// TestWindow10SyncIntervalRefusedInSyncMode: --sync interval does not
// fsync every acknowledged write, so sync mode (whose "durable" means
// fsynced) refuses it with an error naming both flags.
func TestWindow10SyncIntervalRefusedInSyncMode(t *testing.T) {
	cfg := nodeConfig(t, "n1", t.TempDir(), []string{"127.0.0.1:1"})
	cfg.SyncMode = SyncSync
	cfg.Engine.Sync = engine.SyncInterval
	n, err := Start(cfg)
	if err == nil {
		n.Close(ctxT(t, 5*time.Second))
		t.Fatal("a sync-mode node started with --sync interval")
	}
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "--sync interval") || !strings.Contains(err.Error(), "--sync-mode sync") {
		t.Fatalf("err = %v, want ErrInvalidConfig naming --sync interval and --sync-mode sync", err)
	}
	cfg.SyncMode = SyncAsync // async mode may still use it
	n = startNode(t, cfg)
	n.Close(ctxT(t, 5*time.Second))
}

// TestIncarnationFile: a new data dir gets a fresh incarnation, kept
// across restarts; a data dir from before incarnations adopts a legacy
// one; renew (cut, snapshot) makes a fresh, non-legacy one, durably.
func TestIncarnationFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	a, err := openIncarnation(dir)
	if err != nil {
		t.Fatal(err)
	}
	id, legacy := a.get()
	if !arbiter.ValidIncarnation(id) || legacy {
		t.Fatalf("new data dir: %q legacy=%v", id, legacy)
	}
	if b, err := openIncarnation(dir); err != nil || b.ID() != id {
		t.Fatalf("reopened: %v, %v; want %s", b, err, id)
	}
	if err := a.renew("cut", false); err != nil || a.ID() == id {
		t.Fatalf("renew: %v, id %s (was %s)", err, a.ID(), id)
	}
	if b, _ := openIncarnation(dir); b.ID() != a.ID() {
		t.Fatalf("renewed id not stored: %s, want %s", b.ID(), a.ID())
	}

	old := filepath.Join(t.TempDir(), "old")
	if err := os.MkdirAll(filepath.Join(old, "wal"), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := openIncarnation(old)
	if err != nil {
		t.Fatal(err)
	}
	if _, legacy := l.get(); !legacy {
		t.Fatal("a data dir from before incarnations did not adopt a legacy incarnation")
	}
	if err := l.renew("snapshot", false); err != nil {
		t.Fatal(err)
	}
	if b, _ := openIncarnation(old); b.ID() != l.ID() || b.legacy {
		t.Fatalf("after renew: %+v, want %s not legacy", b, l.ID())
	}

	if err := os.WriteFile(filepath.Join(dir, IncarnationFile), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := openIncarnation(dir); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("corrupt file: %v", err)
	}
}

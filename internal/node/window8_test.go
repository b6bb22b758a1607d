//go:build failpoints

package node

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/milvusclient"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/failpoint"
)

// TestWindow8FailedEngineResigns (HA safety window 8): the active's WAL
// fails for good (ENOSPC on write, failpoint wal/write): the active must
// resign (leader key released, its member key shows "broken"), refuse
// clients naming the cause and never campaign again; the healthy standby
// takes over with every acknowledged write. Restarted (the operator freed
// space), the node recovers its WAL and rejoins as a standby.
func TestWindow8FailedEngineResigns(t *testing.T) {
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
	ctx := ctxT(t, 90*time.Second)
	active, st := awaitAny(ctx, t, nodes, writable)
	epoch1 := st.Epoch
	standby := others(nodes, active)[0]
	awaitFollowers(ctx, t, []*Node{standby}, active.cfg.NodeID, epoch1)

	c := sdk(t, active.Addr())
	if err := c.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("c", 4).WithAutoID(false)); err != nil {
		t.Fatal(err)
	}
	const batches, per = 5, 20
	for b := range batches {
		if err := insertRows(ctx, c, "c", b*per, per); err != nil {
			t.Fatal(err)
		}
	}
	acked := int64(batches * per)

	// The active's next WAL write fails with ENOSPC: its log is failed for
	// good (the standby appends nothing meanwhile: sync mode, all caught up).
	if err := failpoint.Enable("wal/write", "1*error(disk full)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { failpoint.Disable("wal/write") })
	if err := insertRows(ctx, c, "c", 1000, 1); err == nil {
		t.Fatal("insert acknowledged although the active's WAL write failed")
	} else {
		t.Logf("insert on the failing active: %v", err)
	}
	if failpoint.Hits("wal/write") != 1 {
		t.Fatalf("wal/write fired %d times, want 1", failpoint.Hits("wal/write"))
	}

	// The failed active reports itself broken and resigns; the standby
	// takes over at a higher epoch.
	bctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	broken := active
	if _, err := broken.Await(bctx, func(st Status) bool { return st.Role == "broken" }); err != nil {
		t.Fatalf("failed active never reported itself broken: %v: %+v", err, broken.Status())
	}
	if _, err := standby.Await(bctx, func(st Status) bool { return writable(st) && st.Epoch > epoch1 }); err != nil {
		t.Fatalf("standby did not take over from the broken active: %v: %+v", err, standby.Status())
	}
	// /status says why.
	var sj struct {
		Role       string `json:"role"`
		WritesOpen bool   `json:"writes_open"`
		Broken     string `json:"broken"`
	}
	resp, err := http.Get("http://" + broken.HTTPAddr() + "/status")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&sj)
	resp.Body.Close()
	if err != nil || sj.Role != "broken" || sj.WritesOpen || !strings.Contains(sj.Broken, "no space left on device") {
		t.Fatalf("broken node /status: %+v (%v); want role broken, writes closed and the cause", sj, err)
	}
	t.Logf("broken node /status: broken=%q", sj.Broken)

	// At the arbiter: the leader key is the new active's; the broken
	// node's member key says "broken".
	cli, err := arbiter.Dial(ctx, eps, arbiter.DialOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	g := cli.Group("g1")
	ld, _, err := g.Leader(ctx)
	if err != nil || ld == nil || ld.NodeID != standby.cfg.NodeID {
		t.Fatalf("leader key %+v (%v), want %s", ld, err, standby.cfg.NodeID)
	}
	if _, err := standby.Await(ctx, func(st Status) bool {
		for _, m := range st.Members {
			if m.NodeID == broken.cfg.NodeID && m.Role == "broken" {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("the broken node's member key does not say broken: %v: %+v", err, standby.Status().Members)
	}

	// The broken node refuses clients, naming the cause.
	err = insertRows(ctx, c, "c", 2000, 1)
	if err == nil || !strings.Contains(err.Error(), "broken") || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("insert on the broken node: %v, want a refusal naming the cause", err)
	}
	t.Logf("broken node refuses: %v", err)

	// Every acknowledged write is on the new active, which takes writes.
	c2 := sdk(t, standby.Addr())
	if n := countRows(ctx, t, c2, "c"); n != acked {
		t.Fatalf("count(*) on the new active = %d, want %d", n, acked)
	}

	// Restarted (space freed), the node recovers its WAL and rejoins as a
	// standby of the new active.
	epoch2 := standby.Status().Epoch
	cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
	_ = broken.Close(cctx) // the engine's close reports the WAL failure
	ccancel()
	back := startNode(t, cfgs[broken.cfg.NodeID])
	awaitFollowers(ctx, t, []*Node{back}, standby.cfg.NodeID, epoch2)
	if err := insertRows(ctx, c2, "c", 3000, 1); err != nil {
		t.Fatalf("insert on the new active with the restarted standby: %v", err)
	}
	if n := countRows(ctx, t, c2, "c"); n != acked+1 {
		t.Fatalf("count(*) = %d, want %d", n, acked+1)
	}
}

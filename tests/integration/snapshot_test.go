package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"

	"github.com/tandem-db/tandem/internal/engine"
)

// startSnapNode starts a `tandem node` of group haGroup like startHANode,
// with extra flags.
func startSnapNode(t *testing.T, id, dir, arbiters string, extra ...string) *haNode {
	t.Helper()
	args := append([]string{"node", "--group", haGroup, "--node-id", id, "--data-dir", dir,
		"--listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
		"--arbiter", arbiters, "--lease-ttl", "2s"}, extra...)
	p, m := startProc(t, id, nodeReady, args...)
	return &haNode{proc: p, ID: id, dir: dir, Addr: m[1], HTTPAddr: m[2]}
}

// rawGroupStatus returns `tandem status --json`'s members as raw maps (to
// read fields the typed view does not know, such as state_digest).
func rawGroupStatus(arbiters string) ([]map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tandemBin, "status", "--arbiter", arbiters, "--group", haGroup, "--json").Output()
	if err != nil {
		return nil, err
	}
	var st struct {
		Members []map[string]any `json:"members"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, err
	}
	return st.Members, nil
}

var snapshotInstalled = regexp.MustCompile(`snapshot installed.* bytes=(\d+) .*mb_per_s=([0-9.e+-]+)`)

// TestStandbyWipedRebuildsFromSnapshot: a standby whose data directory is
// wiped while it is down rebuilds from a snapshot of the active while
// clients keep writing, then converges: equal applied LSNs in the group
// status (and state digests, if reported), equal row counts, and equal
// engine digests of both data directories once the nodes are stopped.
func TestStandbyWipedRebuildsFromSnapshot(t *testing.T) {
	ac := startArbiters(t, 1)
	base := t.TempDir()
	// async: writes must go on while the only standby is rebuilding.
	extra := []string{"--sync-mode", "async", "--segment-rows", "2000"}
	nodes := []*haNode{
		startSnapNode(t, "n1", filepath.Join(base, "n1"), ac.Endpoints, extra...),
		startSnapNode(t, "n2", filepath.Join(base, "n2"), ac.Endpoints, extra...),
	}
	st := awaitStatus(t, ac.Endpoints, 30*time.Second, "one active", oneActive(1))
	active := byID(nodes, st.Leader)
	var standby *haNode
	for _, n := range nodes {
		if n != active {
			standby = n
		}
	}
	t.Logf("active %s, standby %s", active.ID, standby.ID)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := dialClient(t, active.Addr)
	const dim = 32
	schema := entity.NewSchema().WithName("snap").
		WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
		WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(dim))
	if err := c.CreateCollection(ctx, milvusclient.NewCreateCollectionOption("snap", schema).
		WithIndexOptions(milvusclient.NewCreateIndexOption("snap", "vec", index.NewHNSWIndex(entity.L2, 8, 32)))); err != nil {
		t.Fatal(err)
	}
	lt, err := c.LoadCollection(ctx, milvusclient.NewLoadCollectionOption("snap"))
	if err == nil {
		err = lt.Await(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewSource(7))
	var mu sync.Mutex // guards r and rows
	rows := 0
	insert := func(ctx context.Context, n int) error {
		mu.Lock()
		ids := make([]int64, n)
		vecs := make([][]float32, n)
		for i := range ids {
			ids[i] = int64(rows + i)
			vecs[i] = make([]float32, dim)
			for d := range vecs[i] {
				vecs[i][d] = r.Float32()
			}
		}
		mu.Unlock()
		_, err := c.Insert(ctx, milvusclient.NewColumnBasedInsertOption("snap").
			WithInt64Column("id", ids).WithFloatVectorColumn("vec", dim, vecs))
		if err == nil {
			mu.Lock()
			rows += n
			mu.Unlock()
		}
		return err
	}
	for range 20 {
		if err := insert(ctx, 500); err != nil {
			t.Fatal(err)
		}
	}
	// A checkpoint on the active: sealed segment files (and index files)
	// to send.
	if _, err := c.Flush(ctx, milvusclient.NewFlushOption("snap")); err != nil {
		t.Fatal(err)
	}
	if err := insert(ctx, 500); err != nil {
		t.Fatal(err)
	}

	// Stop the standby, wipe its data, restart it while writes go on.
	standby.Stop()
	if err := os.RemoveAll(standby.dir); err != nil {
		t.Fatal(err)
	}
	stopWriter, writerDone := make(chan struct{}), make(chan error, 1)
	go func() {
		for {
			select {
			case <-stopWriter:
				writerDone <- nil
				return
			default:
			}
			if err := insert(ctx, 200); err != nil {
				writerDone <- err
				return
			}
		}
	}()
	restarted := startSnapNode(t, standby.ID, standby.dir, ac.Endpoints, extra...)
	m, _, _, err := restarted.WaitLine(snapshotInstalled, 0, 60*time.Second)
	if err != nil {
		t.Fatalf("the wiped standby installed no snapshot: %v\n%s", err, restarted.Logs())
	}
	t.Logf("snapshot installed: %s bytes, %s MB/s (transfer + install)", m[1], m[2])
	// Let some writes follow the snapshot, then stop the writer.
	mu.Lock()
	target := rows + 2000
	mu.Unlock()
	for {
		mu.Lock()
		n := rows
		mu.Unlock()
		if n >= target {
			break
		}
		select {
		case err := <-writerDone:
			t.Fatalf("writer stopped: %v", err)
		case <-time.After(20 * time.Millisecond): // polling interval of an awaited condition
		}
	}
	close(stopWriter)
	if err := <-writerDone; err != nil {
		t.Fatalf("a write failed while the standby rebuilt: %v", err)
	}

	// Converged: equal applied LSNs (and digests, if the status has them).
	var applied float64
	deadline := time.Now().Add(60 * time.Second)
	for {
		ms, err := rawGroupStatus(ac.Endpoints)
		if err == nil && len(ms) == 2 {
			a0, _ := ms[0]["applied_lsn"].(float64)
			a1, _ := ms[1]["applied_lsn"].(float64)
			d0, _ := ms[0]["state_digest"].(string)
			d1, _ := ms[1]["state_digest"].(string)
			dl0, _ := ms[0]["state_digest_lsn"].(float64)
			dl1, _ := ms[1]["state_digest_lsn"].(float64)
			digests := d0 != "" && d1 != ""
			if a0 == a1 && a0 > 0 && (!digests || (dl0 == a0 && dl1 == a0 && d0 == d1)) {
				applied = a0
				t.Logf("members converged at applied_lsn %v (state digests compared: %v)", a0, digests)
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("members did not converge: %v %v", ms, err)
		}
		time.Sleep(100 * time.Millisecond) // polling interval of an awaited condition
	}
	rs, err := c.Query(ctx, milvusclient.NewQueryOption("snap").WithOutputFields("count(*)").WithConsistencyLevel(entity.ClStrong))
	if err != nil {
		t.Fatal(err)
	}
	count, err := rs.GetColumn("count(*)").GetAsInt64(0)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	want := rows
	mu.Unlock()
	if count != int64(want) {
		t.Fatalf("active has %d rows, want %d", count, want)
	}

	// Stop both (standby first, so nothing fails over) and compare the
	// states their data directories hold.
	restarted.Stop()
	active.Stop()
	var digests []string
	for _, dir := range []string{restarted.dir, active.dir} {
		e, err := engine.Open(engine.Config{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		d, derr := e.Digest()
		lsn := e.LastLSN()
		rows, serr := e.CollectionStats("", "snap")
		if cerr := e.Close(); derr == nil {
			derr = cerr
		}
		if derr != nil || serr != nil {
			t.Fatal(derr, serr)
		}
		t.Logf("%s: lsn %d, %d rows, digest %s", filepath.Base(dir), lsn, rows.RowCount, d[:12])
		if lsn < uint64(applied) || rows.RowCount != int64(want) {
			t.Fatalf("%s: lsn %d (converged at %v), %d rows (want %d)", dir, lsn, applied, rows.RowCount, want)
		}
		digests = append(digests, fmt.Sprint(lsn, " ", d))
	}
	if digests[0] != digests[1] {
		t.Fatalf("standby and active differ: %s vs %s", digests[0], digests[1])
	}
}

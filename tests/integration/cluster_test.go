package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"

	"github.com/tandem-db/tandem/internal/dataset"
	"github.com/tandem-db/tandem/internal/index/distance"
	"github.com/tandem-db/tandem/internal/testutil"
)

var clusterProxyReady = regexp.MustCompile(`tandem proxy serving.* listen=(\S+)`)

// testCluster is arbiter + coordinators + shard groups + one cluster proxy,
// all real processes.
type testCluster struct {
	eps    string
	coords map[string]*coordProc
	nodes  map[string]*haNode // by node id
	groups map[string][]string
	proxy  string
}

// startCluster starts a cluster "cl": coordinators c1..cN (every role),
// groups g1..gG of nodesPer nodes each (sync mode), and a cluster proxy.
func startCluster(t *testing.T, coords, groups, nodesPer int) *testCluster {
	t.Helper()
	ac := startArbiters(t, 1)
	tc := &testCluster{eps: ac.Endpoints, coords: map[string]*coordProc{}, nodes: map[string]*haNode{}, groups: map[string][]string{}}
	for i := 1; i <= coords; i++ {
		id := fmt.Sprintf("c%d", i)
		tc.coords[id] = startCoord(t, tc.eps, "cl", id)
	}
	n := 0
	for g := 1; g <= groups; g++ {
		group := fmt.Sprintf("g%d", g)
		for j := 0; j < nodesPer; j++ {
			n++
			id := fmt.Sprintf("n%d", n)
			args := []string{"node", "--cluster", "cl", "--group", group, "--node-id", id, "--data-dir", filepath.Join(t.TempDir(), id),
				"--listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
				"--arbiter", tc.eps, "--lease-ttl", "2s"}
			p, m := startProc(t, id, nodeReady, args...)
			tc.nodes[id] = &haNode{proc: p, ID: id, Addr: m[1], HTTPAddr: m[2]}
			tc.groups[group] = append(tc.groups[group], id)
		}
	}
	for g := range tc.groups {
		tc.awaitGroup(t, g, func(s *statusJSON) bool { return oneActive(1)(s) && len(s.Sync) == nodesPer })
	}
	awaitCluster(t, tc.eps, "cl", "a root coordinator", func(s *clusterStatusJSON) bool { return s.active("root") != "" })
	_, m := startProc(t, "cluster-proxy", clusterProxyReady, "proxy", "--cluster", "cl", "--arbiter", tc.eps,
		"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0")
	tc.proxy = m[1]
	return tc
}

func (tc *testCluster) groupStatus(g string) (*statusJSON, error) {
	return groupStatus(tc.eps, "--group", g) // the later --group wins
}

func (tc *testCluster) awaitGroup(t *testing.T, g string, cond func(*statusJSON) bool) *statusJSON {
	t.Helper()
	var last *statusJSON
	var lastErr error
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		st, err := tc.groupStatus(g)
		if err == nil && cond(st) {
			return st
		}
		last, lastErr = st, err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("group %s: condition not reached in 30s: %+v %v", g, last, lastErr)
	return nil
}

// TestClusterShardsOverGroups: a collection with 4 shards over 2 groups,
// Fashion-MNIST rows inserted through `tandem proxy --cluster` with the
// official Go SDK: both groups hold rows, count(*) is exact, query by
// primary key and by filter equal a direct reference, and search recall@10
// against the exact answer is >= 0.95. Rows: 20,000 (TANDEM_CLUSTER_ROWS
// for more, e.g. 50000).
func TestClusterShardsOverGroups(t *testing.T) {
	train, test, err := dataset.FashionMNISTFiles("")
	if err != nil {
		t.Skip(err)
	}
	rows := 20000
	if v, err := strconv.Atoi(os.Getenv("TANDEM_CLUSTER_ROWS")); err == nil && v > 0 {
		rows = v
	}
	base, err := dataset.ReadIDXImages(train, rows)
	if err != nil {
		t.Fatal(err)
	}
	queries, err := dataset.ReadIDXImages(test, 50)
	if err != nil {
		t.Fatal(err)
	}
	tc := startCluster(t, 2, 2, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := dialClient(t, tc.proxy)
	const coll = "fashion"
	dim := base.Dim
	schema := entity.NewSchema().WithName(coll).WithAutoID(true).
		WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true).WithIsAutoID(true)).
		WithField(entity.NewField().WithName("cls").WithDataType(entity.FieldTypeInt64)).
		WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(int64(dim)))
	if err := c.CreateCollection(ctx, milvusclient.NewCreateCollectionOption(coll, schema).WithShardNum(4)); err != nil {
		t.Fatalf("create collection: %v", err)
	}
	desc, err := c.DescribeCollection(ctx, milvusclient.NewDescribeCollectionOption(coll))
	if err != nil || desc.ShardNum != 4 || !desc.Schema.AutoID {
		t.Fatalf("describe: shards %v autoID %v, %v", desc.ShardNum, desc.Schema.AutoID, err)
	}
	it, err := c.CreateIndex(ctx, milvusclient.NewCreateIndexOption(coll, "vec", index.NewHNSWIndex(entity.L2, 16, 128)))
	if err != nil {
		t.Fatal(err)
	}
	if err := it.Await(ctx); err != nil {
		t.Fatal(err)
	}
	lt, err := c.LoadCollection(ctx, milvusclient.NewLoadCollectionOption(coll))
	if err != nil {
		t.Fatal(err)
	}
	if err := lt.Await(ctx); err != nil {
		t.Fatal(err)
	}
	// Insert in batches; auto ids come back in row order.
	ids := make([]int64, 0, rows)
	const batch = 2000
	for lo := 0; lo < rows; lo += batch {
		hi := min(lo+batch, rows)
		vecs := make([][]float32, hi-lo)
		cls := make([]int64, hi-lo)
		for i := lo; i < hi; i++ {
			vecs[i-lo] = base.Data[i*dim : (i+1)*dim]
			cls[i-lo] = int64(i % 10)
		}
		res, err := c.Insert(ctx, milvusclient.NewColumnBasedInsertOption(coll, column.NewColumnInt64("cls", cls), column.NewColumnFloatVector("vec", dim, vecs)))
		if err != nil {
			t.Fatalf("insert rows %d..%d: %v", lo, hi, err)
		}
		if res.InsertCount != int64(hi-lo) || res.IDs.Len() != hi-lo {
			t.Fatalf("insert rows %d..%d: count %d, %d ids", lo, hi, res.InsertCount, res.IDs.Len())
		}
		for j := 0; j < res.IDs.Len(); j++ {
			id, _ := res.IDs.GetAsInt64(j)
			ids = append(ids, id)
		}
	}
	if s := slices.Clone(ids); len(slices.Compact(func() []int64 { slices.Sort(s); return s }())) != rows {
		t.Fatalf("auto ids are not unique")
	}
	row := map[int64]int{}
	for i, id := range ids {
		row[id] = i
	}
	strong := entity.ClStrong
	count := func(filter string) int64 {
		t.Helper()
		o := milvusclient.NewQueryOption(coll).WithOutputFields("count(*)").WithConsistencyLevel(strong)
		if filter != "" {
			o = o.WithFilter(filter)
		}
		r, err := c.Query(ctx, o)
		if err != nil {
			t.Fatalf("count(*) %q: %v", filter, err)
		}
		n, _ := r.GetColumn("count(*)").GetAsInt64(0)
		return n
	}
	if n := count(""); n != int64(rows) {
		t.Fatalf("count(*) = %d, want %d", n, rows)
	}
	if n, want := count("cls == 3"), int64((rows+6)/10); n != want {
		t.Fatalf("count(*) where cls == 3 = %d, want %d", n, want)
	}
	// Each group holds part of the rows.
	for g, members := range tc.groups {
		st, err := tc.groupStatus(g)
		if err != nil {
			t.Fatal(err)
		}
		gc := dialClient(t, tc.nodes[st.Leader].Addr)
		r, err := gc.Query(ctx, milvusclient.NewQueryOption(coll).WithOutputFields("count(*)").WithConsistencyLevel(strong))
		if err != nil {
			t.Fatalf("group %s (%v): %v", g, members, err)
		}
		n, _ := r.GetColumn("count(*)").GetAsInt64(0)
		t.Logf("group %s holds %d of %d rows", g, n, rows)
		if n == 0 || n == int64(rows) {
			t.Fatalf("group %s holds %d of %d rows: the shards are not spread", g, n, rows)
		}
	}
	// Query by primary key: the rows come back with their values.
	pick := []int64{ids[0], ids[rows/3], ids[rows/2], ids[rows-1]}
	parts := make([]string, len(pick))
	for i, id := range pick {
		parts[i] = strconv.FormatInt(id, 10)
	}
	qr, err := c.Query(ctx, milvusclient.NewQueryOption(coll).WithFilter("id in ["+strings.Join(parts, ",")+"]").
		WithOutputFields("id", "cls").WithConsistencyLevel(strong))
	if err != nil || qr.ResultCount != len(pick) {
		t.Fatalf("query by pk: %d rows, %v", qr.ResultCount, err)
	}
	for i := 0; i < qr.ResultCount; i++ {
		id, _ := qr.GetColumn("id").GetAsInt64(i)
		cl, _ := qr.GetColumn("cls").GetAsInt64(i)
		if cl != int64(row[id]%10) {
			t.Fatalf("row %d: cls %d, want %d", id, cl, row[id]%10)
		}
		if i > 0 {
			prev, _ := qr.GetColumn("id").GetAsInt64(i - 1)
			if prev >= id {
				t.Fatalf("query rows not in primary-key order: %d then %d", prev, id)
			}
		}
	}
	// Query by filter with offset/limit: the same rows as sorting the
	// reference by primary key.
	var want []int64
	for i, id := range ids {
		if i%10 == 7 {
			want = append(want, id)
		}
	}
	slices.Sort(want)
	qr, err = c.Query(ctx, milvusclient.NewQueryOption(coll).WithFilter("cls == 7").WithOutputFields("id").
		WithOffset(5).WithLimit(20).WithConsistencyLevel(strong))
	if err != nil || qr.ResultCount != 20 {
		t.Fatalf("query cls == 7 offset 5 limit 20: %d rows, %v", qr.ResultCount, err)
	}
	for i := 0; i < 20; i++ {
		id, _ := qr.GetColumn("id").GetAsInt64(i)
		if id != want[5+i] {
			t.Fatalf("query cls == 7 offset 5 limit 20: row %d is %d, want %d", i, id, want[5+i])
		}
	}
	// Search recall@10 against the exact answer.
	truth := dataset.ExactKNN(distance.L2, base, queries, 10, 2, nil)
	var hits, total int
	for q := 0; q < queries.N(); q++ {
		v := queries.Data[q*dim : (q+1)*dim]
		res, err := c.Search(ctx, milvusclient.NewSearchOption(coll, 10, []entity.Vector{entity.FloatVector(v)}).
			WithSearchParam("ef", "128").WithOutputFields("cls").WithConsistencyLevel(strong))
		if err != nil {
			t.Fatalf("search %d: %v", q, err)
		}
		exact := map[int64]bool{}
		for _, r := range truth[q] {
			exact[ids[r]] = true
		}
		var prev float32
		for j := 0; j < res[0].ResultCount; j++ {
			id, _ := res[0].IDs.GetAsInt64(j)
			if exact[id] {
				hits++
			}
			if s := res[0].Scores[j]; j > 0 && s < prev {
				t.Fatalf("search %d: L2 distances not ascending: %v", q, res[0].Scores)
			}
			prev = res[0].Scores[j]
			cl, _ := res[0].GetColumn("cls").GetAsInt64(j)
			if cl != int64(row[id]%10) {
				t.Fatalf("search %d: hit %d carries cls %d, want %d", q, id, cl, row[id]%10)
			}
		}
		total += 10
	}
	recall := float64(hits) / float64(total)
	t.Logf("cluster search recall@10 = %.4f over %d queries, %d rows, 4 shards on 2 groups", recall, queries.N(), rows)
	if recall < 0.95 {
		t.Fatalf("recall@10 = %.4f < 0.95", recall)
	}
	// Delete by primary key counts the deleted rows once.
	dr, err := c.Delete(ctx, milvusclient.NewDeleteOption(coll).WithInt64IDs("id", pick))
	if err != nil || dr.DeleteCount != int64(len(pick)) {
		t.Fatalf("delete %d rows by pk: count %d, %v", len(pick), dr.DeleteCount, err)
	}
	if n := count(""); n != int64(rows-len(pick)) {
		t.Fatalf("count(*) after delete = %d, want %d", n, rows-len(pick))
	}
}

// TestClusterFailovers: through the cluster proxy, (1) SIGKILL the root
// coordinator's active while a DDL is retried by the client and while
// upserts and searches run: the standby takes the role over, the DDL
// succeeds, the data path sees no error; (2) SIGKILL a group's active under
// upserts: no acknowledged write is lost.
func TestClusterFailovers(t *testing.T) {
	// Three nodes a group: with two, a sync-mode group whose active dies
	// has no standby left to acknowledge (strict policy) until it returns.
	tc := startCluster(t, 2, 2, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := dialClient(t, tc.proxy)
	const coll = "proxied" // the shape startWorkload writes
	schema := entity.NewSchema().WithName(coll).
		WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
		WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(proxyDim))
	if err := c.CreateCollection(ctx, milvusclient.NewCreateCollectionOption(coll, schema).WithShardNum(4)); err != nil {
		t.Fatalf("create collection: %v", err)
	}
	it, err := c.CreateIndex(ctx, milvusclient.NewCreateIndexOption(coll, "vec", index.NewFlatIndex(entity.L2)))
	if err != nil {
		t.Fatal(err)
	}
	if err := it.Await(ctx); err != nil {
		t.Fatal(err)
	}
	lt, err := c.LoadCollection(ctx, milvusclient.NewLoadCollectionOption(coll))
	if err != nil {
		t.Fatal(err)
	}
	if err := lt.Await(ctx); err != nil {
		t.Fatal(err)
	}
	w := startWorkload(ctx, "client", c, coll, 7, 0, true, true)
	testutil.Eventually(t, 30*time.Second, "warm-up", func() bool { return w.okAfter("upsert", time.Time{}) >= 30 })

	// (1) Kill the root coordinator's active; a DDL issued right after
	// waits for the new root and succeeds once.
	st, _ := clusterStatus(t, tc.eps, "cl")
	root := tc.coords[st.active("root")]
	killed := time.Now()
	root.Kill()
	ddlSchema := entity.NewSchema().WithName("after_takeover").
		WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
		WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(4))
	if err := c.CreateCollection(ctx, milvusclient.NewCreateCollectionOption("after_takeover", ddlSchema).WithShardNum(2)); err != nil {
		t.Fatalf("DDL during the root's takeover: %v", err)
	}
	ddlDone := time.Now()
	st = awaitCluster(t, tc.eps, "cl", "a new root", func(s *clusterStatusJSON) bool {
		return s.active("root") != "" && s.active("root") != root.id
	})
	names, err := c.ListCollections(ctx, milvusclient.NewListCollectionOption())
	if err != nil || !slices.Contains(names, "after_takeover") {
		t.Fatalf("collections after the takeover: %v %v", names, err)
	}
	t.Logf("root %s SIGKILLed; %s took over; a DDL issued at the kill completed after %v",
		root.id, st.active("root"), ddlDone.Sub(killed).Round(time.Millisecond))
	testutil.Eventually(t, 30*time.Second, "data path after the root's takeover", func() bool {
		return w.okAfter("upsert", ddlDone) >= 20 && w.okAfter("search", ddlDone) >= 5
	})

	// (2) Kill g1's active under the same workload.
	gst, err := tc.groupStatus("g1")
	if err != nil {
		t.Fatal(err)
	}
	victim := tc.nodes[gst.Leader]
	gKilled := time.Now()
	victim.Kill()
	tc.awaitGroup(t, "g1", func(s *statusJSON) bool { return oneActive(gst.Epoch+1)(s) && s.Leader != victim.ID })
	testutil.Eventually(t, 30*time.Second, "writes after g1's failover", func() bool {
		return w.okAfter("upsert", gKilled) >= 30 && w.okAfter("insert", gKilled) >= 10
	})
	ops := w.halt()
	var failed []string
	for _, op := range ops {
		if op.err != nil {
			failed = append(failed, fmt.Sprintf("%s at +%v: %v", op.kind, op.start.Sub(killed).Round(time.Millisecond), op.err))
		}
	}
	t.Logf("%d operations, %d failed; g1's active %s SIGKILLed", len(ops), len(failed), victim.ID)
	if len(failed) > 0 {
		t.Errorf("client-visible errors through the cluster proxy:\n%s", strings.Join(failed, "\n"))
	}
	checkReadable(ctx, t, c, coll, w.acked)
	checkInserts(ctx, t, c, coll, w)
}

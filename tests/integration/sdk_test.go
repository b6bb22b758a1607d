package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
	pmerr "github.com/milvus-io/milvus/pkg/v2/util/merr"
)

const dim = 16

type row struct {
	id    int64
	color string
	price float64
	vec   []float32
}

func genRows(r *rand.Rand, from, n int) []row {
	colors := []string{"red", "green", "blue", "black"}
	out := make([]row, n)
	for i := range out {
		v := make([]float32, dim)
		for j := range v {
			v[j] = r.Float32()*2 - 1
		}
		out[i] = row{id: int64(from + i), color: colors[r.IntN(len(colors))], price: float64(r.IntN(1000)) / 10, vec: v}
	}
	return out
}

func insertRows(ctx context.Context, t *testing.T, c *milvusclient.Client, coll, part string, rows []row, upsert bool) {
	t.Helper()
	ids := make([]int64, len(rows))
	colors := make([]string, len(rows))
	prices := make([]float64, len(rows))
	vecs := make([][]float32, len(rows))
	metas := make([][]byte, len(rows))
	for i, r := range rows {
		ids[i], colors[i], prices[i], vecs[i] = r.id, r.color, r.price, r.vec
		metas[i], _ = json.Marshal(map[string]any{"odd": r.id%2 == 1, "tag": fmt.Sprintf("t%d", r.id%5)})
	}
	opt := milvusclient.NewColumnBasedInsertOption(coll).WithInt64Column("id", ids).WithVarcharColumn("color", colors).
		WithColumns(column.NewColumnDouble("price", prices), column.NewColumnJSONBytes("meta", metas)).
		WithFloatVectorColumn("vec", dim, vecs)
	if part != "" {
		opt = opt.WithPartition(part)
	}
	var err error
	if upsert {
		_, err = c.Upsert(ctx, opt)
	} else {
		var res milvusclient.InsertResult
		res, err = c.Insert(ctx, opt)
		if err == nil && res.InsertCount != int64(len(rows)) {
			t.Fatalf("insert count %d, want %d", res.InsertCount, len(rows))
		}
	}
	if err != nil {
		t.Fatalf("insert/upsert: %v", err)
	}
}

func l2(a, b []float32) float32 {
	var s float32
	for i := range a {
		d := a[i] - b[i]
		s += d * d
	}
	return s
}

// bruteForce returns the ids of the k nearest live rows (L2) that pass keep.
func bruteForce(rows map[int64]row, q []float32, k int, keep func(row) bool) []int64 {
	type hit struct {
		id int64
		d  float32
	}
	var hits []hit
	for _, r := range rows {
		if keep == nil || keep(r) {
			hits = append(hits, hit{r.id, l2(q, r.vec)})
		}
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].d != hits[j].d {
			return hits[i].d < hits[j].d
		}
		return hits[i].id < hits[j].id
	})
	var out []int64
	for i := 0; i < k && i < len(hits); i++ {
		out = append(out, hits[i].id)
	}
	return out
}

func idsOf(t *testing.T, col column.Column) []int64 {
	t.Helper()
	out := make([]int64, col.Len())
	for i := range out {
		v, err := col.GetAsInt64(i)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = v
	}
	return out
}

func checkSearch(ctx context.Context, t *testing.T, c *milvusclient.Client, coll string, live map[int64]row, qs [][]float32, filter string, keep func(row) bool, parts ...string) {
	t.Helper()
	vecs := make([]entity.Vector, len(qs))
	for i, q := range qs {
		vecs[i] = entity.FloatVector(q)
	}
	opt := milvusclient.NewSearchOption(coll, 10, vecs).WithANNSField("vec").WithOutputFields("color", "price").
		WithConsistencyLevel(entity.ClStrong)
	if filter != "" {
		opt = opt.WithFilter(filter)
	}
	if len(parts) > 0 {
		opt = opt.WithPartitions(parts...)
	}
	rs, err := c.Search(ctx, opt)
	if err != nil {
		t.Fatalf("search %q: %v", filter, err)
	}
	if len(rs) != len(qs) {
		t.Fatalf("search returned %d result sets for nq=%d", len(rs), len(qs))
	}
	for i, q := range qs {
		got := idsOf(t, rs[i].IDs)
		want := bruteForce(live, q, 10, keep)
		if !slices.Equal(got, want) {
			t.Fatalf("search %q query %d: got %v want %v", filter, i, got, want)
		}
		for j, id := range got {
			if d := l2(q, live[id].vec); abs(d-rs[i].Scores[j]) > 1e-3*max(1, d) {
				t.Fatalf("score of %d: got %v want %v", id, rs[i].Scores[j], d)
			}
			color, err := rs[i].GetColumn("color").GetAsString(j)
			if err != nil || color != live[id].color {
				t.Fatalf("output color of %d: %q %v, want %q", id, color, err, live[id].color)
			}
		}
	}
}

func abs(f float32) float32 {
	if f < 0 {
		return -f
	}
	return f
}

func TestSDKEndToEnd(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := n.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const coll = "items"

	schema := entity.NewSchema().WithName(coll).WithDynamicFieldEnabled(false).
		WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
		WithField(entity.NewField().WithName("color").WithDataType(entity.FieldTypeVarChar).WithMaxLength(16)).
		WithField(entity.NewField().WithName("price").WithDataType(entity.FieldTypeDouble)).
		WithField(entity.NewField().WithName("meta").WithDataType(entity.FieldTypeJSON)).
		WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(dim))
	if err := c.CreateCollection(ctx, milvusclient.NewCreateCollectionOption(coll, schema)); err != nil {
		t.Fatalf("create collection: %v", err)
	}
	has, err := c.HasCollection(ctx, milvusclient.NewHasCollectionOption(coll))
	if err != nil || !has {
		t.Fatalf("has collection: %v %v", has, err)
	}
	names, err := c.ListCollections(ctx, milvusclient.NewListCollectionOption())
	if err != nil || !slices.Contains(names, coll) {
		t.Fatalf("list collections: %v %v", names, err)
	}
	desc, err := c.DescribeCollection(ctx, milvusclient.NewDescribeCollectionOption(coll))
	if err != nil || len(desc.Schema.Fields) != 5 {
		t.Fatalf("describe: %+v %v", desc, err)
	}

	r := rand.New(rand.NewPCG(42, 7))
	live := map[int64]row{}
	for b := 0; b < 4; b++ {
		rows := genRows(r, b*500, 500)
		insertRows(ctx, t, c, coll, "", rows, false)
		for _, x := range rows {
			live[x.id] = x
		}
	}

	// Search before index/load: not loaded (code 101).
	_, err = c.Search(ctx, milvusclient.NewSearchOption(coll, 10, []entity.Vector{entity.FloatVector(live[0].vec)}).WithANNSField("vec"))
	if pmerr.Code(err) != 101 {
		t.Fatalf("search on unloaded collection: code %d (%v), want 101", pmerr.Code(err), err)
	}

	it, err := c.CreateIndex(ctx, milvusclient.NewCreateIndexOption(coll, "vec", index.NewFlatIndex(entity.L2)))
	if err != nil {
		t.Fatalf("create index: %v", err)
	}
	if err := it.Await(ctx); err != nil {
		t.Fatalf("await index: %v", err)
	}
	idx, err := c.DescribeIndex(ctx, milvusclient.NewDescribeIndexOption(coll, "vec"))
	if err != nil || idx.Params()["index_type"] != string(index.Flat) {
		t.Fatalf("describe index: %+v %v", idx, err)
	}
	lt, err := c.LoadCollection(ctx, milvusclient.NewLoadCollectionOption(coll))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := lt.Await(ctx); err != nil {
		t.Fatalf("await load: %v", err)
	}
	st, err := c.GetLoadState(ctx, milvusclient.NewGetLoadStateOption(coll))
	if err != nil || st.State != entity.LoadStateLoaded {
		t.Fatalf("load state: %v %v", st, err)
	}

	qs := [][]float32{genRows(r, 0, 1)[0].vec, genRows(r, 0, 1)[0].vec, genRows(r, 0, 1)[0].vec}
	checkSearch(ctx, t, c, coll, live, qs, "", nil)
	checkSearch(ctx, t, c, coll, live, qs, `color in ["red", "blue"] and price < 50`, func(x row) bool {
		return (x.color == "red" || x.color == "blue") && x.price < 50
	})
	checkSearch(ctx, t, c, coll, live, qs, `meta["odd"] == true`, func(x row) bool { return x.id%2 == 1 })

	// Query: count, limit/offset, get by ids.
	countOf := func(filter string) int64 {
		t.Helper()
		opt := milvusclient.NewQueryOption(coll).WithOutputFields("count(*)").WithConsistencyLevel(entity.ClStrong)
		if filter != "" {
			opt = opt.WithFilter(filter)
		}
		rs, err := c.Query(ctx, opt)
		if err != nil {
			t.Fatalf("count(*) %q: %v", filter, err)
		}
		v, err := rs.GetColumn("count(*)").GetAsInt64(0)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := countOf(""); got != int64(len(live)) {
		t.Fatalf("count(*) = %d, want %d", got, len(live))
	}
	wantRed := int64(0)
	for _, x := range live {
		if x.color == "red" {
			wantRed++
		}
	}
	if got := countOf(`color == "red"`); got != wantRed {
		t.Fatalf("count red = %d want %d", got, wantRed)
	}
	rs, err := c.Query(ctx, milvusclient.NewQueryOption(coll).WithFilter("id >= 100 and id < 200").WithOutputFields("color").WithLimit(10).WithOffset(5))
	if err != nil || rs.ResultCount != 10 {
		t.Fatalf("query limit/offset: %v %v", rs.ResultCount, err)
	}
	got, err := c.Get(ctx, milvusclient.NewQueryOption(coll).WithIDs(column.NewColumnInt64("id", []int64{3, 7, 999999})).WithOutputFields("color", "price"))
	if err != nil || got.ResultCount != 2 {
		t.Fatalf("get by ids: %v %v", got.ResultCount, err)
	}

	// Delete by ids and by expression; upsert.
	if _, err := c.Delete(ctx, milvusclient.NewDeleteOption(coll).WithInt64IDs("id", []int64{0, 1, 2})); err != nil {
		t.Fatalf("delete by ids: %v", err)
	}
	delete(live, 0)
	delete(live, 1)
	delete(live, 2)
	if _, err := c.Delete(ctx, milvusclient.NewDeleteOption(coll).WithExpr(`color == "black" and price > 90`)); err != nil {
		t.Fatalf("delete by expr: %v", err)
	}
	for id, x := range live {
		if x.color == "black" && x.price > 90 {
			delete(live, id)
		}
	}
	up := genRows(r, 10, 20) // replaces ids 10..29 with new vectors
	insertRows(ctx, t, c, coll, "", up, true)
	for _, x := range up {
		live[x.id] = x
	}
	if got := countOf(""); got != int64(len(live)) {
		t.Fatalf("count after delete/upsert = %d, want %d", got, len(live))
	}
	checkSearch(ctx, t, c, coll, live, [][]float32{up[3].vec, live[500].vec}, "", nil)

	// Partitions.
	if err := c.CreatePartition(ctx, milvusclient.NewCreatePartitionOption(coll, "p1")); err != nil {
		t.Fatalf("create partition: %v", err)
	}
	parts, err := c.ListPartitions(ctx, milvusclient.NewListPartitionOption(coll))
	if err != nil || !slices.Contains(parts, "p1") || !slices.Contains(parts, "_default") {
		t.Fatalf("list partitions: %v %v", parts, err)
	}
	prow := genRows(r, 100000, 50)
	insertRows(ctx, t, c, coll, "p1", prow, false)
	pl := map[int64]row{}
	for _, x := range prow {
		pl[x.id] = x
		live[x.id] = x
	}
	checkSearch(ctx, t, c, coll, pl, [][]float32{prow[0].vec}, "", nil, "p1")
	checkSearch(ctx, t, c, coll, live, [][]float32{prow[0].vec}, "", nil)

	stats, err := c.GetCollectionStats(ctx, milvusclient.NewGetCollectionStatsOption(coll))
	if err != nil || stats["row_count"] != fmt.Sprint(len(live)) {
		t.Fatalf("stats: %v %v (want %d rows)", stats, err, len(live))
	}

	// Flush, restart, and everything is still there.
	if _, err := c.Flush(ctx, milvusclient.NewFlushOption(coll)); err != nil {
		t.Fatalf("flush: %v", err)
	}

	// Bad input: clear errors, nothing written.
	before := countOf("")
	badVec := genRows(r, 200000, 1)
	badVec[0].vec = badVec[0].vec[:dim-1]
	_, err = c.Insert(ctx, milvusclient.NewColumnBasedInsertOption(coll).WithInt64Column("id", []int64{200000}).
		WithVarcharColumn("color", []string{"x"}).WithColumns(column.NewColumnDouble("price", []float64{1}), column.NewColumnJSONBytes("meta", [][]byte{[]byte(`{}`)})).
		WithFloatVectorColumn("vec", dim-1, [][]float32{badVec[0].vec}))
	if err == nil {
		t.Fatalf("insert with wrong dim succeeded")
	}
	_, err = c.Query(ctx, milvusclient.NewQueryOption(coll).WithFilter("price >>> 3"))
	if err == nil || pmerr.Code(err) != 1100 {
		t.Fatalf("bad expression: code %d err %v, want 1100", pmerr.Code(err), err)
	}
	_, err = c.Query(ctx, milvusclient.NewQueryOption(coll).WithFilter("nosuchfield > 3"))
	if err == nil {
		t.Fatalf("unknown field in filter succeeded")
	}
	_, err = c.DescribeCollection(ctx, milvusclient.NewDescribeCollectionOption("nope"))
	if pmerr.Code(err) != 100 {
		t.Fatalf("describe missing collection: code %d (%v), want 100", pmerr.Code(err), err)
	}
	if has, err := c.HasCollection(ctx, milvusclient.NewHasCollectionOption("nope")); err != nil || has {
		t.Fatalf("has missing collection: %v %v", has, err)
	}
	if got := countOf(""); got != before {
		t.Fatalf("bad input changed the row count: %d -> %d", before, got)
	}

	// Restart (graceful) and verify.
	n.Stop()
	n2 := startNode(t, n.dataDir())
	c2 := n2.client(t)
	c = c2
	if got := countOf(""); got != int64(len(live)) {
		t.Fatalf("count after restart = %d, want %d", got, len(live))
	}
	checkSearch(ctx, t, c2, coll, live, qs, `color in ["red", "blue"] and price < 50`, func(x row) bool {
		return (x.color == "red" || x.color == "blue") && x.price < 50
	})

	if err := c2.DropCollection(ctx, milvusclient.NewDropCollectionOption(coll)); err != nil {
		t.Fatalf("drop: %v", err)
	}
	if has, err := c2.HasCollection(ctx, milvusclient.NewHasCollectionOption(coll)); err != nil || has {
		t.Fatalf("has after drop: %v %v", has, err)
	}
}

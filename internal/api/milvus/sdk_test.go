package milvus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
	sdkmerr "github.com/milvus-io/milvus/pkg/v2/util/merr"
)

// sdkClient connects the official Go SDK to the test server.
func sdkClient(t *testing.T, ts *testServer) *milvusclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := milvusclient.New(ctx, &milvusclient.ClientConfig{Address: ts.addr, Username: "root", Password: "Milvus"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// unitVec returns a dim-4 vector pointing mostly along axis i%4.
func unitVec(i int) []float32 {
	v := []float32{0.1, 0.1, 0.1, 0.1}
	v[i%4] = 1 + float32(i)/100
	return v
}

func TestSDKQuickSetup(t *testing.T) {
	ts := startServer(t, Options{})
	c := sdkClient(t, ts)
	ctx := testCtx(t)

	v, err := c.GetServerVersion(ctx, milvusclient.NewGetServerVersionOption())
	if err != nil || v != MilvusVersion {
		t.Fatalf("GetServerVersion: %q %v", v, err)
	}
	dbs, err := c.ListDatabase(ctx, milvusclient.NewListDatabaseOption())
	if err != nil || !slices.Equal(dbs, []string{"default"}) {
		t.Fatalf("ListDatabase: %v %v", dbs, err)
	}
	db, err := c.DescribeDatabase(ctx, milvusclient.NewDescribeDatabaseOption("default"))
	if err != nil || db.Name != "default" {
		t.Fatalf("DescribeDatabase: %v %v", db, err)
	}

	// Quick setup: create, index (no params), load, poll progress.
	must(t, c.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("quick", 4)))
	has, err := c.HasCollection(ctx, milvusclient.NewHasCollectionOption("quick"))
	if err != nil || !has {
		t.Fatalf("HasCollection(quick): %v %v", has, err)
	}
	has, err = c.HasCollection(ctx, milvusclient.NewHasCollectionOption("absent"))
	if err != nil || has {
		t.Fatalf("HasCollection(absent): %v %v", has, err)
	}
	names, err := c.ListCollections(ctx, milvusclient.NewListCollectionOption())
	if err != nil || !slices.Equal(names, []string{"quick"}) {
		t.Fatalf("ListCollections: %v %v", names, err)
	}
	coll, err := c.DescribeCollection(ctx, milvusclient.NewDescribeCollectionOption("quick"))
	must(t, err)
	if coll.Name != "quick" || coll.ID == 0 || coll.ShardNum != 1 || !coll.Schema.AutoID || !coll.Schema.EnableDynamicField ||
		coll.Schema.PKFieldName() != "id" || len(coll.VirtualChannels) != 1 {
		t.Fatalf("DescribeCollection: %+v schema %+v", coll, coll.Schema)
	}
	vecField := coll.Schema.Fields[1]
	if vecField.Name != "vector" || vecField.DataType != entity.FieldTypeFloatVector || vecField.TypeParams["dim"] != "4" || vecField.ID != 101 {
		t.Fatalf("vector field %+v", vecField)
	}
	state, err := c.GetLoadState(ctx, milvusclient.NewGetLoadStateOption("quick"))
	if err != nil || state.State != entity.LoadStateLoaded {
		t.Fatalf("GetLoadState: %+v %v", state, err)
	}
	idx, err := c.DescribeIndex(ctx, milvusclient.NewDescribeIndexOption("quick", "vector"))
	must(t, err)
	if idx.Name() != "vector" || idx.Params()["index_type"] != "AUTOINDEX" || idx.Params()["metric_type"] != "COSINE" || idx.State != index.IndexState(3) {
		t.Fatalf("DescribeIndex: %+v %v", idx, idx.Params())
	}
	idxNames, err := c.ListIndexes(ctx, milvusclient.NewListIndexOption("quick"))
	if err != nil || !slices.Equal(idxNames, []string{"vector"}) {
		t.Fatalf("ListIndexes: %v %v", idxNames, err)
	}

	// Insert with a dynamic column.
	const n = 20
	vecs := make([][]float32, n)
	colors := make([]string, n)
	for i := range vecs {
		vecs[i] = unitVec(i)
		colors[i] = []string{"red", "green"}[i%2]
	}
	ins, err := c.Insert(ctx, milvusclient.NewColumnBasedInsertOption("quick").
		WithFloatVectorColumn("vector", 4, vecs).
		WithVarcharColumn("color", colors))
	must(t, err)
	if ins.InsertCount != n || ins.IDs.Len() != n {
		t.Fatalf("Insert: %+v", ins)
	}

	// Search with a filter on the dynamic field.
	rs, err := c.Search(ctx, milvusclient.NewSearchOption("quick", 5, []entity.Vector{entity.FloatVector(unitVec(0))}).
		WithFilter(`color == "red"`).
		WithOutputFields("color"))
	must(t, err)
	if len(rs) != 1 || rs[0].ResultCount != 5 || rs[0].Err != nil {
		t.Fatalf("Search: %+v", rs)
	}
	colorCol := rs[0].GetColumn("color")
	if colorCol == nil {
		t.Fatalf("no color column in %+v", rs[0].Fields)
	}
	for i := 0; i < rs[0].ResultCount; i++ {
		if s, err := colorCol.GetAsString(i); err != nil || s != "red" {
			t.Fatalf("hit %d color %q %v", i, s, err)
		}
	}
	if rs[0].Scores[0] < rs[0].Scores[4] {
		t.Fatalf("COSINE scores not descending: %v", rs[0].Scores)
	}

	// Query count(*).
	cnt, err := c.Query(ctx, milvusclient.NewQueryOption("quick").WithOutputFields("count(*)"))
	must(t, err)
	if got, err := cnt.GetColumn("count(*)").GetAsInt64(0); err != nil || got != n {
		t.Fatalf("count(*) = %d %v", got, err)
	}

	// Release and drop.
	must(t, c.ReleaseCollection(ctx, milvusclient.NewReleaseCollectionOption("quick")))
	state, err = c.GetLoadState(ctx, milvusclient.NewGetLoadStateOption("quick"))
	if err != nil || state.State != entity.LoadStateNotLoad {
		t.Fatalf("GetLoadState after release: %+v %v", state, err)
	}
	_, err = c.Search(ctx, milvusclient.NewSearchOption("quick", 5, []entity.Vector{entity.FloatVector(unitVec(0))}))
	if !errors.Is(err, sdkmerr.ErrCollectionNotLoaded) {
		t.Fatalf("search on released collection: %v", err)
	}
	must(t, c.DropCollection(ctx, milvusclient.NewDropCollectionOption("quick")))
	has, err = c.HasCollection(ctx, milvusclient.NewHasCollectionOption("quick"))
	if err != nil || has {
		t.Fatalf("HasCollection after drop: %v %v", has, err)
	}
}

// fullSchema has scalar fields of several types and the dynamic field.
func fullSchema() *entity.Schema {
	return entity.NewSchema().WithDynamicFieldEnabled(true).
		WithField(entity.NewField().WithName("pk").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
		WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(4)).
		WithField(entity.NewField().WithName("age").WithDataType(entity.FieldTypeInt32)).
		WithField(entity.NewField().WithName("name").WithDataType(entity.FieldTypeVarChar).WithMaxLength(64)).
		WithField(entity.NewField().WithName("score").WithDataType(entity.FieldTypeDouble)).
		WithField(entity.NewField().WithName("ok").WithDataType(entity.FieldTypeBool)).
		WithField(entity.NewField().WithName("tags").WithDataType(entity.FieldTypeArray).WithElementType(entity.FieldTypeInt64).WithMaxCapacity(8)).
		WithField(entity.NewField().WithName("doc").WithDataType(entity.FieldTypeJSON))
}

// fullColumns returns rows [from, to) of the full schema as columns.
func fullColumns(from, to int, namePrefix string) []column.Column {
	var pks []int64
	var vecs [][]float32
	var ages []int32
	var names []string
	var scores []float64
	var oks []bool
	var tags [][]int64
	var docs [][]byte
	var extras []string
	for i := from; i < to; i++ {
		pks = append(pks, int64(i))
		vecs = append(vecs, unitVec(i))
		ages = append(ages, int32(i))
		names = append(names, fmt.Sprintf("%s%d", namePrefix, i))
		scores = append(scores, float64(i)/2)
		oks = append(oks, i%2 == 0)
		tags = append(tags, []int64{int64(i), int64(i * 10)})
		docs = append(docs, []byte(fmt.Sprintf(`{"n": %d}`, i)))
		extras = append(extras, "x"+strconv.Itoa(i))
	}
	return []column.Column{
		column.NewColumnInt64("pk", pks),
		column.NewColumnFloatVector("vec", 4, vecs),
		column.NewColumnInt32("age", ages),
		column.NewColumnVarChar("name", names),
		column.NewColumnDouble("score", scores),
		column.NewColumnBool("ok", oks),
		column.NewColumnInt64Array("tags", tags),
		column.NewColumnJSONBytes("doc", docs),
		column.NewColumnVarChar("extra", extras),
	}
}

func int64s(t *testing.T, col column.Column) []int64 {
	t.Helper()
	if col == nil {
		t.Fatal("missing column")
	}
	out := make([]int64, col.Len())
	for i := range out {
		v, err := col.GetAsInt64(i)
		must(t, err)
		out[i] = v
	}
	return out
}

func TestSDKFullSchema(t *testing.T) {
	ts := startServer(t, Options{})
	c := sdkClient(t, ts)
	ctx := testCtx(t)

	must(t, c.CreateCollection(ctx, milvusclient.NewCreateCollectionOption("full", fullSchema()).
		WithConsistencyLevel(entity.ClStrong).WithProperty("note", "hello")))
	coll, err := c.DescribeCollection(ctx, milvusclient.NewDescribeCollectionOption("full"))
	must(t, err)
	if coll.ConsistencyLevel != entity.ClStrong || coll.Properties["note"] != "hello" || coll.Schema.PKFieldName() != "pk" {
		t.Fatalf("DescribeCollection: %+v", coll)
	}

	ins, err := c.Insert(ctx, milvusclient.NewColumnBasedInsertOption("full", fullColumns(0, 10, "n")...))
	must(t, err)
	if ins.InsertCount != 10 || !slices.Equal(int64s(t, ins.IDs), []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Fatalf("Insert: %+v", ins)
	}
	stats, err := c.GetCollectionStats(ctx, milvusclient.NewGetCollectionStatsOption("full"))
	if err != nil || stats["row_count"] != "10" {
		t.Fatalf("GetCollectionStats: %v %v", stats, err)
	}

	task, err := c.CreateIndex(ctx, milvusclient.NewCreateIndexOption("full", "vec", index.NewHNSWIndex(entity.L2, 8, 64)))
	must(t, err)
	must(t, task.Await(ctx))
	idx, err := c.DescribeIndex(ctx, milvusclient.NewDescribeIndexOption("full", "vec"))
	must(t, err)
	if idx.Params()["index_type"] != "HNSW" || idx.Params()["metric_type"] != "L2" || idx.Params()["M"] != "8" {
		t.Fatalf("DescribeIndex: %v", idx.Params())
	}
	lt, err := c.LoadCollection(ctx, milvusclient.NewLoadCollectionOption("full"))
	must(t, err)
	must(t, lt.Await(ctx))

	// Search: filter, output fields (static and dynamic), offset.
	rs, err := c.Search(ctx, milvusclient.NewSearchOption("full", 3, []entity.Vector{entity.FloatVector(unitVec(5)), entity.FloatVector(unitVec(6))}).
		WithANNSField("vec").
		WithFilter("age > 3").
		WithAnnParam(index.NewHNSWAnnParam(32)).
		WithOutputFields("name", "age", "extra", "tags"))
	must(t, err)
	if len(rs) != 2 {
		t.Fatalf("nq results %d", len(rs))
	}
	for q, want := range []int64{5, 6} {
		r := rs[q]
		if r.Err != nil || r.ResultCount != 3 {
			t.Fatalf("query %d: %+v", q, r)
		}
		ids := int64s(t, r.IDs)
		if ids[0] != want {
			t.Fatalf("query %d top id %d, want %d (ids %v)", q, ids[0], want, ids)
		}
		ages := int64s(t, r.GetColumn("age"))
		for _, a := range ages {
			if a <= 3 {
				t.Fatalf("filter age > 3 violated: %v", ages)
			}
		}
		if s, err := r.GetColumn("name").GetAsString(0); err != nil || s != fmt.Sprintf("n%d", want) {
			t.Fatalf("name %q %v", s, err)
		}
		if s, err := r.GetColumn("extra").GetAsString(0); err != nil || s != fmt.Sprintf("x%d", want) {
			t.Fatalf("dynamic extra %q %v", s, err)
		}
		if r.GetColumn("tags") == nil {
			t.Fatal("tags column missing")
		}
		if r.Scores[0] > r.Scores[2] {
			t.Fatalf("L2 scores not ascending: %v", r.Scores)
		}
	}

	// Query with limit/offset, ordered by pk.
	qr, err := c.Query(ctx, milvusclient.NewQueryOption("full").WithFilter("pk >= 0").WithLimit(3).WithOffset(2).WithOutputFields("pk", "score"))
	must(t, err)
	if got := int64s(t, qr.GetColumn("pk")); len(got) != 3 {
		t.Fatalf("query limit/offset pks %v", got)
	}
	if qr.ResultCount != 3 {
		t.Fatalf("query result count %d", qr.ResultCount)
	}

	// Get by ids, all fields.
	got, err := c.Get(ctx, milvusclient.NewQueryOption("full").WithIDs(column.NewColumnInt64("pk", []int64{2, 7})).WithOutputFields("*"))
	must(t, err)
	pks := int64s(t, got.GetColumn("pk"))
	sort.Slice(pks, func(i, j int) bool { return pks[i] < pks[j] })
	if !slices.Equal(pks, []int64{2, 7}) || got.GetColumn("vec") == nil || got.GetColumn("doc") == nil || got.GetColumn("$meta") == nil {
		t.Fatalf("Get: pks %v fields %v", pks, got.Fields)
	}

	// Delete by ids and by expression.
	del, err := c.Delete(ctx, milvusclient.NewDeleteOption("full").WithInt64IDs("pk", []int64{0, 1}))
	must(t, err)
	if del.DeleteCount != 2 {
		t.Fatalf("delete by ids count %d", del.DeleteCount)
	}
	del, err = c.Delete(ctx, milvusclient.NewDeleteOption("full").WithExpr("age >= 8"))
	must(t, err)
	if del.DeleteCount != 2 {
		t.Fatalf("delete by expr count %d", del.DeleteCount)
	}
	cnt, err := c.Query(ctx, milvusclient.NewQueryOption("full").WithOutputFields("count(*)"))
	must(t, err)
	if n, _ := cnt.GetColumn("count(*)").GetAsInt64(0); n != 6 {
		t.Fatalf("count after deletes %d", n)
	}

	// Upsert: replace pk 2 and re-add pk 0.
	up, err := c.Upsert(ctx, milvusclient.NewColumnBasedInsertOption("full", fullColumns(0, 3, "u")...))
	must(t, err)
	if up.UpsertCount != 3 {
		t.Fatalf("upsert count %d", up.UpsertCount)
	}
	qr, err = c.Query(ctx, milvusclient.NewQueryOption("full").WithFilter("pk in [0, 2]").WithOutputFields("name"))
	must(t, err)
	nameCol := qr.GetColumn("name")
	for i := 0; i < qr.ResultCount; i++ {
		if s, _ := nameCol.GetAsString(i); s[0] != 'u' {
			t.Fatalf("upserted name %q", s)
		}
	}
	if qr.ResultCount != 2 {
		t.Fatalf("upsert query rows %d", qr.ResultCount)
	}

	// Partitions.
	must(t, c.CreatePartition(ctx, milvusclient.NewCreatePartitionOption("full", "p1")))
	hasP, err := c.HasPartition(ctx, milvusclient.NewHasPartitionOption("full", "p1"))
	if err != nil || !hasP {
		t.Fatalf("HasPartition: %v %v", hasP, err)
	}
	parts, err := c.ListPartitions(ctx, milvusclient.NewListPartitionOption("full"))
	if err != nil || !slices.Contains(parts, "p1") || !slices.Contains(parts, "_default") {
		t.Fatalf("ListPartitions: %v %v", parts, err)
	}
	_, err = c.Insert(ctx, milvusclient.NewColumnBasedInsertOption("full", fullColumns(100, 104, "p")...).WithPartition("p1"))
	must(t, err)
	pst, err := c.GetPartitionStats(ctx, milvusclient.NewGetPartitionStatsOption("full", "p1"))
	if err != nil || pst["row_count"] != "4" {
		t.Fatalf("GetPartitionStats: %v %v", pst, err)
	}
	prs, err := c.Search(ctx, milvusclient.NewSearchOption("full", 10, []entity.Vector{entity.FloatVector(unitVec(1))}).
		WithPartitions("p1").WithOutputFields("pk"))
	must(t, err)
	for _, id := range int64s(t, prs[0].IDs) {
		if id < 100 {
			t.Fatalf("partition search returned pk %d", id)
		}
	}
	lt, err = c.LoadPartitions(ctx, milvusclient.NewLoadPartitionsOption("full", "p1"))
	must(t, err)
	must(t, lt.Await(ctx))
	must(t, c.ReleasePartitions(ctx, milvusclient.NewReleasePartitionsOptions("full", "p1")))
	must(t, c.DropPartition(ctx, milvusclient.NewDropPartitionOption("full", "p1")))
	hasP, err = c.HasPartition(ctx, milvusclient.NewHasPartitionOption("full", "p1"))
	if err != nil || hasP {
		t.Fatalf("HasPartition after drop: %v %v", hasP, err)
	}

	// Flush waits for GetFlushState.
	ft, err := c.Flush(ctx, milvusclient.NewFlushOption("full"))
	must(t, err)
	must(t, ft.Await(ctx))

	// Errors come back as Milvus codes.
	_, err = c.Insert(ctx, milvusclient.NewColumnBasedInsertOption("full",
		column.NewColumnInt64("pk", []int64{1}), column.NewColumnFloatVector("vec", 3, [][]float32{{1, 2, 3}})))
	if err == nil {
		t.Fatal("insert with wrong dim accepted")
	}
	_, err = c.Search(ctx, milvusclient.NewSearchOption("full", 3, []entity.Vector{entity.FloatVector{1, 2}}))
	if !errors.Is(err, sdkmerr.ErrParameterInvalid) {
		t.Fatalf("search with wrong dim: %v", err)
	}
	_, err = c.Query(ctx, milvusclient.NewQueryOption("full").WithFilter("age >>> 3"))
	if err == nil {
		t.Fatal("bad expression accepted")
	}

	must(t, c.ReleaseCollection(ctx, milvusclient.NewReleaseCollectionOption("full")))
	must(t, c.DropIndex(ctx, milvusclient.NewDropIndexOption("full", "vec")))
	must(t, c.DropCollection(ctx, milvusclient.NewDropCollectionOption("full")))
	if _, err := c.DescribeCollection(ctx, milvusclient.NewDescribeCollectionOption("full")); !errors.Is(err, sdkmerr.ErrCollectionNotFound) {
		t.Fatalf("describe dropped collection: %v", err)
	}
}

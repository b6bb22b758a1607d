package milvus

import (
	"fmt"
	"strings"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
)

// TestExprTemplates: search, query (official SDK, WithTemplateParam),
// delete (raw gRPC: the SDK has no template option for delete) and the
// REST exprParams carry template values; a missing value is refused with
// Milvus's message.
func TestExprTemplates(t *testing.T) {
	ts := startServer(t, Options{})
	c := sdkClient(t, ts)
	ctx := testCtx(t)
	schema := entity.NewSchema().WithName("tm").
		WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
		WithField(entity.NewField().WithName("age").WithDataType(entity.FieldTypeInt64)).
		WithField(entity.NewField().WithName("color").WithDataType(entity.FieldTypeVarChar).WithMaxLength(16)).
		WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(4))
	must(t, c.CreateCollection(ctx, milvusclient.NewCreateCollectionOption("tm", schema)))
	_, err := c.CreateIndex(ctx, milvusclient.NewCreateIndexOption("tm", "vec", index.NewFlatIndex(entity.L2)))
	must(t, err)
	var ids, ages []int64
	var colors []string
	var vecs [][]float32
	for i := 0; i < 10; i++ {
		ids = append(ids, int64(i))
		ages = append(ages, int64(10*i))
		colors = append(colors, []string{"red", "blue"}[i%2])
		vecs = append(vecs, unitVec(i))
	}
	_, err = c.Insert(ctx, milvusclient.NewColumnBasedInsertOption("tm").WithInt64Column("id", ids).
		WithInt64Column("age", ages).WithVarcharColumn("color", colors).WithFloatVectorColumn("vec", 4, vecs))
	must(t, err)
	lt, err := c.LoadCollection(ctx, milvusclient.NewLoadCollectionOption("tm"))
	must(t, err)
	must(t, lt.Await(ctx))

	rs, err := c.Query(ctx, milvusclient.NewQueryOption("tm").WithFilter("age > {a} and color in {cs}").
		WithTemplateParam("a", 40).WithTemplateParam("cs", []string{"red"}).WithOutputFields("id").
		WithConsistencyLevel(entity.ClStrong))
	must(t, err)
	if got := fmt.Sprint(int64s(t, rs.GetColumn("id"))); got != "[6 8]" {
		t.Fatalf("query ids %s", got)
	}
	sr, err := c.Search(ctx, milvusclient.NewSearchOption("tm", 10, []entity.Vector{entity.FloatVector(unitVec(0))}).
		WithFilter("{lo} <= age < {hi}").WithTemplateParam("lo", 20).WithTemplateParam("hi", 50).
		WithConsistencyLevel(entity.ClStrong))
	must(t, err)
	if n := sr[0].ResultCount; n != 3 {
		t.Fatalf("search results %d, want 3", n)
	}
	_, err = c.Query(ctx, milvusclient.NewQueryOption("tm").WithFilter("age > {missing}").WithTemplateParam("a", 1))
	if err == nil || !strings.Contains(err.Error(), "the value of expression template variable name {missing} is not found") {
		t.Fatalf("missing template value: %v", err)
	}

	// Delete with a template (raw gRPC).
	g := ts.grpcClient(t)
	dr, err := g.Delete(ctx, &milvuspb.DeleteRequest{CollectionName: "tm", Expr: "id in {ids}",
		ExprTemplateValues: map[string]*schemapb.TemplateValue{"ids": {Val: &schemapb.TemplateValue_ArrayVal{
			ArrayVal: &schemapb.TemplateArrayValue{Data: &schemapb.TemplateArrayValue_LongData{
				LongData: &schemapb.LongArray{Data: []int64{0, 1, 2}}}}}}}})
	if err != nil || dr.GetStatus().GetCode() != 0 || dr.GetDeleteCnt() != 3 {
		t.Fatalf("delete: %v %v", dr, err)
	}
	dr, err = g.Delete(ctx, &milvuspb.DeleteRequest{CollectionName: "tm", Expr: "id in {ids}"})
	if err != nil || dr.GetStatus().GetCode() != 1100 ||
		!strings.Contains(dr.GetStatus().GetReason(), "the value of expression template variable name {ids} is not found") {
		t.Fatalf("delete without value: %v %v", dr, err)
	}

	// REST exprParams.
	var q []map[string]any
	ts.okPost(t, "/entities/query", map[string]any{"collectionName": "tm", "filter": "age >= {a} and color == {c}",
		"exprParams": map[string]any{"a": 50, "c": "blue"}, "outputFields": []string{"id"}}, &q)
	if len(q) != 3 {
		t.Fatalf("REST query %v", q)
	}
	env := ts.post(t, "/v2/vectordb/entities/query", map[string]any{"collectionName": "tm", "filter": "age in {a}",
		"exprParams": map[string]any{"a": 50}})
	if env.Code != 1100 || !strings.Contains(env.Message, "the value of term expression template variable {a} is not array") {
		t.Fatalf("REST non-array: %+v", env)
	}
}

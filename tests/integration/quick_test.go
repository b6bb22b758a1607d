package integration

import (
	"context"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
)

// TestQuickSetupDynamicCosine uses the SDK's quick setup (auto-id, dynamic
// fields, COSINE AUTOINDEX, loaded at once), row-based inserts with extra
// keys, and filters/outputs on dynamic keys.
func TestQuickSetupDynamicCosine(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := n.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const coll = "quick"
	if err := c.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions(coll, 4)); err != nil {
		t.Fatalf("quick create: %v", err)
	}
	rows := []any{
		map[string]any{"vector": []float32{1, 0, 0, 0}, "city": "paris", "n": 1},
		map[string]any{"vector": []float32{0, 1, 0, 0}, "city": "rome", "n": 2},
		map[string]any{"vector": []float32{0.9, 0.1, 0, 0}, "city": "rome", "n": 3},
		map[string]any{"vector": []float32{0, 0, 1, 0}, "city": "oslo", "n": 4},
	}
	res, err := c.Insert(ctx, milvusclient.NewRowBasedInsertOption(coll, rows...))
	if err != nil {
		t.Fatalf("row insert: %v", err)
	}
	if res.IDs.Len() != 4 {
		t.Fatalf("auto ids: %d", res.IDs.Len())
	}
	rs, err := c.Search(ctx, milvusclient.NewSearchOption(coll, 2, []entity.Vector{entity.FloatVector([]float32{2, 0, 0, 0})}).
		WithOutputFields("city", "n").WithConsistencyLevel(entity.ClStrong))
	if err != nil {
		t.Fatalf("search: %v", err)
	}
	if rs[0].ResultCount != 2 || rs[0].Scores[0] < 0.999 || rs[0].Scores[0] < rs[0].Scores[1] {
		t.Fatalf("cosine search: count %d scores %v", rs[0].ResultCount, rs[0].Scores)
	}
	city, err := rs[0].GetColumn("city").GetAsString(0)
	if err != nil || city != "paris" {
		t.Fatalf("dynamic output city = %q, %v", city, err)
	}
	rs, err = c.Search(ctx, milvusclient.NewSearchOption(coll, 5, []entity.Vector{entity.FloatVector([]float32{2, 0, 0, 0})}).
		WithFilter(`city == "rome" and n > 2`).WithOutputFields("n").WithConsistencyLevel(entity.ClStrong))
	if err != nil || rs[0].ResultCount != 1 {
		t.Fatalf("filter on dynamic keys: %v %v", rs, err)
	}
	q, err := c.Query(ctx, milvusclient.NewQueryOption(coll).WithFilter(`city like "r%"`).WithOutputFields("city").WithConsistencyLevel(entity.ClStrong))
	if err != nil || q.ResultCount != 2 {
		t.Fatalf("like on dynamic key: %v %v", q.ResultCount, err)
	}
}

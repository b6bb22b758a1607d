package compat

import (
	"math/rand/v2"
	"testing"

	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
)

// TestCompatBasics: the quickstart of the Milvus docs — create a
// collection, insert, index, load, search, query, count — gives the same
// answers before and after a restart / failover.
func TestCompatBasics(t *testing.T) {
	both(t, func(t *testing.T, e *Env) {
		name := e.Coll(t)
		const dim, n = 8, 500
		schema := entity.NewSchema().WithName(name).
			WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
			WithField(entity.NewField().WithName("tag").WithDataType(entity.FieldTypeVarChar).WithMaxLength(16)).
			WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(dim))
		if err := e.C.CreateCollection(e.Ctx, milvusclient.NewCreateCollectionOption(name, schema).
			WithIndexOptions(milvusclient.NewCreateIndexOption(name, "vec", index.NewHNSWIndex(entity.L2, 16, 64)))); err != nil {
			t.Fatal(err)
		}
		lt, err := e.C.LoadCollection(e.Ctx, milvusclient.NewLoadCollectionOption(name))
		if err != nil {
			t.Fatal(err)
		}
		if err := lt.Await(e.Ctx); err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(1, 2))
		ids := make([]int64, n)
		tags := make([]string, n)
		vecs := make([][]float32, n)
		for i := range ids {
			ids[i] = int64(i)
			tags[i] = []string{"a", "b", "c"}[i%3]
			v := make([]float32, dim)
			for j := range v {
				v[j] = r.Float32()
			}
			vecs[i] = v
		}
		if _, err := e.C.Insert(e.Ctx, milvusclient.NewColumnBasedInsertOption(name,
			column.NewColumnInt64("id", ids), column.NewColumnVarChar("tag", tags), column.NewColumnFloatVector("vec", dim, vecs))); err != nil {
			t.Fatal(err)
		}
		q := []entity.Vector{entity.FloatVector(vecs[7])}
		check := func(when string) {
			t.Helper()
			res, err := e.C.Search(e.Ctx, milvusclient.NewSearchOption(name, 5, q).WithOutputFields("tag").
				WithConsistencyLevel(entity.ClStrong))
			if err != nil {
				t.Fatalf("%s: search: %v", when, err)
			}
			if len(res) != 1 || res[0].ResultCount != 5 {
				t.Fatalf("%s: search: %d result sets", when, len(res))
			}
			if got, _ := res[0].IDs.GetAsInt64(0); got != 7 {
				t.Fatalf("%s: nearest neighbour of row 7 is %d", when, got)
			}
			cnt, err := e.C.Query(e.Ctx, milvusclient.NewQueryOption(name).WithFilter(`tag == "b"`).
				WithOutputFields("count(*)").WithConsistencyLevel(entity.ClStrong))
			if err != nil {
				t.Fatalf("%s: count: %v", when, err)
			}
			if c, _ := cnt.GetColumn("count(*)").GetAsInt64(0); c != (n+1)/3 {
				t.Fatalf("%s: count(*) where tag == b = %d, want %d", when, c, (n+1)/3)
			}
		}
		check("before " + e.Name + " disruption")
		e.Disrupt(t)
		check("after " + e.Name + " disruption")
		if err := e.C.DropCollection(e.Ctx, milvusclient.NewDropCollectionOption(name)); err != nil {
			t.Fatal(err)
		}
	})
}

package compat

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
	"github.com/milvus-io/milvus/pkg/v2/util/merr"
)

// TestCompatCompaction: Compact (ManualCompaction) after many small
// flushed batches, upserts and deletes returns a compaction ID whose state
// reaches Completed; searches, queries and counts answer the same before
// the compaction, after it, and after a restart / failover (whose node
// knows the ID too: the request is a replicated record). A collection with
// nothing to compact answers -1 (Completed), as Milvus; a missing one is
// Milvus's "collection not found" (code 100).
func TestCompatCompaction(t *testing.T) {
	both(t, func(t *testing.T, e *Env) {
		name := e.Coll(t)
		const dim, batches, per = 8, 12, 40
		schema := entity.NewSchema().WithName(name).
			WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
			WithField(entity.NewField().WithName("n").WithDataType(entity.FieldTypeInt64)).
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
		// Nothing sealed yet: no plan.
		id, err := e.C.Compact(e.Ctx, milvusclient.NewCompactOption(name))
		if err != nil || id != -1 {
			t.Fatalf("compact of an empty collection: id %d, %v (want -1)", id, err)
		}
		if st, err := e.C.GetCompactionState(e.Ctx, milvusclient.NewGetCompactionStateOption(id)); err != nil || st != entity.CompactionStateCompleted {
			t.Fatalf("state of -1: %v %v", st, err)
		}

		r := rand.New(rand.NewPCG(3, 4))
		vecs := map[int64][]float32{}
		write := func(ids []int64, upsert bool) {
			t.Helper()
			ns := make([]int64, len(ids))
			vs := make([][]float32, len(ids))
			for i, k := range ids {
				ns[i] = k % 10
				v := make([]float32, dim)
				for j := range v {
					v[j] = r.Float32()
				}
				vs[i], vecs[k] = v, v
			}
			cols := []column.Column{column.NewColumnInt64("id", ids), column.NewColumnInt64("n", ns), column.NewColumnFloatVector("vec", dim, vs)}
			if upsert {
				_, err = e.C.Upsert(e.Ctx, milvusclient.NewColumnBasedInsertOption(name, cols...))
			} else {
				_, err = e.C.Insert(e.Ctx, milvusclient.NewColumnBasedInsertOption(name, cols...))
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		for b := 0; b < batches; b++ {
			ids := make([]int64, per)
			for i := range ids {
				ids[i] = int64(b*per + i)
			}
			write(ids, false)
			ft, err := e.C.Flush(e.Ctx, milvusclient.NewFlushOption(name))
			if err != nil {
				t.Fatal(err)
			}
			if err := ft.Await(e.Ctx); err != nil {
				t.Fatal(err)
			}
		}
		var up []int64
		for k := int64(3); k < batches*per; k += 9 {
			up = append(up, k)
		}
		write(up, true)
		if _, err := e.C.Delete(e.Ctx, milvusclient.NewDeleteOption(name).WithExpr("n == 4")); err != nil {
			t.Fatal(err)
		}
		live := int64(batches*per - batches*per/10)

		check := func(when string) {
			t.Helper()
			cnt, err := e.C.Query(e.Ctx, milvusclient.NewQueryOption(name).WithOutputFields("count(*)").WithConsistencyLevel(entity.ClStrong))
			if err != nil {
				t.Fatalf("%s: count: %v", when, err)
			}
			if c, _ := cnt.GetColumn("count(*)").GetAsInt64(0); c != live {
				t.Fatalf("%s: count(*) = %d, want %d", when, c, live)
			}
			rs, err := e.C.Query(e.Ctx, milvusclient.NewQueryOption(name).WithFilter("id in [3, 4, 12, 14, 21]").
				WithOutputFields("n").WithConsistencyLevel(entity.ClStrong))
			if err != nil {
				t.Fatalf("%s: query: %v", when, err)
			}
			if rs.ResultCount != 3 { // 4 and 14 are deleted (n == 4)
				t.Fatalf("%s: query by ids: %d rows, want 3", when, rs.ResultCount)
			}
			for _, k := range []int64{21, 30} { // 21: upserted; 30: inserted
				res, err := e.C.Search(e.Ctx, milvusclient.NewSearchOption(name, 1, []entity.Vector{entity.FloatVector(vecs[k])}).
					WithConsistencyLevel(entity.ClStrong))
				if err != nil {
					t.Fatalf("%s: search: %v", when, err)
				}
				if got, _ := res[0].IDs.GetAsInt64(0); got != k {
					t.Fatalf("%s: nearest neighbour of row %d is %d", when, k, got)
				}
			}
		}
		check("before compaction")
		id, err = e.C.Compact(e.Ctx, milvusclient.NewCompactOption(name))
		if err != nil || id <= 0 {
			t.Fatalf("compact: id %d, %v", id, err)
		}
		awaitCompaction := func(when string) {
			t.Helper()
			deadline := time.Now().Add(60 * time.Second)
			for {
				st, err := e.C.GetCompactionState(e.Ctx, milvusclient.NewGetCompactionStateOption(id))
				if err != nil {
					t.Fatalf("%s: compaction state: %v", when, err)
				}
				if st == entity.CompactionStateCompleted {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: compaction %d still %v", when, id, st)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		awaitCompaction("after compaction")
		check("after compaction")
		e.Disrupt(t)
		awaitCompaction("after " + e.Name + " disruption")
		check("after " + e.Name + " disruption")

		_, err = e.C.Compact(e.Ctx, milvusclient.NewCompactOption(name+"_missing"))
		if merr.Code(err) != 100 || !strings.Contains(err.Error(), "collection not found[collection="+name+"_missing]") {
			t.Fatalf("compact of a missing collection: %v (code %d)", err, merr.Code(err))
		}
		if err := e.C.DropCollection(e.Ctx, milvusclient.NewDropCollectionOption(name)); err != nil {
			t.Fatal(err)
		}
	})
}

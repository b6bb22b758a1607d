package compat

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
)

// TestCompatIndexTypes: IVF_SQ8, IVF_PQ, SCANN, HNSW_SQ (refine), HNSW_PQ,
// DISKANN and AUTOINDEX built on a flushed segment through the SDK's own
// constructors; the nearest neighbour of a stored row is itself before
// and after a restart / failover; Milvus's parameter refusals.
func TestCompatIndexTypes(t *testing.T) {
	both(t, func(t *testing.T, e *Env) {
		const dim, n = 16, 1500
		r := rand.New(rand.NewPCG(3, 4))
		ids := make([]int64, n)
		vecs := make([][]float32, n)
		for i := range ids {
			ids[i] = int64(i)
			v := make([]float32, dim)
			for j := range v {
				v[j] = r.Float32()
			}
			vecs[i] = v
		}
		generic := func(typ string, p map[string]string) index.Index {
			p["index_type"], p["metric_type"] = typ, "L2"
			return index.NewGenericIndex(typ, p)
		}
		cases := []struct {
			name string
			idx  index.Index
			ann  index.AnnParam
		}{
			{"IVF_SQ8", index.NewIvfSQ8Index(entity.L2, 16), index.NewIvfAnnParam(8)},
			{"IVF_PQ", index.NewIvfPQIndex(entity.L2, 16, 8, 8), index.NewIvfAnnParam(16)},
			{"SCANN", index.NewSCANNIndex(entity.L2, 16, true), index.NewSCANNAnnParam(8, 50)},
			{"HNSW_SQ", generic("HNSW_SQ", map[string]string{"M": "16", "efConstruction": "100", "sq_type": "SQ8", "refine": "true", "refine_type": "FP32"}), index.NewHNSWAnnParam(64)},
			{"HNSW_PQ", generic("HNSW_PQ", map[string]string{"M": "16", "efConstruction": "100", "m": "8", "refine": "true"}), index.NewHNSWAnnParam(64)},
			{"DISKANN", index.NewDiskANNIndex(entity.L2), index.NewDiskAnnParam(64)},
			{"AUTOINDEX", index.NewAutoIndex(entity.L2), index.NewAutoAnnParam(3)},
		}
		names := make([]string, len(cases))
		for i, c := range cases {
			name := e.Coll(t)
			names[i] = name
			schema := entity.NewSchema().WithName(name).
				WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
				WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(dim))
			if err := e.C.CreateCollection(e.Ctx, milvusclient.NewCreateCollectionOption(name, schema)); err != nil {
				t.Fatal(err)
			}
			if _, err := e.C.Insert(e.Ctx, milvusclient.NewColumnBasedInsertOption(name,
				column.NewColumnInt64("id", ids), column.NewColumnFloatVector("vec", dim, vecs))); err != nil {
				t.Fatal(err)
			}
			ft, err := e.C.Flush(e.Ctx, milvusclient.NewFlushOption(name))
			if err != nil {
				t.Fatal(err)
			}
			if err := ft.Await(e.Ctx); err != nil {
				t.Fatal(err)
			}
			it, err := e.C.CreateIndex(e.Ctx, milvusclient.NewCreateIndexOption(name, "vec", c.idx))
			if err != nil {
				t.Fatalf("%s: create index: %v", c.name, err)
			}
			if err := it.Await(e.Ctx); err != nil {
				t.Fatalf("%s: await index: %v", c.name, err)
			}
			lt, err := e.C.LoadCollection(e.Ctx, milvusclient.NewLoadCollectionOption(name))
			if err != nil {
				t.Fatal(err)
			}
			if err := lt.Await(e.Ctx); err != nil {
				t.Fatal(err)
			}
		}
		check := func(when string) {
			t.Helper()
			for i, c := range cases {
				for _, row := range []int{7, 700} {
					res, err := e.C.Search(e.Ctx, milvusclient.NewSearchOption(names[i], 10, []entity.Vector{entity.FloatVector(vecs[row])}).
						WithANNSField("vec").WithAnnParam(c.ann).WithConsistencyLevel(entity.ClStrong))
					if err != nil {
						t.Fatalf("%s %s: search: %v", when, c.name, err)
					}
					if len(res) != 1 || res[0].ResultCount != 10 {
						t.Fatalf("%s %s: %d result sets", when, c.name, len(res))
					}
					if got, _ := res[0].IDs.GetAsInt64(0); got != int64(row) {
						t.Fatalf("%s %s: nearest neighbour of row %d is %d", when, c.name, row, got)
					}
				}
			}
		}
		check("before " + e.Name + " disruption")
		e.Disrupt(t)
		check("after " + e.Name + " disruption")

		// Refusals (code 1100 and Milvus's wording); nothing is created.
		for _, c := range []struct {
			idx index.Index
			msg string
		}{
			{index.NewIvfPQIndex(entity.L2, 16, 5, 8), "dimension must be abled to be divided by `m`, dimension: 16, m: 5"},
			{index.NewIvfPQIndex(entity.L2, 16, 4, 17), "param 'nbits' (17) should be in range [1, 16]"},
			{index.NewIvfSQ8Index(entity.L2, 70000), "param 'nlist' (70000) should be in range [1, 65536]"},
			{generic("HNSW_SQ", map[string]string{"sq_type": "SQ9"}), "invalid sq_type: SQ9"},
		} {
			_, err := e.C.CreateIndex(e.Ctx, milvusclient.NewCreateIndexOption(names[0], "vec", c.idx).WithIndexName("other"))
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("create index %v: %v, want %q", c.idx.Params(), err, c.msg)
			}
		}
		for _, name := range names {
			if err := e.C.DropCollection(e.Ctx, milvusclient.NewDropCollectionOption(name)); err != nil {
				t.Fatal(err)
			}
		}
	})
}

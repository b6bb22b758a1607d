package milvus

import (
	"errors"
	"math/rand"
	"net"
	"sort"
	"testing"

	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
	sdkmerr "github.com/milvus-io/milvus/pkg/v2/util/merr"

	"github.com/tandem-db/tandem/internal/engine"
)

// startServerWith serves an engine opened with cfg (DataDir and Logger
// filled in) on loopback.
func startServerWith(t *testing.T, cfg engine.Config) *testServer {
	t.Helper()
	cfg.DataDir = t.TempDir()
	cfg.Logger = quietLogger()
	eng, err := engine.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: NewServer(eng, Options{Logger: quietLogger(), ServerVersion: "test"}), addr: lis.Addr().String(), eng: eng, done: make(chan error, 1)}
	go func() { ts.done <- ts.Serve(lis) }()
	t.Cleanup(func() {
		ts.Stop()
		<-ts.done
		eng.Close()
	})
	return ts
}

// TestSDKANNIndexes: HNSW and IVF_FLAT indexes created with the official
// SDK's index constructors on flushed (sealed) data, awaited until
// Finished, then searched with the SDK's ANN params; bad search params are
// rejected with code 1100.
func TestSDKANNIndexes(t *testing.T) {
	const segMax, n, dim, k = 1500, 3500, 16, 10
	ts := startServerWith(t, engine.Config{SegmentMaxRows: segMax, Sync: engine.SyncInterval})
	c := sdkClient(t, ts)
	ctx := testCtx(t)

	r := rand.New(rand.NewSource(42))
	vecs := make([][]float32, n)
	ids := make([]int64, n)
	for i := range vecs {
		ids[i] = int64(i)
		vecs[i] = make([]float32, dim)
		for j := range vecs[i] {
			vecs[i][j] = r.Float32()
		}
	}
	brute := func(q []float32) []int64 {
		type hit struct {
			id int64
			d  float32
		}
		hs := make([]hit, n)
		for i, v := range vecs {
			var d float32
			for j := range v {
				x := v[j] - q[j]
				d += x * x
			}
			hs[i] = hit{int64(i), d}
		}
		sort.Slice(hs, func(a, b int) bool { return hs[a].d < hs[b].d })
		out := make([]int64, k)
		for i := range out {
			out[i] = hs[i].id
		}
		return out
	}
	queries := []int{5, 1700, 3400} // first segment, second, the small tail

	for _, tc := range []struct {
		name  string
		idx   index.Index
		ann   index.AnnParam
		bad   index.AnnParam
		state string
	}{
		{"hnsw", index.NewHNSWIndex(entity.L2, 16, 200), index.NewHNSWAnnParam(64), index.NewHNSWAnnParam(5), "HNSW"},
		{"ivf", index.NewIvfFlatIndex(entity.L2, 16), index.NewIvfAnnParam(8), index.NewIvfAnnParam(17), "IVF_FLAT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			schema := entity.NewSchema().WithName(tc.name).
				WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
				WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(dim))
			must(t, c.CreateCollection(ctx, milvusclient.NewCreateCollectionOption(tc.name, schema)))
			_, err := c.Insert(ctx, milvusclient.NewColumnBasedInsertOption(tc.name,
				column.NewColumnInt64("id", ids), column.NewColumnFloatVector("vec", dim, vecs)))
			must(t, err)
			ft, err := c.Flush(ctx, milvusclient.NewFlushOption(tc.name))
			must(t, err)
			must(t, ft.Await(ctx))

			task, err := c.CreateIndex(ctx, milvusclient.NewCreateIndexOption(tc.name, "vec", tc.idx))
			must(t, err)
			must(t, task.Await(ctx))
			desc, err := c.DescribeIndex(ctx, milvusclient.NewDescribeIndexOption(tc.name, "vec"))
			must(t, err)
			if desc.Params()["index_type"] != tc.state || desc.IndexedRows != n || desc.TotalRows != n || desc.PendingIndexRows != 0 {
				t.Fatalf("DescribeIndex: %+v params %v", desc, desc.Params())
			}
			lt, err := c.LoadCollection(ctx, milvusclient.NewLoadCollectionOption(tc.name))
			must(t, err)
			must(t, lt.Await(ctx))

			qv := make([]entity.Vector, len(queries))
			for i, id := range queries {
				qv[i] = entity.FloatVector(vecs[id])
			}
			rs, err := c.Search(ctx, milvusclient.NewSearchOption(tc.name, k, qv).WithANNSField("vec").WithAnnParam(tc.ann))
			must(t, err)
			hits, total := 0, 0
			for i, id := range queries {
				got := int64s(t, rs[i].IDs)
				if len(got) != k || got[0] != int64(id) {
					t.Fatalf("query %d: ids %v", id, got)
				}
				for _, w := range brute(vecs[id]) {
					total++
					for _, g := range got {
						if g == w {
							hits++
						}
					}
				}
			}
			if rec := float64(hits) / float64(total); rec < 0.9 {
				t.Fatalf("recall@%d %.3f", k, rec)
			}
			_, err = c.Search(ctx, milvusclient.NewSearchOption(tc.name, k, qv).WithANNSField("vec").WithAnnParam(tc.bad))
			if !errors.Is(err, sdkmerr.ErrParameterInvalid) {
				t.Fatalf("bad ann param: %v, want invalid parameter", err)
			}
		})
	}

	// Bad index params: code 1100, nothing created.
	_, err := c.CreateIndex(ctx, milvusclient.NewCreateIndexOption("hnsw", "vec", index.NewHNSWIndex(entity.L2, 1, 200)))
	if !errors.Is(err, sdkmerr.ErrParameterInvalid) {
		t.Fatalf("HNSW M=1: %v, want invalid parameter", err)
	}
}

package engine

import (
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/tandem-db/tandem/internal/merr"
)

// TestQuantIndexRecall: each quantized / mapped index type over sealed
// segments reaches its recall floor, persists its files, reloads them on
// restart without a rebuild and returns the same results.
func TestQuantIndexRecall(t *testing.T) {
	const n, dim, k = 2*annSegMax + 300, 16, 10
	for _, tc := range []struct {
		params map[string]string
		search map[string]string
		ext    string
		min    float64
	}{
		{map[string]string{"index_type": "IVF_SQ8", "metric_type": "L2", "nlist": "32"}, map[string]string{"nprobe": "8"}, ".ivfq", 0.85},
		{map[string]string{"index_type": "IVF_PQ", "metric_type": "L2", "nlist": "32", "m": "8"}, map[string]string{"nprobe": "8"}, ".ivfq", 0.5},
		{map[string]string{"index_type": "SCANN", "metric_type": "L2", "nlist": "32"}, map[string]string{"nprobe": "8", "reorder_k": "40"}, ".ivfq", 0.85},
		{map[string]string{"index_type": "HNSW_SQ", "metric_type": "L2", "M": "16", "efConstruction": "100"}, map[string]string{"ef": "64"}, ".hnswq", 0.85},
		{map[string]string{"index_type": "HNSW_SQ", "metric_type": "COSINE", "refine": "true", "refine_type": "FP32"}, map[string]string{"ef": "64", "refine_k": "2"}, ".hnswq", 0.85},
		{map[string]string{"index_type": "HNSW_PQ", "metric_type": "L2", "m": "8", "refine": "true"}, map[string]string{"ef": "64", "refine_k": "3"}, ".hnswq", 0.8},
		{map[string]string{"index_type": "DISKANN", "metric_type": "L2"}, map[string]string{"search_list": "64"}, ".hnsw", 0.9},
	} {
		t.Run(tc.params["index_type"]+"-"+tc.params["metric_type"], func(t *testing.T) {
			f := newANNFixture(t, n, dim, tc.params)
			waitBuilds(t, f.e)
			if _, indexed := annSegs(f.e); indexed != 2 {
				t.Fatalf("indexed %d segments, want 2", indexed)
			}
			qs := queries(rand.New(rand.NewSource(5)), 50, dim)
			want := make([][]int64, len(qs))
			cos := tc.params["metric_type"] == "COSINE"
			for i, q := range qs {
				if cos {
					want[i] = nil
				} else {
					want[i] = f.brute(q, n, k, nil)
				}
			}
			got := f.search(t, qs, k, tc.search, "")
			if !cos {
				r := recall(got, want)
				t.Logf("%v %v: recall@10 = %.4f", tc.params, tc.search, r)
				if r < tc.min {
					t.Fatalf("recall@10 %.4f < %.2f", r, tc.min)
				}
			} else if len(got[0]) != k {
				t.Fatalf("cosine search returned %d rows", len(got[0]))
			}
			must0(t, f.e.Close())
			files := indexFiles(t, f.dir)
			if len(files) != 3 && len(files) != 2 || !strings.HasSuffix(files[0], tc.ext) {
				t.Fatalf("index files %v, want *%s", files, tc.ext)
			}
			f.e = openANN(t, f.dir, f.log)
			defer f.e.Close()
			waitBuilds(t, f.e)
			if l, b := f.e.ix.loads.Load(), f.e.ix.nBuilt.Load(); l != int64(len(files)) || b != 0 {
				t.Fatalf("reopen: loaded %d, built %d; want %d, 0 (log %s)", l, b, len(files), f.log.String())
			}
			if after := f.search(t, qs, k, tc.search, ""); !slices.EqualFunc(got, after, slices.Equal) {
				t.Fatalf("results changed after reload")
			}
			// Filters and deletes are honoured by the quantized path.
			for _, row := range f.search(t, qs[:5], k, tc.search, "grp == 3") {
				for _, id := range row {
					if id%10 != 3 {
						t.Fatalf("filtered search returned id %d", id)
					}
				}
			}
		})
	}
}

// TestQuantIndexParams: Milvus's refusals (code 1100, its wording) and
// nothing written.
func TestQuantIndexParams(t *testing.T) {
	f := newANNFixture(t, 50, 6, hnswL2(16, 200))
	defer f.e.Close()
	must0(t, f.e.CreateCollection(bg, "", annSchema("b", 6), CreateCollectionOptions{}))
	lsn := f.e.LastLSN()
	for _, tc := range []struct {
		p   map[string]string
		msg string
	}{
		{map[string]string{"index_type": "IVF_SQ8", "nlist": "0"}, "param 'nlist' (0) should be in range [1, 65536]"},
		{map[string]string{"index_type": "IVF_SQ8", "nlist": "65537"}, "param 'nlist' (65537) should be in range [1, 65536]"},
		{map[string]string{"index_type": "IVF_PQ", "nlist": "8"}, "parameter `m` not found"},
		{map[string]string{"index_type": "IVF_PQ", "m": "4"}, "dimension must be abled to be divided by `m`, dimension: 6, m: 4"},
		{map[string]string{"index_type": "IVF_PQ", "m": "x"}, "invalid `m`: x"},
		{map[string]string{"index_type": "IVF_PQ", "m": "3", "nbits": "17"}, "param 'nbits' (17) should be in range [1, 16]"},
		{map[string]string{"index_type": "HNSW_SQ", "sq_type": "SQ9"}, "invalid sq_type: SQ9"},
		{map[string]string{"index_type": "HNSW_SQ", "refine": "true", "refine_type": "SQ6"}, "must be of higher precision"},
		{map[string]string{"index_type": "HNSW_SQ", "refine": "maybe"}, "param 'refine' (maybe) should be a boolean"},
		{map[string]string{"index_type": "HNSW_PQ", "m": "4"}, "dimension must be abled to be divided by `m`"},
		{map[string]string{"index_type": "DISKANN", "max_degree": "0"}, "param 'max_degree' (0) should be in range [1, 512]"},
	} {
		err := f.e.CreateIndex(bg, "", "b", "vec", "", tc.p)
		if merr.Code(err) != merr.ErrParameterInvalid.Code || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("CreateIndex %v: %v (code %d), want 1100 %q", tc.p, err, merr.Code(err), tc.msg)
		}
	}
	// SCANN needs an even dimension.
	must0(t, f.e.CreateCollection(bg, "", annSchema("c", 5), CreateCollectionOptions{}))
	if err := f.e.CreateIndex(bg, "", "c", "vec", "", map[string]string{"index_type": "SCANN"}); merr.Code(err) != 1100 ||
		!strings.Contains(err.Error(), "dimension must be able to be divided by 2, dimension: 5") {
		t.Errorf("SCANN odd dim: %v", err)
	}
	if f.e.LastLSN() != lsn+1 {
		t.Fatalf("rejected CreateIndex wrote records: lsn %d -> %d", lsn, f.e.LastLSN())
	}
	// Search params.
	must0(t, f.e.CreateIndex(bg, "", "b", "vec", "", map[string]string{"index_type": "HNSW_SQ", "metric_type": "L2", "refine": "true"}))
	must0(t, f.e.LoadCollection(bg, "", "b"))
	q := [][]float32{make([]float32, 6)}
	for p, want := range map[string]int32{"0.5": 1100, "x": 1100, "1": 0, "2.5": 0} {
		_, err := f.e.Search(bg, &SearchRequest{Collection: "b", Vectors: q, TopK: 3, Params: map[string]string{"refine_k": p}, RoundDecimal: -1})
		if merr.Code(err) != want {
			t.Errorf("refine_k %s: %v, want code %d", p, err, want)
		}
	}
}

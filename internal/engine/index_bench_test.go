package engine

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

// BenchmarkSearchHNSW: nq=1, top-10, L2, through Engine.Search, over 60k x
// 784 clustered vectors (100 seeded clusters) in one sealed segment with an
// HNSW index (M=16, efConstruction=200, built in the background with
// GOMAXPROCS threads). Reports single-client QPS and recall@10 per ef, and
// the build time.
func BenchmarkSearchHNSW(b *testing.B) {
	const dim, n, per, k, nq = 784, 60000, 2000, 10, 200
	f := &annFixture{dir: b.TempDir(), dim: dim, log: &syncBuf{}}
	f.e = openTest(b, f.dir, func(c *Config) { c.SegmentMaxRows = 0; c.Sync = SyncInterval })
	defer f.e.Close()
	must0(b, f.e.CreateCollection(bg, "", annSchema("a", dim), CreateCollectionOptions{}))
	r := rand.New(rand.NewSource(1))
	all := clustered(r, n+nq, dim, 100, 0.15)
	f.vecs = all[:n*dim]
	for i := 0; i < n; i += per {
		grp := make([]int64, per)
		fields := []*schemapb.FieldData{longField("id", seq(i, per)), vecField("vec", dim, f.vecs[i*dim:(i+per)*dim]), longField("grp", grp)}
		if _, err := f.e.Insert(bg, "", "a", "", fields, per); err != nil {
			b.Fatal(err)
		}
	}
	must0(b, f.e.Flush(bg, "", []string{"a"}))
	start := time.Now()
	must0(b, f.e.CreateIndex(bg, "", "a", "vec", "", hnswL2(16, 200)))
	waitBuilds(b, f.e)
	build := time.Since(start)
	must0(b, f.e.LoadCollection(bg, "", "a"))
	if _, indexed := annSegs(f.e); indexed != 1 {
		b.Fatalf("indexed segments %d, want 1", indexed)
	}
	qs := make([][]float32, nq)
	want := make([][]int64, nq)
	for i := range qs {
		qs[i] = all[(n+i)*dim : (n+i+1)*dim]
		want[i] = f.brute(qs[i], n, k, nil)
	}
	segs, _ := annSegs(f.e)
	si := segs[0].ann[1].Load()
	// The index alone (no engine overhead), for comparison.
	b.Run("index-only/ef=64", func(b *testing.B) {
		i := 0
		t0 := time.Now()
		for b.Loop() {
			si.h.Search(qs[i%nq], k, 64, nil)
			i++
		}
		b.ReportMetric(float64(i)/time.Since(t0).Seconds(), "qps")
	})
	for _, ef := range []int{16, 32, 64, 128} {
		b.Run(fmt.Sprintf("ef=%d", ef), func(b *testing.B) {
			params := map[string]string{"ef": fmt.Sprint(ef)}
			got := f.search(b, qs, k, params, "")
			req := &SearchRequest{Collection: "a", TopK: k, Params: params, RoundDecimal: -1}
			b.ReportAllocs()
			i := 0
			t0 := time.Now()
			for b.Loop() {
				req.Vectors = qs[i%nq : i%nq+1]
				if _, err := f.e.Search(bg, req); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(i)/time.Since(t0).Seconds(), "qps")
			b.ReportMetric(recall(got, want), "recall@10")
			b.ReportMetric(build.Seconds(), "build_s")
		})
	}
}

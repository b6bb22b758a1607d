package hnsw

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/tandem-db/tandem/internal/dataset"
)

// Benchmarks on Fashion-MNIST (skipped when /work/data/fashion-mnist is
// absent). The graph is built once and cached in /tmp so that search
// benchmarks do not rebuild it.

const fashionDir = "/work/data/fashion-mnist"

type rows struct{ v *dataset.Vectors }

func (r rows) Dim() int { return r.v.Dim }
func (r rows) Vector(id uint32) []float32 {
	o := int(id) * r.v.Dim
	return r.v.Data[o : o+r.v.Dim : o+r.v.Dim]
}

func fashion(b *testing.B) (*dataset.Vectors, *dataset.Vectors, [][]int32) {
	base, err := dataset.ReadFvecs(fashionDir+"/base.fvecs", 0)
	if err != nil {
		b.Skip("no Fashion-MNIST:", err)
	}
	q, err := dataset.ReadFvecs(fashionDir+"/query.fvecs", 2000)
	if err != nil {
		b.Skip(err)
	}
	gt, err := dataset.ReadIvecs(fashionDir+"/groundtruth.ivecs", 2000)
	if err != nil {
		b.Skip(err)
	}
	return base, q, gt
}

func fashionIndex(b *testing.B, base *dataset.Vectors) *Index {
	const cache = "/tmp/tandem-fashion-hnsw.idx"
	if f, err := os.ReadFile(cache); err == nil {
		if x, err := Load(bytes.NewReader(f), rows{base}); err == nil {
			return x
		}
	}
	cfg := DefaultConfig()
	cfg.Metric = 1 // L2
	cfg.Seed = 1
	x, err := New(cfg, rows{base}, base.N())
	if err != nil {
		b.Fatal(err)
	}
	if err := x.AddAll(base.N(), 0); err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	x.WriteTo(&buf)
	os.WriteFile(cache, buf.Bytes(), 0o644)
	return x
}

func benchFashionSearch(b *testing.B, ef int) {
	base, q, gt := fashion(b)
	x := fashionIndex(b, base)
	b.ResetTimer()
	hits := 0
	for i := 0; i < b.N; i++ {
		j := i % q.N()
		res := x.Search(q.Row(j), 10, ef, nil)
		for _, h := range res {
			for _, g := range gt[j][:10] {
				if int64(g) == h.ID {
					hits++
				}
			}
		}
	}
	b.ReportMetric(float64(hits)/float64(10*b.N), "recall")
}

func BenchmarkFashionSearchEf16(b *testing.B) { benchFashionSearch(b, 16) }
func BenchmarkFashionSearchEf64(b *testing.B) { benchFashionSearch(b, 64) }

// BenchmarkFashionBuild10k builds a graph over the first 10000 rows with
// one thread.
func BenchmarkFashionBuild10k(b *testing.B) {
	base, _, _ := fashion(b)
	for i := 0; i < b.N; i++ {
		cfg := DefaultConfig()
		cfg.Metric = 1
		x, _ := New(cfg, rows{base}, 10000)
		if err := x.AddAll(10000, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBuildScaling (env TUNE=1) times building 20000 Fashion-MNIST rows with
// 1 and 2 threads.
func TestBuildScaling(t *testing.T) {
	if os.Getenv("TUNE") == "" {
		t.Skip()
	}
	base, _, _ := fashion(&testing.B{})
	for _, th := range []int{1, 2} {
		cfg := DefaultConfig()
		cfg.Metric = 1
		x, _ := New(cfg, rows{base}, 20000)
		t0 := time.Now()
		if err := x.AddAll(20000, th); err != nil {
			t.Fatal(err)
		}
		t.Logf("threads=%d: %v", th, time.Since(t0))
	}
}

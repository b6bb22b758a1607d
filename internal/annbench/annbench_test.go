package annbench

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/tandem-db/tandem/internal/dataset"
)

func TestRunSmall(t *testing.T) {
	dir := t.TempDir()
	base := dataset.Random(2000, 16, 1)
	q := dataset.Random(50, 16, 2)
	if err := dataset.WriteFvecs(filepath.Join(dir, "base.fvecs"), base); err != nil {
		t.Fatal(err)
	}
	if err := dataset.WriteFvecs(filepath.Join(dir, "query.fvecs"), q); err != nil {
		t.Fatal(err)
	}
	for _, idx := range []string{"HNSW", "IVF_FLAT"} {
		var pts []Point
		err := Run(Options{DatasetDir: dir, Index: idx, Efs: []int{10, 200}, Nlist: 16, Nprobes: []int{1, 16},
			BaseLimit: 2000, Repeats: 1}, func(p Point) { pts = append(pts, p) })
		if err != nil {
			t.Fatal(err)
		}
		if len(pts) != 2 {
			t.Fatalf("%s: %d points", idx, len(pts))
		}
		last := pts[1]
		if last.Engine != "tandem" || last.Index != idx || last.RecallAt10 < 0.99 || last.QPS1Thread <= 0 ||
			last.QPSBatch <= 0 || last.BuildSeconds <= 0 {
			t.Fatalf("%s: bad point %+v", idx, last)
		}
		s := Summary(pts)[idx].(map[string]any)
		if _, ok := s["tandem_qps_1thread@0.95"]; !ok {
			t.Fatalf("summary %v", s)
		}
	}
	if err := Run(Options{DatasetDir: dir, Index: "LSH", BaseLimit: 2000}, func(Point) {}); err == nil {
		t.Fatal("unknown index accepted")
	}
	if err := Run(Options{DatasetDir: filepath.Join(dir, "missing")}, func(Point) {}); err == nil {
		t.Fatal("missing dataset accepted")
	}
}

func TestSummaryInterpolates(t *testing.T) {
	pts := []Point{
		{Engine: "tandem", Index: "HNSW", RecallAt10: 0.90, QPS1Thread: 2000, QPSBatch: 4000, BuildSeconds: 10, RSSMB: 10,
			Params: map[string]any{"vectors_mb": 90.0, "build_cpu_seconds": 20.0}},
		{Engine: "tandem", Index: "HNSW", RecallAt10: 1.00, QPS1Thread: 1000, QPSBatch: 2000, BuildSeconds: 10, RSSMB: 10},
		{Engine: "hnswlib", Index: "HNSW", RecallAt10: 0.94, QPS1Thread: 1000, QPSBatch: 2000, BuildSeconds: 20, RSSMB: 200,
			Params: map[string]any{"build_cpu_seconds": 40.0}},
		{Engine: "hnswlib", Index: "HNSW", RecallAt10: 0.98, QPS1Thread: 500, QPSBatch: 1000, BuildSeconds: 20, RSSMB: 200},
	}
	s := Summary(pts)["HNSW"].(map[string]any)
	near := func(key string, want float64) {
		t.Helper()
		got, ok := s[key].(float64)
		if !ok || math.Abs(got-want) > 1e-9*math.Max(1, want) {
			t.Errorf("%s = %v, want %v", key, s[key], want)
		}
	}
	near("tandem_qps_1thread@0.95", 1500)
	near("hnswlib_qps_1thread@0.95", 875)
	near("qps_ratio_1thread@0.95", 1500.0/875)
	near("tandem_qps_batch@0.99", 2200)
	near("build_time_ratio", 0.5)
	near("build_cpu_ratio", 0.5)
	near("memory_ratio", 0.05)
	near("memory_ratio_with_vectors", 0.5)
	if s["hnswlib_qps_1thread@0.99"] != nil || s["qps_ratio_1thread@0.99"] != nil {
		t.Errorf("unreached target should be nil: %v", s)
	}
}

package annbench

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-db/tandem/internal/dataset"
	"github.com/tandem-db/tandem/internal/index/distance"
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
	if _, ok := s["native_qps_ratio_1thread@0.95"]; ok {
		t.Errorf("native ratios without native points: %v", s)
	}

	// The native build: the same figures under native_ keys.
	pts = append(pts,
		Point{Engine: NativeEngine, Index: "HNSW", RecallAt10: 0.90, QPS1Thread: 3000, QPSBatch: 6000, BuildSeconds: 5, RSSMB: 100,
			Params: map[string]any{"build_cpu_seconds": 10.0}},
		Point{Engine: NativeEngine, Index: "HNSW", RecallAt10: 1.00, QPS1Thread: 2000, QPSBatch: 4000, BuildSeconds: 5, RSSMB: 100})
	s = Summary(pts)["HNSW"].(map[string]any)
	near("qps_ratio_1thread@0.95", 1500.0/875)
	near("hnswlib_native_qps_1thread@0.95", 2500)
	near("native_qps_ratio_1thread@0.95", 1500.0/2500)
	near("native_qps_ratio_batch@0.99", 2200.0/4200)
	near("native_build_time_ratio", 2)
	near("native_build_cpu_ratio", 2)
	near("native_memory_ratio", 0.1)
	near("native_memory_ratio_with_vectors", 1)
}

// smallDataset writes base, query and exact ground truth files into a new
// directory.
func smallDataset(t *testing.T, n, nq, dim int) string {
	t.Helper()
	dir := t.TempDir()
	base, q := dataset.Random(n, dim, 1), dataset.Random(nq, dim, 2)
	if err := dataset.WriteFvecs(filepath.Join(dir, "base.fvecs"), base); err != nil {
		t.Fatal(err)
	}
	if err := dataset.WriteFvecs(filepath.Join(dir, "query.fvecs"), q); err != nil {
		t.Fatal(err)
	}
	gt := dataset.ExactKNN(distance.L2, base, q, 100, 0, nil)
	if err := dataset.WriteIvecs(filepath.Join(dir, "groundtruth.ivecs"), gt); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestNativeAnchor compiles anchors/hnswlib_native.cpp (g++ and Debian's
// libhnswlib-dev; skipped without them) into a cache directory, runs it on
// a small dataset and checks its points; a second build reuses the binary.
// Without a compiler or the headers the anchor is skipped, not an error.
func TestNativeAnchor(t *testing.T) {
	cache := t.TempDir()
	o := Options{CacheDir: cache, CXX: "tandem-no-such-compiler"}
	o.defaults()
	if _, err := buildNativeAnchor(&o); !errors.Is(err, errSkipNative) || !strings.Contains(err.Error(), "apt-get install g++") {
		t.Fatalf("no compiler: %v", err)
	}
	o = Options{CacheDir: cache, HnswlibInclude: t.TempDir()}
	o.defaults()
	if _, err := buildNativeAnchor(&o); !errors.Is(err, errSkipNative) || !strings.Contains(err.Error(), "libhnswlib-dev") {
		t.Fatalf("no headers: %v", err)
	}
	o = Options{CacheDir: cache, Efs: []int{10, 200}, Repeats: 1}
	o.defaults()
	if _, err := exec.LookPath(o.CXX); err != nil {
		t.Skip("no g++")
	}
	if _, err := os.Stat("/usr/include/hnswlib/hnswlib.h"); err != nil {
		t.Skip("no hnswlib headers (apt-get install libhnswlib-dev)")
	}
	bin, err := buildNativeAnchor(&o)
	if err != nil {
		t.Fatal(err)
	}
	o.DatasetDir = smallDataset(t, 2000, 50, 16)
	var pts []Point
	err = runAnchorCmd(exec.Command(bin, append([]string{"--efs", "10,200"}, anchorArgs(&o)...)...), func(p Point) { pts = append(pts, p) })
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 2 {
		t.Fatalf("%d points: %+v", len(pts), pts)
	}
	last := pts[1]
	if last.Engine != NativeEngine || last.Index != "HNSW" || last.Params["ef"] != 200.0 || last.RecallAt10 < 0.99 ||
		last.QPS1Thread <= 0 || last.QPSBatch <= 0 || last.BuildSeconds <= 0 {
		t.Fatalf("bad point %+v", last)
	}
	st0, _ := os.Stat(bin)
	if bin2, err := buildNativeAnchor(&o); err != nil || bin2 != bin {
		t.Fatalf("rebuild: %s %v", bin2, err)
	}
	if st1, _ := os.Stat(bin); !st1.ModTime().Equal(st0.ModTime()) {
		t.Fatal("the cached binary was compiled again")
	}
}

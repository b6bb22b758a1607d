package dataset

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/internal/index/distance"
)

// writeIDX writes n random rows x cols images as a gzipped IDX3 file.
func writeIDX(t *testing.T, path string, n, rows, cols int, seed uint64) {
	t.Helper()
	raw := idxBytes(n, rows, cols)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := 16; i < len(raw); i++ {
		raw[i] = byte(r.IntN(4)) // few values: many ties, exercising the id order
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	if err := os.WriteFile(path, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// bruteKNN is the reference: every row scored in float64, sorted by
// (score, id).
func bruteKNN(m distance.Metric, base, queries *Vectors, k int) [][]int32 {
	out := make([][]int32, queries.N())
	for i := range out {
		ids := make([]int32, base.N())
		sc := make([]float64, base.N())
		for j := range ids {
			ids[j] = int32(j)
			sc[j] = score64(m, queries.Row(i), base.Row(j))
		}
		slices.SortStableFunc(ids, func(a, b int32) int {
			switch {
			case sc[a] == sc[b]:
				return 0
			case (sc[a] < sc[b]) != m.HigherIsBetter():
				return -1
			}
			return 1
		})
		out[i] = ids[:min(k, len(ids))]
	}
	return out
}

func TestExactKNN(t *testing.T) {
	dir := t.TempDir()
	writeIDX(t, filepath.Join(dir, "b.gz"), 300, 4, 5, 1)
	writeIDX(t, filepath.Join(dir, "q.gz"), 40, 4, 5, 2)
	base, err := ReadIDXImages(filepath.Join(dir, "b.gz"), 0)
	if err != nil {
		t.Fatal(err)
	}
	qs, err := ReadIDXImages(filepath.Join(dir, "q.gz"), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []distance.Metric{distance.L2, distance.IP, distance.Cosine} {
		for _, k := range []int{1, 10, 300, 500} {
			var calls, last int
			got := ExactKNN(m, base, qs, k, 3, func(done, total int) { calls++; last = max(last, done) })
			want := bruteKNN(m, base, qs, k)
			for i := range want {
				if m == distance.L2 && !slices.Equal(got[i], want[i]) {
					t.Fatalf("%v k=%d query %d:\n got %v\nwant %v", m, k, i, got[i], want[i])
				}
				if len(got[i]) != min(k, base.N()) {
					t.Fatalf("%v k=%d: %d results", m, k, len(got[i]))
				}
			}
			if calls == 0 || last != qs.N() {
				t.Fatalf("progress: %d calls, last %d", calls, last)
			}
		}
	}
}

func TestPrepareFashionMNIST(t *testing.T) {
	src, cache := t.TempDir(), t.TempDir()
	if _, err := PrepareFashionMNIST(cache, src, nil); !errors.Is(err, ErrNoFashionMNIST) ||
		!strings.Contains(err.Error(), FashionMNISTInstall) {
		t.Fatalf("missing package: %v", err)
	}
	if ents, _ := os.ReadDir(cache); len(ents) != 0 {
		t.Fatalf("a failed prepare wrote %v", ents)
	}
	writeIDX(t, filepath.Join(src, "train-images-idx3-ubyte.gz"), 500, 3, 4, 1)
	writeIDX(t, filepath.Join(src, "t10k-images-idx3-ubyte.gz"), 30, 3, 4, 2)
	var logs []string
	log := func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }
	dir, err := PrepareFashionMNIST(cache, src, log)
	if err != nil {
		t.Fatal(err)
	}
	if dir != filepath.Join(cache, "fashion-mnist") {
		t.Fatalf("dir %s", dir)
	}
	base, err := ReadFvecs(filepath.Join(dir, "base.fvecs"), 0)
	if err != nil || base.N() != 500 || base.Dim != 12 {
		t.Fatalf("base: %v %v", base, err)
	}
	qs, err := ReadFvecs(filepath.Join(dir, "query.fvecs"), 0)
	if err != nil || qs.N() != 30 {
		t.Fatalf("query: %v", err)
	}
	gt, err := ReadIvecs(filepath.Join(dir, "groundtruth.ivecs"), 0)
	if err != nil || len(gt) != 30 || len(gt[0]) != GroundTruthK {
		t.Fatalf("groundtruth: %d rows %v", len(gt), err)
	}
	if want := bruteKNN(distance.L2, base, qs, GroundTruthK); !slices.EqualFunc(gt, want, slices.Equal) {
		t.Fatal("ground truth differs from brute force")
	}
	if !strings.Contains(strings.Join(logs, "\n"), "ground truth 30/30") {
		t.Fatalf("no progress logged: %q", logs)
	}

	// Second run: the cache is reused (the files are not rewritten).
	st0, _ := os.Stat(filepath.Join(dir, "groundtruth.ivecs"))
	logs = nil
	if _, err := PrepareFashionMNIST(cache, src, log); err != nil {
		t.Fatal(err)
	}
	st1, _ := os.Stat(filepath.Join(dir, "groundtruth.ivecs"))
	if !st1.ModTime().Equal(st0.ModTime()) || len(logs) != 1 || !strings.Contains(logs[0], "using the cache") {
		t.Fatalf("cache not reused: %q", logs)
	}

	// A changed source makes the cache stale: converted again.
	writeIDX(t, filepath.Join(src, "t10k-images-idx3-ubyte.gz"), 20, 3, 4, 3)
	later := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(src, "t10k-images-idx3-ubyte.gz"), later, later)
	logs = nil
	if _, err := PrepareFashionMNIST(cache, src, log); err != nil {
		t.Fatal(err)
	}
	if gt, err := ReadIvecs(filepath.Join(dir, "groundtruth.ivecs"), 0); err != nil || len(gt) != 20 {
		t.Fatalf("stale cache kept: %d rows %v (log %q)", len(gt), err, logs)
	}
}

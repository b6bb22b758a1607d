package flat

import (
	"cmp"
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/tandem-db/tandem/internal/index/distance"
)

var metrics = []distance.Metric{distance.L2, distance.IP, distance.Cosine}

// refTopK sorts all hits (best first, ties by smaller ID) and keeps k.
func refTopK(hits []Hit, k int, m distance.Metric) []Hit {
	hs := slices.Clone(hits)
	slices.SortFunc(hs, func(a, b Hit) int {
		if a.Score != b.Score {
			if m.HigherIsBetter() {
				return cmp.Compare(b.Score, a.Score)
			}
			return cmp.Compare(a.Score, b.Score)
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if k < len(hs) {
		hs = hs[:k]
	}
	if hs == nil {
		hs = []Hit{}
	}
	return hs
}

func equalHits(t *testing.T, what string, got, want []Hit) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d hits, want %d\ngot  %v\nwant %v", what, len(got), len(want), got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: hit %d = %v, want %v\ngot  %v\nwant %v", what, i, got[i], want[i], got, want)
		}
	}
}

func TestTopKMatchesSort(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, m := range metrics {
		for _, k := range []int{0, 1, 2, 5, 10, 100} {
			for trial := 0; trial < 20; trial++ {
				n := r.Intn(200)
				hits := make([]Hit, n)
				for i := range hits {
					// Few distinct scores so that ties are frequent.
					hits[i] = Hit{ID: int64(r.Intn(1000)), Score: float32(r.Intn(8)) - 3}
				}
				tk := NewTopK(k, m)
				for _, h := range hits {
					tk.Push(h.ID, h.Score)
				}
				want := refTopK(hits, k, m)
				if tk.Len() != len(want) {
					t.Fatalf("%v k=%d: Len %d want %d", m, k, tk.Len(), len(want))
				}
				equalHits(t, m.String(), tk.Results(), want)
				// Results does not consume.
				equalHits(t, m.String()+" again", tk.Results(), want)
			}
		}
	}
}

func TestTopKOrderIndependent(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	hits := make([]Hit, 300)
	for i := range hits {
		hits[i] = Hit{ID: int64(i), Score: float32(r.Intn(5))}
	}
	for _, m := range metrics {
		a := NewTopK(7, m)
		for _, h := range hits {
			a.Push(h.ID, h.Score)
		}
		r.Shuffle(len(hits), func(i, j int) { hits[i], hits[j] = hits[j], hits[i] })
		b := NewTopK(7, m)
		for _, h := range hits {
			b.Push(h.ID, h.Score)
		}
		equalHits(t, m.String(), b.Results(), a.Results())
	}
}

func TestTopKResetAndNaN(t *testing.T) {
	tk := NewTopK(2, distance.L2)
	tk.Push(1, float32(math.NaN()))
	tk.Push(2, 5)
	tk.Push(3, 7)
	res := tk.Results()
	if len(res) != 2 || res[0].ID != 2 || res[1].ID != 3 {
		t.Fatalf("NaN must rank last: %v", res)
	}
	tk.Reset(3)
	if tk.Len() != 0 {
		t.Fatal("Reset did not empty")
	}
	for i := 0; i < 10; i++ {
		tk.Push(int64(i), float32(10-i))
	}
	equalHits(t, "after reset", tk.Results(), []Hit{{9, 1}, {8, 2}, {7, 3}})
	tk.Reset(0)
	tk.Push(1, 1)
	if tk.Len() != 0 || len(tk.Results()) != 0 {
		t.Fatal("k=0 must keep nothing")
	}
	ip := NewTopK(1, distance.IP)
	ip.Push(1, float32(math.NaN()))
	ip.Push(2, -100)
	equalHits(t, "IP NaN", ip.Results(), []Hit{{2, -100}})
}

func randVecs(r *rand.Rand, n, dim int) []float32 {
	v := make([]float32, n*dim)
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	return v
}

// bruteHits scores every row with the single-vector kernels, with the same
// conventions as ScanBlock.
func bruteHits(m distance.Metric, q, block []float32, dim int, skip []bool, base int64) []Hit {
	var hits []Hit
	n := len(block) / dim
	for i := 0; i < n; i++ {
		if skip != nil && skip[i] {
			continue
		}
		v := block[i*dim : (i+1)*dim]
		var s float32
		switch m {
		case distance.L2:
			s = distance.L2Squared(q, v)
		case distance.IP:
			s = distance.Dot(q, v)
		case distance.Cosine:
			if d := distance.Norm(q) * distance.Norm(v); d != 0 {
				s = distance.Dot(q, v) / d
			}
		}
		hits = append(hits, Hit{ID: base + int64(i), Score: s})
	}
	return hits
}

// checkScan checks got against the brute-force top k, allowing for rounding
// differences between the batch and single kernels: the IDs must agree
// except where scores are within tolerance of each other.
func checkScan(t *testing.T, what string, m distance.Metric, got []Hit, all []Hit, k int) {
	t.Helper()
	want := refTopK(all, k, m)
	if len(got) != len(want) {
		t.Fatalf("%s: got %d hits, want %d", what, len(got), len(want))
	}
	byID := make(map[int64]float32, len(all))
	for _, h := range all {
		byID[h.ID] = h.Score
	}
	const tol = 1e-4
	for i := range got {
		s, ok := byID[got[i].ID]
		if !ok {
			t.Fatalf("%s: hit %v is skipped or unknown", what, got[i])
		}
		if math.Abs(float64(s-got[i].Score)) > tol*math.Max(1, math.Abs(float64(s))) {
			t.Fatalf("%s: hit %v score, brute force %v", what, got[i], s)
		}
		if got[i].ID != want[i].ID && math.Abs(float64(got[i].Score-want[i].Score)) > tol*math.Max(1, math.Abs(float64(want[i].Score))) {
			t.Fatalf("%s: hit %d = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func TestScanBlockMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, m := range metrics {
		for _, dim := range []int{1, 3, 8, 17, 64, 100} {
			for _, n := range []int{0, 1, 5, 511, 512, 513, 1300} {
				for _, k := range []int{1, 10, 50} {
					block := randVecs(r, n, dim)
					if n > 3 {
						// Duplicate rows create exact ties.
						copy(block[dim:2*dim], block[:dim])
						for j := 0; j < dim; j++ {
							block[3*dim+j] = 0 // zero vector: cosine 0
						}
					}
					q := randVecs(r, 1, dim)
					var norms []float32
					if m == distance.Cosine && r.Intn(2) == 0 {
						norms = make([]float32, n)
						for i := range norms {
							norms[i] = distance.Norm(block[i*dim : (i+1)*dim])
						}
					}
					var skip []bool
					switch r.Intn(3) {
					case 1:
						skip = make([]bool, n)
						for i := range skip {
							skip[i] = r.Intn(3) == 0
						}
					case 2:
						skip = make([]bool, n)
						for i := range skip {
							skip[i] = i < 600 // whole chunks skipped
						}
					}
					base := int64(r.Intn(1000))
					tk := NewTopK(k, m)
					var scratch []float32
					if r.Intn(2) == 0 {
						scratch = make([]float32, n)
					}
					ScanBlock(m, q, distance.Norm(q), block, dim, norms, skip, base, tk, scratch)
					all := bruteHits(m, q, block, dim, skip, base)
					checkScan(t, m.String(), m, tk.Results(), all, k)
				}
			}
		}
	}
}

// TestScanBlockMultipleBlocks feeds blocks in a shuffled order into one
// TopK; the result must equal a single scan.
func TestScanBlockMultipleBlocks(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	const dim, n, per = 24, 4000, 700
	block := randVecs(r, n, dim)
	q := randVecs(r, 1, dim)
	for _, m := range metrics {
		norms := make([]float32, n)
		for i := range norms {
			norms[i] = distance.Norm(block[i*dim : (i+1)*dim])
		}
		one := NewTopK(20, m)
		ScanBlock(m, q, distance.Norm(q), block, dim, norms, nil, 0, one, nil)
		many := NewTopK(20, m)
		starts := []int{}
		for s := 0; s < n; s += per {
			starts = append(starts, s)
		}
		r.Shuffle(len(starts), func(i, j int) { starts[i], starts[j] = starts[j], starts[i] })
		scratch := make([]float32, per)
		for _, s := range starts {
			e := min(s+per, n)
			ScanBlock(m, q, distance.Norm(q), block[s*dim:e*dim], dim, norms[s:e], nil, int64(s), many, scratch)
		}
		equalHits(t, m.String(), many.Results(), one.Results())
	}
}

func TestScanBlockNoAlloc(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	const dim, n = 32, 2000
	block := randVecs(r, n, dim)
	q := randVecs(r, 1, dim)
	tk := NewTopK(10, distance.L2)
	scratch := make([]float32, n)
	if a := testing.AllocsPerRun(10, func() {
		tk.Reset(10)
		ScanBlock(distance.L2, q, 0, block, dim, nil, nil, 0, tk, scratch)
	}); a != 0 {
		t.Errorf("ScanBlock allocates %v times", a)
	}
}

// BenchmarkScanBlock is FLAT search on a Fashion-MNIST-shaped block:
// 60000 x 784 float32, L2, k=10, one query at a time, single thread.
func BenchmarkScanBlock(b *testing.B) {
	const n, dim, k = 60000, 784, 10
	r := rand.New(rand.NewSource(6))
	block := randVecs(r, n, dim)
	queries := randVecs(r, 64, dim)
	tk := NewTopK(k, distance.L2)
	scratch := make([]float32, n)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		q := queries[(i%64)*dim : (i%64+1)*dim]
		i++
		tk.Reset(k)
		ScanBlock(distance.L2, q, 0, block, dim, nil, nil, 0, tk, scratch)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
}

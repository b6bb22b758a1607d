package dataset

import (
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tandem-db/tandem/internal/index/distance"
	"github.com/tandem-db/tandem/internal/index/flat"
)

// knnMargin is how many candidates beyond k the float32 scan keeps for the
// float64 re-ranking of ExactKNN.
const knnMargin = 32

// ExactKNN returns, for each query, the row numbers of its k (at most
// base.N()) nearest base vectors under metric m, best first, equal scores
// ordered by row number. It is a brute-force scan: the float32 kernels pick
// the best k+32 candidates, which are then ranked by scores recomputed in
// float64 — exact for integer-valued data such as Fashion-MNIST's pixels —,
// so the result is the true top k unless more than 32 rows lie within
// float32 rounding of the k-th. threads goroutines scan (<= 0:
// runtime.NumCPU()). progress, if non-nil, is called with the number of
// queries done, about every 1% of them and at the end, never concurrently.
func ExactKNN(m distance.Metric, base, queries *Vectors, k, threads int, progress func(done, total int)) [][]int32 {
	nq := queries.N()
	out := make([][]int32, nq)
	k = min(k, base.N())
	if k <= 0 || nq == 0 {
		return out
	}
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	step := max(1, nq/100)
	var done atomic.Int64
	var pmu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < threads; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			t := flat.NewTopK(k+knnMargin, m)
			scratch := make([]float32, 512)
			var cand []scored
			for i := w; i < nq; i += threads {
				q := queries.Row(i)
				t.Reset(k + knnMargin)
				flat.ScanBlock(m, q, distance.Norm(q), base.Data, base.Dim, nil, nil, 0, t, scratch)
				cand = cand[:0]
				for _, h := range t.Results() {
					cand = append(cand, scored{id: int32(h.ID), s: score64(m, q, base.Row(int(h.ID)))})
				}
				slices.SortFunc(cand, func(a, b scored) int {
					if a.s != b.s {
						if (a.s < b.s) != m.HigherIsBetter() {
							return -1
						}
						return 1
					}
					return int(a.id - b.id)
				})
				ids := make([]int32, min(k, len(cand)))
				for j := range ids {
					ids[j] = cand[j].id
				}
				out[i] = ids
				if d := done.Add(1); progress != nil && (d%int64(step) == 0 || d == int64(nq)) {
					pmu.Lock()
					progress(int(d), nq)
					pmu.Unlock()
				}
			}
		}(w)
	}
	wg.Wait()
	return out
}

type scored struct {
	id int32
	s  float64
}

// score64 is the metric's score of a and b computed in float64.
func score64(m distance.Metric, a, b []float32) float64 {
	var s, na, nb float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		switch m {
		case distance.L2:
			s += (x - y) * (x - y)
		default:
			s += x * y
			na += x * x
			nb += y * y
		}
	}
	if m == distance.Cosine {
		if d := math.Sqrt(na) * math.Sqrt(nb); d != 0 {
			return s / d
		}
		return 0
	}
	return s
}

package localgroup

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 < p <= 100) of ds by the
// nearest-rank method: the smallest value such that at least p% of the
// values are <= it. With few samples a high percentile is the maximum
// (p99 of 20 values is the largest), never an interpolation below it.
// It returns 0 for no values; ds is not modified.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return percentileSorted(s, p)
}

func percentileSorted(s []time.Duration, p float64) time.Duration { return PercentileSorted(s, p) }

// PercentileSorted returns the p-th percentile of sorted, non-empty s by
// the nearest-rank method (as Percentile). p is on the 0..100 scale that
// every percentile in Tandem uses (50, 90, 99; p <= 0 gives the minimum,
// p >= 100 the maximum).
func PercentileSorted[T any](s []T, p float64) T {
	if p <= 0 {
		return s[0]
	}
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

// Dist summarizes a distribution of durations, in milliseconds.
type Dist struct {
	N    int     `json:"n"`
	Min  float64 `json:"min"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Ms converts d to float milliseconds with microsecond resolution.
func Ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Summarize computes the distribution of ds (nearest-rank percentiles).
func Summarize(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Dist{
		N: len(s), Min: Ms(s[0]), Max: Ms(s[len(s)-1]),
		P50: Ms(percentileSorted(s, 50)), P90: Ms(percentileSorted(s, 90)), P99: Ms(percentileSorted(s, 99)),
		Mean: Ms(sum / time.Duration(len(s))),
	}
}

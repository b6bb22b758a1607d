// Package distance holds the vector distance kernels used by every index
// (FLAT now, HNSW and IVF next) and the Metric type.
//
// Invariants:
//   - Every kernel has a pure-Go reference (l2Generic, dotGeneric) that is
//     always compiled; SIMD kernels (Go assembly, amd64 only) are chosen once
//     at package initialisation from the CPU's features and are tested
//     against the reference. Building with the noasm tag, or for any other
//     architecture, selects the pure-Go kernels.
//   - Kernels never allocate and never retain their arguments.
//   - Callers pass slices of equal length (L2Squared, Dot) or a block holding
//     at least len(out)*dim floats (batch kernels). The exported functions
//     check these bounds (a short argument panics like an index out of
//     range) before handing the slices to assembly, which trusts them.
//   - Floating-point summation order differs between kernel sets, so results
//     agree only up to rounding, not bit for bit.
//   - The environment variable TANDEM_DISTANCE_KERNELS ("generic", "avx2",
//     "avx512") selects a less capable kernel set than the CPU's best, for
//     measurement; it is read once at start-up.
//   - L2 is reported as the squared Euclidean distance, as Milvus does.
package distance

import (
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/tandem-db/tandem/internal/merr"
)

// Metric is a similarity metric of a vector field.
type Metric uint8

// Supported metrics.
const (
	L2      Metric = iota + 1 // squared Euclidean distance (Milvus reports L2 as squared distance); lower is better
	IP                        // inner product; higher is better
	Cosine                    // cosine similarity; higher is better
	Hamming                   // binary vectors: number of differing bits; lower is better
	Jaccard                   // binary vectors: 1 - |a AND b| / |a OR b|; lower is better
)

// ParseMetric parses a Milvus metric type name ("L2", "IP", "COSINE"),
// ignoring case. Unknown names give an error wrapping
// merr.ErrParameterInvalid.
func ParseMetric(s string) (Metric, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "L2":
		return L2, nil
	case "IP":
		return IP, nil
	case "COSINE":
		return Cosine, nil
	case "HAMMING":
		return Hamming, nil
	case "JACCARD":
		return Jaccard, nil
	}
	return 0, fmt.Errorf("distance: %w",
		merr.Wrapf(merr.ErrParameterInvalid, "metric type not found or not supported, supported: [L2 IP COSINE]"))
}

// Binary reports whether m is a metric of binary vectors (HAMMING, JACCARD).
func (m Metric) Binary() bool { return m == Hamming || m == Jaccard }

// String returns the Milvus name of m: "L2", "IP", "COSINE", "HAMMING" or
// "JACCARD".
func (m Metric) String() string {
	switch m {
	case L2:
		return "L2"
	case IP:
		return "IP"
	case Cosine:
		return "COSINE"
	case Hamming:
		return "HAMMING"
	case Jaccard:
		return "JACCARD"
	}
	return fmt.Sprintf("Metric(%d)", uint8(m))
}

// HigherIsBetter reports whether a larger score is a better match under m
// (IP and Cosine); for L2 a smaller distance is better.
func (m Metric) HigherIsBetter() bool { return m == IP || m == Cosine }

// kernelSet is one implementation of every kernel.
type kernelSet struct {
	name     string
	l2       func(a, b []float32) float32
	dot      func(a, b []float32) float32
	l2Batch  func(q, block []float32, dim int, out []float32)
	dotBatch func(q, block []float32, dim int, out []float32)
}

var genericSet = kernelSet{"generic", l2Generic, dotGeneric, l2BatchGeneric, dotBatchGeneric}

// Kernel selection: the last (preferred) set this CPU supports, fixed at
// package initialisation.
var (
	l2Impl, dotImpl           func(a, b []float32) float32
	l2BatchImpl, dotBatchImpl func(q, block []float32, dim int, out []float32)
	implName                  string
)

// envKernels names the environment variable that caps the kernel set, for
// measurement and as an escape hatch: "generic", "avx2" or "avx512". An
// unknown or unavailable name leaves the CPU's best set in use.
const envKernels = "TANDEM_DISTANCE_KERNELS"

func init() {
	ks := kernelSets()
	best := ks[len(ks)-1]
	if want := os.Getenv(envKernels); want != "" {
		for _, k := range ks {
			if k.name == want {
				best = k
			}
		}
	}
	use(best)
}

func use(k kernelSet) {
	l2Impl, dotImpl, l2BatchImpl, dotBatchImpl, implName = k.l2, k.dot, k.l2Batch, k.dotBatch, k.name
}

// L2Squared returns the squared Euclidean distance between a and b.
// len(a) == len(b) is expected: it panics if len(b) < len(a) and ignores
// b's extra elements.
func L2Squared(a, b []float32) float32 { return l2Impl(a, b[:len(a)]) }

// Dot returns the inner product of a and b. len(a) == len(b) is assumed.
// It panics if len(b) < len(a).
func Dot(a, b []float32) float32 { return dotImpl(a, b[:len(a)]) }

// Norm returns the Euclidean norm of a, sqrt(Dot(a, a)).
func Norm(a []float32) float32 { return float32(math.Sqrt(float64(dotImpl(a, a)))) }

// L2SquaredBatch writes to out[i] the squared Euclidean distance between q
// and the i-th of n = len(out) vectors of dimension dim (len(q) >= dim)
// stored contiguously in block, which holds at least n*dim floats.
func L2SquaredBatch(q, block []float32, dim int, out []float32) {
	if len(out) == 0 || dim <= 0 {
		clear(out)
		return
	}
	_ = q[dim-1]
	_ = block[len(out)*dim-1]
	l2BatchImpl(q[:dim], block, dim, out)
}

// DotBatch writes to out[i] the inner product of q and the i-th of
// n = len(out) vectors of dimension dim stored contiguously in block, which
// holds at least n*dim floats.
func DotBatch(q, block []float32, dim int, out []float32) {
	if len(out) == 0 || dim <= 0 {
		clear(out)
		return
	}
	_ = q[dim-1]
	_ = block[len(out)*dim-1]
	dotBatchImpl(q[:dim], block, dim, out)
}

// Impl reports the kernel set in use: "avx512", "avx2", or "generic".
func Impl() string { return implName }

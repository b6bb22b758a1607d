package distance

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"testing"

	"github.com/tandem-db/tandem/internal/merr"
)

// testDims covers every tail length of every kernel plus common model dims.
var testDims = func() []int {
	var d []int
	for i := 0; i <= 70; i++ {
		d = append(d, i)
	}
	return append(d, 127, 128, 129, 768, 784, 1536)
}()

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	return v
}

// l2Ref and dotRef accumulate in float64, the ground truth for every kernel.
func l2Ref(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return s
}

func dotRef(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// absSum is sum |a_i*b_i| (or of squared differences), the scale of the
// rounding error of a float32 sum.
func absDot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += math.Abs(float64(a[i]) * float64(b[i]))
	}
	return s
}

// near reports whether got is within relative tolerance of want, measured
// against scale (the sum of absolute terms) so that cancellation in a dot
// product does not demand impossible precision.
func near(got float32, want, scale float64) bool {
	return math.Abs(float64(got)-want) <= 1e-5*scale+1e-6
}

func TestParseMetric(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Metric
	}{{"L2", L2}, {"l2", L2}, {"IP", IP}, {"ip", IP}, {"COSINE", Cosine}, {"Cosine", Cosine}} {
		m, err := ParseMetric(c.in)
		if err != nil || m != c.want {
			t.Errorf("ParseMetric(%q) = %v, %v; want %v", c.in, m, err, c.want)
		}
		if back, err := ParseMetric(m.String()); err != nil || back != m {
			t.Errorf("round trip of %v: %v, %v", m, back, err)
		}
	}
	for _, bad := range []string{"", "SUBSTRUCTURE", "L1", "cos"} {
		_, err := ParseMetric(bad)
		if !errors.Is(err, merr.ErrParameterInvalid) {
			t.Errorf("ParseMetric(%q) error %v does not wrap ErrParameterInvalid", bad, err)
		}
		if err != nil && !contains(err.Error(), "metric type not found or not supported, supported: [L2 IP COSINE]") {
			t.Errorf("ParseMetric(%q) error text %q", bad, err)
		}
	}
	if L2.HigherIsBetter() || !IP.HigherIsBetter() || !Cosine.HigherIsBetter() {
		t.Error("HigherIsBetter wrong")
	}
	if L2.String() != "L2" || IP.String() != "IP" || Cosine.String() != "COSINE" {
		t.Error("String wrong")
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestImpl(t *testing.T) {
	ks := kernelSets()
	want := ks[len(ks)-1].name
	if env := os.Getenv(envKernels); env != "" {
		for _, k := range ks {
			if k.name == env {
				want = env
			}
		}
	}
	if got := Impl(); got != want {
		t.Fatalf("Impl() = %q, want %q", got, want)
	}
	t.Logf("kernel sets: %d, in use: %s", len(ks), Impl())
}

// TestKernels checks every available kernel set against the float64
// reference over many dims and unaligned sub-slices.
func TestKernels(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, ks := range kernelSets() {
		t.Run(ks.name, func(t *testing.T) {
			for _, dim := range testDims {
				for off := 0; off < 3; off++ {
					a := randVec(r, dim+off+1)[off+1:]
					b := randVec(r, dim+2*off)[2*off:]
					wl, wd := l2Ref(a, b), dotRef(a, b)
					scaleL := wl
					scaleD := absDot(a, b)
					if got := ks.l2(a, b); !near(got, wl, scaleL) {
						t.Errorf("l2 dim=%d off=%d: got %v want %v", dim, off, got, wl)
					}
					if got := ks.dot(a, b); !near(got, wd, scaleD) {
						t.Errorf("dot dim=%d off=%d: got %v want %v", dim, off, got, wd)
					}
					if got := ks.dot(a, a); !near(got, dotRef(a, a), dotRef(a, a)) {
						t.Errorf("dot(a,a) dim=%d: got %v", dim, got)
					}
				}
			}
		})
	}
}

func TestKernelsLargeValues(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for _, ks := range kernelSets() {
		for _, dim := range []int{1, 7, 33, 100, 1000} {
			a, b := randVec(r, dim), randVec(r, dim)
			for i := range a {
				a[i] *= 1000
				b[i] *= -50
			}
			if got, want := ks.l2(a, b), l2Ref(a, b); !near(got, want, want) {
				t.Errorf("%s l2 dim=%d: got %v want %v", ks.name, dim, got, want)
			}
			if got, want := ks.dot(a, b), dotRef(a, b); !near(got, want, absDot(a, b)) {
				t.Errorf("%s dot dim=%d: got %v want %v", ks.name, dim, got, want)
			}
		}
	}
}

// TestBatchKernels checks the batch kernels against the reference, with the
// block starting at unaligned offsets and holding extra trailing floats.
func TestBatchKernels(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, ks := range kernelSets() {
		t.Run(ks.name, func(t *testing.T) {
			for _, dim := range testDims {
				if dim == 0 {
					continue
				}
				for _, n := range []int{1, 2, 3, 5, 17} {
					off := r.Intn(4)
					q := randVec(r, dim+off)[off:]
					block := randVec(r, n*dim+off+r.Intn(3))[off:]
					out := make([]float32, n+1)
					out[n] = 42 // sentinel: must not be written
					ks.l2Batch(q, block, dim, out[:n])
					for i := 0; i < n; i++ {
						v := block[i*dim : (i+1)*dim]
						if want := l2Ref(q, v); !near(out[i], want, want) {
							t.Fatalf("l2Batch dim=%d n=%d row %d: got %v want %v", dim, n, i, out[i], want)
						}
					}
					ks.dotBatch(q, block, dim, out[:n])
					for i := 0; i < n; i++ {
						v := block[i*dim : (i+1)*dim]
						if want := dotRef(q, v); !near(out[i], want, absDot(q, v)) {
							t.Fatalf("dotBatch dim=%d n=%d row %d: got %v want %v", dim, n, i, out[i], want)
						}
					}
					if out[n] != 42 {
						t.Fatalf("batch dim=%d n=%d wrote past out", dim, n)
					}
				}
			}
		})
	}
}

func TestExported(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	for _, dim := range []int{1, 5, 16, 100, 784} {
		a, b := randVec(r, dim), randVec(r, dim)
		if got, want := L2Squared(a, b), l2Ref(a, b); !near(got, want, want) {
			t.Errorf("L2Squared dim=%d: %v want %v", dim, got, want)
		}
		if got, want := Dot(a, b), dotRef(a, b); !near(got, want, absDot(a, b)) {
			t.Errorf("Dot dim=%d: %v want %v", dim, got, want)
		}
		if got, want := Norm(a), math.Sqrt(dotRef(a, a)); math.Abs(float64(got)-want) > 1e-5*want {
			t.Errorf("Norm dim=%d: %v want %v", dim, got, want)
		}
		block := randVec(r, 3*dim)
		out := make([]float32, 3)
		L2SquaredBatch(a, block, dim, out)
		for i := range out {
			if want := l2Ref(a, block[i*dim:(i+1)*dim]); !near(out[i], want, want) {
				t.Errorf("L2SquaredBatch dim=%d row %d: %v want %v", dim, i, out[i], want)
			}
		}
		DotBatch(a, block, dim, out)
		for i := range out {
			v := block[i*dim : (i+1)*dim]
			if want := dotRef(a, v); !near(out[i], want, absDot(a, v)) {
				t.Errorf("DotBatch dim=%d row %d: %v want %v", dim, i, out[i], want)
			}
		}
	}
	// Empty inputs.
	if L2Squared(nil, nil) != 0 || Dot(nil, nil) != 0 || Norm(nil) != 0 {
		t.Error("empty vectors must score 0")
	}
	L2SquaredBatch(nil, nil, 4, nil)
	DotBatch([]float32{1}, []float32{1}, 1, []float32{})
}

func TestKernelsDoNotAllocate(t *testing.T) {
	a, b := make([]float32, 100), make([]float32, 1000)
	out := make([]float32, 10)
	if n := testing.AllocsPerRun(10, func() {
		L2Squared(a, b[:100])
		Dot(a, b[:100])
		L2SquaredBatch(a, b, 100, out)
		DotBatch(a, b, 100, out)
	}); n != 0 {
		t.Errorf("kernels allocate %v times", n)
	}
}

func BenchmarkL2(b *testing.B) {
	for _, dim := range []int{128, 768, 784} {
		r := rand.New(rand.NewSource(5))
		x, y := randVec(r, dim), randVec(r, dim)
		for _, ks := range kernelSets() {
			b.Run(fmt.Sprintf("dim=%d/%s", dim, ks.name), func(b *testing.B) {
				b.SetBytes(int64(8 * dim))
				var s float32
				for b.Loop() {
					s += ks.l2(x, y)
				}
				_ = s
			})
		}
	}
}

func BenchmarkDot(b *testing.B) {
	for _, dim := range []int{128, 768, 784} {
		r := rand.New(rand.NewSource(6))
		x, y := randVec(r, dim), randVec(r, dim)
		for _, ks := range kernelSets() {
			b.Run(fmt.Sprintf("dim=%d/%s", dim, ks.name), func(b *testing.B) {
				b.SetBytes(int64(8 * dim))
				var s float32
				for b.Loop() {
					s += ks.dot(x, y)
				}
				_ = s
			})
		}
	}
}

// BenchmarkL2Batch scores one query against 512 rows (an L1/L2-resident
// block), per kernel set; ns/op is for the whole block.
func BenchmarkL2Batch(b *testing.B) {
	const n = 512
	for _, dim := range []int{128, 784} {
		r := rand.New(rand.NewSource(7))
		q, block := randVec(r, dim), randVec(r, n*dim)
		out := make([]float32, n)
		for _, ks := range kernelSets() {
			b.Run(fmt.Sprintf("dim=%d/%s", dim, ks.name), func(b *testing.B) {
				b.SetBytes(int64(4 * n * dim))
				for b.Loop() {
					ks.l2Batch(q, block, dim, out)
				}
			})
		}
	}
}

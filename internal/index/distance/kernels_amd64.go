//go:build amd64 && !noasm

package distance

import "golang.org/x/sys/cpu"

// Assembly kernels (kernels_avx2_amd64.s, kernels_avx512_amd64.s). The
// batch kernels take len(q) == dim, len(out) >= 1 and len(block) >=
// len(out)*dim, which the exported wrappers guarantee.

//go:noescape
func l2AVX2(a, b []float32) float32

//go:noescape
func dotAVX2(a, b []float32) float32

//go:noescape
func l2BatchAVX2(q, block []float32, dim int, out []float32)

//go:noescape
func dotBatchAVX2(q, block []float32, dim int, out []float32)

//go:noescape
func l2AVX512(a, b []float32) float32

//go:noescape
func dotAVX512(a, b []float32) float32

//go:noescape
func l2BatchAVX512(q, block []float32, dim int, out []float32)

//go:noescape
func dotBatchAVX512(q, block []float32, dim int, out []float32)

var (
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasAVX512 = hasAVX2 && cpu.X86.HasAVX512F
)

// kernelSets lists every kernel set this CPU can run, generic first and
// the preferred set last.
func kernelSets() []kernelSet {
	ks := []kernelSet{genericSet}
	if hasAVX2 {
		ks = append(ks, kernelSet{"avx2", l2AVX2, dotAVX2, l2BatchAVX2, dotBatchAVX2})
	}
	if hasAVX512 {
		ks = append(ks, kernelSet{"avx512", l2AVX512, dotAVX512, l2BatchAVX512, dotBatchAVX512})
	}
	return ks
}

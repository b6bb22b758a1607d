package quant

import (
	"math"

	"github.com/tandem-db/tandem/internal/index/distance"
)

// SQ8 is a trained 8-bit per-dimension scalar quantizer.
type SQ8 struct {
	Dim   int
	vmin  []float32
	scale []float32 // vdiff/255
}

// TrainSQ8 computes the per-dimension min and range of rows (each of
// length dim). With no rows every dimension maps to [0, 1].
func TrainSQ8(dim int, rows func(yield func([]float32) bool)) *SQ8 {
	lo := make([]float32, dim)
	hi := make([]float32, dim)
	for j := range lo {
		lo[j], hi[j] = float32(math.Inf(1)), float32(math.Inf(-1))
	}
	for v := range rows {
		for j, x := range v[:dim] {
			lo[j] = min(lo[j], x)
			hi[j] = max(hi[j], x)
		}
	}
	s := &SQ8{Dim: dim, vmin: lo, scale: make([]float32, dim)}
	for j := range lo {
		if lo[j] > hi[j] { // no rows
			lo[j], hi[j] = 0, 1
		}
		d := hi[j] - lo[j]
		if d <= 0 || d != d {
			d = 1 // constant dimension: every code decodes to vmin
		}
		s.scale[j] = d / 255
	}
	return s
}

// Encode writes the code of v into dst (len Dim) and returns the squared
// norm of the decoded vector.
func (s *SQ8) Encode(v []float32, dst []byte) float32 {
	var n float32
	for j := range s.Dim {
		c := math.Round(float64((v[j] - s.vmin[j]) / s.scale[j]))
		c = max(0, min(255, c))
		dst[j] = byte(c)
		x := s.vmin[j] + float32(c)*s.scale[j]
		n += x * x
	}
	return n
}

// Decode writes the decoded vector of code c into dst (len Dim).
func (s *SQ8) Decode(c []byte, dst []float32) {
	for j := range s.Dim {
		dst[j] = s.vmin[j] + float32(c[j])*s.scale[j]
	}
}

// SQQuery is a query prepared against an SQ8 codec: for a code c,
// q·decode(c) = Base + DotU8(W, c).
type SQQuery struct {
	W    []float32
	Base float32 // q·vmin
	QQ   float32 // ||q||^2
}

// Prepare fills sq for query q (reusing sq.W).
func (s *SQ8) Prepare(q []float32, sq *SQQuery) {
	if cap(sq.W) < s.Dim {
		sq.W = make([]float32, s.Dim)
	}
	sq.W = sq.W[:s.Dim]
	for j := range s.Dim {
		sq.W[j] = q[j] * s.scale[j]
	}
	sq.Base = distance.Dot(q, s.vmin)
	sq.QQ = distance.Dot(q, q)
}

// Dot returns q·decode(c).
func (sq *SQQuery) Dot(c []byte) float32 { return sq.Base + distance.DotU8(sq.W, c) }

// L2 returns ||q-decode(c)||^2 given the decoded vector's squared norm.
func (sq *SQQuery) L2(c []byte, norm2 float32) float32 {
	return max(0, sq.QQ-2*sq.Dot(c)+norm2)
}

// AppendTo appends the encoding: u32 dim, dim f32 vmin, dim f32 scale.
func (s *SQ8) AppendTo(b []byte) []byte {
	b = appendU32(b, uint32(s.Dim))
	b = appendF32s(b, s.vmin)
	return appendF32s(b, s.scale)
}

// MemoryBytes is the codec's size.
func (s *SQ8) MemoryBytes() int64 { return int64(8 * s.Dim) }

func readSQ8(r *reader, dim int) *SQ8 {
	if d := int(r.u32()); r.err == nil && d != dim {
		r.err = corrupt("sq8 dim %d, want %d", d, dim)
	}
	s := &SQ8{Dim: dim, vmin: r.f32s(dim), scale: r.f32s(dim)}
	if r.err != nil {
		return nil
	}
	for _, x := range s.scale {
		if !(x > 0) || math.IsInf(float64(x), 0) {
			r.err = corrupt("sq8 scale %v", x)
			return nil
		}
	}
	return s
}

// Package quant holds Tandem's vector codecs for the quantized indexes
// (ivfq: IVF_SQ8, IVF_PQ, SCANN; hnswq: HNSW_SQ, HNSW_PQ).
//
//   - SQ8: 8-bit scalar quantization per dimension, trained as FAISS's
//     QT_8bit non-uniform quantizer: per dimension j the min vmin[j] and
//     range vdiff[j] of the training rows; x -> c = round((x-vmin)/vdiff*255)
//     clamped to [0, 255]; decoded as vmin + c*vdiff/255. A code is dim
//     bytes.
//   - PQ: product quantization with m sub-quantizers of ksub = 2^nbits
//     centroids (nbits 1..8) over dim/m dimensions each, trained by seeded
//     k-means per sub-space. A code is m bytes.
//
// Distances are computed asymmetrically (float query against a code):
// SQ8 by one DotU8 per code (L2 expands ||q-x||^2 with the code's squared
// norm stored beside it), PQ by table lookups (distance.SumLookup).
//
// Encoding (AppendTo/Read*) is little endian and carries no checksum: the
// enclosing index file has one.
package quant

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrCorrupt is wrapped by every decode error caused by malformed input.
var ErrCorrupt = errors.New("quant: corrupt codec")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// reader is a bounds-checked little-endian decoder.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) need(n int) bool {
	if r.err != nil {
		return false
	}
	if n < 0 || r.off+n > len(r.b) {
		r.err = corrupt("truncated at byte %d (need %d)", r.off, n)
		return false
	}
	return true
}

func (r *reader) u32() uint32 {
	if !r.need(4) {
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *reader) f32s(n int) []float32 {
	if n < 0 || n > (len(r.b)-r.off)/4 {
		r.need(len(r.b) + 1)
		return nil
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(r.b[r.off+4*i:]))
	}
	r.off += 4 * n
	return out
}

func (r *reader) bytes(n int) []byte {
	if !r.need(n) {
		return nil
	}
	out := append([]byte(nil), r.b[r.off:r.off+n]...)
	r.off += n
	return out
}

func appendU32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }

func appendF32s(b []byte, v []float32) []byte {
	for _, f := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return b
}

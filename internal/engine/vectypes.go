package engine

import (
	"encoding/binary"
	"math"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

// Vector types besides FloatVector (issue 15).
//
// Storage: in insert records and segment files every vector type is
// compact — BinaryVector dim/8 bytes a row, Float16Vector and
// BFloat16Vector 2 bytes an element (IEEE half / bfloat16, little-endian),
// Int8Vector 1 byte an element — as the Milvus protocol carries them.
// In memory, a segment keeps Float16/BFloat16/Int8 vectors as float32
// chunks (the conversion is exact both ways, so output returns the bytes
// that were inserted and every float index and kernel serves them), and
// BinaryVector as byte chunks searched with the HAMMING/JACCARD kernels.

// maxVectorFields is Milvus's proxy.maxVectorFieldNum default.
const maxVectorFields = 4

// isVectorType reports whether t is a dense vector type the engine stores.
func isVectorType(t schemapb.DataType) bool {
	switch t {
	case schemapb.DataType_FloatVector, schemapb.DataType_BinaryVector, schemapb.DataType_Float16Vector,
		schemapb.DataType_BFloat16Vector, schemapb.DataType_Int8Vector:
		return true
	}
	return false
}

// isBytesVector reports whether t's rows travel as raw bytes (every vector
// type but FloatVector).
func isBytesVector(t schemapb.DataType) bool {
	return isVectorType(t) && t != schemapb.DataType_FloatVector
}

// vecRowBytes returns the compact size of one row of a t vector of dim.
func vecRowBytes(t schemapb.DataType, dim int) int {
	switch t {
	case schemapb.DataType_BinaryVector:
		return dim / 8
	case schemapb.DataType_Float16Vector, schemapb.DataType_BFloat16Vector:
		return 2 * dim
	case schemapb.DataType_Int8Vector:
		return dim
	}
	return 4 * dim
}

// bytesToFloats decodes compact Float16/BFloat16/Int8 elements b into dst
// (len(dst) elements).
func bytesToFloats(t schemapb.DataType, b []byte, dst []float32) {
	switch t {
	case schemapb.DataType_Float16Vector:
		for i := range dst {
			dst[i] = f16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case schemapb.DataType_BFloat16Vector:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
	case schemapb.DataType_Int8Vector:
		for i := range dst {
			dst[i] = float32(int8(b[i]))
		}
	}
}

// appendFloatsAsBytes encodes float32 elements (decoded from t's compact
// form, so exactly representable) back to t's compact form.
func appendFloatsAsBytes(t schemapb.DataType, dst []byte, v []float32) []byte {
	switch t {
	case schemapb.DataType_Float16Vector:
		for _, x := range v {
			dst = binary.LittleEndian.AppendUint16(dst, f32ToF16(x))
		}
	case schemapb.DataType_BFloat16Vector:
		for _, x := range v {
			dst = binary.LittleEndian.AppendUint16(dst, uint16(math.Float32bits(x)>>16))
		}
	case schemapb.DataType_Int8Vector:
		for _, x := range v {
			dst = append(dst, byte(int8(x)))
		}
	}
	return dst
}

// f16ToF32 converts an IEEE 754 half to float32 (exact).
func f16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf / NaN
		return math.Float32frombits(sign | 0xff<<23 | man<<13)
	case exp == 0:
		if man == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: normalise.
		e := uint32(127 - 15 + 1)
		for man&0x400 == 0 {
			man <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (man&0x3ff)<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
}

// f32ToF16 converts float32 to half, rounding to nearest even (exact for
// values that came from a half).
func f32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23&0xff) - 127 + 15
	man := b & 0x7fffff
	switch {
	case b&0x7fffffff >= 0x7f800000: // Inf / NaN
		if man != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp >= 0x1f:
		return sign | 0x7c00
	case exp <= 0:
		if exp < -10 {
			return sign
		}
		man |= 0x800000
		shift := uint32(14 - exp)
		h := man >> shift
		rem := man & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	h := uint16(exp)<<10 | uint16(man>>13)
	rem := man & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++
	}
	return sign | h
}

// checkHalfFinite returns the index of the first NaN/Inf element of
// compact t (Float16/BFloat16) bytes b, or -1.
func checkHalfFinite(t schemapb.DataType, b []byte) int {
	for i := 0; i+1 < len(b); i += 2 {
		u := binary.LittleEndian.Uint16(b[i:])
		switch t {
		case schemapb.DataType_Float16Vector:
			if u&0x7c00 == 0x7c00 {
				return i / 2
			}
		case schemapb.DataType_BFloat16Vector:
			if u&0x7f80 == 0x7f80 {
				return i / 2
			}
		}
	}
	return -1
}

package distance

import (
	"encoding/binary"
	"math/bits"
)

// Binary vector kernels. A binary vector of dim bits is dim/8 bytes, bit i
// of the vector being bit (i%8) of byte i/8 (the order is irrelevant to
// both metrics). a and b must have equal lengths (b is resliced to a's
// length, so a shorter b panics).

// HammingDistance returns the number of bits that differ between a and b.
func HammingDistance(a, b []byte) float32 {
	b = b[:len(a)]
	n := 0
	i := 0
	for ; i+8 <= len(a); i += 8 {
		n += bits.OnesCount64(binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:]))
	}
	for ; i < len(a); i++ {
		n += bits.OnesCount8(a[i] ^ b[i])
	}
	return float32(n)
}

// JaccardDistance returns 1 - |a AND b| / |a OR b| (0 when both are all
// zeros, as Faiss/Knowhere do).
func JaccardDistance(a, b []byte) float32 {
	b = b[:len(a)]
	and, or := 0, 0
	i := 0
	for ; i+8 <= len(a); i += 8 {
		x, y := binary.LittleEndian.Uint64(a[i:]), binary.LittleEndian.Uint64(b[i:])
		and += bits.OnesCount64(x & y)
		or += bits.OnesCount64(x | y)
	}
	for ; i < len(a); i++ {
		and += bits.OnesCount8(a[i] & b[i])
		or += bits.OnesCount8(a[i] | b[i])
	}
	if or == 0 {
		return 0
	}
	return 1 - float32(and)/float32(or)
}

// hammingGeneric and jaccardGeneric are the bit-by-bit references the
// kernels are tested against.
func hammingGeneric(a, b []byte) float32 {
	n := 0
	for i := range a {
		for j := 0; j < 8; j++ {
			if (a[i]>>j)&1 != (b[i]>>j)&1 {
				n++
			}
		}
	}
	return float32(n)
}

func jaccardGeneric(a, b []byte) float32 {
	and, or := 0, 0
	for i := range a {
		for j := 0; j < 8; j++ {
			x, y := (a[i]>>j)&1, (b[i]>>j)&1
			and += int(x & y)
			or += int(x | y)
		}
	}
	if or == 0 {
		return 0
	}
	return 1 - float32(and)/float32(or)
}

// BinaryDistance returns the m distance (Hamming or Jaccard) of a and b.
func BinaryDistance(m Metric, a, b []byte) float32 {
	if m == Jaccard {
		return JaccardDistance(a, b)
	}
	return HammingDistance(a, b)
}

package distance

// DotU8 returns sum_j w[j]*float32(c[j]) over len(w) elements: the inner
// product of a float32 weight vector with an 8-bit code (scalar
// quantization, package quant). Pure Go, unrolled by 8; len(c) >= len(w).
func DotU8(w []float32, c []byte) float32 {
	c = c[:len(w)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+8 <= len(w); i += 8 {
		ww := w[i : i+8 : i+8]
		cc := c[i : i+8 : i+8]
		s0 += ww[0]*float32(cc[0]) + ww[4]*float32(cc[4])
		s1 += ww[1]*float32(cc[1]) + ww[5]*float32(cc[5])
		s2 += ww[2]*float32(cc[2]) + ww[6]*float32(cc[6])
		s3 += ww[3]*float32(cc[3]) + ww[7]*float32(cc[7])
	}
	for ; i < len(w); i++ {
		s0 += w[i] * float32(c[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// dotU8Ref is the obvious loop DotU8 is tested against.
func dotU8Ref(w []float32, c []byte) float32 {
	var s float64
	for i := range w {
		s += float64(w[i]) * float64(c[i])
	}
	return float32(s)
}

// SumLookup returns sum_j table[j*ksub+int(code[j])] over len(code)
// sub-quantizers: the asymmetric distance of a product-quantization code.
func SumLookup(table []float32, ksub int, code []byte) float32 {
	var s0, s1, s2, s3 float32
	j := 0
	for ; j+4 <= len(code); j += 4 {
		s0 += table[j*ksub+int(code[j])]
		s1 += table[(j+1)*ksub+int(code[j+1])]
		s2 += table[(j+2)*ksub+int(code[j+2])]
		s3 += table[(j+3)*ksub+int(code[j+3])]
	}
	for ; j < len(code); j++ {
		s0 += table[j*ksub+int(code[j])]
	}
	return (s0 + s1) + (s2 + s3)
}

package distance

// l2Generic is the pure-Go reference for L2Squared. Four independent
// accumulators let the CPU overlap the additions.
func l2Generic(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		d0 := a[i] - b[i]
		d1 := a[i+1] - b[i+1]
		d2 := a[i+2] - b[i+2]
		d3 := a[i+3] - b[i+3]
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(a); i++ {
		d := a[i] - b[i]
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

// dotGeneric is the pure-Go reference for Dot.
func dotGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// l2BatchGeneric is the pure-Go batch L2 kernel; len(q) == dim.
func l2BatchGeneric(q, block []float32, dim int, out []float32) {
	for i := range out {
		out[i] = l2Generic(q, block[i*dim:(i+1)*dim])
	}
}

// dotBatchGeneric is the pure-Go batch inner-product kernel; len(q) == dim.
func dotBatchGeneric(q, block []float32, dim int, out []float32) {
	for i := range out {
		out[i] = dotGeneric(q, block[i*dim:(i+1)*dim])
	}
}

package expr

import "unsafe"

// The kernels below compare a whole column slice with a constant in one
// tight loop per operator; dst and col have the batch's length.

type intElem interface{ int8 | int16 | int32 | int64 }

type numElem interface {
	int8 | int16 | int32 | int64 | float32 | float64
}

func cmpIntKernel[T intElem](col []T, op cmpOp, v int64, dst []bool) {
	col = col[:len(dst)]
	switch op {
	case opEQ:
		for i, x := range col {
			dst[i] = int64(x) == v
		}
	case opNE:
		for i, x := range col {
			dst[i] = int64(x) != v
		}
	case opLT:
		for i, x := range col {
			dst[i] = int64(x) < v
		}
	case opLE:
		for i, x := range col {
			dst[i] = int64(x) <= v
		}
	case opGT:
		for i, x := range col {
			dst[i] = int64(x) > v
		}
	case opGE:
		for i, x := range col {
			dst[i] = int64(x) >= v
		}
	}
}

func cmpFloatKernel[T numElem](col []T, op cmpOp, v float64, dst []bool) {
	col = col[:len(dst)]
	switch op {
	case opEQ:
		for i, x := range col {
			dst[i] = float64(x) == v
		}
	case opNE:
		for i, x := range col {
			dst[i] = float64(x) != v
		}
	case opLT:
		for i, x := range col {
			dst[i] = float64(x) < v
		}
	case opLE:
		for i, x := range col {
			dst[i] = float64(x) <= v
		}
	case opGT:
		for i, x := range col {
			dst[i] = float64(x) > v
		}
	case opGE:
		for i, x := range col {
			dst[i] = float64(x) >= v
		}
	}
}

func cmpStrKernel(col []string, op cmpOp, v string, dst []bool) {
	col = col[:len(dst)]
	switch op {
	case opEQ:
		for i, x := range col {
			dst[i] = x == v
		}
	case opNE:
		for i, x := range col {
			dst[i] = x != v
		}
	case opLT:
		for i, x := range col {
			dst[i] = x < v
		}
	case opLE:
		for i, x := range col {
			dst[i] = x <= v
		}
	case opGT:
		for i, x := range col {
			dst[i] = x > v
		}
	case opGE:
		for i, x := range col {
			dst[i] = x >= v
		}
	}
}

func cmpBoolKernel(col []bool, op cmpOp, v bool, dst []bool) {
	col = col[:len(dst)]
	vi := b2i(v)
	for i, x := range col {
		dst[i] = op.holds(cmp3(b2i(x), vi))
	}
}

// cmpPairs compares two equally long slices element-wise.
func cmpPairs[T int64 | float64 | string](a, b []T, op cmpOp, dst []bool) {
	a, b = a[:len(dst)], b[:len(dst)]
	switch op {
	case opEQ:
		for i := range dst {
			dst[i] = a[i] == b[i]
		}
	case opNE:
		for i := range dst {
			dst[i] = a[i] != b[i]
		}
	case opLT:
		for i := range dst {
			dst[i] = a[i] < b[i]
		}
	case opLE:
		for i := range dst {
			dst[i] = a[i] <= b[i]
		}
	case opGT:
		for i := range dst {
			dst[i] = a[i] > b[i]
		}
	case opGE:
		for i := range dst {
			dst[i] = a[i] >= b[i]
		}
	}
}

func inIntKernel[T intElem](col []T, s *litSet, dst []bool) {
	col = col[:len(dst)]
	switch {
	case len(s.floats) == 0 && s.intMap != nil:
		for i, x := range col {
			_, dst[i] = s.intMap[int64(x)]
		}
	case len(s.floats) == 0:
		list := s.ints
		for i, x := range col {
			m := false
			for _, v := range list {
				if int64(x) == v {
					m = true
					break
				}
			}
			dst[i] = m
		}
	default:
		for i, x := range col {
			dst[i] = s.hasInt(int64(x))
		}
	}
}

func inFloatKernel[T float32 | float64](col []T, s *litSet, dst []bool) {
	col = col[:len(dst)]
	for i, x := range col {
		dst[i] = s.hasFloat(float64(x))
	}
}

func inStrKernel(col []string, s *litSet, dst []bool) {
	col = col[:len(dst)]
	if s.strMap != nil {
		for i, x := range col {
			_, dst[i] = s.strMap[x]
		}
		return
	}
	for i, x := range col {
		dst[i] = s.hasStr(x)
	}
}

// inStrRefine clears dst[i] for selected rows whose value is not in s.
func inStrRefine(col []string, s *litSet, dst []bool) {
	col = col[:len(dst)]
	for i, x := range col {
		if dst[i] {
			dst[i] = s.hasStr(x)
		}
	}
}

// asBytes views a bool slice as bytes (Go stores bools as 0 or 1), so that
// conjunctions and disjunctions run branch-free.
func asBytes(b []bool) []byte {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&b[0])), len(b))
}

// andInto sets dst[i] = dst[i] && src[i].
func andInto(dst, src []bool) {
	d, s := asBytes(dst), asBytes(src)
	s = s[:len(d)]
	for i := range d {
		d[i] &= s[i]
	}
}

// orInto sets dst[i] = dst[i] || src[i].
func orInto(dst, src []bool) {
	d, s := asBytes(dst), asBytes(src)
	s = s[:len(d)]
	for i := range d {
		d[i] |= s[i]
	}
}

// notInto flips every flag of dst.
func notInto(dst []bool) {
	d := asBytes(dst)
	for i := range d {
		d[i] ^= 1
	}
}

func anyTrue(b []bool) bool {
	for _, x := range b {
		if x {
			return true
		}
	}
	return false
}

func allTrue(b []bool) bool {
	for _, x := range b {
		if !x {
			return false
		}
	}
	return true
}

package expr

import (
	"strings"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

// batchSize is the number of rows evaluated per step.
const batchSize = 1024

// vkind is the run-time representation of a vector of values.
type vkind uint8

const (
	vkBool vkind = iota + 1
	vkInt
	vkFloat
	vkStr
	vkAny // JSON values: nil, bool, int64, float64, string, []any, map[string]any
	vkArr // Array field rows
)

// vec holds the values of one plan node for the rows of a batch. The value
// slices may alias column memory and are never written through; the
// *buf fields are the node's own reusable buffers.
type vec struct {
	k     vkind
	b     []bool
	i     []int64
	f     []float64
	s     []string
	a     []any
	arr   []*schemapb.ScalarField
	valid []bool // nil: every row is defined

	bbuf []bool
	ibuf []int64
	fbuf []float64
	sbuf []string
	abuf []any
	vbuf []bool
}

func grow[T any](buf []T, n int) []T {
	if cap(buf) < n {
		return make([]T, n, max(n, batchSize))
	}
	return buf[:n]
}

// reset prepares v to receive n values of kind k.
func (v *vec) reset(k vkind) {
	v.k = k
	v.b, v.i, v.f, v.s, v.a, v.arr, v.valid = nil, nil, nil, nil, nil, nil, nil
}

func (v *vec) ownBools(n int) []bool {
	v.bbuf = grow(v.bbuf, n)
	v.b = v.bbuf
	return v.b
}

func (v *vec) ownInts(n int) []int64 {
	v.ibuf = grow(v.ibuf, n)
	v.i = v.ibuf
	return v.i
}

func (v *vec) ownFloats(n int) []float64 {
	v.fbuf = grow(v.fbuf, n)
	v.f = v.fbuf
	return v.f
}

func (v *vec) ownStrs(n int) []string {
	v.sbuf = grow(v.sbuf, n)
	v.s = v.sbuf
	return v.s
}

func (v *vec) ownAny(n int) []any {
	v.abuf = grow(v.abuf, n)
	v.a = v.abuf
	return v.a
}

// ownValid returns a validity slice of n rows, all set to true.
func (v *vec) ownValid(n int) []bool {
	v.vbuf = grow(v.vbuf, n)
	v.valid = v.vbuf
	for i := range v.valid {
		v.valid[i] = true
	}
	return v.valid
}

// allInvalid makes every one of n rows undefined (zero values).
func (v *vec) allInvalid(k vkind, n int) {
	v.reset(k)
	switch k {
	case vkBool:
		clear(v.ownBools(n))
	case vkInt:
		clear(v.ownInts(n))
	case vkFloat:
		clear(v.ownFloats(n))
	case vkStr:
		clear(v.ownStrs(n))
	case vkAny:
		clear(v.ownAny(n))
	case vkArr:
		v.arr = make([]*schemapb.ScalarField, n)
	}
	clear(v.ownValid(n))
}

// isValid reports whether row i is defined.
func (v *vec) isValid(i int) bool { return v.valid == nil || v.valid[i] }

// anyAt boxes row i as a JSON-style value (for mixed comparisons).
func (v *vec) anyAt(i int) any {
	switch v.k {
	case vkBool:
		return v.b[i]
	case vkInt:
		return v.i[i]
	case vkFloat:
		return v.f[i]
	case vkStr:
		return v.s[i]
	case vkAny:
		return v.a[i]
	}
	return nil
}

// numAt returns row i as float64 for int and float vectors.
func (v *vec) numAt(i int) float64 {
	if v.k == vkInt {
		return float64(v.i[i])
	}
	return v.f[i]
}

// mergeValid sets dst's validity to the conjunction of a's and b's.
func mergeValid(dst, a, b *vec, n int) {
	if a.valid == nil && b.valid == nil {
		dst.valid = nil
		return
	}
	out := dst.ownValid(n)
	for i := range out {
		out[i] = a.isValid(i) && b.isValid(i)
	}
}

// copyValid sets dst's validity to a copy of src's.
func copyValid(dst, src *vec, n int) {
	if src.valid == nil {
		dst.valid = nil
		return
	}
	copy(dst.ownValid(n), src.valid)
}

// dynCompare orders two JSON-style scalar values; ok is false when they are
// not comparable (different kinds, null, containers, NaN).
func dynCompare(a, b any) (int, bool) {
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return cmp3(x, y), true
		case float64:
			return fcmp(float64(x), y)
		}
	case float64:
		switch y := b.(type) {
		case int64:
			return fcmp(x, float64(y))
		case float64:
			return fcmp(x, y)
		}
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y), true
		}
	case bool:
		if y, ok := b.(bool); ok {
			return cmp3(b2i(x), b2i(y)), true
		}
	}
	return 0, false
}

func fcmp(x, y float64) (int, bool) {
	if x != x || y != y {
		return 0, false
	}
	return cmp3(x, y), true
}

// litAny boxes a scalar literal as a JSON-style value.
func litAny(l lit) any {
	switch l.k {
	case lBool:
		return l.b
	case lInt:
		return l.i
	case lFloat:
		return l.f
	case lString:
		return l.s
	}
	return nil
}

// dynArith applies op to JSON-style numbers; ok is false for non-numbers,
// modulo of non-integers and division by zero.
func dynArith(op byte, a, b any) (any, bool) {
	xi, xInt := a.(int64)
	yi, yInt := b.(int64)
	if xInt && yInt {
		return intArith(op, xi, yi)
	}
	if op == '%' {
		return nil, false
	}
	x, ok1 := toFloat(a)
	y, ok2 := toFloat(b)
	if !ok1 || !ok2 || (op == '/' && y == 0) {
		return nil, false
	}
	return floatArith(op, x, y), true
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

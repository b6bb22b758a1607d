package expr

import (
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

// state is the per-Eval scratch space: the columns of the source and one
// vector (or bool buffer) per plan node. It is never shared between Eval
// calls, which is what makes an *Expr safe for concurrent use.
type state struct {
	cols  []any
	valid [][]bool // per column: validity (nil = no nulls); nil when no column has nulls
	vals  []vec
	bools [][]bool
}

// scratch returns bool buffer slot with n rows.
func (st *state) scratch(slot, n int) []bool {
	st.bools[slot] = grow(st.bools[slot], n)
	return st.bools[slot]
}

// valNode produces the values of an expression for rows [lo, hi).
type valNode interface {
	eval(st *state, lo, hi int) *vec
}

// colVal reads a whole column.
type colVal struct {
	col, slot int
	kind      vkind // kind produced when the column is absent
}

func widenInts[T int8 | int16 | int32](dst []int64, src []T) {
	src = src[:len(dst)]
	for i, x := range src {
		dst[i] = int64(x)
	}
}

func (n *colVal) eval(st *state, lo, hi int) *vec {
	v := &st.vals[n.slot]
	cnt := hi - lo
	switch c := st.cols[n.col].(type) {
	case []int64:
		v.reset(vkInt)
		v.i = c[lo:hi]
	case []int32:
		v.reset(vkInt)
		widenInts(v.ownInts(cnt), c[lo:hi])
	case []int16:
		v.reset(vkInt)
		widenInts(v.ownInts(cnt), c[lo:hi])
	case []int8:
		v.reset(vkInt)
		widenInts(v.ownInts(cnt), c[lo:hi])
	case []float64:
		v.reset(vkFloat)
		v.f = c[lo:hi]
	case []float32:
		v.reset(vkFloat)
		out := v.ownFloats(cnt)
		for i, x := range c[lo:hi] {
			out[i] = float64(x)
		}
	case []string:
		v.reset(vkStr)
		v.s = c[lo:hi]
	case []bool:
		v.reset(vkBool)
		v.b = c[lo:hi]
	case []*schemapb.ScalarField:
		v.reset(vkArr)
		v.arr = c[lo:hi]
	case [][]byte:
		jsonInto(v, c[lo:hi], nil)
	default:
		v.allInvalid(n.kind, cnt)
	}
	st.applyNulls(v, n.col, lo, hi)
	return v
}

// applyNulls marks the null rows of column col in v as undefined.
func (st *state) applyNulls(v *vec, col, lo, hi int) {
	if st.valid == nil || st.valid[col] == nil {
		return
	}
	src := st.valid[col][lo:hi]
	if v.valid == nil {
		v.valid = src
		return
	}
	// A non-nil v.valid is v's own buffer (jsonInto, allInvalid).
	for i, ok := range src {
		v.valid[i] = v.valid[i] && ok
	}
}

// clearNulls sets dst[i] = false where column col is null.
func (st *state) clearNulls(col, lo, hi int, dst []bool) {
	if st.valid == nil || st.valid[col] == nil {
		return
	}
	for i, ok := range st.valid[col][lo:hi] {
		if !ok {
			dst[i] = false
		}
	}
}

// jsonVal reads a path inside a JSON column.
type jsonVal struct {
	col, slot int
	path      []pathElem
}

func (n *jsonVal) eval(st *state, lo, hi int) *vec {
	v := &st.vals[n.slot]
	c, ok := st.cols[n.col].([][]byte)
	if !ok {
		v.allInvalid(vkAny, hi-lo)
		return v
	}
	jsonInto(v, c[lo:hi], n.path)
	return v
}

// jsonInto decodes path from each document of docs into v.
func jsonInto(v *vec, docs [][]byte, path []pathElem) {
	v.reset(vkAny)
	out := v.ownAny(len(docs))
	valid := v.ownValid(len(docs))
	for i, d := range docs {
		out[i], valid[i] = jsonLookup(d, path)
	}
}

// arrElemVal reads element idx of an Array column.
type arrElemVal struct {
	col, slot int
	idx       int64
	kind      vkind
}

func (n *arrElemVal) eval(st *state, lo, hi int) *vec {
	v := &st.vals[n.slot]
	c, ok := st.cols[n.col].([]*schemapb.ScalarField)
	if !ok {
		v.allInvalid(n.kind, hi-lo)
		return v
	}
	rows := c[lo:hi]
	cnt := len(rows)
	v.reset(n.kind)
	valid := v.ownValid(cnt)
	switch n.kind {
	case vkInt:
		out := v.ownInts(cnt)
		for i, sf := range rows {
			out[i], valid[i] = arrInt(sf, n.idx)
		}
	case vkFloat:
		out := v.ownFloats(cnt)
		for i, sf := range rows {
			out[i], valid[i] = arrFloat(sf, n.idx)
		}
	case vkStr:
		out := v.ownStrs(cnt)
		for i, sf := range rows {
			out[i], valid[i] = arrStr(sf, n.idx)
		}
	case vkBool:
		out := v.ownBools(cnt)
		for i, sf := range rows {
			out[i], valid[i] = arrBool(sf, n.idx)
		}
	}
	return v
}

func inRange(idx int64, n int) bool { return idx >= 0 && idx < int64(n) }

func arrInt(sf *schemapb.ScalarField, idx int64) (int64, bool) {
	if d := sf.GetLongData().GetData(); inRange(idx, len(d)) {
		return d[idx], true
	}
	if d := sf.GetIntData().GetData(); inRange(idx, len(d)) {
		return int64(d[idx]), true
	}
	return 0, false
}

func arrFloat(sf *schemapb.ScalarField, idx int64) (float64, bool) {
	if d := sf.GetFloatData().GetData(); inRange(idx, len(d)) {
		return float64(d[idx]), true
	}
	if d := sf.GetDoubleData().GetData(); inRange(idx, len(d)) {
		return d[idx], true
	}
	return 0, false
}

func arrStr(sf *schemapb.ScalarField, idx int64) (string, bool) {
	if d := sf.GetStringData().GetData(); inRange(idx, len(d)) {
		return d[idx], true
	}
	return "", false
}

func arrBool(sf *schemapb.ScalarField, idx int64) (bool, bool) {
	if d := sf.GetBoolData().GetData(); inRange(idx, len(d)) {
		return d[idx], true
	}
	return false, false
}

// arrLen returns the number of elements of an Array row; ok is false for a
// nil row.
func arrLen(sf *schemapb.ScalarField) (int, bool) {
	switch d := sf.GetData().(type) {
	case *schemapb.ScalarField_BoolData:
		return len(d.BoolData.GetData()), true
	case *schemapb.ScalarField_IntData:
		return len(d.IntData.GetData()), true
	case *schemapb.ScalarField_LongData:
		return len(d.LongData.GetData()), true
	case *schemapb.ScalarField_FloatData:
		return len(d.FloatData.GetData()), true
	case *schemapb.ScalarField_DoubleData:
		return len(d.DoubleData.GetData()), true
	case *schemapb.ScalarField_StringData:
		return len(d.StringData.GetData()), true
	}
	return 0, sf != nil
}

// lenVal is array_length(x) for Array fields and JSON arrays.
type lenVal struct {
	x    valNode
	slot int
}

func (n *lenVal) eval(st *state, lo, hi int) *vec {
	x := n.x.eval(st, lo, hi)
	v := &st.vals[n.slot]
	cnt := hi - lo
	v.reset(vkInt)
	out := v.ownInts(cnt)
	valid := v.ownValid(cnt)
	for i := 0; i < cnt; i++ {
		if !x.isValid(i) {
			out[i], valid[i] = 0, false
			continue
		}
		switch x.k {
		case vkArr:
			l, ok := arrLen(x.arr[i])
			out[i], valid[i] = int64(l), ok
		case vkAny:
			a, ok := x.a[i].([]any)
			out[i], valid[i] = int64(len(a)), ok
		default:
			out[i], valid[i] = 0, false
		}
	}
	return v
}

// constVal broadcasts a scalar literal.
type constVal struct {
	slot int
	l    lit
}

func (n *constVal) eval(st *state, lo, hi int) *vec {
	v := &st.vals[n.slot]
	cnt := hi - lo
	switch n.l.k {
	case lInt:
		v.reset(vkInt)
		for i, out := 0, v.ownInts(cnt); i < cnt; i++ {
			out[i] = n.l.i
		}
	case lFloat:
		v.reset(vkFloat)
		for i, out := 0, v.ownFloats(cnt); i < cnt; i++ {
			out[i] = n.l.f
		}
	case lString:
		v.reset(vkStr)
		for i, out := 0, v.ownStrs(cnt); i < cnt; i++ {
			out[i] = n.l.s
		}
	case lBool:
		v.reset(vkBool)
		for i, out := 0, v.ownBools(cnt); i < cnt; i++ {
			out[i] = n.l.b
		}
	default:
		v.allInvalid(vkAny, cnt)
	}
	return v
}

// negVal is unary minus.
type negVal struct {
	x    valNode
	slot int
}

func (n *negVal) eval(st *state, lo, hi int) *vec {
	x := n.x.eval(st, lo, hi)
	v := &st.vals[n.slot]
	cnt := hi - lo
	switch x.k {
	case vkInt:
		v.reset(vkInt)
		out := v.ownInts(cnt)
		for i, a := range x.i[:cnt] {
			out[i] = -a
		}
		copyValid(v, x, cnt)
	case vkFloat:
		v.reset(vkFloat)
		out := v.ownFloats(cnt)
		for i, a := range x.f[:cnt] {
			out[i] = -a
		}
		copyValid(v, x, cnt)
	case vkAny:
		v.reset(vkAny)
		out := v.ownAny(cnt)
		valid := v.ownValid(cnt)
		for i := 0; i < cnt; i++ {
			out[i], valid[i] = nil, false
			if !x.isValid(i) {
				continue
			}
			switch a := x.a[i].(type) {
			case int64:
				out[i], valid[i] = -a, true
			case float64:
				out[i], valid[i] = -a, true
			}
		}
	default:
		v.allInvalid(vkAny, cnt)
	}
	return v
}

// arithVal is + - * / % of two values.
type arithVal struct {
	op   byte
	l, r valNode
	slot int
}

func (n *arithVal) eval(st *state, lo, hi int) *vec {
	a := n.l.eval(st, lo, hi)
	b := n.r.eval(st, lo, hi)
	v := &st.vals[n.slot]
	cnt := hi - lo
	switch {
	case a.k == vkInt && b.k == vkInt:
		v.reset(vkInt)
		out := v.ownInts(cnt)
		mergeValid(v, a, b, cnt)
		x, y := a.i[:cnt], b.i[:cnt]
		switch n.op {
		case '+':
			for i := range out {
				out[i] = x[i] + y[i]
			}
		case '-':
			for i := range out {
				out[i] = x[i] - y[i]
			}
		case '*':
			for i := range out {
				out[i] = x[i] * y[i]
			}
		default:
			for i := range out {
				var ok bool
				if out[i], ok = intArith(n.op, x[i], y[i]); !ok {
					if v.valid == nil {
						v.ownValid(cnt)
					}
					v.valid[i] = false
				}
			}
		}
	case (a.k == vkInt || a.k == vkFloat) && (b.k == vkInt || b.k == vkFloat):
		v.reset(vkFloat)
		out := v.ownFloats(cnt)
		mergeValid(v, a, b, cnt)
		for i := range out {
			x, y := a.numAt(i), b.numAt(i)
			out[i] = floatArith(n.op, x, y)
			if n.op == '/' && y == 0 {
				if v.valid == nil {
					v.ownValid(cnt)
				}
				v.valid[i] = false
			}
		}
	case a.k == vkAny || b.k == vkAny:
		v.reset(vkAny)
		out := v.ownAny(cnt)
		valid := v.ownValid(cnt)
		for i := 0; i < cnt; i++ {
			out[i], valid[i] = nil, false
			if a.isValid(i) && b.isValid(i) {
				out[i], valid[i] = dynArith(n.op, a.anyAt(i), b.anyAt(i))
			}
		}
	default:
		v.allInvalid(vkAny, cnt)
	}
	return v
}

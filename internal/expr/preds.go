package expr

import (
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

// pred evaluates a predicate for rows [lo, hi) into dst (len hi-lo).
type pred interface {
	eval(st *state, lo, hi int, dst []bool)
}

// predConst is a constant predicate.
type predConst struct{ v bool }

func (n *predConst) eval(_ *state, _, _ int, dst []bool) {
	for i := range dst {
		dst[i] = n.v
	}
}

// refiner is implemented by predicates for which testing only the
// selected rows is cheaper than testing all of them (string comparisons):
// refine clears dst[i] for selected rows that do not match and reports
// whether it handled the batch.
type refiner interface {
	refine(st *state, lo, hi int, dst []bool) bool
}

// predAnd is a conjunction; later terms are skipped for a batch once no
// row can match, and refiners only test rows still selected.
type predAnd struct {
	kids []pred
	slot int
}

func (n *predAnd) eval(st *state, lo, hi int, dst []bool) {
	n.kids[0].eval(st, lo, hi, dst)
	tmp := st.scratch(n.slot, len(dst))
	for _, k := range n.kids[1:] {
		if !anyTrue(dst) {
			return
		}
		if r, ok := k.(refiner); ok && r.refine(st, lo, hi, dst) {
			continue
		}
		k.eval(st, lo, hi, tmp)
		andInto(dst, tmp)
	}
}

// predOr is a disjunction; later terms are skipped for a batch once every
// row matches.
type predOr struct {
	kids []pred
	slot int
}

func (n *predOr) eval(st *state, lo, hi int, dst []bool) {
	n.kids[0].eval(st, lo, hi, dst)
	tmp := st.scratch(n.slot, len(dst))
	for _, k := range n.kids[1:] {
		if allTrue(dst) {
			return
		}
		k.eval(st, lo, hi, tmp)
		orInto(dst, tmp)
	}
}

// predNot is negation. cols are the columns read by a negated leaf
// (comparison, in, like, contains): its null rows stay false, as in
// Milvus, where a predicate on a null value is false and so is its
// negation.
type predNot struct {
	x    pred
	cols []int
}

func (n *predNot) eval(st *state, lo, hi int, dst []bool) {
	n.x.eval(st, lo, hi, dst)
	notInto(dst)
	for _, c := range n.cols {
		st.clearNulls(c, lo, hi, dst)
	}
}

// predCmpCol compares a scalar column directly with a literal (the fast
// path for `field op literal`).
type predCmpCol struct {
	col int
	op  cmpOp
	l   lit
}

func (n *predCmpCol) eval(st *state, lo, hi int, dst []bool) {
	switch c := st.cols[n.col].(type) {
	case []int64:
		cmpIntCol(c[lo:hi], n, dst)
	case []int32:
		cmpIntCol(c[lo:hi], n, dst)
	case []int16:
		cmpIntCol(c[lo:hi], n, dst)
	case []int8:
		cmpIntCol(c[lo:hi], n, dst)
	case []float64:
		cmpFloatKernel(c[lo:hi], n.op, n.l.num(), dst)
	case []float32:
		cmpFloatKernel(c[lo:hi], n.op, n.l.num(), dst)
	case []string:
		cmpStrKernel(c[lo:hi], n.op, n.l.s, dst)
	case []bool:
		cmpBoolKernel(c[lo:hi], n.op, n.l.b, dst)
	default:
		clear(dst)
	}
	st.clearNulls(n.col, lo, hi, dst)
}

func cmpIntCol[T intElem](col []T, n *predCmpCol, dst []bool) {
	if n.l.k == lInt {
		cmpIntKernel(col, n.op, n.l.i, dst)
	} else {
		cmpFloatKernel(col, n.op, n.l.f, dst)
	}
}

// undefResult is the value of a comparison whose operand is undefined:
// false, except `!=` on JSON values, which Milvus treats as true.
func undefResult(op cmpOp, neTrue bool) bool { return neTrue && op == opNE }

// predCmpLit compares any value with a literal.
type predCmpLit struct {
	x      valNode
	op     cmpOp
	l      lit
	neTrue bool
}

func (n *predCmpLit) eval(st *state, lo, hi int, dst []bool) {
	v := n.x.eval(st, lo, hi)
	undef := undefResult(n.op, n.neTrue)
	switch {
	case v.k == vkInt && n.l.k == lInt:
		cmpIntKernel(v.i, n.op, n.l.i, dst)
	case v.k == vkInt && n.l.k == lFloat:
		cmpFloatKernel(v.i, n.op, n.l.f, dst)
	case v.k == vkFloat && n.l.isNum():
		cmpFloatKernel(v.f, n.op, n.l.num(), dst)
	case v.k == vkStr && n.l.k == lString:
		cmpStrKernel(v.s, n.op, n.l.s, dst)
	case v.k == vkBool && n.l.k == lBool:
		cmpBoolKernel(v.b, n.op, n.l.b, dst)
	case v.k == vkAny:
		la := litAny(n.l)
		for i := range dst {
			c, ok := dynCompare(v.a[i], la)
			if ok {
				dst[i] = n.op.holds(c)
			} else {
				dst[i] = undef
			}
		}
	default:
		for i := range dst {
			dst[i] = undef
		}
		return
	}
	if v.valid != nil {
		for i, ok := range v.valid[:len(dst)] {
			if !ok {
				dst[i] = undef
			}
		}
	}
}

// predCmpVals compares two values (for example two fields).
type predCmpVals struct {
	l, r   valNode
	op     cmpOp
	neTrue bool
}

func (n *predCmpVals) eval(st *state, lo, hi int, dst []bool) {
	a := n.l.eval(st, lo, hi)
	b := n.r.eval(st, lo, hi)
	undef := undefResult(n.op, n.neTrue)
	isNum := func(k vkind) bool { return k == vkInt || k == vkFloat }
	switch {
	case a.k == vkInt && b.k == vkInt:
		cmpPairs(a.i, b.i, n.op, dst)
	case a.k == vkFloat && b.k == vkFloat:
		cmpPairs(a.f, b.f, n.op, dst)
	case isNum(a.k) && isNum(b.k):
		for i := range dst {
			x, y := a.numAt(i), b.numAt(i)
			switch n.op {
			case opEQ:
				dst[i] = x == y
			case opNE:
				dst[i] = x != y
			case opLT:
				dst[i] = x < y
			case opLE:
				dst[i] = x <= y
			case opGT:
				dst[i] = x > y
			case opGE:
				dst[i] = x >= y
			}
		}
	case a.k == vkStr && b.k == vkStr:
		cmpPairs(a.s, b.s, n.op, dst)
	case a.k == vkBool && b.k == vkBool:
		for i := range dst {
			dst[i] = n.op.holds(cmp3(b2i(a.b[i]), b2i(b.b[i])))
		}
	case a.k == vkAny || b.k == vkAny:
		for i := range dst {
			c, ok := dynCompare(a.anyAt(i), b.anyAt(i))
			if ok {
				dst[i] = n.op.holds(c)
			} else {
				dst[i] = undef
			}
		}
	default:
		for i := range dst {
			dst[i] = undef
		}
		return
	}
	if a.valid != nil || b.valid != nil {
		for i := range dst {
			if !a.isValid(i) || !b.isValid(i) {
				dst[i] = undef
			}
		}
	}
}

// predInCol is `column in [...]` on a scalar column.
type predInCol struct {
	col int
	set *litSet
}

func (n *predInCol) eval(st *state, lo, hi int, dst []bool) {
	switch c := st.cols[n.col].(type) {
	case []int64:
		inIntKernel(c[lo:hi], n.set, dst)
	case []int32:
		inIntKernel(c[lo:hi], n.set, dst)
	case []int16:
		inIntKernel(c[lo:hi], n.set, dst)
	case []int8:
		inIntKernel(c[lo:hi], n.set, dst)
	case []float64:
		inFloatKernel(c[lo:hi], n.set, dst)
	case []float32:
		inFloatKernel(c[lo:hi], n.set, dst)
	case []string:
		inStrKernel(c[lo:hi], n.set, dst)
	case []bool:
		for i, x := range c[lo:hi] {
			dst[i] = n.set.hasBool(x)
		}
	default:
		clear(dst)
	}
	st.clearNulls(n.col, lo, hi, dst)
}

func (n *predInCol) refine(st *state, lo, hi int, dst []bool) bool {
	c, ok := st.cols[n.col].([]string)
	if ok {
		inStrRefine(c[lo:hi], n.set, dst)
		st.clearNulls(n.col, lo, hi, dst)
	}
	return ok
}

// predIn is `x in [...]` on any value.
type predIn struct {
	x   valNode
	set *litSet
}

func (n *predIn) eval(st *state, lo, hi int, dst []bool) {
	v := n.x.eval(st, lo, hi)
	switch v.k {
	case vkInt:
		inIntKernel(v.i, n.set, dst)
	case vkFloat:
		inFloatKernel(v.f, n.set, dst)
	case vkStr:
		inStrKernel(v.s, n.set, dst)
	case vkBool:
		for i := range dst {
			dst[i] = n.set.hasBool(v.b[i])
		}
	case vkAny:
		for i := range dst {
			dst[i] = n.set.hasAny(v.a[i])
		}
	default:
		clear(dst)
	}
	clearInvalid(v, dst)
}

// clearInvalid sets dst[i] = false for undefined rows of v.
func clearInvalid(v *vec, dst []bool) {
	if v.valid == nil {
		return
	}
	for i, ok := range v.valid[:len(dst)] {
		if !ok {
			dst[i] = false
		}
	}
}

// predLike is `x like "pattern"`.
type predLike struct {
	x valNode
	m *likeMatcher
}

func (n *predLike) eval(st *state, lo, hi int, dst []bool) {
	v := n.x.eval(st, lo, hi)
	switch v.k {
	case vkStr:
		s := v.s[:len(dst)]
		switch n.m.kind {
		case likeExact:
			cmpStrKernel(s, opEQ, n.m.lit, dst)
		default:
			for i, x := range s {
				dst[i] = n.m.match(x)
			}
		}
	case vkAny:
		for i := range dst {
			x, ok := v.a[i].(string)
			dst[i] = ok && n.m.match(x)
		}
	default:
		clear(dst)
	}
	clearInvalid(v, dst)
}

// predNull is `x is null` (isNull) or `x is not null` / `exists x`.
type predNull struct {
	x      valNode
	isNull bool
}

func (n *predNull) eval(st *state, lo, hi int, dst []bool) {
	v := n.x.eval(st, lo, hi)
	for i := range dst {
		null := !v.isValid(i) || (v.k == vkAny && v.a[i] == nil) || (v.k == vkArr && v.arr[i] == nil)
		dst[i] = null == n.isNull
	}
}

// predContains is array_contains / _all / _any on Array fields and JSON
// arrays.
type predContains struct {
	x    valNode
	mode containsMode
	set  *litSet   // the value (containsOne) or the list elements (containsAny)
	each []*litSet // one set per list element (containsAll)
}

func (n *predContains) eval(st *state, lo, hi int, dst []bool) {
	if jv, ok := n.x.(*jsonVal); ok && len(n.each) <= 64 {
		n.evalJSON(st, jv, lo, hi, dst)
		return
	}
	v := n.x.eval(st, lo, hi)
	for i := range dst {
		dst[i] = false
		if !v.isValid(i) {
			continue
		}
		switch v.k {
		case vkArr:
			if v.arr[i] != nil {
				dst[i] = n.row(v.arr[i], nil)
			}
		case vkAny:
			if a, ok := v.a[i].([]any); ok {
				dst[i] = n.row(nil, a)
			}
		}
	}
}

// evalJSON streams the JSON arrays of a path without materialising them.
func (n *predContains) evalJSON(st *state, jv *jsonVal, lo, hi int, dst []bool) {
	c, ok := st.cols[jv.col].([][]byte)
	if !ok {
		clear(dst)
		return
	}
	decode := false
	for _, s := range append([]*litSet{n.set}, n.each...) {
		if s != nil && len(s.lists) > 0 {
			decode = true
		}
	}
	it := &containsIter{n: n, want: uint64(1)<<len(n.each) - 1}
	visit := it.visit
	for i, doc := range c[lo:hi] {
		it.found, it.match = 0, false
		ok := jsonEachElem(doc, jv.path, decode, visit)
		if n.mode == containsAll {
			it.match = it.found == it.want
		}
		dst[i] = ok && it.match
	}
}

// containsIter is the per-row state of predContains.evalJSON.
type containsIter struct {
	n     *predContains
	want  uint64 // containsAll: bit k set for each element to find
	found uint64
	match bool
}

// visit tests one array element; it returns false to stop the scan.
func (it *containsIter) visit(v any, str []byte, isStr bool) bool {
	n := it.n
	if n.mode != containsAll {
		if isStr {
			it.match = n.set.hasStrBytes(str)
		} else {
			it.match = n.set.hasAny(v)
		}
		return !it.match
	}
	for k, s := range n.each {
		if it.found&(1<<k) == 0 && ((isStr && s.hasStrBytes(str)) || (!isStr && s.hasAny(v))) {
			it.found |= 1 << k
		}
	}
	return it.found != it.want
}

// row evaluates one row: an Array row sf, or a JSON array a when sf is nil.
func (n *predContains) row(sf *schemapb.ScalarField, a []any) bool {
	has := func(s *litSet) bool {
		if sf != nil {
			return arrHas(sf, s)
		}
		for _, e := range a {
			if s.hasAny(e) {
				return true
			}
		}
		return false
	}
	if n.mode == containsAll {
		for _, s := range n.each {
			if !has(s) {
				return false
			}
		}
		return true
	}
	return has(n.set)
}

// arrHas reports whether any element of the Array row is in s.
func arrHas(sf *schemapb.ScalarField, s *litSet) bool {
	switch d := sf.GetData().(type) {
	case *schemapb.ScalarField_BoolData:
		for _, x := range d.BoolData.GetData() {
			if s.hasBool(x) {
				return true
			}
		}
	case *schemapb.ScalarField_IntData:
		for _, x := range d.IntData.GetData() {
			if s.hasInt(int64(x)) {
				return true
			}
		}
	case *schemapb.ScalarField_LongData:
		for _, x := range d.LongData.GetData() {
			if s.hasInt(x) {
				return true
			}
		}
	case *schemapb.ScalarField_FloatData:
		for _, x := range d.FloatData.GetData() {
			if s.hasFloat(float64(x)) {
				return true
			}
		}
	case *schemapb.ScalarField_DoubleData:
		for _, x := range d.DoubleData.GetData() {
			if s.hasFloat(x) {
				return true
			}
		}
	case *schemapb.ScalarField_StringData:
		for _, x := range d.StringData.GetData() {
			if s.hasStr(x) {
				return true
			}
		}
	}
	return false
}

// predArrEq is arrEqNode: an Array row or a JSON array equal (element by
// element, in order) to a literal list. For `!=`, a JSON value that is
// missing or not an array counts as different (as for other JSON `!=`);
// a null Array row matches neither.
type predArrEq struct {
	x    valNode
	list lit
	ne   bool
	json bool
}

func (n *predArrEq) eval(st *state, lo, hi int, dst []bool) {
	v := n.x.eval(st, lo, hi)
	for i := range dst {
		if !v.isValid(i) {
			dst[i] = n.ne && n.json
			continue
		}
		var a []any
		switch v.k {
		case vkArr:
			if v.arr[i] == nil {
				dst[i] = false
				continue
			}
			a = arrAny(v.arr[i])
		case vkAny:
			x, ok := v.a[i].([]any)
			if !ok {
				dst[i] = n.ne
				continue
			}
			a = x
		default:
			dst[i] = n.ne
			continue
		}
		dst[i] = litEqAny(n.list, a) != n.ne
	}
}

// arrAny converts an Array row to JSON-like values (int64, float64,
// string, bool) for litEqAny.
func arrAny(sf *schemapb.ScalarField) []any {
	var out []any
	switch d := sf.GetData().(type) {
	case *schemapb.ScalarField_BoolData:
		for _, x := range d.BoolData.GetData() {
			out = append(out, x)
		}
	case *schemapb.ScalarField_IntData:
		for _, x := range d.IntData.GetData() {
			out = append(out, int64(x))
		}
	case *schemapb.ScalarField_LongData:
		for _, x := range d.LongData.GetData() {
			out = append(out, x)
		}
	case *schemapb.ScalarField_FloatData:
		for _, x := range d.FloatData.GetData() {
			out = append(out, float64(x))
		}
	case *schemapb.ScalarField_DoubleData:
		for _, x := range d.DoubleData.GetData() {
			out = append(out, x)
		}
	case *schemapb.ScalarField_StringData:
		for _, x := range d.StringData.GetData() {
			out = append(out, x)
		}
	}
	if out == nil {
		out = []any{}
	}
	return out
}

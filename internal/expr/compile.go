package expr

import (
	"fmt"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

// colCat is the family of Go slice types a column may be supplied as.
type colCat uint8

const (
	catBool colCat = iota + 1
	catInt
	catFloat
	catStr
	catJSON
	catArr
)

// colSpec is one column an Expr reads.
type colSpec struct {
	name string
	cat  colCat
}

// maxLeafValues bounds the value nodes under one leaf predicate (for
// example the terms of one long arithmetic chain), and so the scratch
// memory of an evaluation.
const maxLeafValues = 256

// compiler turns a checked AST into a plan of batch operators.
//
// Value slots (per-node batch buffers) are reused across leaf predicates:
// a leaf's values are dead once it has written its flags, and leaves are
// evaluated one at a time, so only the largest leaf's count is needed.
type compiler struct {
	cols   []colSpec
	colIdx map[string]int
	cur    int // next value slot within the current leaf
	nvals  int // value slots needed
	nbools int
	err    error
	// leafCols collects the columns read since it was last reset (for
	// the null rows of a negated leaf).
	leafCols []int
}

func catOf(t schemapb.DataType) colCat {
	switch {
	case t == schemapb.DataType_Bool:
		return catBool
	case isIntType(t):
		return catInt
	case isFloatType(t):
		return catFloat
	case isStringType(t):
		return catStr
	case t == schemapb.DataType_Array:
		return catArr
	}
	return catJSON
}

// col returns the index of the column read by f.
func (c *compiler) col(f *fieldNode) int {
	if i, ok := c.colIdx[f.column]; ok {
		c.leafCols = append(c.leafCols, i)
		return i
	}
	c.leafCols = append(c.leafCols, len(c.cols))
	c.colIdx[f.column] = len(c.cols)
	c.cols = append(c.cols, colSpec{name: f.column, cat: catOf(f.dtype)})
	return len(c.cols) - 1
}

func (c *compiler) valSlot() int {
	s := c.cur
	c.cur++
	c.nvals = max(c.nvals, c.cur)
	if c.cur > maxLeafValues && c.err == nil {
		c.err = fmt.Errorf("expression too complex: more than %d values in one comparison", maxLeafValues)
	}
	return s
}

func (c *compiler) boolSlot() int {
	c.nbools++
	return c.nbools - 1
}

// isF32 reports whether n reads float32 values (a Float field or an element
// of a Float array), with which Milvus compares literals cast to float32.
func isF32(n node) bool {
	f, ok := n.(*fieldNode)
	if !ok {
		return false
	}
	if f.dtype == schemapb.DataType_Float && len(f.path) == 0 {
		return true
	}
	return f.dtype == schemapb.DataType_Array && f.elem == schemapb.DataType_Float
}

// isPlainScalar reports whether n is a whole scalar (non-JSON, non-Array)
// column, eligible for the column fast paths.
func isPlainScalar(n node) (*fieldNode, bool) {
	f, ok := n.(*fieldNode)
	if !ok || len(f.path) > 0 {
		return nil, false
	}
	switch f.t {
	case tBool, tInt, tFloat, tString:
		return f, true
	}
	return nil, false
}

func kindOf(t typ) vkind {
	switch t {
	case tBool:
		return vkBool
	case tInt:
		return vkInt
	case tFloat:
		return vkFloat
	case tString:
		return vkStr
	case tArray:
		return vkArr
	}
	return vkAny
}

func (c *compiler) pred(n node) pred {
	switch n.(type) {
	case *cmpNode, *inNode, *likeNode, *containsNode, *nullNode, *arrEqNode:
		c.cur = 0 // a leaf: its values may reuse the previous leaves' slots
		c.leafCols = nil
	}
	switch x := n.(type) {
	case *boolConst:
		return &predConst{v: x.v}
	case *logicNode:
		var kids []pred
		var walk func(m node)
		walk = func(m node) {
			if l, ok := m.(*logicNode); ok && l.and == x.and {
				walk(l.l)
				walk(l.r)
				return
			}
			kids = append(kids, c.pred(m))
		}
		walk(x)
		if x.and {
			return &predAnd{kids: kids, slot: c.boolSlot()}
		}
		return &predOr{kids: kids, slot: c.boolSlot()}
	case *notNode:
		c.leafCols = nil
		p := c.pred(x.x)
		switch x.x.(type) {
		case *cmpNode, *inNode, *likeNode, *containsNode:
			return &predNot{x: p, cols: c.leafCols}
		}
		return &predNot{x: p}
	case *cmpNode:
		return c.cmp(x)
	case *inNode:
		set := newLitSet(x.vals, isF32(x.x))
		var p pred
		if f, ok := isPlainScalar(x.x); ok {
			p = &predInCol{col: c.col(f), set: set}
		} else {
			p = &predIn{x: c.val(x.x), set: set}
		}
		if x.not {
			return &predNot{x: p, cols: c.leafCols}
		}
		return p
	case *likeNode:
		return &predLike{x: c.val(x.x), m: compileLike(x.pattern)}
	case *containsNode:
		round := x.x.dtype == schemapb.DataType_Array && x.x.elem == schemapb.DataType_Float
		p := &predContains{x: c.val(x.x), mode: x.mode}
		switch x.mode {
		case containsOne:
			p.set = newLitSet([]lit{x.arg}, round)
		case containsAny:
			p.set = newLitSet(x.arg.l, round)
		case containsAll:
			for _, e := range x.arg.l {
				p.each = append(p.each, newLitSet([]lit{e}, round))
			}
		}
		return p
	case *nullNode:
		return &predNull{x: c.val(x.x), isNull: !x.not}
	case *arrEqNode:
		l := x.list
		if x.x.dtype == schemapb.DataType_Array && x.x.elem == schemapb.DataType_Float {
			l = lit{k: lList, l: make([]lit, len(x.list.l))}
			for i, e := range x.list.l {
				if e.isNum() {
					e = lit{k: lFloat, f: roundNum(e.num(), true)}
				}
				l.l[i] = e
			}
		}
		return &predArrEq{x: c.val(x.x), list: l, ne: x.ne, json: x.x.t == tJSON}
	}
	panic(fmt.Sprintf("expr: compile: unexpected predicate node %T", n))
}

func (c *compiler) cmp(x *cmpNode) pred {
	l, r, op := x.l, x.r, x.op
	if _, ok := l.(*litNode); ok {
		l, r, op = r, l, op.flip()
	}
	neTrue := l.typ() == tJSON || r.typ() == tJSON
	if rl, ok := r.(*litNode); ok {
		lv := rl.v
		if isF32(l) && lv.isNum() {
			lv = lit{k: lFloat, f: roundNum(lv.num(), true)}
		}
		if f, ok := isPlainScalar(l); ok {
			return &predCmpCol{col: c.col(f), op: op, l: lv}
		}
		return &predCmpLit{x: c.val(l), op: op, l: lv, neTrue: neTrue}
	}
	return &predCmpVals{l: c.val(l), r: c.val(r), op: op, neTrue: neTrue}
}

func (c *compiler) val(n node) valNode {
	switch x := n.(type) {
	case *fieldNode:
		col := c.col(x)
		switch {
		case x.dtype == schemapb.DataType_Array && len(x.path) > 0:
			return &arrElemVal{col: col, slot: c.valSlot(), idx: x.path[0].idx, kind: kindOf(x.t)}
		case x.t == tJSON:
			return &jsonVal{col: col, slot: c.valSlot(), path: x.path}
		}
		return &colVal{col: col, slot: c.valSlot(), kind: kindOf(x.t)}
	case *litNode:
		return &constVal{slot: c.valSlot(), l: x.v}
	case *negNode:
		return &negVal{x: c.val(x.x), slot: c.valSlot()}
	case *arithNode:
		return &arithVal{op: x.op, l: c.val(x.l), r: c.val(x.r), slot: c.valSlot()}
	case *lenNode:
		return &lenVal{x: c.val(x.x), slot: c.valSlot()}
	}
	panic(fmt.Sprintf("expr: compile: unexpected value node %T", n))
}

// checkColumn verifies that a source column has a Go type allowed for its
// category and at least n rows; nil (absent) is allowed.
func checkColumn(spec colSpec, col any, n int) error {
	l := -1
	switch c := col.(type) {
	case nil:
		return nil
	case []bool:
		if spec.cat == catBool {
			l = len(c)
		}
	case []int8:
		if spec.cat == catInt {
			l = len(c)
		}
	case []int16:
		if spec.cat == catInt {
			l = len(c)
		}
	case []int32:
		if spec.cat == catInt {
			l = len(c)
		}
	case []int64:
		if spec.cat == catInt {
			l = len(c)
		}
	case []float32:
		if spec.cat == catFloat {
			l = len(c)
		}
	case []float64:
		if spec.cat == catFloat {
			l = len(c)
		}
	case []string:
		if spec.cat == catStr {
			l = len(c)
		}
	case [][]byte:
		if spec.cat == catJSON {
			l = len(c)
		}
	case []*schemapb.ScalarField:
		if spec.cat == catArr {
			l = len(c)
		}
	}
	if l < 0 {
		return fmt.Errorf("expr: column %q has unexpected type %T", spec.name, col)
	}
	if l < n {
		return fmt.Errorf("expr: column %q has %d rows, source has %d", spec.name, l, n)
	}
	return nil
}

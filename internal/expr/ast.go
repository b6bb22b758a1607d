package expr

import (
	"math"
	"strconv"
	"strings"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

// typ is the static type of an AST node.
type typ uint8

const (
	tInvalid typ = iota
	tBool        // a boolean value (bool field, bool literal)
	tInt         // an integer value
	tFloat       // a floating-point value
	tString      // a string value
	tJSON        // a JSON value, typed only at run time
	tArray       // a whole Array field
	tList        // a literal array
	tPred        // a predicate (comparison, logical operator, ...)
)

// litKind is the kind of a literal.
type litKind uint8

const (
	lBool litKind = iota + 1
	lInt
	lFloat
	lString
	lList
)

// lit is a constant value.
type lit struct {
	k litKind
	b bool
	i int64
	f float64
	s string
	l []lit
}

func (l lit) typ() typ {
	switch l.k {
	case lBool:
		return tBool
	case lInt:
		return tInt
	case lFloat:
		return tFloat
	case lString:
		return tString
	}
	return tList
}

// isNum reports whether l is an integer or float literal.
func (l lit) isNum() bool { return l.k == lInt || l.k == lFloat }

// num returns a numeric literal as float64.
func (l lit) num() float64 {
	if l.k == lInt {
		return float64(l.i)
	}
	return l.f
}

func (l lit) write(b *strings.Builder) {
	switch l.k {
	case lBool:
		b.WriteString(strconv.FormatBool(l.b))
	case lInt:
		if l.i == math.MinInt64 {
			b.WriteString("(-9223372036854775807 - 1)")
			return
		}
		b.WriteString(strconv.FormatInt(l.i, 10))
	case lFloat:
		s := strconv.FormatFloat(l.f, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eE") {
			s += ".0"
		}
		b.WriteString(s)
	case lString:
		b.WriteString(quote(l.s))
	case lList:
		b.WriteByte('[')
		for i, e := range l.l {
			if i > 0 {
				b.WriteString(", ")
			}
			e.write(b)
		}
		b.WriteByte(']')
	}
}

// pathElem is one step of a JSON path or an array index.
type pathElem struct {
	key   string
	idx   int64
	isIdx bool
}

// cmpOp is a comparison operator.
type cmpOp uint8

const (
	opEQ cmpOp = iota
	opNE
	opLT
	opLE
	opGT
	opGE
)

var cmpOpText = [...]string{"==", "!=", "<", "<=", ">", ">="}

// flip returns the operator with its operands swapped (a op b == b flip(op) a).
func (o cmpOp) flip() cmpOp {
	switch o {
	case opLT:
		return opGT
	case opLE:
		return opGE
	case opGT:
		return opLT
	case opGE:
		return opLE
	}
	return o
}

// holds reports whether a comparison result c (-1, 0, 1) satisfies o.
func (o cmpOp) holds(c int) bool {
	switch o {
	case opEQ:
		return c == 0
	case opNE:
		return c != 0
	case opLT:
		return c < 0
	case opLE:
		return c <= 0
	case opGT:
		return c > 0
	}
	return c >= 0
}

// containsMode is the flavour of array_contains / json_contains.
type containsMode uint8

const (
	containsOne containsMode = iota
	containsAll
	containsAny
)

var containsName = [...]string{"array_contains", "array_contains_all", "array_contains_any"}

// node is an AST node.
type node interface {
	typ() typ
	write(b *strings.Builder)
}

// litNode is a constant; tmpl names the template placeholder it came
// from, if any.
type litNode struct {
	v    lit
	tmpl string
}

// boolConst is a constant predicate (`true`, or a folded comparison).
type boolConst struct{ v bool }

// fieldNode reads a column, optionally following a JSON path or an array
// index.
type fieldNode struct {
	column  string            // the column read
	dtype   schemapb.DataType // its type
	elem    schemapb.DataType // element type of Array columns
	path    []pathElem
	dynamic bool   // the column is the dynamic field
	dynName string // how to print the dynamic column
	t       typ
}

// negNode is unary minus on a non-constant.
type negNode struct{ x node }

// arithNode is + - * / % on numbers.
type arithNode struct {
	op   byte
	l, r node
	t    typ
}

// cmpNode is a comparison.
type cmpNode struct {
	op   cmpOp
	l, r node
}

// inNode is `x in [...]` / `x not in [...]`.
type inNode struct {
	x    node
	vals []lit
	not  bool
}

// likeNode is `x like "pattern"`.
type likeNode struct {
	x       node
	pattern string
}

// containsNode is array_contains / _all / _any (and the json_ aliases).
type containsNode struct {
	mode containsMode
	x    *fieldNode
	arg  lit
}

// arrEqNode is `x == [...]` / `x != [...]` on a whole Array field or a
// JSON value: equal when the array has the same elements in order.
type arrEqNode struct {
	x    *fieldNode
	list lit
	ne   bool
}

func (n *arrEqNode) typ() typ { return tPred }
func (n *arrEqNode) write(b *strings.Builder) {
	b.WriteByte('(')
	n.x.write(b)
	if n.ne {
		b.WriteString(" != ")
	} else {
		b.WriteString(" == ")
	}
	n.list.write(b)
	b.WriteByte(')')
}

// lenNode is array_length(x).
type lenNode struct{ x *fieldNode }

// nullNode is `x is null` / `x is not null`; `exists x` is `x is not null`
// written with exists set.
type nullNode struct {
	x      *fieldNode
	not    bool
	exists bool
}

// logicNode is `and` / `or`.
type logicNode struct {
	and  bool
	l, r node
}

// notNode is `not x`.
type notNode struct{ x node }

func (n *litNode) typ() typ      { return n.v.typ() }
func (n *boolConst) typ() typ    { return tPred }
func (n *fieldNode) typ() typ    { return n.t }
func (n *negNode) typ() typ      { return n.x.typ() }
func (n *arithNode) typ() typ    { return n.t }
func (n *cmpNode) typ() typ      { return tPred }
func (n *inNode) typ() typ       { return tPred }
func (n *likeNode) typ() typ     { return tPred }
func (n *containsNode) typ() typ { return tPred }
func (n *lenNode) typ() typ      { return tInt }
func (n *nullNode) typ() typ     { return tPred }
func (n *logicNode) typ() typ    { return tPred }
func (n *notNode) typ() typ      { return tPred }

func (n *litNode) write(b *strings.Builder) { n.v.write(b) }
func (n *boolConst) write(b *strings.Builder) {
	b.WriteString(strconv.FormatBool(n.v))
}
func (n *fieldNode) write(b *strings.Builder) {
	if n.dynamic {
		b.WriteString(n.dynName)
	} else {
		b.WriteString(n.column)
	}
	for _, p := range n.path {
		b.WriteByte('[')
		if p.isIdx {
			b.WriteString(strconv.FormatInt(p.idx, 10))
		} else {
			b.WriteString(quote(p.key))
		}
		b.WriteByte(']')
	}
}
func (n *negNode) write(b *strings.Builder) {
	b.WriteString("(-")
	n.x.write(b)
	b.WriteByte(')')
}
func (n *arithNode) write(b *strings.Builder) {
	b.WriteByte('(')
	n.l.write(b)
	b.WriteByte(' ')
	b.WriteByte(n.op)
	b.WriteByte(' ')
	n.r.write(b)
	b.WriteByte(')')
}
func (n *cmpNode) write(b *strings.Builder) {
	b.WriteByte('(')
	n.l.write(b)
	b.WriteString(" " + cmpOpText[n.op] + " ")
	n.r.write(b)
	b.WriteByte(')')
}
func (n *inNode) write(b *strings.Builder) {
	b.WriteByte('(')
	n.x.write(b)
	if n.not {
		b.WriteString(" not in ")
	} else {
		b.WriteString(" in ")
	}
	lit{k: lList, l: n.vals}.write(b)
	b.WriteByte(')')
}
func (n *likeNode) write(b *strings.Builder) {
	b.WriteByte('(')
	n.x.write(b)
	b.WriteString(" like ")
	b.WriteString(quote(n.pattern))
	b.WriteByte(')')
}
func (n *containsNode) write(b *strings.Builder) {
	b.WriteString(containsName[n.mode])
	b.WriteByte('(')
	n.x.write(b)
	b.WriteString(", ")
	n.arg.write(b)
	b.WriteByte(')')
}
func (n *lenNode) write(b *strings.Builder) {
	b.WriteString("array_length(")
	n.x.write(b)
	b.WriteByte(')')
}
func (n *nullNode) write(b *strings.Builder) {
	b.WriteByte('(')
	if n.exists {
		b.WriteString("exists ")
		n.x.write(b)
	} else {
		n.x.write(b)
		if n.not {
			b.WriteString(" is not null")
		} else {
			b.WriteString(" is null")
		}
	}
	b.WriteByte(')')
}
func (n *logicNode) write(b *strings.Builder) {
	b.WriteByte('(')
	n.l.write(b)
	if n.and {
		b.WriteString(" and ")
	} else {
		b.WriteString(" or ")
	}
	n.r.write(b)
	b.WriteByte(')')
}
func (n *notNode) write(b *strings.Builder) {
	b.WriteString("(not ")
	n.x.write(b)
	b.WriteByte(')')
}

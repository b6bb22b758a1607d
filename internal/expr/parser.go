package expr

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

// maxDepth bounds the nesting of an expression so that hostile input cannot
// exhaust the stack.
const maxDepth = 1000

// parser is a recursive-descent parser with precedence (loosest first):
// or, and, not, comparison / in / like / is null, + -, * / %, unary minus,
// primary. Comparisons therefore bind tighter than `not`, which binds
// tighter than `and`, which binds tighter than `or`.
type parser struct {
	toks   []token
	pos    int
	depth  int
	schema *Schema
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) peekAt(k int) token {
	if p.pos+k < len(p.toks) {
		return p.toks[p.pos+k]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tkEOF {
		p.pos++
	}
	return t
}
func (p *parser) isOp(s string) bool {
	t := p.peek()
	return t.kind == tkOp && t.text == s
}
func (p *parser) isKw(s string) bool {
	t := p.peek()
	return t.kind == tkKeyword && t.text == s
}

func (p *parser) expectOp(s string) error {
	if !p.isOp(s) {
		return p.unexpected(fmt.Sprintf("expected %q", s))
	}
	p.next()
	return nil
}

// unexpected describes the current token as a syntax error.
func (p *parser) unexpected(want string) error {
	t := p.peek()
	if t.kind == tkEOF {
		if want != "" {
			return fmt.Errorf("unexpected end of expression, %s", want)
		}
		return errors.New("unexpected end of expression")
	}
	text := t.text
	if t.kind == tkString {
		text = quote(t.s)
	}
	if want != "" {
		return fmt.Errorf("syntax error at position %d near %s: %s", t.pos, text, want)
	}
	return fmt.Errorf("syntax error at position %d near %s", t.pos, text)
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return errors.New("expression is nested too deeply")
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// parseTop parses a whole expression, which must be a predicate.
func (p *parser) parseTop() (node, error) {
	if p.peek().kind == tkEOF {
		return nil, errors.New("empty expression")
	}
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tkEOF {
		return nil, p.unexpected("")
	}
	return toPred(n)
}

func (p *parser) parseOr() (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.isKw("or") || p.isOp("||") {
		p.next()
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		if l, err = logic(false, l, r); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (p *parser) parseAnd() (node, error) {
	l, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	for p.isKw("and") || p.isOp("&&") {
		p.next()
		r, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		if l, err = logic(true, l, r); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (p *parser) parseNot() (node, error) {
	if p.isKw("not") || p.isOp("!") {
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		p.next()
		x, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		x, err = toPred(x)
		if err != nil {
			return nil, err
		}
		if c, ok := x.(*boolConst); ok {
			return &boolConst{v: !c.v}, nil
		}
		return &notNode{x: x}, nil
	}
	return p.parseCmp()
}

func isRelOp(t token) (cmpOp, bool) {
	if t.kind != tkOp {
		return 0, false
	}
	for i, s := range cmpOpText {
		if t.text == s {
			return cmpOp(i), true
		}
	}
	return 0, false
}

func isIdentWord(t token, w string) bool {
	return (t.kind == tkIdent || t.kind == tkKeyword) && strings.EqualFold(t.text, w)
}

func (p *parser) parseCmp() (node, error) {
	l, err := p.parseAdd()
	if err != nil {
		return nil, err
	}
	switch t := p.peek(); {
	case p.isKw("not") && p.peekAt(1).kind == tkKeyword && p.peekAt(1).text == "in":
		p.next()
		p.next()
		return p.parseIn(l, true)
	case p.isKw("in"):
		p.next()
		return p.parseIn(l, false)
	case p.isKw("like"):
		p.next()
		pt := p.peek()
		if pt.kind != tkString {
			return nil, p.unexpected("like needs a string pattern")
		}
		p.next()
		return like(l, pt.s)
	case isIdentWord(t, "is"):
		not := false
		k := 1
		if isIdentWord(p.peekAt(1), "not") {
			not = true
			k = 2
		}
		if !isIdentWord(p.peekAt(k), "null") {
			return nil, p.unexpected("")
		}
		for ; k >= 0; k-- {
			p.next()
		}
		f, ok := l.(*fieldNode)
		if !ok {
			return nil, errors.New("is null can only be applied to a field")
		}
		return &nullNode{x: f, not: not}, nil
	}
	op1, ok := isRelOp(p.peek())
	if !ok {
		return l, nil
	}
	p.next()
	m, err := p.parseAdd()
	if err != nil {
		return nil, err
	}
	op2, ok := isRelOp(p.peek())
	if !ok {
		return compare(op1, l, m)
	}
	lower := op1 == opLT || op1 == opLE
	upper := op1 == opGT || op1 == opGE
	if !(lower && (op2 == opLT || op2 == opLE)) && !(upper && (op2 == opGT || op2 == opGE)) {
		return nil, fmt.Errorf("chained comparison %s ... %s is not supported; only range forms like 1 < x <= 5 are",
			cmpOpText[op1], cmpOpText[op2])
	}
	p.next()
	r, err := p.parseAdd()
	if err != nil {
		return nil, err
	}
	if _, isLit := m.(*litNode); isLit {
		return nil, errors.New("the middle of a range expression must be a field")
	}
	a, err := compare(op1, l, m)
	if err != nil {
		return nil, err
	}
	b, err := compare(op2, m, r)
	if err != nil {
		return nil, err
	}
	return logic(true, a, b)
}

func (p *parser) parseIn(x node, not bool) (node, error) {
	r, err := p.parseAdd()
	if err != nil {
		return nil, err
	}
	ln, ok := r.(*litNode)
	if !ok || ln.v.k != lList {
		return nil, errors.New("the right-hand side of 'in' must be a list of constants")
	}
	return in(x, ln.v.l, not)
}

func (p *parser) parseAdd() (node, error) {
	l, err := p.parseMul()
	if err != nil {
		return nil, err
	}
	for p.isOp("+") || p.isOp("-") {
		op := p.next().text[0]
		r, err := p.parseMul()
		if err != nil {
			return nil, err
		}
		if l, err = arith(op, l, r); err != nil {
			return nil, err
		}
	}
	if t := p.peek(); t.kind == tkOp && (t.text == "<<" || t.text == ">>" || t.text == "&" || t.text == "|" || t.text == "^") {
		return nil, fmt.Errorf("operator %s is not supported", t.text)
	}
	return l, nil
}

func (p *parser) parseMul() (node, error) {
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for p.isOp("*") || p.isOp("/") || p.isOp("%") {
		op := p.next().text[0]
		r, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		if l, err = arith(op, l, r); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (p *parser) parseUnary() (node, error) {
	switch {
	case p.isOp("-") || p.isOp("+"):
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		neg := p.next().text == "-"
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return unary(neg, x)
	case p.isOp("~"):
		return nil, errors.New("operator ~ is not supported")
	}
	x, err := p.parsePrimary()
	if err != nil {
		return nil, err
	}
	if p.isOp("**") {
		return nil, errors.New("operator ** is not supported")
	}
	return x, nil
}

func (p *parser) parsePrimary() (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	t := p.peek()
	switch t.kind {
	case tkInt:
		p.next()
		return &litNode{v: lit{k: lInt, i: t.i}}, nil
	case tkFloat:
		p.next()
		return &litNode{v: lit{k: lFloat, f: t.f}}, nil
	case tkString:
		p.next()
		return &litNode{v: lit{k: lString, s: t.s}}, nil
	case tkKeyword:
		switch t.text {
		case "true", "false":
			p.next()
			return &litNode{v: lit{k: lBool, b: t.text == "true"}}, nil
		case "exists":
			p.next()
			x, err := p.parsePrimary()
			if err != nil {
				return nil, err
			}
			f, ok := x.(*fieldNode)
			if !ok || f.t != tJSON {
				return nil, errors.New("exists can only be applied to a JSON field or path")
			}
			return &nullNode{x: f, not: true, exists: true}, nil
		}
	case tkIdent:
		p.next()
		if p.isOp("(") {
			return p.parseCall(t.text)
		}
		return p.parseField(t.text)
	case tkOp:
		switch t.text {
		case "(":
			p.next()
			x, err := p.parseOr()
			if err != nil {
				return nil, err
			}
			if err := p.expectOp(")"); err != nil {
				return nil, err
			}
			return x, nil
		case "[":
			p.next()
			return p.parseList()
		case "{":
			return nil, errors.New("template variables are not supported")
		}
	}
	return nil, p.unexpected("")
}

// parseList parses the elements of a literal array after '['.
func (p *parser) parseList() (node, error) {
	elems := []lit{}
	for !p.isOp("]") {
		x, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		ln, ok := x.(*litNode)
		if !ok {
			return nil, errors.New("array elements must be constants")
		}
		elems = append(elems, ln.v)
		if p.isOp(",") {
			p.next()
			continue
		}
		if !p.isOp("]") {
			return nil, p.unexpected("expected \",\" or \"]\"")
		}
	}
	p.next()
	return &litNode{v: lit{k: lList, l: elems}}, nil
}

// parseCall parses a function call after its name; the current token is '('.
func (p *parser) parseCall(name string) (node, error) {
	lname := strings.ToLower(name)
	var mode containsMode
	switch lname {
	case "array_contains", "json_contains":
		mode = containsOne
	case "array_contains_all", "json_contains_all":
		mode = containsAll
	case "array_contains_any", "json_contains_any":
		mode = containsAny
	case "array_length":
	default:
		return nil, fmt.Errorf("function %s is not supported", name)
	}
	p.next() // (
	var args []node
	for !p.isOp(")") {
		x, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		args = append(args, x)
		if p.isOp(",") {
			p.next()
			continue
		}
		if !p.isOp(")") {
			return nil, p.unexpected("expected \",\" or \")\"")
		}
	}
	p.next()
	if lname == "array_length" {
		if len(args) != 1 {
			return nil, fmt.Errorf("%s takes 1 argument, got %d", lname, len(args))
		}
		f, ok := args[0].(*fieldNode)
		if !ok || (f.t != tArray && f.t != tJSON) {
			return nil, fmt.Errorf("%s can only be applied to an Array or JSON field", lname)
		}
		return &lenNode{x: f}, nil
	}
	if len(args) != 2 {
		return nil, fmt.Errorf("%s takes 2 arguments, got %d", lname, len(args))
	}
	return contains(lname, mode, args[0], args[1])
}

// parseField resolves an identifier (and its [..] path) against the schema.
func (p *parser) parseField(name string) (node, error) {
	var path []pathElem
	for p.isOp("[") {
		p.next()
		t := p.peek()
		switch t.kind {
		case tkString:
			path = append(path, pathElem{key: t.s})
		case tkInt:
			path = append(path, pathElem{idx: t.i, isIdx: true})
		default:
			return nil, p.unexpected("a path element must be a string or a non-negative integer")
		}
		p.next()
		if err := p.expectOp("]"); err != nil {
			return nil, err
		}
	}
	s := p.schema
	dyn := ""
	if s != nil {
		dyn = s.DynamicField
	}
	if dyn != "" && (name == dyn || name == "$meta") {
		return &fieldNode{column: dyn, dtype: schemapb.DataType_JSON, path: path, dynamic: true,
			dynName: name, t: tJSON}, nil
	}
	f := s.field(name)
	if f == nil {
		if dyn == "" {
			return nil, fmt.Errorf("field %s not exist", name)
		}
		dynName := dyn
		if dyn != "$meta" && !isIdentifier(dyn) {
			dynName = "$meta"
		}
		return &fieldNode{column: dyn, dtype: schemapb.DataType_JSON,
			path: append([]pathElem{{key: name}}, path...), dynamic: true, dynName: dynName, t: tJSON}, nil
	}
	if isVectorType(f.Type) {
		return nil, fmt.Errorf("vector field %s cannot be used in a filter expression", name)
	}
	n := &fieldNode{column: f.Name, dtype: f.Type, elem: f.ElementType, path: path}
	switch t := scalarTyp(f.Type); t {
	case tInvalid:
		return nil, fmt.Errorf("field %s of type %s cannot be used in a filter expression", name, f.Type)
	case tJSON:
		n.t = tJSON
	case tArray:
		n.t = tArray
		if len(path) > 0 {
			if len(path) > 1 || !path[0].isIdx {
				return nil, fmt.Errorf("array field %s can only be indexed by one integer", name)
			}
			n.t = scalarTyp(f.ElementType)
			if n.t == tInvalid || n.t == tJSON || n.t == tArray {
				return nil, fmt.Errorf("array field %s has unsupported element type %s", name, f.ElementType)
			}
		}
	default:
		if len(path) > 0 {
			return nil, fmt.Errorf("field %s of type %s cannot be indexed", name, f.Type)
		}
		n.t = t
	}
	return n, nil
}

// typeName names n's type in Milvus's terms, for error messages.
func typeName(n node) string {
	switch x := n.(type) {
	case *fieldNode:
		if x.dtype == schemapb.DataType_Array && len(x.path) > 0 {
			return x.elem.String()
		}
		if len(x.path) > 0 {
			return schemapb.DataType_JSON.String()
		}
		return x.dtype.String()
	case *litNode:
		switch x.v.k {
		case lBool:
			return "Bool"
		case lInt:
			return "Int64"
		case lFloat:
			return "Double"
		case lString:
			return "VarChar"
		}
		return "Array"
	}
	switch n.typ() {
	case tBool:
		return "Bool"
	case tInt:
		return "Int64"
	case tFloat:
		return "Double"
	case tString:
		return "VarChar"
	case tJSON:
		return "JSON"
	case tArray, tList:
		return "Array"
	}
	return "Bool"
}

// toPred turns n into a predicate: predicates stay, bool constants become
// boolConst, bool values v become `v == true`.
func toPred(n node) (node, error) {
	switch n.typ() {
	case tPred:
		return n, nil
	case tBool:
		if ln, ok := n.(*litNode); ok {
			return &boolConst{v: ln.v.b}, nil
		}
		return &cmpNode{op: opEQ, l: n, r: &litNode{v: lit{k: lBool, b: true}}}, nil
	}
	return nil, fmt.Errorf("predicate is not a boolean expression: %s, data type: %s", render(n), typeName(n))
}

// render prints a node.
func render(n node) string {
	var b strings.Builder
	n.write(&b)
	return b.String()
}

// isValue reports whether n can be an operand of comparison or arithmetic.
func checkValue(n node, what string) error {
	switch n.typ() {
	case tPred:
		return fmt.Errorf("boolean expression %s cannot be an operand of %s", render(n), what)
	case tArray:
		return fmt.Errorf("array field %s cannot be an operand of %s; use an index or array functions", render(n), what)
	case tList:
		return fmt.Errorf("array %s cannot be an operand of %s", render(n), what)
	}
	return nil
}

func isNumTyp(t typ) bool { return t == tInt || t == tFloat }

// comparable reports whether values of types a and b can be compared.
func comparable(a, b typ) bool {
	if a == tJSON || b == tJSON {
		return true
	}
	if isNumTyp(a) && isNumTyp(b) {
		return true
	}
	return a == b && (a == tBool || a == tString)
}

func logic(and bool, l, r node) (node, error) {
	l, err := toPred(l)
	if err != nil {
		return nil, err
	}
	r, err = toPred(r)
	if err != nil {
		return nil, err
	}
	return &logicNode{and: and, l: l, r: r}, nil
}

func compare(op cmpOp, l, r node) (node, error) {
	what := "comparison " + cmpOpText[op]
	if err := checkValue(l, what); err != nil {
		return nil, err
	}
	if err := checkValue(r, what); err != nil {
		return nil, err
	}
	if !comparable(l.typ(), r.typ()) {
		return nil, fmt.Errorf("comparisons between %s and %s are not supported", typeName(l), typeName(r))
	}
	ll, lok := l.(*litNode)
	rl, rok := r.(*litNode)
	if lok && rok {
		c, _ := litCompare(ll.v, rl.v)
		return &boolConst{v: op.holds(c)}, nil
	}
	return &cmpNode{op: op, l: l, r: r}, nil
}

// litCompare orders two scalar literals of comparable types.
func litCompare(a, b lit) (int, bool) {
	switch {
	case a.k == lInt && b.k == lInt:
		return cmp3(a.i, b.i), true
	case a.isNum() && b.isNum():
		x, y := a.num(), b.num()
		if x != x || y != y {
			return 0, false
		}
		return cmp3(x, y), true
	case a.k == lString && b.k == lString:
		return strings.Compare(a.s, b.s), true
	case a.k == lBool && b.k == lBool:
		return cmp3(b2i(a.b), b2i(b.b)), true
	}
	return 0, false
}

func cmp3[T int64 | float64 | int](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func in(x node, vals []lit, not bool) (node, error) {
	what := "in"
	if err := checkValue(x, what); err != nil {
		return nil, err
	}
	xt := x.typ()
	for _, v := range vals {
		if xt == tJSON {
			continue
		}
		if v.k == lList || !comparable(xt, v.typ()) {
			return nil, fmt.Errorf("value %s in list cannot be compared with %s", render(&litNode{v: v}), typeName(x))
		}
	}
	if xl, ok := x.(*litNode); ok {
		found := false
		for _, v := range vals {
			if c, ok := litCompare(xl.v, v); ok && c == 0 {
				found = true
			}
		}
		return &boolConst{v: found != not}, nil
	}
	return &inNode{x: x, vals: vals, not: not}, nil
}

func like(x node, pattern string) (node, error) {
	switch x.typ() {
	case tString, tJSON:
	default:
		return nil, fmt.Errorf("like operation on non-string or no-json field is unsupported: %s has type %s",
			render(x), typeName(x))
	}
	if xl, ok := x.(*litNode); ok {
		return &boolConst{v: compileLike(pattern).match(xl.v.s)}, nil
	}
	return &likeNode{x: x, pattern: pattern}, nil
}

func contains(name string, mode containsMode, a, b node) (node, error) {
	f, ok := a.(*fieldNode)
	if !ok || (f.t != tArray && f.t != tJSON) {
		return nil, fmt.Errorf("%s can only be applied to an Array or JSON field", name)
	}
	v, ok := b.(*litNode)
	if !ok {
		return nil, fmt.Errorf("the second argument of %s must be a constant", name)
	}
	if mode != containsOne && v.v.k != lList {
		return nil, fmt.Errorf("%s operation element must be an array", name)
	}
	if f.t == tArray {
		et := scalarTyp(f.elem)
		check := func(l lit) error {
			if l.k == lList || !comparable(et, l.typ()) {
				return fmt.Errorf("%s: value %s cannot be compared with elements of type %s",
					name, render(&litNode{v: l}), f.elem)
			}
			return nil
		}
		if mode == containsOne {
			if err := check(v.v); err != nil {
				return nil, err
			}
		} else {
			for _, e := range v.v.l {
				if err := check(e); err != nil {
					return nil, err
				}
			}
		}
	}
	return &containsNode{mode: mode, x: f, arg: v.v}, nil
}

func unary(neg bool, x node) (node, error) {
	if err := checkValue(x, "unary minus"); err != nil {
		return nil, err
	}
	t := x.typ()
	if !isNumTyp(t) && t != tJSON {
		return nil, fmt.Errorf("unary %s is not supported on %s", map[bool]string{true: "-", false: "+"}[neg], typeName(x))
	}
	if !neg {
		return x, nil
	}
	if ln, ok := x.(*litNode); ok {
		if ln.v.k == lInt {
			return &litNode{v: lit{k: lInt, i: -ln.v.i}}, nil
		}
		return &litNode{v: lit{k: lFloat, f: -ln.v.f}}, nil
	}
	return &negNode{x: x}, nil
}

func arith(op byte, l, r node) (node, error) {
	what := "arithmetic " + string(op)
	if err := checkValue(l, what); err != nil {
		return nil, err
	}
	if err := checkValue(r, what); err != nil {
		return nil, err
	}
	lt, rt := l.typ(), r.typ()
	for _, n := range []node{l, r} {
		if t := n.typ(); !isNumTyp(t) && t != tJSON {
			return nil, fmt.Errorf("arithmetic operation %c is not supported on %s", op, typeName(n))
		}
	}
	if op == '%' && (lt == tFloat || rt == tFloat) {
		return nil, errors.New("modulo can only apply on integer types")
	}
	if rl, ok := r.(*litNode); ok && (op == '/' || op == '%') && rl.v.num() == 0 {
		if op == '/' {
			return nil, errors.New("divide by zero")
		}
		return nil, errors.New("modulo by zero")
	}
	t := tFloat
	switch {
	case lt == tJSON || rt == tJSON:
		t = tJSON
	case lt == tInt && rt == tInt:
		t = tInt
	}
	ll, lok := l.(*litNode)
	rl, rok := r.(*litNode)
	if lok && rok {
		if t == tInt {
			v, _ := intArith(op, ll.v.i, rl.v.i)
			return &litNode{v: lit{k: lInt, i: v}}, nil
		}
		v := floatArith(op, ll.v.num(), rl.v.num())
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, fmt.Errorf("arithmetic overflow in %s %c %s", render(l), op, render(r))
		}
		return &litNode{v: lit{k: lFloat, f: v}}, nil
	}
	return &arithNode{op: op, l: l, r: r, t: t}, nil
}

// intArith applies op to integers with wrap-around; ok is false for a
// division or modulo by zero.
func intArith(op byte, a, b int64) (int64, bool) {
	switch op {
	case '+':
		return a + b, true
	case '-':
		return a - b, true
	case '*':
		return a * b, true
	case '/':
		if b == 0 {
			return 0, false
		}
		return a / b, true
	}
	if b == 0 {
		return 0, false
	}
	return a % b, true
}

// floatArith applies op (+ - * /) to floats.
func floatArith(op byte, a, b float64) float64 {
	switch op {
	case '+':
		return a + b
	case '-':
		return a - b
	case '*':
		return a * b
	}
	return a / b
}

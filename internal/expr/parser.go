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
	params map[string]*schemapb.TemplateValue // template values
	src    string
}

// textFrom returns the source text of tokens [from, p.pos) without
// whitespace, as ANTLR's GetText gives it in Milvus's messages.
func (p *parser) textFrom(from int) string {
	var b strings.Builder
	for i := from; i < p.pos && i < len(p.toks); i++ {
		b.WriteString(p.toks[i].text)
	}
	return b.String()
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
	start := p.pos
	n, err := p.parseCmp1()
	if err != nil {
		return nil, err
	}
	for _, op := range [...]struct{ tok, name string }{{"&", "BitAnd"}, {"^", "BitXor"}, {"|", "BitOr"}} {
		if p.isOp(op.tok) {
			p.next()
			if _, err := p.parseCmp1(); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("%s is not supported: %s", op.name, p.textFrom(start))
		}
	}
	return n, nil
}

func (p *parser) parseCmp1() (node, error) {
	start := p.pos
	l, err := p.parseAdd()
	if err != nil {
		return nil, err
	}
	switch t := p.peek(); {
	case p.isKw("not") && p.peekAt(1).kind == tkKeyword && p.peekAt(1).text == "in":
		p.next()
		p.next()
		return p.parseIn(l, true, p.textFrom(start))
	case p.isKw("in"):
		text := p.textFrom(start)
		p.next()
		return p.parseIn(l, false, text)
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
	mid := p.pos
	m, err := p.parseAdd()
	if err != nil {
		return nil, err
	}
	midText := p.textFrom(mid)
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
	hi := p.pos
	r, err := p.parseAdd()
	if err != nil {
		return nil, err
	}
	f, isField := m.(*fieldNode)
	if !isField {
		return nil, fmt.Errorf("range operations are only supported on single fields now, got: %s", midText)
	}
	if f.t == tArray {
		return nil, errors.New("can not comparisons array fields directly")
	}
	ll, lok := l.(*litNode)
	rl, rok := r.(*litNode)
	if !lok {
		return nil, fmt.Errorf("lowerbound cannot be a non-const expression: %s", p.toksText(start, mid-1))
	}
	if !rok {
		return nil, fmt.Errorf("upperbound cannot be a non-const expression: %s", p.textFrom(hi))
	}
	if ll.tmpl == "" && rl.tmpl == "" {
		lo, up := ll.v, rl.v
		if upper {
			lo, up = up, lo
		}
		if c, ok := litCompare(lo, up); ok {
			incl := (op1 == opLE || op1 == opGE) && (op2 == opLE || op2 == opGE)
			if c > 0 || (c == 0 && !incl) {
				return nil, errors.New("invalid range: lowerbound is greater than upperbound")
			}
		}
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

func (p *parser) parseIn(x node, not bool, xText string) (node, error) {
	if _, ok := x.(*litNode); ok {
		return nil, fmt.Errorf("'term' can only be used on non-const expression, but got: %s", xText)
	}
	start := p.pos
	r, err := p.parseAdd()
	if err != nil {
		return nil, err
	}
	ln, ok := r.(*litNode)
	if ok && ln.tmpl != "" && ln.v.k != lList {
		return nil, tmplErrf("the value of term expression template variable {%s} is not array", ln.tmpl)
	}
	if !ok {
		return nil, fmt.Errorf("value '%s' in list cannot be a non-const expression", p.textFrom(start))
	}
	if ln.v.k != lList {
		return nil, fmt.Errorf("the right-hand side of 'in' must be a list, but got: %s", p.textFrom(start))
	}
	return in(x, ln.v.l, not, ln.tmpl)
}

// toksText returns the text of tokens [from, to) without whitespace.
func (p *parser) toksText(from, to int) string {
	save := p.pos
	p.pos = to
	s := p.textFrom(from)
	p.pos = save
	return s
}

func (p *parser) parseAdd() (node, error) {
	start := p.pos
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
	if p.isOp("<<") || p.isOp(">>") {
		p.next()
		if _, err := p.parseAdd(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("shift is not supported: %s", p.textFrom(start))
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
		return nil, errors.New("unexpected op: ~")
	}
	start := p.pos
	x, err := p.parsePrimary()
	if err != nil {
		return nil, err
	}
	if p.isOp("**") {
		// Right-associative, binding tighter than unary minus, as in
		// Milvus's grammar; only constants.
		p.next()
		y, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		xl, xok := x.(*litNode)
		yl, yok := y.(*litNode)
		if !xok || !yok || !xl.v.isNum() || !yl.v.isNum() || xl.tmpl != "" || yl.tmpl != "" {
			return nil, fmt.Errorf("power can only apply on constants: %s", p.textFrom(start))
		}
		v := math.Pow(xl.v.num(), yl.v.num())
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, fmt.Errorf("arithmetic overflow in %s", p.textFrom(start))
		}
		return &litNode{v: lit{k: lFloat, f: v}}, nil
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
			if !ok {
				return nil, fmt.Errorf("exists operations are only supported on single fields now, got: %s", render(x))
			}
			if f.dtype != schemapb.DataType_JSON {
				return nil, fmt.Errorf("exists operations are only supportted on json field, got:%s", f.dtype)
			}
			if len(f.path) == 0 {
				return nil, errors.New("exists operations are only supportted on json key")
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
			return p.parseTemplate()
		}
	}
	return nil, p.unexpected("")
}

// parseTemplate parses `{name}` and substitutes the template value.
func (p *parser) parseTemplate() (node, error) {
	p.next() // {
	t := p.peek()
	if t.kind != tkIdent {
		return nil, p.unexpected("expected a template variable name")
	}
	p.next()
	if err := p.expectOp("}"); err != nil {
		return nil, err
	}
	v, ok := p.params[t.text]
	if !ok {
		return nil, tmplErrf("the value of expression template variable name {%s} is not found", t.text)
	}
	l, err := templateLit(t.text, v)
	if err != nil {
		return nil, err
	}
	return &litNode{v: l, tmpl: t.text}, nil
}

// parseList parses the elements of a literal array after '['.
func (p *parser) parseList() (node, error) {
	elems := []lit{}
	for !p.isOp("]") {
		start := p.pos
		x, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		ln, ok := x.(*litNode)
		if !ok || ln.tmpl != "" {
			return nil, fmt.Errorf("array element type must be generic value, but got: %s", p.textFrom(start))
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
	callStart := p.pos - 1
	p.next() // (
	var args []node
	var argText []string
	for !p.isOp(")") {
		argStart := p.pos
		x, err := p.parseOr()
		argText = append(argText, p.textFrom(argStart))
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
			return nil, fmt.Errorf("array_length operation are only supported on json or array fields now, got: %s",
				p.textFrom(callStart))
		}
		return &lenNode{x: f}, nil
	}
	if len(args) != 2 {
		return nil, fmt.Errorf("%s takes 2 arguments, got %d", lname, len(args))
	}
	return contains(mode, args[0], args[1], argText)
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
	ll, lok := l.(*litNode)
	rl, rok := r.(*litNode)
	if lok && rok && (ll.tmpl != "" || rl.tmpl != "") {
		return nil, fmt.Errorf("placeholder was not supported between two constants with operator: %s", cmpOpText[op])
	}
	// A column compared with a constant: Milvus casts the constant to the
	// column's type (castValue) and words a mismatch so.
	f, cl := l, rl
	if lok {
		f, cl = r, ll
	}
	if fn, isField := f.(*fieldNode); isField && cl != nil && !(lok && rok) {
		if fn.t == tArray && op != opEQ && op != opNE {
			return nil, errors.New("can not comparisons array fields directly")
		}
		if fn.t == tArray || (fn.t == tJSON && cl.v.k == lList) {
			if cl.v.k != lList {
				return nil, castMismatch(schemapb.DataType_Array, cl)
			}
			if op != opEQ && op != opNE {
				return nil, errors.New("can not comparisons array fields directly")
			}
			return &arrEqNode{x: fn, list: cl.v, ne: op == opNE}, nil
		}
		dt := fn.dtype
		if dt == schemapb.DataType_Array {
			dt = fn.elem
		}
		if !castable(dt, cl.v) {
			return nil, castMismatch(dt, cl)
		}
	}
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
	if lok && rok {
		c, _ := litCompare(ll.v, rl.v)
		return &boolConst{v: op.holds(c)}, nil
	}
	return &cmpNode{op: op, l: l, r: r}, nil
}

// castMismatch is Milvus's error for constant l not castable to dt; a
// template value's is reported as a template error.
func castMismatch(dt schemapb.DataType, l *litNode) error {
	if l.tmpl != "" {
		return tmplErrf("%s", castErr(dt, l.v))
	}
	return errors.New(castErr(dt, l.v))
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

func in(x node, vals []lit, not bool, tmpl string) (node, error) {
	what := "in"
	if err := checkValue(x, what); err != nil {
		return nil, err
	}
	xt := x.typ()
	for _, v := range vals {
		if xt == tJSON {
			continue
		}
		f, isField := x.(*fieldNode)
		var dt schemapb.DataType
		if isField {
			dt = f.dtype
			if dt == schemapb.DataType_Array {
				dt = f.elem
			}
		}
		if v.k == lList || !comparable(xt, v.typ()) || (isField && !castable(dt, v)) {
			if isField {
				if tmpl != "" {
					return nil, tmplErrf("%s", castErr(dt, v))
				}
				return nil, fmt.Errorf("value '%s' in list cannot be casted to %s", genericText(v), dt)
			}
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
		return nil, errors.New("like operation on non-string or no-json field is unsupported")
	}
	if xl, ok := x.(*litNode); ok {
		return &boolConst{v: compileLike(pattern).match(xl.v.s)}, nil
	}
	return &likeNode{x: x, pattern: pattern}, nil
}

// containsOp names the modes as Milvus's JSONContainsExpr ops do.
var containsOp = [...]string{"Contains", "ContainsAll", "ContainsAny"}

func contains(mode containsMode, a, b node, argText []string) (node, error) {
	opName := [...]string{"contains", "contains_all", "contains_any"}[mode]
	f, ok := a.(*fieldNode)
	if !ok || (f.t != tArray && f.t != tJSON) {
		return nil, fmt.Errorf("%s operation are only supported on json or array fields now, got: %s", opName, argText[0])
	}
	v, ok := b.(*litNode)
	if !ok {
		return nil, fmt.Errorf("%s operation are only supported explicitly specified element, got: %s", opName, argText[1])
	}
	fail := func(msg string) error {
		if v.tmpl != "" {
			return tmplErrf("%s", msg)
		}
		return errors.New(msg)
	}
	if mode != containsOne && v.v.k != lList {
		return nil, fail(containsOp[mode] + " operation element must be an array")
	}
	if f.t == tArray {
		if mode == containsOne {
			if !castable(f.elem, v.v) {
				return nil, fail(castErr(f.elem, v.v))
			}
		} else {
			for _, e := range v.v.l {
				if e.k == lList || !comparable(scalarTyp(f.elem), e.typ()) {
					return nil, fail(fmt.Sprintf("%s operation can't compare between array element type: %s and %s",
						containsOp[mode], f.elem, typeName(&litNode{v: e})))
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
	if lok && rok && (ll.tmpl != "" || rl.tmpl != "") {
		return nil, fmt.Errorf("placeholder was not supported between two constants with operator: %c", op)
	}
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

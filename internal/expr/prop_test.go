package expr

// This file holds an independent, row-at-a-time reference interpreter. The
// random generator builds its own expression trees (type gnode), renders
// them as text with random spelling and minimal parentheses, and evaluates
// them itself; the property test checks that Parse + Eval agree with it on
// every row. Nothing here uses the package's parser, AST or JSON scanner.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

func newRand(seed int64) *rand.Rand { return rand.New(rand.NewSource(seed)) }

// ---- random data ----

var (
	colorVals = []string{"red", "green", "blue", "", "réd", "a%b", "x_y", "Red"}
	titleVals = []string{"abc", "xabcx", "ab", "a%b", "_", "hello world", "ééé", ""}
	priceVals = []float32{0, 0.1, 0.5, 1, 1.5, 2.5, 9.99, -1, 100}
	scoreVals = []float64{0, 0.5, 1.5, -2, 3, 10, 1e10, 0.1}
	jsonStrs  = []string{"red", "abx", "5", "a", "b"}
	jsonFlts  = []float64{0.5, 2.0, -1.5, 2.5, 0.1}
)

func pick[T any](r *rand.Rand, v []T) T { return v[r.Intn(len(v))] }

func randJSONScalar(r *rand.Rand) any {
	switch r.Intn(6) {
	case 0, 1:
		return r.Intn(14) - 3
	case 2:
		return pick(r, jsonFlts)
	case 3:
		return pick(r, jsonStrs)
	case 4:
		return r.Intn(2) == 0
	}
	return nil
}

func randJSONValue(r *rand.Rand, prefer string) any {
	if r.Intn(5) == 0 {
		prefer = ""
	}
	switch prefer {
	case "num":
		if r.Intn(3) == 0 {
			return pick(r, jsonFlts)
		}
		return r.Intn(14) - 3
	case "str":
		return pick(r, jsonStrs)
	case "arr":
		a := []any{}
		for i := r.Intn(4); i > 0; i-- {
			if r.Intn(4) == 0 {
				a = append(a, pick(r, jsonStrs))
			} else {
				a = append(a, r.Intn(5))
			}
		}
		return a
	case "obj":
		return map[string]any{"b": randJSONValue(r, "num")}
	}
	switch r.Intn(4) {
	case 0:
		return randJSONValue(r, "arr")
	case 1:
		return randJSONValue(r, "obj")
	}
	return randJSONScalar(r)
}

func randDoc(r *rand.Rand, keys map[string]string) []byte {
	switch r.Intn(12) {
	case 0:
		return nil
	case 1:
		return []byte("{}")
	}
	m := map[string]any{}
	for k, pref := range keys {
		if r.Intn(6) != 0 {
			m[k] = randJSONValue(r, pref)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// randomSource makes n random rows over testSchema's scalar fields.
func randomSource(r *rand.Rand, n int) *mapSource {
	id := make([]int64, n)
	age := make([]int64, n)
	i8 := make([]int8, n)
	i16 := make([]int16, n)
	i32 := make([]int32, n)
	price := make([]float32, n)
	score := make([]float64, n)
	color := make([]string, n)
	title := make([]string, n)
	flag := make([]bool, n)
	meta := make([][]byte, n)
	dyn := make([][]byte, n)
	tags := make([]*schemapb.ScalarField, n)
	nums := make([]*schemapb.ScalarField, n)
	for i := 0; i < n; i++ {
		id[i] = int64(i)
		age[i] = int64(r.Intn(56) - 5)
		i8[i] = int8(r.Intn(21) - 10)
		i16[i] = int16(r.Intn(201) - 100)
		i32[i] = int32(r.Intn(2001) - 1000)
		price[i] = pick(r, priceVals)
		score[i] = pick(r, scoreVals)
		color[i] = pick(r, colorVals)
		title[i] = pick(r, titleVals)
		flag[i] = r.Intn(2) == 0
		meta[i] = randDoc(r, map[string]string{"n": "num", "s": "str", "arr": "arr", "o": "obj", "color": "str"})
		dyn[i] = randDoc(r, map[string]string{"x": "num", "y": "str", "z": "arr"})
		if r.Intn(20) != 0 {
			var t []string
			for k := r.Intn(5); k > 0; k-- {
				t = append(t, pick(r, []string{"a", "b", "c"}))
			}
			tags[i] = strArr(t...)
		}
		var v []int64
		for k := r.Intn(5); k > 0; k-- {
			v = append(v, int64(r.Intn(10)))
		}
		nums[i] = longArr(v...)
	}
	return &mapSource{n: n, cols: map[string]any{
		"id": id, "age": age, "i8": i8, "i16": i16, "i32": i32, "price": price, "score": score,
		"color": color, "title": title, "flag": flag, "meta": meta, "$meta": dyn, "tags": tags, "nums": nums,
	}}
}

// ---- reference rows ----

// refRow is one row decoded for the reference interpreter: scalars as
// int64 / float64 / string / bool, JSON decoded with encoding/json.
type refRow struct {
	vals   map[string]any
	meta   any
	metaOK bool
	dyn    any
	dynOK  bool
	tags   []string
	tagsOK bool
	nums   []int64
}

func refDecode(doc []byte) (any, bool) {
	if len(doc) == 0 {
		return nil, false
	}
	var probe any
	if err := json.Unmarshal(doc, &probe); err != nil { // also rejects out-of-range numbers
		return nil, false
	}
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, false
	}
	return refNorm(v), true
}

func refNorm(v any) any {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return i
			}
		}
		f, _ := strconv.ParseFloat(s, 64)
		return f
	case []any:
		for i := range x {
			x[i] = refNorm(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = refNorm(x[k])
		}
	}
	return v
}

func refRows(src *mapSource) []refRow {
	c := src.cols
	rows := make([]refRow, src.n)
	for i := range rows {
		r := &rows[i]
		r.vals = map[string]any{
			"id": c["id"].([]int64)[i], "age": c["age"].([]int64)[i],
			"i8": int64(c["i8"].([]int8)[i]), "i16": int64(c["i16"].([]int16)[i]), "i32": int64(c["i32"].([]int32)[i]),
			"price": float64(c["price"].([]float32)[i]), "score": c["score"].([]float64)[i],
			"color": c["color"].([]string)[i], "title": c["title"].([]string)[i], "flag": c["flag"].([]bool)[i],
		}
		r.meta, r.metaOK = refDecode(c["meta"].([][]byte)[i])
		r.dyn, r.dynOK = refDecode(c["$meta"].([][]byte)[i])
		if sf := c["tags"].([]*schemapb.ScalarField)[i]; sf != nil {
			r.tags, r.tagsOK = sf.GetStringData().GetData(), true
		}
		r.nums = c["nums"].([]*schemapb.ScalarField)[i].GetLongData().GetData()
	}
	return rows
}

// ---- generated expressions ----

// gnode is a generated expression. t is its static type: 'i' int, 'f'
// float, 's' string, 'b' bool, 'j' JSON, 'p' predicate.
type gnode struct {
	kind  string
	t     byte
	val   any    // literal value
	name  string // field name, function name, operator
	json  string // "meta" or "dyn" for JSON paths
	path  []any  // JSON path (string keys, int indexes)
	idx   int
	kids  []*gnode
	list  []any
	not   bool
	style int // rendering variant
}

type generator struct{ r *rand.Rand }

func (g *generator) lit(v any) *gnode {
	n := &gnode{kind: "lit", val: v, style: g.r.Intn(4)}
	switch v.(type) {
	case int64:
		n.t = 'i'
	case float64:
		n.t = 'f'
	case string:
		n.t = 's'
	case bool:
		n.t = 'b'
	}
	return n
}

func (g *generator) field(name string, t byte) *gnode { return &gnode{kind: "field", name: name, t: t} }

func (g *generator) jsonPath(src string, path ...any) *gnode {
	return &gnode{kind: "json", t: 'j', json: src, path: path, style: g.r.Intn(2)}
}

func isConst(n *gnode) bool {
	switch n.kind {
	case "lit":
		return true
	case "neg", "arith":
		for _, k := range n.kids {
			if !isConst(k) {
				return false
			}
		}
		return true
	}
	return false
}

func (g *generator) num(d int) *gnode {
	r := g.r
	k := r.Intn(12)
	if d > 0 && k >= 9 {
		if k == 9 {
			x := g.num(d - 1)
			return &gnode{kind: "neg", t: x.t, kids: []*gnode{x}}
		}
		a, b := g.num(d-1), g.num(d-1)
		op := pick(r, []string{"+", "-", "*", "/", "%"})
		if op == "%" && (a.t == 'f' || b.t == 'f') {
			op = "+"
		}
		if op == "/" || op == "%" {
			if isConst(b) {
				if v, ok := refVal(b, nil); !ok || v == int64(0) || v == 0.0 {
					b = g.lit(int64(3))
				}
			}
		}
		t := byte('f')
		switch {
		case a.t == 'j' || b.t == 'j':
			t = 'j'
		case a.t == 'i' && b.t == 'i':
			t = 'i'
		}
		return &gnode{kind: "arith", t: t, name: op, kids: []*gnode{a, b}}
	}
	switch r.Intn(10) {
	case 0, 1:
		return g.field(pick(r, []string{"age", "age", "i8", "i16", "i32", "id"}), 'i')
	case 2:
		return g.field(pick(r, []string{"price", "score"}), 'f')
	case 3:
		return g.lit(int64(r.Intn(56) - 5))
	case 4:
		return g.lit(pick(r, []float64{0.5, 1.5, 9.99, 0.1, -2.5, 30.5, 2}))
	case 5:
		return g.jsonPath("meta", pick(r, [][]any{{"n"}, {"n"}, {"o", "b"}, {"arr", 0}, {"arr", 1}})...)
	case 6:
		return g.jsonPath("dyn", "x")
	case 7:
		return &gnode{kind: "arrElem", t: 'i', name: "nums", idx: r.Intn(3)}
	case 8:
		if r.Intn(2) == 0 {
			return &gnode{kind: "len", t: 'i', kids: []*gnode{g.jsonPath("meta", "arr")}}
		}
		return &gnode{kind: "len", t: 'i', kids: []*gnode{g.field("nums", 'a')}}
	}
	return g.field("age", 'i')
}

func (g *generator) str() *gnode {
	r := g.r
	switch r.Intn(8) {
	case 0, 1:
		return g.field(pick(r, []string{"color", "title"}), 's')
	case 2:
		return g.lit(pick(r, append(append([]string{}, colorVals...), titleVals...)))
	case 3:
		return g.jsonPath("meta", pick(r, []string{"s", "color"}))
	case 4:
		return g.jsonPath("dyn", "y")
	case 5:
		return &gnode{kind: "arrElem", t: 's', name: "tags", idx: r.Intn(2)}
	}
	return g.field("color", 's')
}

var cmpOps = []string{"==", "!=", "<", "<=", ">", ">="}

func (g *generator) numList() []any {
	var l []any
	for k := g.r.Intn(5); k > 0; k-- {
		if g.r.Intn(3) == 0 {
			l = append(l, pick(g.r, []float64{0.5, 1.5, 9.99, 0.1, 2, 2.5}))
		} else {
			l = append(l, int64(g.r.Intn(20)-3))
		}
	}
	return l
}

func (g *generator) strList() []any {
	var l []any
	for k := g.r.Intn(5); k > 0; k-- {
		l = append(l, pick(g.r, []string{"red", "blue", "abc", "a", "b", "", "abx", "5"}))
	}
	return l
}

func (g *generator) pred(d int) *gnode {
	r := g.r
	if d > 0 && r.Intn(3) != 0 {
		switch r.Intn(5) {
		case 0:
			return &gnode{kind: "not", t: 'p', kids: []*gnode{g.pred(d - 1)}, style: r.Intn(2)}
		case 1, 2:
			return &gnode{kind: "and", t: 'p', kids: []*gnode{g.pred(d - 1), g.pred(d - 1)}, style: r.Intn(3)}
		}
		return &gnode{kind: "or", t: 'p', kids: []*gnode{g.pred(d - 1), g.pred(d - 1)}, style: r.Intn(3)}
	}
	switch r.Intn(16) {
	case 0, 1, 2:
		return &gnode{kind: "cmp", t: 'p', name: pick(r, cmpOps), kids: []*gnode{g.num(2), g.num(2)}}
	case 3:
		return &gnode{kind: "cmp", t: 'p', name: pick(r, cmpOps), kids: []*gnode{g.str(), g.str()}}
	case 4:
		b := g.lit(r.Intn(2) == 0)
		if r.Intn(3) == 0 {
			b = g.field("flag", 'b')
		}
		return &gnode{kind: "cmp", t: 'p', name: pick(r, cmpOps), kids: []*gnode{g.field("flag", 'b'), b}}
	case 5:
		var mid *gnode
		for mid == nil || isConst(mid) {
			mid = g.num(0)
		}
		ops := []string{"<", "<="}
		if r.Intn(2) == 0 {
			ops = []string{">", ">="}
		}
		return &gnode{kind: "range", t: 'p', list: []any{pick(r, ops), pick(r, ops)},
			kids: []*gnode{g.num(1), mid, g.num(1)}}
	case 6:
		x := g.num(1)
		list := g.numList()
		if x.t == 'j' && r.Intn(2) == 0 {
			list = append(list, g.strList()...)
		}
		return &gnode{kind: "in", t: 'p', kids: []*gnode{x}, list: list, not: r.Intn(3) == 0}
	case 7:
		x := g.str()
		list := g.strList()
		if x.t == 'j' && r.Intn(2) == 0 {
			list = append(list, g.numList()...)
		}
		return &gnode{kind: "in", t: 'p', kids: []*gnode{x}, list: list, not: r.Intn(3) == 0}
	case 8:
		pat := pick(r, []string{"re%", "%en", "%e%", "r_d", "%", "", `a\%b`, "_%_", "b%e", "r%d%", "ab%", "%b%c%", "é%", "__"})
		return &gnode{kind: "like", t: 'p', kids: []*gnode{g.str()}, val: pat}
	case 9:
		return g.contains()
	case 10:
		var x *gnode
		switch r.Intn(4) {
		case 0:
			x = g.jsonPath("meta", pick(r, []string{"n", "s", "arr"}))
		case 1:
			x = g.jsonPath("dyn", "x")
		case 2:
			x = g.field("tags", 'a')
		default:
			x = g.field("age", 'i')
		}
		return &gnode{kind: "null", t: 'p', kids: []*gnode{x}, not: r.Intn(2) == 0}
	case 11:
		return &gnode{kind: "exists", t: 'p', kids: []*gnode{g.jsonPath(pick(r, []string{"meta", "dyn"}), pick(r, []string{"n", "x", "o"}))}}
	case 12:
		return &gnode{kind: "bare", t: 'p', kids: []*gnode{g.field("flag", 'b')}}
	case 13:
		return &gnode{kind: "const", t: 'p', val: r.Intn(2) == 0}
	}
	return &gnode{kind: "cmp", t: 'p', name: pick(r, cmpOps), kids: []*gnode{g.num(0), g.num(0)}}
}

func (g *generator) contains() *gnode {
	r := g.r
	mode := pick(r, []string{"array_contains", "array_contains_all", "array_contains_any"})
	var x *gnode
	var elems []any
	switch r.Intn(4) {
	case 0:
		x, elems = g.field("tags", 'a'), g.strList()
	case 1:
		x, elems = g.field("nums", 'a'), g.numList()
	case 2:
		x, elems = g.jsonPath("meta", "arr"), append(g.numList(), g.strList()...)
	default:
		x, elems = g.jsonPath("dyn", "z"), append(g.numList(), g.strList()...)
	}
	n := &gnode{kind: "contains", t: 'p', name: mode, kids: []*gnode{x}}
	if mode == "array_contains" {
		if len(elems) == 0 {
			elems = []any{int64(1)}
			if x.name == "tags" {
				elems = []any{"a"}
			}
		}
		n.val = elems[0]
	} else {
		n.list = elems
	}
	return n
}

// ---- rendering ----

func level(n *gnode) int {
	switch n.kind {
	case "lit":
		switch v := n.val.(type) {
		case int64:
			if v < 0 {
				return 7
			}
		case float64:
			if v < 0 || math.Signbit(v) {
				return 7
			}
		}
		return 8
	case "neg":
		return 7
	case "arith":
		if n.name == "+" || n.name == "-" {
			return 5
		}
		return 6
	case "cmp", "range", "in", "like", "null":
		return 4
	case "not":
		return 3
	case "and":
		return 2
	case "or":
		return 1
	}
	return 8
}

func (g *generator) render(n *gnode, min int) string {
	s := g.inner(n)
	if level(n) < min || g.r.Intn(12) == 0 {
		return "(" + s + ")"
	}
	return s
}

func renderLit(r *rand.Rand, v any, style int) string {
	switch x := v.(type) {
	case int64:
		if style == 3 && x >= 0 {
			return fmt.Sprintf("0x%x", x)
		}
		return strconv.FormatInt(x, 10)
	case float64:
		s := strconv.FormatFloat(x, 'g', -1, 64)
		if !strings.ContainsAny(s, ".e") {
			s += ".0"
		}
		return s
	case string:
		q := strconv.Quote(x)
		if style%2 == 1 {
			q = "'" + strings.ReplaceAll(q[1:len(q)-1], `\"`, `"`) + "'"
		}
		return q
	case bool:
		s := strconv.FormatBool(x)
		switch style {
		case 1:
			s = strings.ToUpper(s)
		case 2:
			s = strings.ToUpper(s[:1]) + s[1:]
		}
		return s
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = renderLit(r, e, r.Intn(4))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	panic(fmt.Sprintf("renderLit %T", v))
}

func (g *generator) kw(w string) string {
	switch g.r.Intn(4) {
	case 0:
		return strings.ToUpper(w)
	}
	return w
}

func (g *generator) inner(n *gnode) string {
	r := g.r
	switch n.kind {
	case "lit":
		return renderLit(r, n.val, n.style)
	case "field":
		return n.name
	case "json":
		var b strings.Builder
		path := n.path
		switch {
		case n.json == "meta":
			b.WriteString("meta")
		case n.style == 0:
			b.WriteString(path[0].(string))
			path = path[1:]
		default:
			b.WriteString("$meta")
		}
		for _, p := range path {
			switch x := p.(type) {
			case string:
				b.WriteString("[" + strconv.Quote(x) + "]")
			case int:
				b.WriteString("[" + strconv.Itoa(x) + "]")
			}
		}
		return b.String()
	case "arrElem":
		return fmt.Sprintf("%s[%d]", n.name, n.idx)
	case "len":
		return g.kw("array_length") + "(" + g.render(n.kids[0], 0) + ")"
	case "neg":
		return "-" + g.render(n.kids[0], 7)
	case "arith":
		lv := level(n)
		return g.render(n.kids[0], lv) + " " + n.name + " " + g.render(n.kids[1], lv+1)
	case "cmp":
		return g.render(n.kids[0], 5) + " " + n.name + " " + g.render(n.kids[1], 5)
	case "range":
		return g.render(n.kids[0], 5) + " " + n.list[0].(string) + " " + g.render(n.kids[1], 5) + " " +
			n.list[1].(string) + " " + g.render(n.kids[2], 5)
	case "in":
		kw := " " + g.kw("in") + " "
		if n.not {
			kw = " " + g.kw("not") + " " + g.kw("in") + " "
		}
		return g.render(n.kids[0], 5) + kw + renderLit(r, n.list, 0)
	case "like":
		return g.render(n.kids[0], 5) + " " + g.kw("like") + " " + renderLit(r, n.val, r.Intn(2))
	case "contains":
		arg := renderLit(r, n.list, 0)
		if n.name == "array_contains" {
			arg = renderLit(r, n.val, r.Intn(4))
		}
		name := n.name
		if n.kids[0].kind == "json" && r.Intn(2) == 0 {
			name = strings.Replace(name, "array", "json", 1)
		}
		return g.kw(name) + "(" + g.render(n.kids[0], 0) + ", " + arg + ")"
	case "null":
		if n.not {
			return g.render(n.kids[0], 8) + " " + g.kw("is not null")
		}
		return g.render(n.kids[0], 8) + " " + g.kw("is null")
	case "exists":
		return g.kw("exists") + " " + g.render(n.kids[0], 8)
	case "bare":
		return g.render(n.kids[0], 8)
	case "const":
		return renderLit(r, n.val, r.Intn(3))
	case "not":
		if n.style == 0 {
			return "!" + g.render(n.kids[0], 3)
		}
		return g.kw("not") + " " + g.render(n.kids[0], 3)
	case "and", "or":
		op := []string{"and", "&&", "AND"}[n.style]
		lv := 2
		if n.kind == "or" {
			op = []string{"or", "||", "OR"}[n.style]
			lv = 1
		}
		return g.render(n.kids[0], lv) + " " + op + " " + g.render(n.kids[1], lv+1)
	}
	panic("inner " + n.kind)
}

// ---- reference interpreter ----

func refPath(v any, ok bool, path []any) (any, bool) {
	if !ok {
		return nil, false
	}
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, isMap := v.(map[string]any)
			if !isMap {
				return nil, false
			}
			if v, ok = m[k]; !ok {
				return nil, false
			}
		case int:
			a, isArr := v.([]any)
			if !isArr || k >= len(a) {
				return nil, false
			}
			v = a[k]
		}
	}
	return v, true
}

func refNum(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// refVal evaluates a value node; ok is false when undefined. row may be
// nil for constant nodes.
func refVal(n *gnode, row *refRow) (any, bool) {
	switch n.kind {
	case "lit":
		return n.val, true
	case "field":
		switch n.name {
		case "tags":
			return n, row.tagsOK
		case "nums":
			return n, true
		}
		return row.vals[n.name], true
	case "json":
		if n.json == "meta" {
			return refPath(row.meta, row.metaOK, n.path)
		}
		return refPath(row.dyn, row.dynOK, n.path)
	case "arrElem":
		if n.name == "nums" {
			if n.idx < len(row.nums) {
				return row.nums[n.idx], true
			}
			return nil, false
		}
		if row.tagsOK && n.idx < len(row.tags) {
			return row.tags[n.idx], true
		}
		return nil, false
	case "len":
		x := n.kids[0]
		if x.kind == "field" {
			return int64(len(row.nums)), true
		}
		v, ok := refVal(x, row)
		a, isArr := v.([]any)
		if !ok || !isArr {
			return nil, false
		}
		return int64(len(a)), true
	case "neg":
		v, ok := refVal(n.kids[0], row)
		if !ok {
			return nil, false
		}
		switch x := v.(type) {
		case int64:
			return -x, true
		case float64:
			return -x, true
		}
		return nil, false
	case "arith":
		a, ok1 := refVal(n.kids[0], row)
		b, ok2 := refVal(n.kids[1], row)
		if !ok1 || !ok2 {
			return nil, false
		}
		ai, aInt := a.(int64)
		bi, bInt := b.(int64)
		if aInt && bInt {
			switch n.name {
			case "+":
				return ai + bi, true
			case "-":
				return ai - bi, true
			case "*":
				return ai * bi, true
			case "/":
				if bi == 0 {
					return nil, false
				}
				return ai / bi, true
			}
			if bi == 0 {
				return nil, false
			}
			return ai % bi, true
		}
		af, ok1 := refNum(a)
		bf, ok2 := refNum(b)
		if !ok1 || !ok2 {
			return nil, false
		}
		switch n.name {
		case "+":
			return af + bf, true
		case "-":
			return af - bf, true
		case "*":
			return af * bf, true
		case "/":
			if bf == 0 {
				return nil, false
			}
			return af / bf, true
		}
		return nil, false
	}
	panic("refVal " + n.kind)
}

// refOrder compares two scalars; ok is false if incomparable.
func refOrder(a, b any) (int, bool) {
	ai, aInt := a.(int64)
	bi, bInt := b.(int64)
	if aInt && bInt {
		switch {
		case ai < bi:
			return -1, true
		case ai > bi:
			return 1, true
		}
		return 0, true
	}
	if af, ok := refNum(a); ok {
		if bf, ok := refNum(b); ok {
			switch {
			case af < bf:
				return -1, true
			case af > bf:
				return 1, true
			case af == bf:
				return 0, true
			}
			return 0, false
		}
		return 0, false
	}
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y), true
		}
	case bool:
		if y, ok := b.(bool); ok {
			xi, yi := 0, 0
			if x {
				xi = 1
			}
			if y {
				yi = 1
			}
			return xi - yi, true
		}
	}
	return 0, false
}

func refEqual(a, b any) bool {
	if x, ok := a.([]any); ok {
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !refEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	if _, ok := b.([]any); ok {
		return false
	}
	c, ok := refOrder(a, b)
	return ok && c == 0
}

// isF32Field reports whether n is the Float field, whose literal operands
// are rounded to float32 before comparing.
func isF32Field(n *gnode) bool { return n.kind == "field" && n.name == "price" }

func round32(v any) any {
	switch x := v.(type) {
	case int64:
		return float64(float32(x))
	case float64:
		return float64(float32(x))
	}
	return v
}

func refCmp(op string, an, bn *gnode, row *refRow) bool {
	a, ok1 := refVal(an, row)
	b, ok2 := refVal(bn, row)
	jsonish := an.t == 'j' || bn.t == 'j'
	if isF32Field(an) && isConst(bn) {
		b = round32(b)
	}
	if isF32Field(bn) && isConst(an) {
		a = round32(a)
	}
	if !ok1 || !ok2 {
		return op == "!=" && jsonish
	}
	c, ok := refOrder(a, b)
	if !ok {
		return op == "!=" && jsonish
	}
	switch op {
	case "==":
		return c == 0
	case "!=":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	}
	return c >= 0
}

var likeCache sync.Map // pattern -> *regexp.Regexp

func likeRegexp(p string) *regexp.Regexp {
	if re, ok := likeCache.Load(p); ok {
		return re.(*regexp.Regexp)
	}
	var b strings.Builder
	b.WriteString(`(?s)^`)
	rs := []rune(p)
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; {
		case c == '\\' && i+1 < len(rs):
			i++
			b.WriteString(regexp.QuoteMeta(string(rs[i])))
		case c == '%':
			b.WriteString(`.*`)
		case c == '_':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`$`)
	re := regexp.MustCompile(b.String())
	likeCache.Store(p, re)
	return re
}

// refElems returns the elements of an Array field or JSON array operand.
func refElems(x *gnode, row *refRow) ([]any, bool) {
	if x.kind == "field" {
		var out []any
		if x.name == "tags" {
			if !row.tagsOK {
				return nil, false
			}
			for _, s := range row.tags {
				out = append(out, s)
			}
			return out, true
		}
		for _, v := range row.nums {
			out = append(out, v)
		}
		return out, true
	}
	v, ok := refVal(x, row)
	a, isArr := v.([]any)
	return a, ok && isArr
}

func refPred(n *gnode, row *refRow) bool {
	switch n.kind {
	case "const":
		return n.val.(bool)
	case "bare":
		return row.vals["flag"].(bool)
	case "not":
		return !refPred(n.kids[0], row)
	case "and":
		return refPred(n.kids[0], row) && refPred(n.kids[1], row)
	case "or":
		return refPred(n.kids[0], row) || refPred(n.kids[1], row)
	case "cmp":
		return refCmp(n.name, n.kids[0], n.kids[1], row)
	case "range":
		return refCmp(n.list[0].(string), n.kids[0], n.kids[1], row) &&
			refCmp(n.list[1].(string), n.kids[1], n.kids[2], row)
	case "in":
		v, ok := refVal(n.kids[0], row)
		found := false
		if ok {
			for _, e := range n.list {
				if isF32Field(n.kids[0]) {
					e = round32(e)
				}
				if refEqual(v, e) {
					found = true
				}
			}
		}
		return found != n.not
	case "like":
		v, ok := refVal(n.kids[0], row)
		s, isStr := v.(string)
		return ok && isStr && likeRegexp(n.val.(string)).MatchString(s)
	case "contains":
		elems, ok := refElems(n.kids[0], row)
		if !ok {
			return false
		}
		has := func(want any) bool {
			for _, e := range elems {
				if refEqual(e, want) {
					return true
				}
			}
			return false
		}
		switch n.name {
		case "array_contains":
			return has(n.val)
		case "array_contains_all":
			for _, w := range n.list {
				if !has(w) {
					return false
				}
			}
			return true
		}
		for _, w := range n.list {
			if has(w) {
				return true
			}
		}
		return false
	case "null":
		var null bool
		switch x := n.kids[0]; x.kind {
		case "json":
			v, ok := refVal(x, row)
			null = !ok || v == nil
		case "field":
			null = x.name == "tags" && !row.tagsOK
		}
		return null != n.not
	case "exists":
		v, ok := refVal(n.kids[0], row)
		return ok && v != nil
	}
	panic("refPred " + n.kind)
}

// ---- the property test ----

func TestEvalMatchesReference(t *testing.T) {
	r := newRand(42)
	src := randomSource(r, 1500)
	rows := refRows(src)
	g := &generator{r: r}
	out := make([]bool, src.Len())
	n := 3000
	if testing.Short() {
		n = 300
	}
	mixed, refused := 0, 0
	for it := 0; it < n; it++ {
		tree := g.pred(r.Intn(5))
		text := g.render(tree, 0)
		e, err := Parse(text, testSchema())
		if err != nil && milvusRefusal(err) {
			refused++
			continue
		}
		if err != nil {
			t.Fatalf("Parse(%q): %v", text, err)
		}
		if err := e.Eval(src, out); err != nil {
			t.Fatalf("Eval(%q): %v", text, err)
		}
		for i := range rows {
			if want := refPred(tree, &rows[i]); out[i] != want {
				t.Fatalf("%s\n  parsed as %s\n  row %d: got %v, want %v", text, e, i, out[i], want)
			}
		}
		if b := bits(out); strings.Contains(b, "0") && strings.Contains(b, "1") {
			mixed++
		}
		e2, err := Parse(e.String(), testSchema())
		if err != nil {
			t.Fatalf("reparse of %q: %v", e.String(), err)
		}
		out2 := make([]bool, src.Len())
		if err := e2.Eval(src, out2); err != nil {
			t.Fatal(err)
		}
		if bits(out2) != bits(out) {
			t.Fatalf("%s: canonical form %s evaluates differently", text, e)
		}
	}
	t.Logf("%d random expressions, %d refused as Milvus refuses them, %d with both matching and non-matching rows",
		n, refused, mixed)
	if refused > n/2 {
		t.Errorf("%d of %d random expressions refused; the generator tests too little", refused, n)
	}
}

// milvusRefusal reports whether err is one of the refusals Milvus's parser
// makes of forms the random generator may produce (a constant not castable
// to the column's type, a range whose bounds are not constants, ...).
func milvusRefusal(err error) bool {
	for _, s := range []string{"cannot cast value to", "in list cannot be casted to", "lowerbound cannot be",
		"upperbound cannot be", "invalid range:", "range operations are only supported on single fields",
		"'term' can only be used", "can not comparisons array fields directly"} {
		if strings.Contains(err.Error(), s) {
			return true
		}
	}
	return false
}

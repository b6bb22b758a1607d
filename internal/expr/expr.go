package expr

import (
	"errors"
	"fmt"
	"strings"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"github.com/tandem-db/tandem/internal/merr"
)

// Expr is a parsed, type-checked and compiled filter expression. It is
// immutable and safe for concurrent use.
type Expr struct {
	root   node
	canon  string
	plan   pred
	cols   []colSpec
	fields []string
	nvals  int
	nbools int
	pk     *Field
}

// Source gives column access for one segment (a batch of rows).
type Source interface {
	Len() int
	// Column returns the field's column for rows [0, Len()): one of []bool, []int8, []int16, []int32, []int64,
	// []float32, []float64, []string, [][]byte (JSON documents; nil or empty = absent/null),
	// []*schemapb.ScalarField (Array fields). Returns nil if the source has no such column.
	// The slice may be longer than Len(); only [0, Len()) is read.
	Column(name string) any
}

// NullSource is implemented by sources with nullable columns. Valid
// returns the validity of the named column for rows [0, Len()) (false =
// null), or nil when every row has a value. Null semantics follow Milvus:
// `x is null` / `x is not null` test it; a comparison, `in`, `like` or
// contains on a null value is false, and so is its negation (`not (x > 1)`,
// `x not in [...]`).
type NullSource interface {
	Valid(name string) []bool
}

// Parse parses s against schema. Errors wrap merr.ErrParameterInvalid and
// read "cannot parse expression: <s>, error: <detail>".
func Parse(s string, schema *Schema) (*Expr, error) {
	return ParseWithTemplates(s, schema, nil)
}

// ParseWithTemplates is Parse with the values of the expression's `{name}`
// template placeholders (Milvus's expr_template_values). Errors caused by
// a value (missing, of the wrong type) read as Milvus's, without the
// "cannot parse expression" prefix, for example "the value of expression
// template variable name {x} is not found".
func ParseWithTemplates(s string, schema *Schema, params map[string]*schemapb.TemplateValue) (*Expr, error) {
	fail := func(err error) (*Expr, error) {
		var te *tmplError
		if errors.As(err, &te) {
			return nil, merr.Wrap(merr.ErrParameterInvalid, te.msg)
		}
		return nil, merr.Wrap(merr.ErrParameterInvalid,
			fmt.Sprintf("cannot parse expression: %s, error: %s", s, err.Error()))
	}
	if strings.TrimSpace(s) == "" {
		return fail(fmt.Errorf("expression is empty"))
	}
	toks, err := lex(s)
	if err != nil {
		return fail(err)
	}
	p := &parser{toks: toks, schema: schema, params: params, src: s}
	root, err := p.parseTop()
	if err != nil {
		return fail(err)
	}
	c := &compiler{colIdx: map[string]int{}}
	plan := c.pred(root)
	if c.err != nil {
		return fail(c.err)
	}
	e := &Expr{root: root, canon: render(root), plan: plan, cols: c.cols, nvals: c.nvals, nbools: c.nbools,
		pk: schema.primary()}
	for _, col := range c.cols {
		e.fields = append(e.fields, col.name)
	}
	return e, nil
}

// String returns the canonical, fully parenthesised form of the
// expression; Parse accepts it and it evaluates identically.
func (e *Expr) String() string { return e.canon }

// Fields returns the column names the expression reads, in order of first
// use (including the dynamic column's name if used).
func (e *Expr) Fields() []string { return append([]string(nil), e.fields...) }

// Eval sets out[i] (len(out) == src.Len()) to whether row i matches. Rows
// for which evaluation is undefined (missing JSON key, type mismatch inside
// JSON, division by zero) do not match (as Milvus). Never panics on any data.
// Safe for concurrent use by many goroutines on one *Expr.
func (e *Expr) Eval(src Source, out []bool) (err error) {
	n := src.Len()
	if len(out) != n {
		return fmt.Errorf("expr: output has %d rows, source has %d", len(out), n)
	}
	st := &state{cols: make([]any, len(e.cols)), vals: make([]vec, e.nvals), bools: make([][]bool, e.nbools)}
	ns, _ := src.(NullSource)
	for i, spec := range e.cols {
		col := src.Column(spec.name)
		if err := checkColumn(spec, col, n); err != nil {
			return err
		}
		st.cols[i] = col
		if ns != nil {
			if v := ns.Valid(spec.name); v != nil {
				if len(v) < n {
					return fmt.Errorf("expr: validity of column %q has %d rows, source has %d", spec.name, len(v), n)
				}
				if st.valid == nil {
					st.valid = make([][]bool, len(e.cols))
				}
				st.valid[i] = v
			}
		}
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("expr: evaluating %s: internal error: %v", e.canon, r)
		}
	}()
	for lo := 0; lo < n; lo += batchSize {
		hi := min(lo+batchSize, n)
		e.plan.eval(st, lo, hi, out[lo:hi])
	}
	return nil
}

// PrimaryKeyValues reports whether the whole expression is `pk in [...]` or
// `pk == v` (pk = the field with IsPrimary), returning the values (fast
// path for delete/get by ids). Values are returned in order with
// duplicates removed; ints is used for an integer key, strs for a string
// key.
func (e *Expr) PrimaryKeyValues() (ints []int64, strs []string, ok bool) {
	if e.pk == nil {
		return nil, nil, false
	}
	var x node
	var vals []lit
	switch n := e.root.(type) {
	case *inNode:
		if n.not {
			return nil, nil, false
		}
		x, vals = n.x, n.vals
	case *cmpNode:
		if n.op != opEQ {
			return nil, nil, false
		}
		x, vals = n.l, nil
		r := n.r
		if _, isLit := x.(*litNode); isLit {
			x, r = r, x
		}
		rl, isLit := r.(*litNode)
		if !isLit {
			return nil, nil, false
		}
		vals = []lit{rl.v}
	default:
		return nil, nil, false
	}
	f, isField := x.(*fieldNode)
	if !isField || f.dynamic || len(f.path) > 0 || f.column != e.pk.Name {
		return nil, nil, false
	}
	switch {
	case e.pk.Type == schemapb.DataType_Int64 || isIntType(e.pk.Type):
		seen := map[int64]bool{}
		ints = []int64{}
		for _, v := range vals {
			if v.k != lInt {
				return nil, nil, false
			}
			if !seen[v.i] {
				seen[v.i] = true
				ints = append(ints, v.i)
			}
		}
		return ints, nil, true
	case isStringType(e.pk.Type):
		seen := map[string]bool{}
		strs = []string{}
		for _, v := range vals {
			if v.k != lString {
				return nil, nil, false
			}
			if !seen[v.s] {
				seen[v.s] = true
				strs = append(strs, v.s)
			}
		}
		return nil, strs, true
	}
	return nil, nil, false
}

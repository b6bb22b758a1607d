// Package expr implements the Milvus boolean filter expression language
// (the grammar of Milvus's Plan.g4): Parse turns a filter string into a
// type-checked *Expr once, and Eval evaluates it column-wise over a
// segment, in batches of rows, producing one match flag per row.
//
// Grammar, loosest binding first: `or` / `||`; `and` / `&&`; `not` / `!`;
// comparisons (`== != < <= > >=`, the range forms `a < x <= b` and
// `a > x >= b`), `[not] in [...]`, `like "pattern"`, `is [not] null`;
// `+ -`; `* / %`; unary minus; primaries (literals, fields, JSON paths
// `f["k"][0]`, `exists path`, array_contains / _all / _any, the json_
// aliases, array_length, `**` on constants, template placeholders
// `{name}`, parentheses). Keywords are case-insensitive as in Milvus.
// Unlike Milvus, where `not` is a tight unary operator and `not age > 5`
// is rejected, `not` applies to the whole comparison; the language is
// otherwise a superset (arithmetic between fields, constant folding).
// Refusals carry Milvus's wording (planparserv2): a constant not castable
// to the column's type ("cannot cast value to Int64, value: float_val:1.5":
// an integer column compared with a float constant is refused, as in
// Milvus), non-constant range bounds, `&`/`|`/`^`/shifts, `**` on
// columns, a relational operator on a whole Array field; `==`/`!=`
// between a whole Array field (or a JSON value) and a list literal
// compares element by element.
//
// Templates: ParseWithTemplates substitutes each `{name}` by its
// schemapb.TemplateValue as a constant; errors caused by a value (missing,
// not castable, not a list after `in`) read as Milvus's, without the
// "cannot parse expression" prefix, since Milvus fills values after
// parsing.
//
// Invariants:
//   - Parse either fails with an error wrapping merr.ErrParameterInvalid
//     ("cannot parse expression: <expr>, error: <detail>") or returns an
//     *Expr whose tree is fully type-checked: every value reaching Eval has
//     a known static type (bool, integer, float, string, array or dynamic
//     JSON), and only JSON-typed values are checked at run time.
//   - An *Expr is immutable after Parse; Eval keeps all scratch state in a
//     per-call structure, so one *Expr may be evaluated by many goroutines
//     at once.
//   - e.String() is a canonical, fully parenthesised rendering that Parse
//     accepts and that evaluates exactly like e.
//   - Eval never panics on any column data. A leaf predicate whose value is
//     undefined for a row (missing JSON key, JSON value of another type,
//     array index out of range, integer division by zero, absent column)
//     is false for that row; `not` flips it afterwards. As in Milvus, `!=`
//     on a JSON value is true when the value is missing or of another type.
//   - Comparisons of an integer value with a float (JSON values,
//     arithmetic results, a Float field with an integer constant) compare
//     float64(int) with the float, as Milvus's execution engine does; a
//     literal compared with a Float (float32) field is first rounded to
//     float32.
package expr

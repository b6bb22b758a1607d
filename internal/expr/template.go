package expr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"github.com/tandem-db/tandem/internal/merr"
)

// Expression templates: a request may carry values
// (milvuspb ExprTemplateValues, REST exprParams) for the `{name}`
// placeholders of its expression. The parser substitutes each placeholder
// by its value as a constant, marking the constant with the placeholder's
// name so that errors caused by the value read as Milvus's (which fills the
// values after parsing): a missing value, a value of the wrong type, a
// non-list after `in`.

// tmplError is an error caused by a template value. Parse reports it
// without the "cannot parse expression" wrapping, as Milvus does.
type tmplError struct{ msg string }

func (e *tmplError) Error() string { return e.msg }

func tmplErrf(format string, args ...any) error {
	return &tmplError{msg: fmt.Sprintf(format, args...)}
}

// templateLit converts one template value to a literal.
func templateLit(name string, v *schemapb.TemplateValue) (lit, error) {
	if v == nil || v.GetVal() == nil {
		return lit{}, tmplErrf("the value of expression template variable {%s} is nil", name)
	}
	switch x := v.GetVal().(type) {
	case *schemapb.TemplateValue_BoolVal:
		return lit{k: lBool, b: x.BoolVal}, nil
	case *schemapb.TemplateValue_Int64Val:
		return lit{k: lInt, i: x.Int64Val}, nil
	case *schemapb.TemplateValue_FloatVal:
		if math.IsNaN(x.FloatVal) || math.IsInf(x.FloatVal, 0) {
			return lit{}, tmplErrf("the value of expression template variable {%s} is not a finite number", name)
		}
		return lit{k: lFloat, f: x.FloatVal}, nil
	case *schemapb.TemplateValue_StringVal:
		return lit{k: lString, s: x.StringVal}, nil
	case *schemapb.TemplateValue_ArrayVal:
		return templateArray(name, x.ArrayVal, 0)
	}
	return lit{}, tmplErrf("the value of expression template variable {%s} has an unsupported type", name)
}

func templateArray(name string, a *schemapb.TemplateArrayValue, depth int) (lit, error) {
	if depth > 32 {
		return lit{}, tmplErrf("the value of expression template variable {%s} is nested too deeply", name)
	}
	out := lit{k: lList, l: []lit{}}
	switch d := a.GetData().(type) {
	case *schemapb.TemplateArrayValue_BoolData:
		for _, b := range d.BoolData.GetData() {
			out.l = append(out.l, lit{k: lBool, b: b})
		}
	case *schemapb.TemplateArrayValue_LongData:
		for _, i := range d.LongData.GetData() {
			out.l = append(out.l, lit{k: lInt, i: i})
		}
	case *schemapb.TemplateArrayValue_DoubleData:
		for _, f := range d.DoubleData.GetData() {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return lit{}, tmplErrf("the value of expression template variable {%s} is not a finite number", name)
			}
			out.l = append(out.l, lit{k: lFloat, f: f})
		}
	case *schemapb.TemplateArrayValue_StringData:
		for _, s := range d.StringData.GetData() {
			out.l = append(out.l, lit{k: lString, s: s})
		}
	case *schemapb.TemplateArrayValue_ArrayData:
		for _, e := range d.ArrayData.GetData() {
			l, err := templateArray(name, e, depth+1)
			if err != nil {
				return lit{}, err
			}
			out.l = append(out.l, l)
		}
	case *schemapb.TemplateArrayValue_JsonData:
		for _, doc := range d.JsonData.GetData() {
			l, err := jsonLit(doc)
			if err != nil {
				return lit{}, tmplErrf("the value of expression template variable {%s} has invalid JSON: %s", name, err)
			}
			out.l = append(out.l, l)
		}
	}
	return out, nil
}

// jsonLit converts a JSON document (a scalar or an array of them) to a
// literal.
func jsonLit(doc []byte) (lit, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return lit{}, err
	}
	return anyLit(v, 0)
}

// JSONParamsToTemplates converts REST exprParams (name -> JSON value) to
// template values: numbers without a fraction or exponent become Int64,
// other numbers Double; arrays keep their element type when uniform.
func JSONParamsToTemplates(params map[string]json.RawMessage) (map[string]*schemapb.TemplateValue, error) {
	if len(params) == 0 {
		return nil, nil
	}
	out := make(map[string]*schemapb.TemplateValue, len(params))
	for name, raw := range params {
		l, err := jsonLit(raw)
		if err != nil {
			return nil, merr.InvalidParam("exprParams.%s is not a valid value: %v", name, err)
		}
		out[name] = litTemplate(l)
	}
	return out, nil
}

func litTemplate(l lit) *schemapb.TemplateValue {
	switch l.k {
	case lBool:
		return &schemapb.TemplateValue{Val: &schemapb.TemplateValue_BoolVal{BoolVal: l.b}}
	case lInt:
		return &schemapb.TemplateValue{Val: &schemapb.TemplateValue_Int64Val{Int64Val: l.i}}
	case lFloat:
		return &schemapb.TemplateValue{Val: &schemapb.TemplateValue_FloatVal{FloatVal: l.f}}
	case lString:
		return &schemapb.TemplateValue{Val: &schemapb.TemplateValue_StringVal{StringVal: l.s}}
	}
	return &schemapb.TemplateValue{Val: &schemapb.TemplateValue_ArrayVal{ArrayVal: litTemplateArray(l.l)}}
}

func litTemplateArray(l []lit) *schemapb.TemplateArrayValue {
	kind := litKind(0)
	for i, e := range l {
		if i == 0 {
			kind = e.k
		} else if e.k != kind {
			kind = 0
		}
	}
	a := &schemapb.TemplateArrayValue{}
	switch {
	case kind == lBool:
		d := make([]bool, len(l))
		for i, e := range l {
			d[i] = e.b
		}
		a.Data = &schemapb.TemplateArrayValue_BoolData{BoolData: &schemapb.BoolArray{Data: d}}
	case kind == lInt:
		d := make([]int64, len(l))
		for i, e := range l {
			d[i] = e.i
		}
		a.Data = &schemapb.TemplateArrayValue_LongData{LongData: &schemapb.LongArray{Data: d}}
	case kind == lFloat:
		d := make([]float64, len(l))
		for i, e := range l {
			d[i] = e.f
		}
		a.Data = &schemapb.TemplateArrayValue_DoubleData{DoubleData: &schemapb.DoubleArray{Data: d}}
	case kind == lString || len(l) == 0:
		d := make([]string, len(l))
		for i, e := range l {
			d[i] = e.s
		}
		a.Data = &schemapb.TemplateArrayValue_StringData{StringData: &schemapb.StringArray{Data: d}}
	case kind == lList:
		d := make([]*schemapb.TemplateArrayValue, len(l))
		for i, e := range l {
			d[i] = litTemplateArray(e.l)
		}
		a.Data = &schemapb.TemplateArrayValue_ArrayData{ArrayData: &schemapb.TemplateArrayValueArray{Data: d}}
	default: // mixed element types: JSON
		d := make([][]byte, len(l))
		for i, e := range l {
			var b strings.Builder
			e.writeJSON(&b)
			d[i] = []byte(b.String())
		}
		a.Data = &schemapb.TemplateArrayValue_JsonData{JsonData: &schemapb.JSONArray{Data: d}}
	}
	return a
}

// writeJSON renders l as JSON.
func (l lit) writeJSON(b *strings.Builder) {
	switch l.k {
	case lString:
		q, _ := json.Marshal(l.s)
		b.Write(q)
	case lList:
		b.WriteByte('[')
		for i, e := range l.l {
			if i > 0 {
				b.WriteByte(',')
			}
			e.writeJSON(b)
		}
		b.WriteByte(']')
	case lInt:
		b.WriteString(strconv.FormatInt(l.i, 10))
	default:
		l.write(b)
	}
}

func anyLit(v any, depth int) (lit, error) {
	if depth > 32 {
		return lit{}, fmt.Errorf("nested too deeply")
	}
	switch x := v.(type) {
	case bool:
		return lit{k: lBool, b: x}, nil
	case string:
		return lit{k: lString, s: x}, nil
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return lit{k: lInt, i: i}, nil
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) {
			return lit{}, fmt.Errorf("number %s out of range", s)
		}
		return lit{k: lFloat, f: f}, nil
	case []any:
		out := lit{k: lList, l: []lit{}}
		for _, e := range x {
			l, err := anyLit(e, depth+1)
			if err != nil {
				return lit{}, err
			}
			out.l = append(out.l, l)
		}
		return out, nil
	case nil:
		return lit{}, fmt.Errorf("null is not a supported value")
	}
	return lit{}, fmt.Errorf("objects are not supported values")
}

// genericText renders a literal the way Milvus prints a planpb.GenericValue
// in its messages (protobuf text format).
func genericText(l lit) string {
	switch l.k {
	case lBool:
		return "bool_val:" + strconv.FormatBool(l.b)
	case lInt:
		return "int64_val:" + strconv.FormatInt(l.i, 10)
	case lFloat:
		return "float_val:" + strconv.FormatFloat(l.f, 'g', -1, 64)
	case lString:
		return "string_val:" + strconv.Quote(l.s)
	}
	var b strings.Builder
	b.WriteString("array_val:{")
	for i, e := range l.l {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("array:{" + genericText(e) + "}")
	}
	b.WriteString("}")
	return b.String()
}

// castable reports whether Milvus's castValue accepts a literal of kind k
// for a column of type dt.
func castable(dt schemapb.DataType, l lit) bool {
	switch {
	case dt == schemapb.DataType_JSON:
		return true
	case dt == schemapb.DataType_Array:
		return l.k == lList
	case isStringType(dt):
		return l.k == lString
	case dt == schemapb.DataType_Bool:
		return l.k == lBool
	case isFloatType(dt):
		return l.isNum()
	case isIntType(dt):
		return l.k == lInt
	}
	return false
}

// castErr is Milvus's castValue error.
func castErr(dt schemapb.DataType, l lit) string {
	return fmt.Sprintf("cannot cast value to %s, value: %s", dt, genericText(l))
}

package expr

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"github.com/tandem-db/tandem/internal/merr"
)

func tvInt(v int64) *schemapb.TemplateValue {
	return &schemapb.TemplateValue{Val: &schemapb.TemplateValue_Int64Val{Int64Val: v}}
}
func tvFloat(v float64) *schemapb.TemplateValue {
	return &schemapb.TemplateValue{Val: &schemapb.TemplateValue_FloatVal{FloatVal: v}}
}
func tvStr(v string) *schemapb.TemplateValue {
	return &schemapb.TemplateValue{Val: &schemapb.TemplateValue_StringVal{StringVal: v}}
}
func tvBool(v bool) *schemapb.TemplateValue {
	return &schemapb.TemplateValue{Val: &schemapb.TemplateValue_BoolVal{BoolVal: v}}
}
func tvInts(v ...int64) *schemapb.TemplateValue {
	return &schemapb.TemplateValue{Val: &schemapb.TemplateValue_ArrayVal{ArrayVal: &schemapb.TemplateArrayValue{
		Data: &schemapb.TemplateArrayValue_LongData{LongData: &schemapb.LongArray{Data: v}}}}}
}
func tvStrs(v ...string) *schemapb.TemplateValue {
	return &schemapb.TemplateValue{Val: &schemapb.TemplateValue_ArrayVal{ArrayVal: &schemapb.TemplateArrayValue{
		Data: &schemapb.TemplateArrayValue_StringData{StringData: &schemapb.StringArray{Data: v}}}}}
}
func tvJSONs(v ...string) *schemapb.TemplateValue {
	d := make([][]byte, len(v))
	for i, s := range v {
		d[i] = []byte(s)
	}
	return &schemapb.TemplateValue{Val: &schemapb.TemplateValue_ArrayVal{ArrayVal: &schemapb.TemplateArrayValue{
		Data: &schemapb.TemplateArrayValue_JsonData{JsonData: &schemapb.JSONArray{Data: d}}}}}
}

// TestTemplates checks that each placeholder form evaluates as the same
// expression with the value written inline.
func TestTemplates(t *testing.T) {
	params := map[string]*schemapb.TemplateValue{
		"n": tvInt(30), "lo": tvInt(1), "hi": tvInt(30), "f": tvFloat(2.5), "s": tvStr("red"), "b": tvBool(true),
		"ages": tvInts(10, 45, 99), "colors": tvStrs("red", "x"), "tag": tvStr("a"), "tags": tvStrs("a", "c"),
		"mixed": tvJSONs(`1`, `"a"`), "pat": tvStr("r%"),
	}
	cases := []struct{ tmpl, inline string }{
		{`age > {n}`, `age > 30`},
		{`{n} < age`, `30 < age`},
		{`{lo} < age <= {hi}`, `1 < age <= 30`},
		{`age in {ages}`, `age in [10, 45, 99]`},
		{`age not in {ages}`, `age not in [10, 45, 99]`},
		{`color in {colors}`, `color in ["red", "x"]`},
		{`color == {s}`, `color == "red"`},
		{`flag == {b}`, `flag == true`},
		{`score > {f}`, `score > 2.5`},
		{`price > {n}`, `price > 30`},
		{`age + {lo} > {n}`, `age + 1 > 30`},
		{`array_contains(tags, {tag})`, `array_contains(tags, "a")`},
		{`array_contains_any(tags, {tags})`, `array_contains_any(tags, ["a", "c"])`},
		{`json_contains_all(tags, {tags})`, `json_contains_all(tags, ["a", "c"])`},
		{`meta["n"] in {mixed}`, `meta["n"] in [1, "a"]`},
		{`meta["color"] == {s}`, `meta["color"] == "red"`},
		{`x == {n} or age > {n}`, `x == 30 or age > 30`},
	}
	src := fixedSource()
	for _, c := range cases {
		e, err := ParseWithTemplates(c.tmpl, testSchema(), params)
		if err != nil {
			t.Errorf("ParseWithTemplates(%q): %v", c.tmpl, err)
			continue
		}
		w, err := Parse(c.inline, testSchema())
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.inline, err)
		}
		a, b := make([]bool, src.Len()), make([]bool, src.Len())
		if err := e.Eval(src, a); err != nil {
			t.Fatal(err)
		}
		if err := w.Eval(src, b); err != nil {
			t.Fatal(err)
		}
		if bits(a) != bits(b) {
			t.Errorf("%s: got %s, inline %s gives %s", c.tmpl, bits(a), c.inline, bits(b))
		}
		if e.String() != w.String() {
			t.Errorf("%s: canonical %s, inline's %s", c.tmpl, e, w)
		}
	}
}

func TestTemplateErrors(t *testing.T) {
	params := map[string]*schemapb.TemplateValue{
		"n": tvInt(30), "s": tvStr("abc"), "f": tvFloat(1.5), "ages": tvInts(1, 2), "strs": tvStrs("a"),
		"nil": {},
	}
	cases := []struct{ in, want string }{
		// Value errors: Milvus reports them after parsing, unprefixed.
		{`age > {x}`, "invalid parameter: the value of expression template variable name {x} is not found"},
		{`age in {x}`, "invalid parameter: the value of expression template variable name {x} is not found"},
		{`age in {n}`, "invalid parameter: the value of term expression template variable {n} is not array"},
		{`age > {s}`, `invalid parameter: cannot cast value to Int64, value: string_val:"abc"`},
		{`age > {f}`, `invalid parameter: cannot cast value to Int64, value: float_val:1.5`},
		{`age in {strs}`, `invalid parameter: cannot cast value to Int64, value: string_val:"a"`},
		{`array_contains(tags, {n})`, `invalid parameter: cannot cast value to VarChar, value: int64_val:30`},
		{`array_contains_all(tags, {n})`, `invalid parameter: ContainsAll operation element must be an array`},
		{`age > {nil}`, `invalid parameter: the value of expression template variable {nil} is nil`},
		// Parse errors keep the prefix.
		{`{n} > {n}`, "invalid parameter: cannot parse expression: {n} > {n}, error: placeholder was not supported between two constants with operator: >"},
		{`age in [{n}]`, "invalid parameter: cannot parse expression: age in [{n}], error: array element type must be generic value, but got: {n}"},
		{`age > {n`, `invalid parameter: cannot parse expression: age > {n, error: unexpected end of expression, expected "}"`},
	}
	for _, c := range cases {
		_, err := ParseWithTemplates(c.in, testSchema(), params)
		if err == nil {
			t.Errorf("%s: parsed", c.in)
			continue
		}
		if !errors.Is(err, merr.ErrParameterInvalid) {
			t.Errorf("%s: %v is not ErrParameterInvalid", c.in, err)
		}
		if err.Error() != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.in, err, c.want)
		}
	}
}

func TestJSONParamsToTemplates(t *testing.T) {
	in := map[string]json.RawMessage{
		"i": json.RawMessage(`7`), "f": json.RawMessage(`7.5`), "s": json.RawMessage(`"x"`), "b": json.RawMessage(`true`),
		"li": json.RawMessage(`[1, 2]`), "ls": json.RawMessage(`["a"]`), "lm": json.RawMessage(`[1, "a"]`),
		"ll": json.RawMessage(`[[1], [2]]`), "e": json.RawMessage(`[]`),
	}
	out, err := JSONParamsToTemplates(in)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ParseWithTemplates(`age > {i} and score < {f} and color != {s} and flag == {b} and age in {li} and `+
		`color not in {ls} and meta["n"] in {lm} and meta["arr"] not in {ll} and age not in {e}`, testSchema(), out)
	if err != nil {
		t.Fatal(err)
	}
	want := `((((((((age > 7) and (score < 7.5)) and (color != "x")) and (flag == true)) and (age in [1, 2])) and ` +
		`(color not in ["a"])) and (meta["n"] in [1, "a"])) and (meta["arr"] not in [[1], [2]])) and (age not in [])`
	if strings.TrimSpace(e.String()) != "("+want+")" && e.String() != want {
		t.Errorf("got %s", e)
	}
	if _, err := JSONParamsToTemplates(map[string]json.RawMessage{"o": json.RawMessage(`{"a":1}`)}); err == nil {
		t.Errorf("object accepted")
	}
}

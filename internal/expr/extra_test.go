package expr

import (
	"fmt"
	"strings"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

// TestLargeSets checks that hash-set membership (lists longer than
// smallSet) agrees with the linear path for every column kind.
func TestLargeSets(t *testing.T) {
	src := randomSource(newRand(11), 2000)
	var ints, floats, strs, mixed []string
	for i := -5; i < 40; i++ {
		ints = append(ints, fmt.Sprint(i))
		floats = append(floats, fmt.Sprintf("%d.5", i))
	}
	for _, s := range append(append([]string{}, colorVals...), titleVals...) {
		strs = append(strs, fmt.Sprintf("%q", s))
	}
	mixed = append(append(append(mixed, ints...), strs...), floats...)
	for _, c := range []struct{ field, list string }{
		{"age", strings.Join(ints, ", ")},
		{"i8", strings.Join(ints, ", ")},
		{"price", strings.Join(append(append([]string{}, floats...), "0.1", "9.99", "1"), ", ")},
		{"score", strings.Join(append(append([]string{}, floats...), "0.1", "1e10", "3"), ", ")},
		{"color", strings.Join(strs, ", ")},
		{`meta["n"]`, strings.Join(mixed, ", ")},
		{`meta["s"]`, strings.Join(mixed, ", ")},
	} {
		big, err := Parse(fmt.Sprintf("%s in [%s]", c.field, c.list), testSchema())
		if err != nil {
			t.Fatal(err)
		}
		// The same membership as a disjunction of equalities.
		var ors []string
		for _, v := range strings.Split(c.list, ", ") {
			ors = append(ors, fmt.Sprintf("%s == %s", c.field, v))
		}
		small, err := Parse(strings.Join(ors, " or "), testSchema())
		if err != nil {
			t.Fatal(err)
		}
		a, b := make([]bool, src.Len()), make([]bool, src.Len())
		if err := big.Eval(src, a); err != nil {
			t.Fatal(err)
		}
		if err := small.Eval(src, b); err != nil {
			t.Fatal(err)
		}
		if bits(a) != bits(b) {
			t.Errorf("%s in [%d values]: hash set and equalities differ", c.field, len(strings.Split(c.list, ",")))
		}
		if !strings.Contains(bits(a), "1") {
			t.Errorf("%s: no row matched; test data too sparse", c.field)
		}
	}
}

func TestArrayKinds(t *testing.T) {
	s := &Schema{Fields: []Field{
		{Name: "bs", Type: schemapb.DataType_Array, ElementType: schemapb.DataType_Bool},
		{Name: "is", Type: schemapb.DataType_Array, ElementType: schemapb.DataType_Int32},
		{Name: "ds", Type: schemapb.DataType_Array, ElementType: schemapb.DataType_Double},
		{Name: "fs", Type: schemapb.DataType_Array, ElementType: schemapb.DataType_Float},
	}}
	bools := func(v ...bool) *schemapb.ScalarField {
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_BoolData{BoolData: &schemapb.BoolArray{Data: v}}}
	}
	int32s := func(v ...int32) *schemapb.ScalarField {
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_IntData{IntData: &schemapb.IntArray{Data: v}}}
	}
	doubles := func(v ...float64) *schemapb.ScalarField {
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_DoubleData{DoubleData: &schemapb.DoubleArray{Data: v}}}
	}
	src := &mapSource{n: 4, cols: map[string]any{
		"bs": []*schemapb.ScalarField{bools(true), bools(false, false), bools(), nil},
		"is": []*schemapb.ScalarField{int32s(1, 2), int32s(3), int32s(), nil},
		"ds": []*schemapb.ScalarField{doubles(0.5), doubles(1, 2), doubles(), nil},
		"fs": []*schemapb.ScalarField{floatArr(0.1, 0.2), floatArr(3), floatArr(), nil},
	}}
	for _, c := range []struct{ expr, want string }{
		{`bs[0]`, "1000"},
		{`bs[1] == false`, "0100"},
		{`array_contains(bs, false)`, "0100"},
		{`array_length(bs) == 0`, "0010"},
		{`bs is null`, "0001"},
		{`is[0] + 1 == 2`, "1000"},
		{`array_contains_any(is, [2, 3])`, "1100"},
		{`array_contains_all(is, [1, 2.0])`, "1000"},
		{`ds[1] > 1.5`, "0100"},
		{`array_contains(ds, 1)`, "0100"},
		{`array_contains_all(fs, [0.1, 0.2])`, "1000"},
		{`fs[1] == 0.2`, "1000"},
		{`fs[0] in [0.1, 3]`, "1100"},
		{`array_length(fs) > 0`, "1100"},
	} {
		e, err := Parse(c.expr, s)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		out := make([]bool, 4)
		if err := e.Eval(src, out); err != nil {
			t.Fatal(err)
		}
		if got := bits(out); got != c.want {
			t.Errorf("%s: got %s want %s", c.expr, got, c.want)
		}
	}
}

func TestJSONNested(t *testing.T) {
	src := &mapSource{n: 4, cols: map[string]any{
		"meta": docs(`{"a": [[1, 2], [3], "x", {"k": 1}]}`, `{"a": [[1, 2.0]]}`, `{"a": [1, 2]}`,
			`{"a": "[1, 2]", "b\"c": {"d": [true, null]}}`),
	}}
	for _, c := range []struct{ expr, want string }{
		{`json_contains(meta["a"], [1, 2])`, "1100"},
		{`json_contains_any(meta["a"], [[3], "y"])`, "1000"},
		{`json_contains_all(meta["a"], [[1, 2], "x"])`, "1000"},
		{`json_contains_all(meta["a"], [1, 2])`, "0010"},
		{`json_contains(meta["a"], "x")`, "1000"},
		{`meta["a"] in [[1, 2]]`, "0010"},
		{`meta["a"][0] in [[1, 2]]`, "1100"},
		{`meta["a"] not in [[1, 2]]`, "1101"},
		{`meta["a"][0][1] == 2`, "1100"},
		{`meta["a"][3]["k"] == 1`, "1000"},
		{`meta["b\"c"]["d"][0]`, ""},
		{`meta["b\"c"]["d"][0] == true`, "0001"},
		{`meta["b\"c"]["d"][1] is null`, "1111"},
		{`exists meta["b\"c"]["d"][1]`, "0000"},
		{`array_length(meta["a"]) == 4`, "1000"},
		{`meta["a"] == "[1, 2]"`, "0001"},
	} {
		e, err := Parse(c.expr, testSchema())
		if c.want == "" {
			if err == nil {
				t.Errorf("%s parsed", c.expr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		out := make([]bool, 4)
		if err := e.Eval(src, out); err != nil {
			t.Fatal(err)
		}
		if got := bits(out); got != c.want {
			t.Errorf("%s: got %s want %s", c.expr, got, c.want)
		}
	}
}

func TestCustomDynamicFieldName(t *testing.T) {
	s := &Schema{Fields: []Field{{Name: "id", Type: schemapb.DataType_Int64, IsPrimary: true}}, DynamicField: "extra"}
	e, err := Parse(`k == 1 and extra["j"] > 2 and $meta["l"] < 3`, s)
	if err != nil {
		t.Fatal(err)
	}
	if want := `((((extra["k"] == 1) and (extra["j"] > 2)) and ($meta["l"] < 3)))`; "("+e.String()+")" != want {
		t.Errorf("String = %s", e.String())
	}
	if f := e.Fields(); len(f) != 1 || f[0] != "extra" {
		t.Errorf("Fields = %v", f)
	}
	src := &mapSource{n: 2, cols: map[string]any{"extra": docs(`{"k": 1, "j": 3, "l": 0}`, `{"k": 1}`)}}
	out := make([]bool, 2)
	if err := e.Eval(src, out); err != nil || bits(out) != "10" {
		t.Errorf("eval: %v %s", err, bits(out))
	}
	s.DynamicField = "dyn-field"
	e, err = Parse(`k == 1`, s)
	if err != nil {
		t.Fatal(err)
	}
	if e.String() != `($meta["k"] == 1)` {
		t.Errorf("String = %s", e.String())
	}
	if _, err := Parse(e.String(), s); err != nil {
		t.Errorf("reparse: %v", err)
	}
}

package expr

import "testing"

// nullSource is fixedSource with validity bitmaps (NullSource).
type nullSource struct {
	*mapSource
	valid map[string][]bool
}

func (s nullSource) Valid(name string) []bool { return s.valid[name] }

// TestEvalNullableColumns checks Milvus's null semantics: is [not] null
// reads the validity; comparisons, in, like and their negations are false
// on null rows.
func TestEvalNullableColumns(t *testing.T) {
	src := nullSource{mapSource: fixedSource(), valid: map[string][]bool{
		"age":   {true, false, true, false, true, true},
		"color": {false, true, true, true, true, false},
	}}
	for _, c := range []struct{ expr, want string }{
		{`age is null`, "010100"},
		{`age IS NULL`, "010100"},
		{`age is not null`, "101011"},
		{`age IS NOT NULL`, "101011"},
		{`not (age is null)`, "101011"},
		{`age > 0`, "101000"},
		{`age >= -100`, "101011"},
		{`age != 45`, "100011"},
		{`not (age == 45)`, "100011"},
		{`age in [10, 31, 30]`, "100000"},
		{`age not in [10, 31, 30]`, "001011"},
		{`age + 1 > 0`, "101001"},
		{`age > 0 or color == "blue"`, "111000"},
		{`age is null or color is null`, "110101"},
		{`color like "r%"`, "000010"},
		{`not (color like "r%")`, "011100"},
		{`color in ["red", "x"]`, "000000"},
		{`id > 0`, "111111"},
	} {
		e, err := Parse(c.expr, testSchema())
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.expr, err)
		}
		out := make([]bool, src.Len())
		if err := e.Eval(src, out); err != nil {
			t.Fatalf("Eval(%q): %v", c.expr, err)
		}
		if got := bits(out); got != c.want {
			t.Errorf("%s (%s): got %s, want %s", c.expr, e, got, c.want)
		}
	}
}

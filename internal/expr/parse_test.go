package expr

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"github.com/tandem-db/tandem/internal/merr"
)

func TestParseValid(t *testing.T) {
	cases := []struct{ in, want string }{
		// Milvus documentation examples.
		{`color in ["red","green"] and price < 10`, `((color in ["red", "green"]) and (price < 10))`},
		{`meta["color"] == "red"`, `(meta["color"] == "red")`},
		{`title like "abc%"`, `(title like "abc%")`},
		{`array_contains(tags, "a")`, `array_contains(tags, "a")`},
		{`1 < age <= 30`, `((1 < age) and (age <= 30))`},
		{`50 > age >= 18`, `((50 > age) and (age >= 18))`},
		{`age > 18 AND age < 30`, `((age > 18) and (age < 30))`},
		{`age > 18 && age < 30 || flag`, `(((age > 18) and (age < 30)) or (flag == true))`},
		{`id in [1, 2, 3]`, `(id in [1, 2, 3])`},
		{`id not in [1, 2, 3,]`, `(id not in [1, 2, 3])`},
		{`id NOT IN []`, `(id not in [])`},
		{`color != 'red'`, `(color != "red")`},
		{`color == "a\"b\\c\n"`, `(color == "a\"b\\c\n")`},
		{`color == 'it\'s'`, `(color == "it's")`},
		{`color == "\x41\101\u00e9"`, `(color == "AAé")`},
		// literals
		{`age == -5`, `(age == -5)`},
		{`age == - 5`, `(age == -5)`},
		{`age == 0x1F`, `(age == 31)`},
		{`age == 017`, `(age == 15)`},
		{`age == 0b101`, `(age == 5)`},
		{`score == 1.5e3`, `(score == 1500.0)`},
		{`score < .5`, `(score < 0.5)`},
		{`score > 1.`, `(score > 1.0)`},
		{`score > 1e-3`, `(score > 0.001)`},
		{`flag == True`, `(flag == true)`},
		{`flag != FALSE`, `(flag != false)`},
		{`flag`, `(flag == true)`},
		{`true`, `true`},
		{`not false`, `true`},
		{`1 < 2`, `true`},
		{`"a" > "b"`, `false`},
		// precedence
		{`not age > 5`, `(not (age > 5))`},
		{`!flag and age > 1`, `((not (flag == true)) and (age > 1))`},
		{`a == 1 or b == 2 and c == 3`, `(($meta["a"] == 1) or (($meta["b"] == 2) and ($meta["c"] == 3)))`},
		{`(a == 1 or b == 2) and c == 3`, `((($meta["a"] == 1) or ($meta["b"] == 2)) and ($meta["c"] == 3))`},
		{`not not flag`, `(not (not (flag == true)))`},
		{`age + 1 * 2 > 5`, `((age + 2) > 5)`},
		{`(age + 1) * 2 > 5`, `(((age + 1) * 2) > 5)`},
		{`age - 1 - 2 > 0`, `(((age - 1) - 2) > 0)`},
		{`age % 2 == 0`, `((age % 2) == 0)`},
		{`-age < -3`, `((-age) < -3)`},
		{`age / 2 >= 1.5`, `((age / 2) >= 1.5)`},
		{`age > score`, `(age > score)`},
		{`color == title`, `(color == title)`},
		{`age < i8 + i16 * i32`, `(age < (i8 + (i16 * i32)))`},
		// JSON and dynamic fields
		{`meta["a"]["b"] > 1`, `(meta["a"]["b"] > 1)`},
		{`meta["arr"][0] == 1`, `(meta["arr"][0] == 1)`},
		{`meta['k'] in [1, "a", true, [1, 2]]`, `(meta["k"] in [1, "a", true, [1, 2]])`},
		{`x > 3`, `($meta["x"] > 3)`},
		{`x["y"] > 3`, `($meta["x"]["y"] > 3)`},
		{`$meta["x"] > 3`, `($meta["x"] > 3)`},
		{`x + 1 > 3`, `(($meta["x"] + 1) > 3)`},
		{`x % 2 == 1`, `(($meta["x"] % 2) == 1)`},
		{`x == "s" and meta["s"] == x`, `(($meta["x"] == "s") and (meta["s"] == $meta["x"]))`},
		{`meta["s"] like "%ab"`, `(meta["s"] like "%ab")`},
		{`exists meta["k"]`, `(exists meta["k"])`},
		{`EXISTS x`, `(exists $meta["x"])`},
		{`meta["k"] is null`, `(meta["k"] is null)`},
		{`age IS NOT NULL`, `(age is not null)`},
		// arrays
		{`array_contains_all(tags, ["a", "b"])`, `array_contains_all(tags, ["a", "b"])`},
		{`ARRAY_CONTAINS_ANY(nums, [1, 2])`, `array_contains_any(nums, [1, 2])`},
		{`json_contains(meta["arr"], 1)`, `array_contains(meta["arr"], 1)`},
		{`json_contains_all(x, [1, "a"])`, `array_contains_all($meta["x"], [1, "a"])`},
		{`array_length(nums) == 3`, `(array_length(nums) == 3)`},
		{`array_length(meta["arr"]) > 1`, `(array_length(meta["arr"]) > 1)`},
		{`nums[0] > 2`, `(nums[0] > 2)`},
		{`tags[1] like "a_"`, `(tags[1] like "a_")`},
		{`fl[0] < 1`, `(fl[0] < 1)`},
		// like shapes
		{`title like "%abc%"`, `(title like "%abc%")`},
		{`title like "a_c%d"`, `(title like "a_c%d")`},
		// whitespace
		{"\tage\n>\r\n1 ", `(age > 1)`},
	}
	for _, c := range cases {
		e, err := Parse(c.in, testSchema())
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if got := e.String(); got != c.want {
			t.Errorf("Parse(%q).String() = %s, want %s", c.in, got, c.want)
		}
		e2, err := Parse(e.String(), testSchema())
		if err != nil {
			t.Errorf("reparse %q: %v", e.String(), err)
		} else if e2.String() != e.String() {
			t.Errorf("reparse %q gave %q", e.String(), e2.String())
		}
	}
}

func TestParseInvalid(t *testing.T) {
	cases := []struct{ in, detail string }{
		{``, "expression is empty"},
		{"  \t\n", "expression is empty"},
		{`color > 1`, "cannot cast value to VarChar, value: int64_val:1"},
		{`age == "a"`, `cannot cast value to Int64, value: string_val:"a"`},
		{`age > 1.5`, "cannot cast value to Int64, value: float_val:1.5"},
		{`age in [1, 1.5]`, "value 'float_val:1.5' in list cannot be casted to Int64"},
		{`nums[0] in [1.5]`, "value 'float_val:1.5' in list cannot be casted to Int64"},
		{`color in [1, 2]`, "value 'int64_val:1' in list cannot be casted to VarChar"},
		{`age in ["a"]`, `value 'string_val:"a"' in list cannot be casted to Int64`},
		{`2 in [1, 2]`, "'term' can only be used on non-const expression, but got: 2"},
		{`flag > 1`, "cannot cast value to Bool, value: int64_val:1"},
		{`age like "a%"`, "error: like operation on non-string or no-json field is unsupported"},
		{`title like 5`, "like needs a string pattern"},
		{`vec == 1`, "vector field vec cannot be used"},
		{`age >`, "unexpected end of expression"},
		{`age > 1 and`, "unexpected end of expression"},
		{`(age > 1`, `expected ")"`},
		{`age > 1)`, "syntax error"},
		{`age = 1`, "syntax error"},
		{`age`, "predicate is not a boolean expression"},
		{`meta["a"]`, "predicate is not a boolean expression"},
		{`age + "a" > 1`, "arithmetic operation + is not supported on VarChar"},
		{`score % 2 == 0`, "modulo can only apply on integer types"},
		{`age / 0 == 1`, "divide by zero"},
		{`age % (1 - 1) == 1`, "modulo by zero"},
		{`age in 1`, "the right-hand side of 'in' must be a list, but got: 1"},
		{`age in age`, "value 'age' in list cannot be a non-const expression"},
		{`age in [age]`, "array element type must be generic value, but got: age"},
		{`"abc`, "unterminated string"},
		{`color == "a\qb"`, "invalid escape"},
		{`age > 99999999999999999999`, "out of range"},
		{`age > 09`, "invalid octal digit"},
		{`age > 1 < 2 < 3`, "chained comparison > ... <"},
		{`1 < age < 2 < 3`, "syntax error"},
		{`1 == age == 1`, "chained comparison"},
		{`age # 1`, "unexpected character"},
		{`array_contains(age, 1)`, "contains operation are only supported on json or array fields now, got: age"},
		{`json_contains_any(age, [1])`, "contains_any operation are only supported on json or array fields now, got: age"},
		{`array_contains(tags, 1)`, "cannot cast value to VarChar, value: int64_val:1"},
		{`array_contains_any(tags, [1])`, "ContainsAny operation can't compare between array element type: VarChar and Int64"},
		{`array_contains_all(tags, "a")`, "ContainsAll operation element must be an array"},
		{`array_contains(tags, age)`, "contains operation are only supported explicitly specified element, got: age"},
		{`array_contains(tags)`, "takes 2 arguments"},
		{`array_length(age) == 1`, "array_length operation are only supported on json or array fields now, got: array_length(age)"},
		{`text_match(title, "a")`, "function text_match is not supported"},
		{`age[0] == 1`, "cannot be indexed"},
		{`tags["a"] == "b"`, "can only be indexed by one integer"},
		{`tags > ["a"]`, "can not comparisons array fields directly"},
		{`tags == "a"`, `cannot cast value to Array, value: string_val:"a"`},
		{`1 < tags < 3`, "can not comparisons array fields directly"},
		{`5 < age < 1`, "invalid range: lowerbound is greater than upperbound"},
		{`1 < age < 1`, "invalid range: lowerbound is greater than upperbound"},
		{`age < age < 5`, "lowerbound cannot be a non-const expression: age"},
		{`1 < age < age + 1`, "upperbound cannot be a non-const expression: age+1"},
		{`1 < age + 1 < 5`, "range operations are only supported on single fields now, got: age+1"},
		{`exists age`, "exists operations are only supportted on json field, got:Int64"},
		{`exists meta`, "exists operations are only supportted on json key"},
		{`(age > 1) == true`, "cannot be an operand"},
		{`age > 1 + (age < 2)`, "cannot be an operand"},
		{`not age`, "predicate is not a boolean expression"},
		{`age << 1 > 0`, "shift is not supported: age<<1"},
		{`age & 1 == 1`, "BitAnd is not supported: age&1==1"},
		{`age | 1 == 1`, "BitOr is not supported: age|1==1"},
		{`age ^ 1 == 1`, "BitXor is not supported: age^1==1"},
		{`~age == 1`, "unexpected op: ~"},
		{`age ** 2 > 0`, "power can only apply on constants: age**2"},
		{`age > {1}`, "expected a template variable name"},
		{`1e400 > score`, "out of range"},
		{`1e300 * 1e300 > score`, "arithmetic overflow"},
		{`strings.Repeat`, "unexpected character '.'"},
		{`(1 + 1) is null`, "is null can only be applied to a field"},
		{`-color == "a"`, "unary - is not supported on VarChar"},
	}
	for _, c := range cases {
		_, err := Parse(c.in, testSchema())
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error containing %q", c.in, c.detail)
			continue
		}
		if !errors.Is(err, merr.ErrParameterInvalid) {
			t.Errorf("Parse(%q) error %v does not wrap ErrParameterInvalid", c.in, err)
		}
		if merr.Code(err) != 1100 {
			t.Errorf("Parse(%q) code %d", c.in, merr.Code(err))
		}
		prefix := "invalid parameter: cannot parse expression: " + c.in + ", error: "
		if !strings.HasPrefix(err.Error(), prefix) {
			t.Errorf("Parse(%q) = %q, want prefix %q", c.in, err, prefix)
		}
		if !strings.Contains(err.Error(), c.detail) {
			t.Errorf("Parse(%q) = %q, want it to contain %q", c.in, err, c.detail)
		}
	}
}

func TestParseNoDynamicField(t *testing.T) {
	s := testSchema()
	s.DynamicField = ""
	if _, err := Parse(`x > 1`, s); err == nil || !strings.Contains(err.Error(), "field x not exist") {
		t.Errorf("got %v", err)
	}
	if _, err := Parse(`$meta["x"] > 1`, s); err == nil {
		t.Errorf("$meta without dynamic field parsed")
	}
	if _, err := Parse(`age > 1`, nil); err == nil {
		t.Errorf("nil schema resolved a field")
	}
	e, err := Parse(`1 < 2`, nil)
	if err != nil || e.String() != "true" {
		t.Errorf("constant with nil schema: %v %v", e, err)
	}
}

func TestParseDeepNesting(t *testing.T) {
	s := strings.Repeat("(", 100000) + "age > 1" + strings.Repeat(")", 100000)
	if _, err := Parse(s, testSchema()); err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Errorf("deep nesting: %v", err)
	}
	s = strings.Repeat("not ", 100) + "flag"
	if _, err := Parse(s, testSchema()); err != nil {
		t.Errorf("100 nots: %v", err)
	}
	s = strings.Repeat("(", 200) + "age > 1" + strings.Repeat(")", 200)
	if _, err := Parse(s, testSchema()); err != nil {
		t.Errorf("200 parentheses: %v", err)
	}
	s = "age" + strings.Repeat(" + 1", 300) + " > 0"
	if _, err := Parse(s, testSchema()); err == nil || !strings.Contains(err.Error(), "too complex") {
		t.Errorf("300-term sum: %v", err)
	}
	// Long disjunctions of leaves are fine: leaves share their buffers.
	var ors []string
	for i := 0; i < 5000; i++ {
		ors = append(ors, fmt.Sprintf(`meta["n"] + %d == %d`, i, 2*i))
	}
	e, err := Parse(strings.Join(ors, " or "), testSchema())
	if err != nil {
		t.Fatal(err)
	}
	if e.nvals != 3 {
		t.Errorf("value slots = %d, want 3", e.nvals)
	}
	out := make([]bool, 6)
	if err := e.Eval(fixedSource(), out); err != nil || bits(out) != "100000" {
		t.Errorf("long disjunction: %v %s", err, bits(out))
	}
}

func TestFields(t *testing.T) {
	e, err := Parse(`age > 1 and (x == 2 or meta["a"] == 3) and age < 5 and color like "a%"`, testSchema())
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(e.Fields(), ",")
	if got != "age,$meta,meta,color" {
		t.Errorf("Fields() = %s", got)
	}
}

func TestPrimaryKeyValues(t *testing.T) {
	cases := []struct {
		in   string
		ints []int64
		ok   bool
	}{
		{`id in [3, 1, 3, 2]`, []int64{3, 1, 2}, true},
		{`id == 7`, []int64{7}, true},
		{`7 == id`, []int64{7}, true},
		{`id in []`, []int64{}, true},
		{`id in [-1]`, []int64{-1}, true},
		{`id not in [1]`, nil, false},
		{`id > 1`, nil, false},
		{`id in [1] and age > 1`, nil, false},
		{`age in [1]`, nil, false},
		{`id != 1`, nil, false},
	}
	for _, c := range cases {
		e, err := Parse(c.in, testSchema())
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		ints, strs, ok := e.PrimaryKeyValues()
		if ok != c.ok || strs != nil || len(ints) != len(c.ints) {
			t.Errorf("%s: got %v %v %v", c.in, ints, strs, ok)
			continue
		}
		for i := range ints {
			if ints[i] != c.ints[i] {
				t.Errorf("%s: got %v", c.in, ints)
			}
		}
	}
	s := &Schema{Fields: []Field{{Name: "pk", Type: schemapb.DataType_VarChar, IsPrimary: true}}}
	e, err := Parse(`pk in ["b", "a", "b"]`, s)
	if err != nil {
		t.Fatal(err)
	}
	ints, strs, ok := e.PrimaryKeyValues()
	if !ok || ints != nil || strings.Join(strs, ",") != "b,a" {
		t.Errorf("varchar pk: %v %v %v", ints, strs, ok)
	}
	e, _ = Parse(`pk == 'z'`, s)
	if _, strs, ok := e.PrimaryKeyValues(); !ok || len(strs) != 1 || strs[0] != "z" {
		t.Errorf("varchar pk ==: %v %v", strs, ok)
	}
}

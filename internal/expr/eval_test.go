package expr

import (
	"strings"
	"sync"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

// mapSource is a Source over named columns.
type mapSource struct {
	n    int
	cols map[string]any
}

func (m *mapSource) Len() int { return m.n }
func (m *mapSource) Column(name string) any {
	c, ok := m.cols[name]
	if !ok {
		return nil
	}
	return c
}

func strArr(v ...string) *schemapb.ScalarField {
	return &schemapb.ScalarField{Data: &schemapb.ScalarField_StringData{StringData: &schemapb.StringArray{Data: v}}}
}

func longArr(v ...int64) *schemapb.ScalarField {
	return &schemapb.ScalarField{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: v}}}
}

func floatArr(v ...float32) *schemapb.ScalarField {
	return &schemapb.ScalarField{Data: &schemapb.ScalarField_FloatData{FloatData: &schemapb.FloatArray{Data: v}}}
}

func docs(v ...string) [][]byte {
	out := make([][]byte, len(v))
	for i, s := range v {
		if s != "" {
			out[i] = []byte(s)
		}
	}
	return out
}

// fixedSource is six hand-made rows; the expectations in TestEvalSemantics
// are computed by hand from it.
func fixedSource() *mapSource {
	return &mapSource{n: 6, cols: map[string]any{
		"id":    []int64{1, 2, 3, 4, 5, 6},
		"age":   []int64{10, 31, 45, 30, -7, 0},
		"i8":    []int8{-1, 5, 0, 127, -128, 3},
		"i16":   []int16{300, -300, 0, 1, 2, 3},
		"i32":   []int32{70000, 1, 2, 3, 4, 5},
		"price": []float32{0.1, 2.5, 10, 9.99, -1, 0},
		"score": []float64{1.5, -0.5, 0, 1e10, 3, 0},
		"color": []string{"red", "blue", "green", "", "réd", "x"},
		"title": []string{"abc", "xabcx", "ab", "a%b", "_", "x"},
		"flag":  []bool{true, false, true, false, true, false},
		"meta": docs(`{"color":"red","n":1,"arr":[1,2,3],"s":"abx","o":{"b":2}}`,
			`{"n": 2.5, "arr": ["a", 1], "s": 5}`,
			``,
			`{"n": null, "color": "red"}`,
			`{"n": "1", "arr": [], "o": {"b": 2.0}}`,
			`garbage`),
		"$meta": docs(`{"x": 5, "y": "s"}`, `{"x": 6.5}`, `{}`, ``, `{"x": "5"}`, `{"x": [1, 2]}`),
		"tags":  []*schemapb.ScalarField{strArr("a", "b"), strArr(), strArr("c"), strArr("a"), strArr("b", "a", "a"), nil},
		"nums":  []*schemapb.ScalarField{longArr(1, 2, 3), longArr(4), longArr(), longArr(9), longArr(7, 8), longArr(5)},
		"fl":    []*schemapb.ScalarField{floatArr(0.1), floatArr(), floatArr(2.5), floatArr(), floatArr(), floatArr()},
	}}
}

func bits(b []bool) string {
	var s strings.Builder
	for _, x := range b {
		if x {
			s.WriteByte('1')
		} else {
			s.WriteByte('0')
		}
	}
	return s.String()
}

func TestEvalSemantics(t *testing.T) {
	cases := []struct{ expr, want string }{
		{`age > 30`, "011000"},
		{`age >= 30`, "011100"},
		{`1 < age <= 30`, "100100"},
		{`30 >= age > 0`, "100100"},
		{`age % 2 == 0`, "100101"},
		{`age % 2 == -1`, "000010"},
		{`age / 4 == 7`, "010100"},
		{`-age > 0`, "000010"},
		{`score > 1`, "100110"},
		{`age + 0.5 > 30.5`, "011000"},
		{`age in [10, 45, 99]`, "101000"},
		{`age not in [10, 45]`, "010111"},
		{`score in [0, 3.0, 31.5]`, "001011"},
		{`age > score`, "111000"},
		{`price == 0.1`, "100000"},
		{`price in [9.99, 2.5]`, "010100"},
		{`price > 9.99`, "001000"},
		{`price >= 9.99`, "001100"},
		{`9.99 <= price`, "001100"},
		{`color in ["red", "green"]`, "101000"},
		{`color like "r%"`, "100010"},
		{`color like "%d"`, "100010"},
		{`color like "%e%"`, "111000"},
		{`color like "r_d"`, "100010"},
		{`color like "___"`, "100010"},
		{`color like ""`, "000100"},
		{`color like "%"`, "111111"},
		{`color < "c"`, "010100"},
		{`color == title`, "000001"},
		{`title like "a\\%b"`, "000100"},
		{`title like "%abc%"`, "110000"},
		{`title like "\\_"`, "000010"},
		{`title like "a%b"`, "001100"},
		{`title like "%b%c%"`, "110000"},
		{`flag`, "101010"},
		{`not flag`, "010101"},
		{`flag == false`, "010101"},
		{`flag != true`, "010101"},
		{`meta["n"] == 1`, "100000"},
		{`meta["n"] != 1`, "011111"},
		{`meta["n"] > 1`, "010000"},
		{`meta["n"] >= 1`, "110000"},
		{`meta["n"] in [1, 2.5]`, "110000"},
		{`meta["n"] not in [1]`, "011111"},
		{`not (meta["n"] == 1)`, "011111"},
		{`meta["n"] is null`, "001101"},
		{`meta["n"] is not null`, "110010"},
		{`exists meta["n"]`, "110010"},
		{`meta["color"] == "red"`, "100100"},
		{`meta["arr"][0] == 1`, "100000"},
		{`meta["arr"][1] == 1`, "010000"},
		{`array_contains(meta["arr"], 1)`, "110000"},
		{`json_contains_all(meta["arr"], [1, 3])`, "100000"},
		{`json_contains_any(meta["arr"], ["a", 3])`, "110000"},
		{`array_length(meta["arr"]) == 0`, "000010"},
		{`meta["s"] like "ab%"`, "100000"},
		{`meta["o"]["b"] == 2`, "100010"},
		{`meta["n"] + 1 == 2`, "100000"},
		{`meta["n"] * 2 == 5`, "010000"},
		{`meta["n"] % 2 == 1`, "100000"},
		{`-meta["n"] < 0`, "110000"},
		{`meta is null`, "001001"},
		{`meta["n"] == age`, "000000"},
		{`meta["n"] < age`, "110000"},
		{`x > 5`, "010000"},
		{`x == 5`, "100000"},
		{`x != 5`, "011111"},
		{`y == "s"`, "100000"},
		{`x in [5, "5"]`, "100010"},
		{`array_contains(x, 2)`, "000001"},
		{`$meta["x"] == 5`, "100000"},
		{`array_contains(tags, "a")`, "100110"},
		{`array_contains_all(tags, ["a", "b"])`, "100010"},
		{`array_contains_any(tags, ["c", "b"])`, "101010"},
		{`array_contains_all(tags, [])`, "111110"},
		{`array_length(tags) == 1`, "001100"},
		{`tags[0] == "a"`, "100100"},
		{`tags[1] != "x"`, "100010"},
		{`tags is null`, "000001"},
		{`nums[0] > 3`, "010111"},
		{`array_contains(nums, 4)`, "010000"},
		{`array_contains(fl, 2.5)`, "001000"},
		{`tags == ["a", "b"]`, "100000"},
		{`tags != ["a", "b"]`, "011110"},
		{`nums == [1, 2, 3]`, "100000"},
		{`nums == []`, "001000"},
		{`fl == [0.1]`, "100000"},
		{`meta["arr"] == [1, 2, 3]`, "100000"},
		{`meta["arr"] == ["a", 1]`, "010000"},
		{`meta["arr"] != [1, 2, 3]`, "011111"},
		{`score > 2 ** 3`, "000100"},
		{`score < -(2 ** -2)`, "010000"},
		{`array_contains_any(nums, [1, 9])`, "100100"},
		{`i8 < 0`, "100010"},
		{`i8 > 1000`, "000000"},
		{`i8 == -128`, "000010"},
		{`i16 in [300, -300]`, "110000"},
		{`i32 >= 70000`, "100000"},
		{`i8 + i16 > 100`, "100100"},
		{`array_contains(fl, 0.1)`, "100000"},
		{`fl[0] == 0.1`, "100000"},
		{`age / i8 != 100`, "110111"},
		{`not (age / i8 == 6)`, "101111"},
		{`age > 30 and color in ["red","blue"]`, "010000"},
		{`age > 30 or flag`, "111010"},
		{`not (age > 30) and flag`, "100010"},
		{`flag or age > 40 and color == "x"`, "101010"},
		{`(flag or age > 40) and color == "green"`, "001000"},
		{`true`, "111111"},
		{`1 > 2`, "000000"},
		{`id in [2, 5]`, "010010"},
		{`age is null`, "000000"},
	}
	src := fixedSource()
	for _, c := range cases {
		e, err := Parse(c.expr, testSchema())
		if err != nil {
			t.Errorf("Parse(%q): %v", c.expr, err)
			continue
		}
		out := make([]bool, src.Len())
		if err := e.Eval(src, out); err != nil {
			t.Errorf("Eval(%q): %v", c.expr, err)
			continue
		}
		if got := bits(out); got != c.want {
			t.Errorf("%s (%s): got %s, want %s", c.expr, e, got, c.want)
		}
	}
}

func TestEvalMissingAndBadColumns(t *testing.T) {
	src := fixedSource()
	delete(src.cols, "score")
	delete(src.cols, "$meta")
	for _, c := range []struct{ expr, want string }{
		{`score > 0`, "000000"},
		{`score != 0`, "000000"},
		{`score is null`, "111111"},
		{`x != 1`, "111111"},
		{`x == 1`, "000000"},
	} {
		e, err := Parse(c.expr, testSchema())
		if err != nil {
			t.Fatal(err)
		}
		out := make([]bool, 6)
		if err := e.Eval(src, out); err != nil {
			t.Fatal(err)
		}
		if got := bits(out); got != c.want {
			t.Errorf("%s: got %s want %s", c.expr, got, c.want)
		}
	}
	e, _ := Parse(`age > 1`, testSchema())
	if err := e.Eval(src, make([]bool, 5)); err == nil {
		t.Error("short output accepted")
	}
	src.cols["age"] = []string{"a"}
	if err := e.Eval(src, make([]bool, 6)); err == nil || !strings.Contains(err.Error(), "unexpected type") {
		t.Errorf("wrong column type: %v", err)
	}
	src.cols["age"] = []int64{1, 2}
	if err := e.Eval(src, make([]bool, 6)); err == nil || !strings.Contains(err.Error(), "has 2 rows") {
		t.Errorf("short column: %v", err)
	}
	// Longer columns are fine; only [0, Len()) is read.
	src.cols["age"] = []int64{1, 2, 3, 4, 5, 6, 7, 8}
	out := make([]bool, 6)
	if err := e.Eval(src, out); err != nil || bits(out) != "011111" {
		t.Errorf("long column: %v %s", err, bits(out))
	}
}

func TestEvalConcurrent(t *testing.T) {
	src := randomSource(newRand(7), 5000)
	e, err := Parse(`(age > 10 and color in ["red", "blue"]) or meta["n"] + 1 > 3 or array_contains(tags, "a")`, testSchema())
	if err != nil {
		t.Fatal(err)
	}
	want := make([]bool, src.Len())
	if err := e.Eval(src, want); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := make([]bool, src.Len())
			if err := e.Eval(src, out); err != nil {
				t.Error(err)
				return
			}
			if bits(out) != bits(want) {
				t.Error("concurrent evaluation differs")
			}
		}()
	}
	wg.Wait()
}

func TestJSONLookup(t *testing.T) {
	doc := []byte(` { "a" : [1, {"b": "x\"y"}, 2.5e1, -3, true, null, "\u00e9"], "c\"d": 1, "e": {"f": {}}, "big": 12345678901234567890 } `)
	cases := []struct {
		path []pathElem
		want any
		ok   bool
	}{
		{[]pathElem{{key: "a"}, {idx: 0, isIdx: true}}, int64(1), true},
		{[]pathElem{{key: "a"}, {idx: 1, isIdx: true}, {key: "b"}}, `x"y`, true},
		{[]pathElem{{key: "a"}, {idx: 2, isIdx: true}}, 25.0, true},
		{[]pathElem{{key: "a"}, {idx: 3, isIdx: true}}, int64(-3), true},
		{[]pathElem{{key: "a"}, {idx: 4, isIdx: true}}, true, true},
		{[]pathElem{{key: "a"}, {idx: 5, isIdx: true}}, nil, true},
		{[]pathElem{{key: "a"}, {idx: 6, isIdx: true}}, "é", true},
		{[]pathElem{{key: "a"}, {idx: 7, isIdx: true}}, nil, false},
		{[]pathElem{{key: `c"d`}}, int64(1), true},
		{[]pathElem{{key: "big"}}, 12345678901234567890.0, true},
		{[]pathElem{{key: "e"}, {key: "f"}, {key: "g"}}, nil, false},
		{[]pathElem{{key: "zz"}}, nil, false},
		{[]pathElem{{idx: 0, isIdx: true}}, nil, false},
	}
	for _, c := range cases {
		got, ok := jsonLookup(doc, c.path)
		if ok != c.ok || got != c.want {
			t.Errorf("%v: got %v %v, want %v %v", c.path, got, ok, c.want, c.ok)
		}
	}
	for _, bad := range []string{``, `{`, `{"a"`, `{"a":`, `{"a" 1}`, `[1,`, `"abc`, `{"a":[1,2}`, `nul`} {
		jsonLookup([]byte(bad), []pathElem{{key: "a"}, {idx: 1, isIdx: true}})
		jsonLookup([]byte(bad), nil)
	}
}

func TestLikeMatcher(t *testing.T) {
	cases := []struct {
		pat, s string
		want   bool
	}{
		{"abc", "abc", true}, {"abc", "abcd", false},
		{"ab%", "abz", true}, {"ab%", "a", false},
		{"%bc", "abc", true}, {"%bc", "bcd", false},
		{"%b%", "abc", true}, {"%b%", "ac", false},
		{"%", "", true}, {"%%", "x", true},
		{"a_c", "abc", true}, {"a_c", "ac", false}, {"a_c", "aéc", true},
		{"a%c%e", "abcde", true}, {"a%c%e", "abcd", false}, {"a%c%e", "ace", true},
		{"%a%a%a%", "aaa", true}, {"%a%a%a%", "aa", false},
		{`100\%`, "100%", true}, {`100\%`, "1000", false}, {`a\_b`, "a_b", true}, {`a\_b`, "axb", false},
		{`x\`, `x\`, true},
		{"_%_", "ab", true}, {"_%_", "a", false},
	}
	for _, c := range cases {
		if got := compileLike(c.pat).match(c.s); got != c.want {
			t.Errorf("%q like %q = %v, want %v", c.s, c.pat, got, c.want)
		}
	}
}

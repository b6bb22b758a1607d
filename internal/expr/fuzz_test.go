package expr

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

func FuzzParse(f *testing.F) {
	seeds := []string{
		`color in ["red","green"] and price < 10`, `meta["color"] == "red"`, `title like "abc%"`,
		`array_contains(tags, "a")`, `1 < age <= 30`, `age + 1 > 5`, `x % 2 == 0`, `-age < -3`,
		`meta["a"]["b"][0] != 1`, `exists meta["k"]`, `age is not null`, `nums[0] > 2`,
		`array_length(nums) == 3`, `not (flag or age > 1) && !(x in [1, "a", [2]])`,
		`json_contains_any(meta["arr"], [1, 2.5, "x"])`, `age / i8 == 2`, `score * 2.5 >= 0x10`,
		`color == 'a\'b\x41\u00e9'`, `title like "%a_b\\%%"`, `1 < 2`, `(((age)))>0`, `age > 9223372036854775807`,
		`id in [1,2,3]`, `meta is null`, `fl[0] == 0.1`, `price in [0.1, 2]`, `i8 + i16 * i32 % 7 != 3`,
		`age > {n}`, `{lo} < age <= {n}`, `age in {ages}`, `array_contains_any(tags, {strs})`, `meta["n"] in {mixed}`,
		`color == {s} or flag == {b}`, `age in {missing}`, `tags == ["a", "b"]`, `meta["arr"] != [1, [2]]`,
		`score > 2 ** -1.5`, `age & 1 == 0`, `age << 2 > 1`, `5 < age < 1`, `exists meta`,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	schema := testSchema()
	fixed := fixedSource()
	random := randomSource(newRand(3), 64)
	params := map[string]*schemapb.TemplateValue{"n": tvInt(30), "lo": tvInt(-1), "ages": tvInts(1, 45),
		"strs": tvStrs("a", "b"), "mixed": tvJSONs(`1`, `"a"`, `[2]`), "s": tvStr("red"), "b": tvBool(false),
		"f": tvFloat(0.5)}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseWithTemplates(s, schema, params)
		if err != nil {
			return
		}
		for _, src := range []*mapSource{fixed, random} {
			out := make([]bool, src.Len())
			if err := e.Eval(src, out); err != nil {
				t.Fatalf("Eval(%q): %v", s, err)
			}
			e2, err := Parse(e.String(), schema)
			if err != nil {
				t.Fatalf("Parse(%q) ok but its String %q fails: %v", s, e.String(), err)
			}
			if e2.String() != e.String() {
				t.Fatalf("String not canonical: %q -> %q -> %q", s, e.String(), e2.String())
			}
			out2 := make([]bool, src.Len())
			if err := e2.Eval(src, out2); err != nil {
				t.Fatalf("Eval(%q): %v", e2.String(), err)
			}
			if bits(out) != bits(out2) {
				t.Fatalf("%q and its String %q evaluate differently: %s vs %s", s, e.String(), bits(out), bits(out2))
			}
		}
		e.Fields()
		e.PrimaryKeyValues()
	})
}

// FuzzJSON checks that the JSON scanner never panics, and that on valid
// documents it decodes like encoding/json. Skipped: documents whose objects
// repeat a key (the scanner keeps the first value, encoding/json the last)
// and invalid UTF-8 (the scanner keeps the bytes, encoding/json substitutes
// U+FFFD).
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{"a": [1, {"b": "x\"y"}, 2.5e1, -3, true, null, "\u00e9"]}`, `[1,2`, `{"a":{"a":{}}}`,
		`"s"`, `-0`, `1e999`, `{"a" : [ [ ] , { } ] }`, `{"a":1,"a":2}`} {
		f.Add([]byte(s))
	}
	paths := [][]pathElem{nil, {{key: "a"}}, {{key: "a"}, {idx: 1, isIdx: true}}, {{idx: 0, isIdx: true}},
		{{key: "a"}, {idx: 0, isIdx: true}, {key: "b"}}}
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, p := range paths {
			jsonLookup(doc, p)
			jsonEachElem(doc, p, true, func(any, []byte, bool) bool { return true })
			jsonEachElem(doc, p, false, func(any, []byte, bool) bool { return false })
		}
		if !json.Valid(doc) || !utf8.Valid(doc) || hasDuplicateKeys(doc) {
			return
		}
		want, ok1 := refDecode(doc)
		got, ok2 := jsonLookup(doc, nil)
		if ok1 != ok2 || !reflect.DeepEqual(want, got) {
			t.Fatalf("%q: got %#v %v, want %#v %v", doc, got, ok2, want, ok1)
		}
	})
}

// hasDuplicateKeys reports whether some object in the valid document doc
// repeats a key.
func hasDuplicateKeys(doc []byte) bool {
	d := json.NewDecoder(bytes.NewReader(doc))
	type frame struct {
		obj    bool
		keys   map[string]bool
		expKey bool
	}
	var stack []*frame
	for {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.obj {
					top.expKey = true
				}
				stack = append(stack, &frame{obj: v == '{', keys: map[string]bool{}, expKey: true})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if top != nil && top.obj && top.expKey {
				if top.keys[v] {
					return true
				}
				top.keys[v] = true
				top.expKey = false
				continue
			}
		}
		if top != nil && top.obj {
			top.expKey = true
		}
	}
}

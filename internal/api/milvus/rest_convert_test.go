package milvus

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/merr"
)

// testSchema has one field of each supported type and a dynamic field.
func testSchema() *schemapb.CollectionSchema {
	dim := []*commonpb.KeyValuePair{{Key: "dim", Value: "3"}}
	return &schemapb.CollectionSchema{
		Name:               "t",
		EnableDynamicField: true,
		Fields: []*schemapb.FieldSchema{
			{FieldID: 100, Name: "id", DataType: schemapb.DataType_Int64, IsPrimaryKey: true, AutoID: true},
			{FieldID: 101, Name: "vec", DataType: schemapb.DataType_FloatVector, TypeParams: dim},
			{FieldID: 102, Name: "b", DataType: schemapb.DataType_Bool},
			{FieldID: 103, Name: "i8", DataType: schemapb.DataType_Int8},
			{FieldID: 104, Name: "i32", DataType: schemapb.DataType_Int32},
			{FieldID: 105, Name: "f", DataType: schemapb.DataType_Float},
			{FieldID: 106, Name: "d", DataType: schemapb.DataType_Double},
			{FieldID: 107, Name: "s", DataType: schemapb.DataType_VarChar},
			{FieldID: 108, Name: "j", DataType: schemapb.DataType_JSON},
			{FieldID: 109, Name: "arr", DataType: schemapb.DataType_Array, ElementType: schemapb.DataType_Int64},
			{FieldID: 110, Name: "opt", DataType: schemapb.DataType_Int64, Nullable: true},
		},
	}
}

func mustRows(t *testing.T, s string) []restRow {
	t.Helper()
	rows, err := decodeRows(json.RawMessage(s))
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestRowsToColumns(t *testing.T) {
	rows := mustRows(t, `[
		{"id": 99, "vec": [1, 2, 3], "b": true, "i8": -5, "i32": 70000, "f": 1.5, "d": 2.25, "s": "x",
		 "j": {"k": [1, 2]}, "arr": [1, 2, 3], "opt": 7, "color": "red", "n": 1},
		{"vec": [4, 5, 6.5], "b": false, "i8": 127, "i32": 0, "f": 0, "d": -1e300, "s": "",
		 "j": [1], "arr": [], "opt": null}
	]`)
	cols, err := rowsToColumns(testSchema(), rows, false)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*schemapb.FieldData{}
	for _, c := range cols {
		byName[c.GetFieldName()] = c
	}
	if _, has := byName["id"]; has {
		t.Fatal("auto-id primary key must be dropped on insert")
	}
	if got := byName["vec"].GetVectors(); got.GetDim() != 3 || !reflect.DeepEqual(got.GetFloatVector().GetData(), []float32{1, 2, 3, 4, 5, 6.5}) {
		t.Fatalf("vec %v", got)
	}
	if got := byName["vec"].GetFieldId(); got != 101 {
		t.Fatalf("field id %d", got)
	}
	if got := byName["b"].GetScalars().GetBoolData().GetData(); !reflect.DeepEqual(got, []bool{true, false}) {
		t.Fatalf("b %v", got)
	}
	if got := byName["i8"].GetScalars().GetIntData().GetData(); !reflect.DeepEqual(got, []int32{-5, 127}) {
		t.Fatalf("i8 %v", got)
	}
	if got := byName["i32"].GetScalars().GetIntData().GetData(); !reflect.DeepEqual(got, []int32{70000, 0}) {
		t.Fatalf("i32 %v", got)
	}
	if got := byName["f"].GetScalars().GetFloatData().GetData(); !reflect.DeepEqual(got, []float32{1.5, 0}) {
		t.Fatalf("f %v", got)
	}
	if got := byName["d"].GetScalars().GetDoubleData().GetData(); !reflect.DeepEqual(got, []float64{2.25, -1e300}) {
		t.Fatalf("d %v", got)
	}
	if got := byName["s"].GetScalars().GetStringData().GetData(); !reflect.DeepEqual(got, []string{"x", ""}) {
		t.Fatalf("s %v", got)
	}
	if got := byName["arr"].GetScalars().GetArrayData(); got.GetElementType() != schemapb.DataType_Int64 ||
		!reflect.DeepEqual(got.GetData()[0].GetLongData().GetData(), []int64{1, 2, 3}) || len(got.GetData()[1].GetLongData().GetData()) != 0 {
		t.Fatalf("arr %v", got)
	}
	opt := byName["opt"]
	if !reflect.DeepEqual(opt.GetValidData(), []bool{true, false}) || opt.GetScalars().GetLongData().GetData()[0] != 7 {
		t.Fatalf("opt %v", opt)
	}
	meta := byName["$meta"]
	if !meta.GetIsDynamic() || meta.GetType() != schemapb.DataType_JSON {
		t.Fatalf("meta %v", meta)
	}
	var m0 map[string]any
	if err := json.Unmarshal(meta.GetScalars().GetJsonData().GetData()[0], &m0); err != nil {
		t.Fatal(err)
	}
	if m0["color"] != "red" || m0["n"] != float64(1) || len(m0) != 2 {
		t.Fatalf("meta row 0 %v", m0)
	}
	if string(meta.GetScalars().GetJsonData().GetData()[1]) != "{}" {
		t.Fatalf("meta row 1 %s", meta.GetScalars().GetJsonData().GetData()[1])
	}

	// Upsert keeps the auto-id key.
	up, err := rowsToColumns(testSchema(), mustRows(t, `{"id": "12", "vec": [0,0,0], "b": true, "i8": 0, "i32": 0, "f": 0, "d": 0, "s": "", "j": 1, "arr": [1]}`), true)
	if err != nil {
		t.Fatal(err)
	}
	if up[0].GetFieldName() != "id" || up[0].GetScalars().GetLongData().GetData()[0] != 12 {
		t.Fatalf("upsert pk %v", up[0])
	}
}

func TestRowsToColumnsErrors(t *testing.T) {
	base := `"vec": [1,2,3], "b": true, "i8": 1, "i32": 1, "f": 1, "d": 1, "s": "a", "j": {}, "arr": [1]`
	cases := map[string]string{
		"missing field":       `{"vec": [1,2,3]}`,
		"int8 overflow":       `{` + base + `, "i8": 128}`,
		"int32 fraction":      `{` + base + `, "i32": 1.5}`,
		"float overflow":      `{` + base + `, "f": 1e39}`,
		"string for float":    `{` + base + `, "f": "1"}`,
		"number for string":   `{` + base + `, "s": 5}`,
		"bool as int":         `{` + base + `, "b": 1}`,
		"dim mismatch":        `{` + base + `, "vec": [1,2]}`,
		"vector not array":    `{` + base + `, "vec": "abc"}`,
		"vector null":         `{` + base + `, "vec": null}`,
		"array wrong element": `{` + base + `, "arr": ["x"]}`,
		"array not array":     `{` + base + `, "arr": 3}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			rows := mustRows(t, body)
			_, err := rowsToColumns(testSchema(), rows, false)
			if !errors.Is(err, merr.ErrInvalidInsertData) {
				t.Fatalf("err = %v, want invalid insert data", err)
			}
		})
	}
	t.Run("extra key without dynamic field", func(t *testing.T) {
		s := testSchema()
		s.EnableDynamicField = false
		_, err := rowsToColumns(s, mustRows(t, `{`+base+`, "zzz": 1}`), false)
		if !errors.Is(err, merr.ErrInvalidInsertData) {
			t.Fatalf("err = %v", err)
		}
	})
	for _, bad := range []string{``, `null`, `[]`, `5`, `[1]`, `[null]`, `{"a":}`} {
		if _, err := decodeRows(json.RawMessage(bad)); err == nil {
			t.Errorf("decodeRows(%q) accepted", bad)
		}
	}
}

func TestColumnsToRows(t *testing.T) {
	cols := []*schemapb.FieldData{
		{FieldName: "id", Type: schemapb.DataType_Int64, Field: scalarField(&schemapb.ScalarField{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: []int64{1, 2}}}})},
		{FieldName: "vec", Type: schemapb.DataType_FloatVector, Field: &schemapb.FieldData_Vectors{Vectors: &schemapb.VectorField{Dim: 2, Data: &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{Data: []float32{1, 2, 3, 4}}}}}},
		{FieldName: "opt", Type: schemapb.DataType_VarChar, ValidData: []bool{false, true}, Field: scalarField(&schemapb.ScalarField{Data: &schemapb.ScalarField_StringData{StringData: &schemapb.StringArray{Data: []string{"only"}}}})},
		{FieldName: "$meta", Type: schemapb.DataType_JSON, IsDynamic: true, Field: scalarField(&schemapb.ScalarField{Data: &schemapb.ScalarField_JsonData{JsonData: &schemapb.JSONArray{Data: [][]byte{[]byte(`{"color":"red","n":1}`), []byte(`{}`)}}}})},
	}
	rows, err := columnsToRows(cols, 2, []string{"vec", "color"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"color":"red","id":1,"opt":null,"vec":[1,2]},{"id":2,"opt":"only","vec":[3,4]}]`
	if string(b) != want {
		t.Fatalf("rows\n got %s\nwant %s", b, want)
	}
	// A short column is an error, not a panic.
	if _, err := columnsToRows(cols[:1], 3, nil); err == nil {
		t.Fatal("short column accepted")
	}
}

func TestPKFilter(t *testing.T) {
	intPK := &schemapb.FieldSchema{Name: "id", DataType: schemapb.DataType_Int64}
	strPK := &schemapb.FieldSchema{Name: "pk", DataType: schemapb.DataType_VarChar}
	cases := []struct {
		pk   *schemapb.FieldSchema
		raw  string
		want string
	}{
		{intPK, `5`, `id in [5]`},
		{intPK, `[1, 2, "3"]`, `id in [1,2,3]`},
		{strPK, `"a"`, `pk in ["a"]`},
		{strPK, `["a\"b", "c\\d"]`, `pk in ["a\"b","c\\d"]`},
	}
	for _, tc := range cases {
		got, err := pkFilter(tc.pk, json.RawMessage(tc.raw))
		if err != nil || got != tc.want {
			t.Errorf("pkFilter(%s) = %q, %v; want %q", tc.raw, got, err, tc.want)
		}
	}
	for _, bad := range []string{`null`, `1.5`, `"x"`, `[{}]`} {
		if _, err := pkFilter(intPK, json.RawMessage(bad)); err == nil {
			t.Errorf("pkFilter(%s) accepted", bad)
		}
	}
}

func FuzzRESTInsert(f *testing.F) {
	f.Add([]byte(`{"collectionName":"t","data":[{"vec":[1,2,3],"b":true,"i8":1,"i32":2,"f":1.5,"d":2,"s":"x","j":{"a":1},"arr":[1,2],"extra":"e"}]}`))
	f.Add([]byte(`{"collectionName":"t","data":{"vec":[1,2,3],"opt":null}}`))
	f.Add([]byte(`{"data":[{"vec":[1e39]}]}`))
	f.Add([]byte(`{"data":[null, 1, "x"]}`))
	f.Add([]byte(`garbage`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req restInsertReq
		if err := decodeJSON(body, &req); err != nil {
			if merr.Code(err) != merr.ErrIncorrectParamFormat.Code {
				t.Fatalf("decode error code %d", merr.Code(err))
			}
			return
		}
		rows, err := decodeRows(req.Data)
		if err != nil {
			return
		}
		cols, err := rowsToColumns(testSchema(), rows, false)
		if err != nil {
			if merr.Code(err) == merr.ErrUnexpected.Code {
				t.Fatalf("error without a Milvus code: %v", err)
			}
			return
		}
		for _, c := range cols {
			if n := fieldLen(c); n != len(rows) {
				t.Fatalf("column %s has %d rows, want %d", c.GetFieldName(), n, len(rows))
			}
		}
		if _, err := columnsToRows(cols, len(rows), nil); err != nil {
			t.Fatalf("round trip: %v", err)
		}
	})
}

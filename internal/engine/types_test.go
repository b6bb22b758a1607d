package engine

import (
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"
)

func scalarFD(name string, typ schemapb.DataType, sf *schemapb.ScalarField) *schemapb.FieldData {
	return &schemapb.FieldData{Type: typ, FieldName: name, Field: &schemapb.FieldData_Scalars{Scalars: sf}}
}

// TestAllFieldTypesRoundTrip: every supported field type survives insert,
// query output, a checkpoint (segment file) and WAL replay unchanged.
func TestAllFieldTypesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, func(c *Config) { c.SegmentMaxRows = 2 })
	schema := &schemapb.CollectionSchema{Name: "all", Fields: []*schemapb.FieldSchema{
		{Name: "pk", IsPrimaryKey: true, DataType: schemapb.DataType_VarChar, TypeParams: []*commonpb.KeyValuePair{kv("max_length", "10")}},
		{Name: "v", DataType: schemapb.DataType_FloatVector, TypeParams: []*commonpb.KeyValuePair{kv("dim", "2")}},
		{Name: "b", DataType: schemapb.DataType_Bool},
		{Name: "i8", DataType: schemapb.DataType_Int8},
		{Name: "i16", DataType: schemapb.DataType_Int16},
		{Name: "i32", DataType: schemapb.DataType_Int32},
		{Name: "i64", DataType: schemapb.DataType_Int64},
		{Name: "f", DataType: schemapb.DataType_Float},
		{Name: "d", DataType: schemapb.DataType_Double},
		{Name: "j", DataType: schemapb.DataType_JSON},
		{Name: "arr", DataType: schemapb.DataType_Array, ElementType: schemapb.DataType_Int64, TypeParams: []*commonpb.KeyValuePair{kv("max_capacity", "4")}},
		{Name: "sarr", DataType: schemapb.DataType_Array, ElementType: schemapb.DataType_VarChar, TypeParams: []*commonpb.KeyValuePair{kv("max_capacity", "4"), kv("max_length", "5")}},
	}}
	if err := e.CreateCollection(bg, "", schema, CreateCollectionOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.CreateIndex(bg, "", "all", "v", "", map[string]string{"metric_type": "L2"}); err != nil {
		t.Fatal(err)
	}
	if err := e.LoadCollection(bg, "", "all"); err != nil {
		t.Fatal(err)
	}
	longs := func(v ...int64) *schemapb.ScalarField {
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: v}}}
	}
	strs := func(v ...string) *schemapb.ScalarField {
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_StringData{StringData: &schemapb.StringArray{Data: v}}}
	}
	ints := func(v ...int32) *schemapb.ScalarField {
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_IntData{IntData: &schemapb.IntArray{Data: v}}}
	}
	fields := []*schemapb.FieldData{
		strField("pk", []string{"a", "b", "c"}),
		vecField("v", 2, []float32{1, 2, 3, 4, 5, 6}),
		scalarFD("b", schemapb.DataType_Bool, &schemapb.ScalarField{Data: &schemapb.ScalarField_BoolData{BoolData: &schemapb.BoolArray{Data: []bool{true, false, true}}}}),
		scalarFD("i8", schemapb.DataType_Int8, ints(-128, 0, 127)),
		scalarFD("i16", schemapb.DataType_Int16, ints(-32768, 1, 32767)),
		scalarFD("i32", schemapb.DataType_Int32, ints(-1<<31, 2, 1<<31-1)),
		scalarFD("i64", schemapb.DataType_Int64, longs(-1<<63, 3, 1<<63-1)),
		scalarFD("f", schemapb.DataType_Float, &schemapb.ScalarField{Data: &schemapb.ScalarField_FloatData{FloatData: &schemapb.FloatArray{Data: []float32{-1.5, 0, 3.25}}}}),
		scalarFD("d", schemapb.DataType_Double, &schemapb.ScalarField{Data: &schemapb.ScalarField_DoubleData{DoubleData: &schemapb.DoubleArray{Data: []float64{-2.5, 0, 1e300}}}}),
		jsonField("j", [][]byte{[]byte(`{"a":1}`), []byte(`[1,2]`), []byte(`"s"`)}, false),
		scalarFD("arr", schemapb.DataType_Array, &schemapb.ScalarField{Data: &schemapb.ScalarField_ArrayData{ArrayData: &schemapb.ArrayArray{
			ElementType: schemapb.DataType_Int64, Data: []*schemapb.ScalarField{longs(1, 2), longs(), longs(7, 8, 9, 10)}}}}),
		scalarFD("sarr", schemapb.DataType_Array, &schemapb.ScalarField{Data: &schemapb.ScalarField_ArrayData{ArrayData: &schemapb.ArrayArray{
			ElementType: schemapb.DataType_VarChar, Data: []*schemapb.ScalarField{strs("x"), strs("y", "zz"), strs()}}}}),
	}
	if _, err := e.Insert(bg, "", "all", "", fields, 3); err != nil {
		t.Fatal(err)
	}
	check := func(stage string) {
		t.Helper()
		res, err := e.Query(bg, &QueryRequest{Collection: "all", Limit: 10, OutputFields: []string{"*"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range fields {
			got := fieldNamed(res, want.FieldName)
			if got == nil {
				t.Fatalf("%s: field %s missing", stage, want.FieldName)
			}
			if !proto.Equal(got.GetScalars(), want.GetScalars()) || !proto.Equal(got.GetVectors(), want.GetVectors()) {
				t.Fatalf("%s: field %s: got %v want %v", stage, want.FieldName, got, want)
			}
		}
		n, err := e.Query(bg, &QueryRequest{Collection: "all", Filter: `array_contains(arr, 8) or i8 == -128`, OutputFields: []string{"count(*)"}})
		if err != nil || n[0].GetScalars().GetLongData().GetData()[0] != 2 {
			t.Fatalf("%s: filtered count %v %v", stage, n, err)
		}
	}
	check("memory")
	e.abandon() // no checkpoint: recovery decodes the WAL record
	e = openTest(t, dir, nil)
	check("wal replay")
	if err := e.Close(); err != nil { // checkpoint: segment files
		t.Fatal(err)
	}
	e = openTest(t, dir, nil)
	defer e.Close()
	check("segment files")
}

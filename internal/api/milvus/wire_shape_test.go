package milvus

import (
	"context"
	"slices"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"
)

// The search, query and describe replies have Milvus 2.6's shape on the
// wire, which SDKs other than Go's read directly: the Node.js SDK takes a
// hit's primary key from the search's output fields and dynamic keys from
// the "$meta" column, and re-sends a described schema as is.
func TestWireShapeMatchesMilvus(t *testing.T) {
	ts := startServer(t, Options{})
	c := ts.grpcClient(t)
	ctx := context.Background()
	ok := func(what string, st *commonpb.Status, err error) {
		t.Helper()
		if err != nil || st.GetCode() != 0 {
			t.Fatalf("%s: %v %v", what, st, err)
		}
	}

	schema := &schemapb.CollectionSchema{Name: "shape", EnableDynamicField: true, Fields: []*schemapb.FieldSchema{
		{Name: "id", DataType: schemapb.DataType_Int64, IsPrimaryKey: true},
		{Name: "vec", DataType: schemapb.DataType_FloatVector, TypeParams: []*commonpb.KeyValuePair{{Key: "dim", Value: "2"}}},
		{Name: "title", DataType: schemapb.DataType_VarChar, TypeParams: []*commonpb.KeyValuePair{{Key: "max_length", Value: "16"}}},
	}}
	raw, err := proto.Marshal(schema)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.CreateCollection(ctx, &milvuspb.CreateCollectionRequest{CollectionName: "shape", Schema: raw})
	ok("CreateCollection", st, err)

	// DescribeCollection hides "$meta" and reports enable_dynamic_field.
	d, err := c.DescribeCollection(ctx, &milvuspb.DescribeCollectionRequest{CollectionName: "shape"})
	ok("DescribeCollection", d.GetStatus(), err)
	var names []string
	for _, f := range d.GetSchema().GetFields() {
		names = append(names, f.GetName())
	}
	if !slices.Equal(names, []string{"id", "vec", "title"}) || !d.GetSchema().GetEnableDynamicField() {
		t.Fatalf("described fields %v, enable_dynamic_field %v; want [id vec title] and true", names, d.GetSchema().GetEnableDynamicField())
	}
	// ... and the described schema is accepted back.
	again := proto.Clone(d.GetSchema()).(*schemapb.CollectionSchema)
	again.Name = "shape2"
	// The Node.js SDK re-sends an empty default value for each field.
	for _, f := range again.Fields {
		f.DefaultValue = &schemapb.ValueField{}
	}
	raw, err = proto.Marshal(again)
	if err != nil {
		t.Fatal(err)
	}
	st, err = c.CreateCollection(ctx, &milvuspb.CreateCollectionRequest{CollectionName: "shape2", Schema: raw})
	ok("CreateCollection from the described schema", st, err)
	// A default value that holds a value is a real default (nullable
	// fields and default values are supported).
	again.Name = "shape3"
	again.Fields[2].DefaultValue = &schemapb.ValueField{Data: &schemapb.ValueField_StringData{StringData: "x"}}
	if raw, err = proto.Marshal(again); err != nil {
		t.Fatal(err)
	}
	st, err = c.CreateCollection(ctx, &milvuspb.CreateCollectionRequest{CollectionName: "shape3", Schema: raw})
	ok("CreateCollection with a default value", st, err)

	ins, err := c.Insert(ctx, &milvuspb.InsertRequest{CollectionName: "shape", NumRows: 2, FieldsData: []*schemapb.FieldData{
		{FieldName: "id", Type: schemapb.DataType_Int64, Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: []int64{7, 8}}}}}},
		{FieldName: "vec", Type: schemapb.DataType_FloatVector, Field: &schemapb.FieldData_Vectors{Vectors: &schemapb.VectorField{Dim: 2, Data: &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{Data: []float32{1, 0, 0, 1}}}}}},
		{FieldName: "title", Type: schemapb.DataType_VarChar, Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_StringData{StringData: &schemapb.StringArray{Data: []string{"a", "b"}}}}}},
		{FieldName: "$meta", Type: schemapb.DataType_JSON, IsDynamic: true, Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_JsonData{JsonData: &schemapb.JSONArray{Data: [][]byte{[]byte(`{"color":"red","n":1}`), []byte(`{"color":"blue","n":2}`)}}}}}},
	}})
	ok("Insert", ins.GetStatus(), err)
	for _, name := range []string{"shape"} {
		_, err = c.CreateIndex(ctx, &milvuspb.CreateIndexRequest{CollectionName: name, FieldName: "vec", ExtraParams: []*commonpb.KeyValuePair{{Key: "index_type", Value: "FLAT"}, {Key: "metric_type", Value: "L2"}}})
		if err != nil {
			t.Fatal(err)
		}
		st, err = c.LoadCollection(ctx, &milvuspb.LoadCollectionRequest{CollectionName: name})
		ok("LoadCollection", st, err)
	}

	search := func(out ...string) *schemapb.SearchResultData {
		t.Helper()
		pg, err := proto.Marshal(&commonpb.PlaceholderGroup{Placeholders: []*commonpb.PlaceholderValue{{
			Tag: "$0", Type: commonpb.PlaceholderType_FloatVector, Values: [][]byte{{0, 0, 0x80, 0x3f, 0, 0, 0, 0}}, // [1, 0]
		}}})
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Search(ctx, &milvuspb.SearchRequest{CollectionName: "shape", Nq: 1, SearchInput: &milvuspb.SearchRequest_PlaceholderGroup{PlaceholderGroup: pg}, OutputFields: out,
			SearchParams: []*commonpb.KeyValuePair{{Key: "anns_field", Value: "vec"}, {Key: "topk", Value: "2"}, {Key: "metric_type", Value: "L2"}}})
		ok("Search", r.GetStatus(), err)
		return r.GetResults()
	}
	fieldNames := func(fds []*schemapb.FieldData) (names []string) {
		for _, fd := range fds {
			names = append(names, fd.GetFieldName())
		}
		return names
	}
	// The primary key is the last output field of every search, its column
	// the hits' ids; a dynamic key is output inside "$meta", flagged dynamic.
	for _, tc := range []struct {
		out         []string
		wantOutputs []string
		wantFields  []string
	}{
		{nil, []string{"id"}, []string{"id"}},
		{[]string{"title", "color"}, []string{"title", "color", "id"}, []string{"title", "$meta", "id"}},
		{[]string{"id", "title"}, []string{"title", "id"}, []string{"title", "id"}},
		{[]string{"*"}, []string{"vec", "title", "$meta", "id"}, []string{"vec", "title", "$meta", "id"}},
	} {
		res := search(tc.out...)
		if !slices.Equal(res.GetOutputFields(), tc.wantOutputs) || !slices.Equal(fieldNames(res.GetFieldsData()), tc.wantFields) {
			t.Fatalf("output %v: output_fields %v, fields_data %v; want %v and %v", tc.out, res.GetOutputFields(), fieldNames(res.GetFieldsData()), tc.wantOutputs, tc.wantFields)
		}
		pk := res.GetFieldsData()[len(res.GetFieldsData())-1]
		if got := pk.GetScalars().GetLongData().GetData(); !slices.Equal(got, []int64{7, 8}) || !slices.Equal(res.GetIds().GetIntId().GetData(), got) || pk.GetFieldId() == 0 {
			t.Fatalf("output %v: primary key column %v (field id %d), ids %v; want [7 8]", tc.out, got, pk.GetFieldId(), res.GetIds().GetIntId().GetData())
		}
		for _, fd := range res.GetFieldsData() {
			if fd.GetIsDynamic() != (fd.GetFieldName() == "$meta") {
				t.Fatalf("output %v: field %q is_dynamic %v", tc.out, fd.GetFieldName(), fd.GetIsDynamic())
			}
		}
	}

	// Query outputs the primary key too, and dynamic keys inside "$meta".
	q, err := c.Query(ctx, &milvuspb.QueryRequest{CollectionName: "shape", Expr: "id > 7", OutputFields: []string{"color"}})
	ok("Query", q.GetStatus(), err)
	if names := fieldNames(q.GetFieldsData()); !slices.Equal(names, []string{"id", "$meta"}) || !q.GetFieldsData()[1].GetIsDynamic() ||
		string(q.GetFieldsData()[1].GetScalars().GetJsonData().GetData()[0]) != `{"color":"blue"}` {
		t.Fatalf("query fields %v: %v", names, q.GetFieldsData())
	}
}

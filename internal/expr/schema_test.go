package expr

import "github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

// testSchema is the schema most tests parse against.
func testSchema() *Schema {
	return &Schema{
		Fields: []Field{
			{Name: "id", Type: schemapb.DataType_Int64, IsPrimary: true},
			{Name: "age", Type: schemapb.DataType_Int64},
			{Name: "i8", Type: schemapb.DataType_Int8},
			{Name: "i16", Type: schemapb.DataType_Int16},
			{Name: "i32", Type: schemapb.DataType_Int32},
			{Name: "price", Type: schemapb.DataType_Float},
			{Name: "score", Type: schemapb.DataType_Double},
			{Name: "color", Type: schemapb.DataType_VarChar},
			{Name: "title", Type: schemapb.DataType_VarChar},
			{Name: "flag", Type: schemapb.DataType_Bool},
			{Name: "meta", Type: schemapb.DataType_JSON},
			{Name: "tags", Type: schemapb.DataType_Array, ElementType: schemapb.DataType_VarChar},
			{Name: "nums", Type: schemapb.DataType_Array, ElementType: schemapb.DataType_Int64},
			{Name: "fl", Type: schemapb.DataType_Array, ElementType: schemapb.DataType_Float},
			{Name: "vec", Type: schemapb.DataType_FloatVector},
		},
		DynamicField: "$meta",
	}
}

package expr

import "github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

// Field describes one schema field for the parser.
type Field struct {
	Name        string
	Type        schemapb.DataType // Bool, Int8..Int64, Float, Double, VarChar/String, JSON, Array, FloatVector...
	ElementType schemapb.DataType // for Array
	IsPrimary   bool
}

// Schema is what the parser resolves names against.
type Schema struct {
	Fields       []Field
	DynamicField string // name of the dynamic JSON column (normally "$meta"); "" = dynamic fields disabled
}

// field returns the schema field called name, or nil.
func (s *Schema) field(name string) *Field {
	if s == nil {
		return nil
	}
	for i := range s.Fields {
		if s.Fields[i].Name == name {
			return &s.Fields[i]
		}
	}
	return nil
}

// primary returns the primary key field, or nil.
func (s *Schema) primary() *Field {
	if s == nil {
		return nil
	}
	for i := range s.Fields {
		if s.Fields[i].IsPrimary {
			return &s.Fields[i]
		}
	}
	return nil
}

// isIntType reports whether t is one of the integer scalar types.
func isIntType(t schemapb.DataType) bool {
	switch t {
	case schemapb.DataType_Int8, schemapb.DataType_Int16, schemapb.DataType_Int32, schemapb.DataType_Int64:
		return true
	}
	return false
}

// isFloatType reports whether t is Float or Double.
func isFloatType(t schemapb.DataType) bool {
	return t == schemapb.DataType_Float || t == schemapb.DataType_Double
}

// isStringType reports whether t is VarChar, String or Text.
func isStringType(t schemapb.DataType) bool {
	return t == schemapb.DataType_VarChar || t == schemapb.DataType_String || t == schemapb.DataType_Text
}

// isVectorType reports whether t is a vector type (never allowed in filters).
func isVectorType(t schemapb.DataType) bool {
	switch t {
	case schemapb.DataType_BinaryVector, schemapb.DataType_FloatVector, schemapb.DataType_Float16Vector,
		schemapb.DataType_BFloat16Vector, schemapb.DataType_SparseFloatVector, schemapb.DataType_Int8Vector,
		schemapb.DataType_ArrayOfVector:
		return true
	}
	return false
}

// scalarTyp maps a scalar data type to the parser's static type (tInvalid if
// the type cannot appear in a filter as a scalar).
func scalarTyp(t schemapb.DataType) typ {
	switch {
	case t == schemapb.DataType_Bool:
		return tBool
	case isIntType(t):
		return tInt
	case isFloatType(t):
		return tFloat
	case isStringType(t):
		return tString
	case t == schemapb.DataType_JSON:
		return tJSON
	case t == schemapb.DataType_Array:
		return tArray
	}
	return tInvalid
}

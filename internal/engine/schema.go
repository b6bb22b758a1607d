package engine

import (
	"fmt"
	"strconv"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"

	"github.com/tandem-db/tandem/internal/merr"
)

// Schema limits (Milvus defaults).
const (
	maxDim          = 32768
	maxVarCharLen   = 65535
	maxArrayCap     = 4096
	maxFields       = 64
	maxNameLen      = 255
	maxPartitions   = 1024
	firstFieldID    = 100
	dynamicField    = "$meta"
	paramIndexType  = "index_type"
	paramMetricType = "metric_type"
)

// validateName applies Milvus's naming rules to a collection, partition or
// field name ("collection name", "partition name", "field name").
func validateName(kind, name string) error {
	bad := func(why string) error {
		return merr.Wrapf(merr.ErrParameterInvalid, "Invalid %s: %s. %s", kind, name, why)
	}
	if name == "" {
		return merr.Wrapf(merr.ErrParameterInvalid, "%s should not be empty", kind)
	}
	if len(name) > maxNameLen {
		return bad(fmt.Sprintf("the length of a %s must be less than %d characters", kind, maxNameLen))
	}
	c := name[0]
	if c != '_' && !isLetter(c) {
		return bad(fmt.Sprintf("the first character of a %s must be an underscore or letter", kind))
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if c != '_' && !isLetter(c) && !(c >= '0' && c <= '9') {
			return bad(fmt.Sprintf("%s can only contain numbers, letters and underscores", kind))
		}
	}
	return nil
}

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

func typeParam(f *schemapb.FieldSchema, key string) (string, bool) {
	for _, kv := range f.GetTypeParams() {
		if kv.GetKey() == key {
			return kv.GetValue(), true
		}
	}
	return "", false
}

// intParam parses type param key of f into [lo,hi].
func intParam(coll string, f *schemapb.FieldSchema, key string, lo, hi int) error {
	v, ok := typeParam(f, key)
	if !ok {
		return merr.Wrapf(merr.ErrParameterInvalid, "type param(%s) should be specified for the field(%s) of collection %s", key, f.GetName(), coll)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return merr.Wrapf(merr.ErrParameterInvalid, "invalid %s %q of field %s: should be in range [%d, %d]", key, v, f.GetName(), lo, hi)
	}
	return nil
}

func isScalarElem(t schemapb.DataType) bool {
	switch t {
	case schemapb.DataType_Bool, schemapb.DataType_Int8, schemapb.DataType_Int16, schemapb.DataType_Int32,
		schemapb.DataType_Int64, schemapb.DataType_Float, schemapb.DataType_Double, schemapb.DataType_VarChar:
		return true
	}
	return false
}

// normalizeSchema validates a CreateCollection schema and returns the
// stored form: a copy with field IDs 100, 101, ... in declaration order,
// auto_id on the primary key when the schema asks for it, String fields
// as VarChar, and the hidden dynamic field "$meta" (JSON, IsDynamic)
// appended when enable_dynamic_field is set.
func normalizeSchema(name string, in *schemapb.CollectionSchema) (*schemapb.CollectionSchema, error) {
	if in == nil {
		return nil, merr.Wrapf(merr.ErrParameterInvalid, "collection schema is empty")
	}
	s := proto.Clone(in).(*schemapb.CollectionSchema)
	if s.Name == "" {
		s.Name = name
	}
	if s.Name != name {
		return nil, merr.Wrapf(merr.ErrParameterInvalid, "collection name [%s] not matches schema name [%s]", name, s.Name)
	}
	if len(s.Functions) > 0 {
		return nil, merr.Wrapf(merr.ErrParameterInvalid, "functions are not supported")
	}
	if len(s.StructArrayFields) > 0 {
		return nil, merr.Wrapf(merr.ErrParameterInvalid, "struct array fields are not supported")
	}
	if len(s.Fields) == 0 {
		return nil, merr.Wrapf(merr.ErrParameterInvalid, "schema does not contain any field")
	}
	if len(s.Fields) > maxFields {
		return nil, merr.Wrapf(merr.ErrParameterInvalid, "maximum field's number should be limited to %d", maxFields)
	}
	seen := map[string]bool{}
	pks, vectors := 0, 0
	for i, f := range s.Fields {
		if err := validateName("field name", f.GetName()); err != nil {
			return nil, err
		}
		if seen[f.Name] {
			return nil, merr.Wrapf(merr.ErrParameterInvalid, "duplicated field name %s found", f.Name)
		}
		seen[f.Name] = true
		f.FieldID = int64(firstFieldID + i)
		if f.IsDynamic {
			return nil, merr.Wrapf(merr.ErrParameterInvalid, "cannot explicitly set a field as a dynamic field: %s", f.Name)
		}
		if f.DefaultValue != nil && f.DefaultValue.GetData() == nil {
			// An empty default value is no default value: the Node.js SDK
			// sends one for every field of a described schema it re-sends.
			f.DefaultValue = nil
		}
		if f.IsPartitionKey || f.IsClusteringKey {
			return nil, merr.Wrapf(merr.ErrParameterInvalid, "partition and clustering keys are not supported (field %s)", f.Name)
		}
		if f.DataType == schemapb.DataType_String {
			f.DataType = schemapb.DataType_VarChar
		}
		if f.IsPrimaryKey {
			pks++
			if f.DataType != schemapb.DataType_Int64 && f.DataType != schemapb.DataType_VarChar {
				return nil, merr.Wrapf(merr.ErrParameterInvalid, "the data type of primary key should be Int64 or VarChar")
			}
			if s.AutoID {
				f.AutoID = true
			}
			if f.AutoID && f.DataType != schemapb.DataType_Int64 {
				return nil, merr.Wrapf(merr.ErrParameterInvalid, "auto id is only supported for an Int64 primary key (field %s)", f.Name)
			}
		} else if f.AutoID {
			return nil, merr.Wrapf(merr.ErrParameterInvalid, "only primary field can speficy AutoID with true, field name = %s", f.Name)
		}
		switch f.DataType {
		case schemapb.DataType_Bool, schemapb.DataType_Int8, schemapb.DataType_Int16, schemapb.DataType_Int32,
			schemapb.DataType_Int64, schemapb.DataType_Float, schemapb.DataType_Double, schemapb.DataType_JSON:
		case schemapb.DataType_VarChar:
			if err := intParam(name, f, "max_length", 1, maxVarCharLen); err != nil {
				return nil, err
			}
		case schemapb.DataType_Array:
			if !isScalarElem(f.ElementType) {
				return nil, merr.Wrapf(merr.ErrParameterInvalid, "element type %s of array field %s is not supported", f.ElementType, f.Name)
			}
			if err := intParam(name, f, "max_capacity", 1, maxArrayCap); err != nil {
				return nil, err
			}
			if f.ElementType == schemapb.DataType_VarChar {
				if err := intParam(name, f, "max_length", 1, maxVarCharLen); err != nil {
					return nil, err
				}
			}
		case schemapb.DataType_FloatVector, schemapb.DataType_BinaryVector, schemapb.DataType_Float16Vector,
			schemapb.DataType_BFloat16Vector, schemapb.DataType_Int8Vector:
			vectors++
			if _, ok := typeParam(f, "dim"); !ok {
				return nil, merr.Wrapf(merr.ErrParameterInvalid, "dimension is not defined in field type params of collection %s", name)
			}
			if err := intParam(name, f, "dim", 1, maxDim); err != nil {
				return nil, err
			}
			if v, _ := typeParam(f, "dim"); f.DataType == schemapb.DataType_BinaryVector {
				if d, _ := strconv.Atoi(v); d%8 != 0 {
					// Milvus's wording (a plain error: code 65535), trailing space included.
					return nil, merr.WithMessage(merr.ErrUnexpected, fmt.Sprintf("invalid dimension: %d. should be multiple of 8. ", d))
				}
			}
		default:
			return nil, merr.Wrapf(merr.ErrParameterInvalid, "data type %s of field %s is not supported", f.DataType, f.Name)
		}
		if err := checkNullDefault(name, f); err != nil {
			return nil, err
		}
	}
	switch {
	case pks == 0:
		return nil, merr.Wrapf(merr.ErrParameterInvalid, "primary key is not specified")
	case pks > 1:
		return nil, merr.Wrapf(merr.ErrParameterInvalid, "there are more than one primary key, field name = %s", name)
	case vectors > maxVectorFields:
		return nil, merr.WithMessage(merr.ErrUnexpected, fmt.Sprintf("maximum vector field's number should be limited to %d", maxVectorFields))
	case vectors == 0:
		return nil, merr.Wrapf(merr.ErrParameterInvalid, "schema does not contain vector field")
	}
	s.AutoID = false
	for _, f := range s.Fields {
		if f.IsPrimaryKey && f.AutoID {
			s.AutoID = true
		}
	}
	if s.EnableDynamicField {
		s.Fields = append(s.Fields, &schemapb.FieldSchema{
			FieldID:     int64(firstFieldID + len(s.Fields)),
			Name:        dynamicField,
			Description: "dynamic schema",
			DataType:    schemapb.DataType_JSON,
			IsDynamic:   true,
		})
	}
	return s, nil
}

// sameKVs compares property lists as sets.
func sameKVs(a, b []*commonpb.KeyValuePair) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]string{}
	for _, kv := range a {
		m[kv.GetKey()] = kv.GetValue()
	}
	for _, kv := range b {
		if v, ok := m[kv.GetKey()]; !ok || v != kv.GetValue() {
			return false
		}
	}
	return true
}

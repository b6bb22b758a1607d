package engine

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/merr"
)

// Nullable fields and default values (Milvus 2.6 semantics).
//
// A nullable scalar field stores a validity flag per row (colData.valid,
// segColumn.valid); a null row holds the zero value (nil for JSON and
// Array). A field with a default value never stores a null: a row sent as
// null (ValidData false) or a column left out gets the default. Columns
// arrive compact, as Milvus takes them: ValidData has one flag per row and
// the values are only those of the valid rows (or every row when all are
// valid).

// checkNullDefault applies Milvus's rules for Nullable and DefaultValue on
// one field of a schema (CreateCollection and AddCollectionField).
func checkNullDefault(coll string, f *schemapb.FieldSchema) error {
	isVec := f.DataType >= schemapb.DataType_BinaryVector && f.DataType <= schemapb.DataType_ArrayOfVector
	if f.Nullable && isVec {
		return merr.Wrapf(merr.ErrParameterInvalid, "vector type not support null, type:%s, name:%s", f.DataType, f.Name)
	}
	if f.Nullable && f.IsPrimaryKey {
		return merr.Wrapf(merr.ErrParameterInvalid, "primary field not support null")
	}
	dv := f.DefaultValue
	if dv == nil {
		return nil
	}
	if f.IsPrimaryKey {
		return merr.Wrapf(merr.ErrParameterInvalid, "primary key can't be with default value")
	}
	if isVec {
		return merr.Wrapf(merr.ErrParameterInvalid, "vector type not support default value")
	}
	mismatch := func(t string) error {
		return merr.Wrap(merr.ErrParameterInvalid, "default value type mismatches field schema type", "expected", t, "actual", "not match")
	}
	outOfRange := func(lo, hi int, v int32) error {
		return merr.Wrap(merr.ErrParameterInvalid, "default value out of range", "range", fmt.Sprintf("[%d, %d]", lo, hi), "actual", v)
	}
	switch d := dv.Data.(type) {
	case *schemapb.ValueField_BoolData:
		if f.DataType != schemapb.DataType_Bool {
			return mismatch("DataType_Bool")
		}
	case *schemapb.ValueField_IntData:
		switch f.DataType {
		case schemapb.DataType_Int32:
		case schemapb.DataType_Int16:
			if d.IntData > math.MaxInt16 || d.IntData < math.MinInt16 {
				return outOfRange(math.MinInt16, math.MaxInt16, d.IntData)
			}
		case schemapb.DataType_Int8:
			if d.IntData > math.MaxInt8 || d.IntData < math.MinInt8 {
				return outOfRange(math.MinInt8, math.MaxInt8, d.IntData)
			}
		default:
			return mismatch("DataType_Int")
		}
	case *schemapb.ValueField_LongData:
		if f.DataType != schemapb.DataType_Int64 {
			return mismatch("DataType_Int64")
		}
	case *schemapb.ValueField_FloatData:
		if f.DataType != schemapb.DataType_Float {
			return mismatch("DataType_Float")
		}
		if x := float64(d.FloatData); math.IsNaN(x) || math.IsInf(x, 0) {
			return invalid("value '%v' is not a number or infinity, field name = %s", d.FloatData, f.Name)
		}
	case *schemapb.ValueField_DoubleData:
		if f.DataType != schemapb.DataType_Double {
			return mismatch("DataType_Double")
		}
		if math.IsNaN(d.DoubleData) || math.IsInf(d.DoubleData, 0) {
			return invalid("value '%v' is not a number or infinity, field name = %s", d.DoubleData, f.Name)
		}
	case *schemapb.ValueField_StringData:
		if f.DataType != schemapb.DataType_VarChar && f.DataType != schemapb.DataType_String {
			return mismatch("DataType_VarChar")
		}
		v, _ := typeParam(f, "max_length")
		var maxLen int
		fmt.Sscan(v, &maxLen)
		if len(d.StringData) > maxLen {
			return merr.Wrap(merr.ErrParameterInvalid, fmt.Sprintf("the length (%d) of string exceeds max length (%d)", len(d.StringData), maxLen),
				"expected", "valid length string", "actual", "string length exceeds max length")
		}
	case *schemapb.ValueField_BytesData:
		if f.DataType != schemapb.DataType_JSON {
			return mismatch("DataType_JSON")
		}
		if !json.Valid(d.BytesData) {
			return invalid("invalid default value of json field %s: %s", f.Name, truncate(d.BytesData))
		}
	default:
		if f.DataType == schemapb.DataType_Array {
			return merr.Wrap(merr.ErrParameterInvalid, "array type not support default value", "expected", "not set default value", "actual", "")
		}
		return merr.Wrapf(merr.ErrParameterInvalid, "default value unsupport data type %s of field %s", f.DataType, f.Name)
	}
	return nil
}

// defaultData returns n copies of f's default value, typed as colData.
func defaultData(f *fieldInfo, n int) any {
	d := f.def
	switch f.typ {
	case schemapb.DataType_Bool:
		return fill(n, d.GetBoolData())
	case schemapb.DataType_Int8:
		return fill(n, int8(d.GetIntData()))
	case schemapb.DataType_Int16:
		return fill(n, int16(d.GetIntData()))
	case schemapb.DataType_Int32:
		return fill(n, d.GetIntData())
	case schemapb.DataType_Int64:
		return fill(n, d.GetLongData())
	case schemapb.DataType_Float:
		return fill(n, d.GetFloatData())
	case schemapb.DataType_Double:
		return fill(n, d.GetDoubleData())
	case schemapb.DataType_VarChar:
		return fill(n, d.GetStringData())
	case schemapb.DataType_JSON:
		return fill(n, d.GetBytesData())
	}
	return nil
}

func fill[T any](n int, v T) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// zeroData returns n zero values of field type t (null rows).
func zeroData(t schemapb.DataType, n int) any {
	switch t {
	case schemapb.DataType_Bool:
		return make([]bool, n)
	case schemapb.DataType_Int8:
		return make([]int8, n)
	case schemapb.DataType_Int16:
		return make([]int16, n)
	case schemapb.DataType_Int32:
		return make([]int32, n)
	case schemapb.DataType_Int64:
		return make([]int64, n)
	case schemapb.DataType_Float:
		return make([]float32, n)
	case schemapb.DataType_Double:
		return make([]float64, n)
	case schemapb.DataType_VarChar:
		return make([]string, n)
	case schemapb.DataType_JSON:
		return make([][]byte, n)
	case schemapb.DataType_Array:
		return make([]*schemapb.ScalarField, n)
	}
	return nil
}

// absentColumn is the column of n rows of field f when no value is given:
// the default value, else nulls (f must have one or the other).
func absentColumn(f *fieldInfo, n int) colData {
	cd := colData{fieldID: f.id, typ: f.typ}
	if f.def != nil {
		cd.data = defaultData(f, n)
		return cd
	}
	cd.data = zeroData(f.typ, n)
	cd.valid = make([]bool, n)
	return cd
}

// expandValid spreads compact values (one per valid row) over n rows;
// invalid rows get def (a default value) or the zero value.
func expandValid[T any](vals []T, valid []bool, def *T) []T {
	if len(vals) == len(valid) {
		return vals
	}
	out := make([]T, len(valid))
	j := 0
	for i, ok := range valid {
		switch {
		case ok:
			out[i] = vals[j]
			j++
		case def != nil:
			out[i] = *def
		}
	}
	return out
}

// countValid returns the number of true flags.
func countValid(valid []bool) int {
	n := 0
	for _, ok := range valid {
		if ok {
			n++
		}
	}
	return n
}

// checkValidData checks ValidData of column fd for field f (n rows) as
// Milvus does: a nullable field or one with a default value takes one
// flag per row (none means all valid), and as many values as valid rows;
// any other field takes none.
func checkValidData(f *fieldInfo, fd *schemapb.FieldData, n int) ([]bool, error) {
	vd := fd.GetValidData()
	if !f.nullable && f.def == nil {
		if len(vd) != 0 {
			return nil, merr.Wrap(merr.ErrParameterInvalid, fmt.Sprintf("the length of valid_data of field(%s) is wrong", f.name),
				"expected", 0, "actual", len(vd))
		}
		return nil, nil
	}
	if len(vd) == 0 {
		if f.nullable {
			return nil, nil // all valid
		}
		// A field with a default value and no valid_data: Milvus requires it.
		return nil, merr.Wrap(merr.ErrParameterInvalid, fmt.Sprintf("the length of valid_data of field(%s) is wrong", f.name),
			"expected", n, "actual", 0)
	}
	if len(vd) != n {
		return nil, merr.Wrap(merr.ErrParameterInvalid, fmt.Sprintf("the length of valid_data of field(%s) is wrong", f.name),
			"expected", n, "actual", len(vd))
	}
	return vd, nil
}

// applyValid spreads a checked column whose values are compact (cd.data
// holds the valid rows' values) over len(valid) rows: null rows get the
// default value (then the column has no nulls) or stay null (cd.valid).
func applyValid(f *fieldInfo, cd *colData, valid []bool) {
	if valid == nil {
		return
	}
	if f.def != nil {
		cd.data = expandWith(cd.data, valid, defaultData(f, 1))
		return
	}
	cd.data = expandWith(cd.data, valid, nil)
	if countValid(valid) != len(valid) {
		cd.valid = append([]bool(nil), valid...)
	}
}

// expandWith is expandValid on a typed column; def is a one-row column of
// the default value, or nil.
func expandWith(data any, valid []bool, def any) any {
	switch v := data.(type) {
	case []bool:
		return expandValid(v, valid, first[bool](def))
	case []int8:
		return expandValid(v, valid, first[int8](def))
	case []int16:
		return expandValid(v, valid, first[int16](def))
	case []int32:
		return expandValid(v, valid, first[int32](def))
	case []int64:
		return expandValid(v, valid, first[int64](def))
	case []float32:
		return expandValid(v, valid, first[float32](def))
	case []float64:
		return expandValid(v, valid, first[float64](def))
	case []string:
		return expandValid(v, valid, first[string](def))
	case [][]byte:
		return expandValid(v, valid, first[[]byte](def))
	case []*schemapb.ScalarField:
		return expandValid(v, valid, first[*schemapb.ScalarField](def))
	}
	return data
}

func first[T any](def any) *T {
	v, ok := def.([]T)
	if !ok || len(v) == 0 {
		return nil
	}
	return &v[0]
}

// appendValid appends rows [lo,hi) of a column's validity (nil = all
// valid) to dst.
func appendValid(dst, src []bool, lo, hi int) []bool {
	if src == nil {
		for range hi - lo {
			dst = append(dst, true)
		}
		return dst
	}
	return append(dst, src[lo:hi]...)
}

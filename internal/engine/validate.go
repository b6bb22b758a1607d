package engine

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/merr"
)

// maxJSONBytes bounds one JSON value (Milvus's default).
const maxJSONBytes = 65536

func invalid(format string, args ...any) error {
	return merr.Wrapf(merr.ErrParameterInvalid, format, args...)
}

// buildInsert validates an insert/upsert request against collection c and
// converts it to a record body (autoFirst is filled in later, under the
// write lock). Any invalid input returns an error wrapping a merr
// sentinel; nothing is written in that case.
func buildInsert(c *collection, partID int64, fields []*schemapb.FieldData, n int, upsert bool) (*recInsert, error) {
	if n <= 0 {
		return nil, invalid("num_rows should be greater than 0")
	}
	byField := make([]*schemapb.FieldData, len(c.fields))
	for _, fd := range fields {
		if fd == nil {
			continue
		}
		var fi int
		if fd.GetIsDynamic() || fd.GetFieldName() == dynamicField {
			if c.dyn < 0 {
				return nil, invalid("Attempt to insert an unexpected field `%s` to collection without enabling dynamic field", dynamicField)
			}
			fi = c.dyn
		} else {
			var ok bool
			fi, ok = c.field(fd.GetFieldName())
			if !ok {
				if c.dyn >= 0 {
					return nil, invalid("field %s is not in the schema; dynamic data must be sent in the %s column", fd.GetFieldName(), dynamicField)
				}
				return nil, invalid("Attempt to insert an unexpected field `%s` to collection without enabling dynamic field", fd.GetFieldName())
			}
		}
		if byField[fi] != nil {
			return nil, invalid("duplicated field %s found", c.fields[fi].name)
		}
		byField[fi] = fd
	}
	b := &recInsert{partID: partID, collID: c.id, rows: n}
	for i := range c.fields {
		f := &c.fields[i]
		fd := byField[i]
		if f.isPK && f.autoID && !upsert {
			if fd != nil {
				return nil, invalid("the primary key field %s is auto id and must not be provided when inserting", f.name)
			}
			continue
		}
		if fd == nil {
			if f.nullable || f.def != nil {
				b.cols = append(b.cols, absentColumn(f, n))
				continue
			}
			if f.isDyn {
				docs := make([][]byte, n)
				for j := range docs {
					docs[j] = []byte("{}")
				}
				b.cols = append(b.cols, colData{fieldID: f.id, typ: f.typ, data: docs})
				continue
			}
			return nil, merr.Wrapf(merr.ErrParameterInvalid, "fieldSchema(%s) has no corresponding fieldData pass in", f.name)
		}
		cd, err := toColData(c, f, fd, n)
		if err != nil {
			return nil, err
		}
		b.cols = append(b.cols, cd)
	}
	return b, nil
}

// toColData checks one column and converts it to the engine's typed slice.
func toColData(c *collection, f *fieldInfo, fd *schemapb.FieldData, n int) (cd colData, err error) {
	cd = colData{fieldID: f.id, typ: f.typ, dim: f.dim}
	ft := fd.GetType()
	if ft == schemapb.DataType_String {
		ft = schemapb.DataType_VarChar
	}
	if ft != f.typ && !(f.isDyn && ft == schemapb.DataType_None) {
		return cd, invalid("the data type of field %s doesn't match, expected: %s, actual: %s", f.name, f.typ, fd.GetType())
	}
	valid, err := checkValidData(f, fd, n)
	if err != nil {
		return cd, err
	}
	rowsErr := func(got int) error {
		return invalid("the num_rows (%d) of field (%s) is not equal to passed num_rows (%d)", got, f.name, n)
	}
	if valid != nil {
		// Compact values: one per valid row.
		n = countValid(valid)
		rowsErr = func(got int) error {
			return merr.Wrap(merr.ErrParameterInvalid, "the length of field is wrong", "expected", n, "actual", got)
		}
		defer func() {
			if err == nil {
				applyValid(f, &cd, valid)
			}
		}()
	}
	sc := fd.GetScalars()
	switch f.typ {
	case schemapb.DataType_Bool:
		v := sc.GetBoolData().GetData()
		if len(v) != n {
			return cd, rowsErr(len(v))
		}
		cd.data = v
	case schemapb.DataType_Int8, schemapb.DataType_Int16, schemapb.DataType_Int32:
		v := sc.GetIntData().GetData()
		if len(v) != n {
			return cd, rowsErr(len(v))
		}
		data, err := narrowInts(f, v)
		if err != nil {
			return cd, err
		}
		cd.data = data
	case schemapb.DataType_Int64:
		v := sc.GetLongData().GetData()
		if len(v) != n {
			return cd, rowsErr(len(v))
		}
		cd.data = v
	case schemapb.DataType_Float:
		v := sc.GetFloatData().GetData()
		if len(v) != n {
			return cd, rowsErr(len(v))
		}
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return cd, invalid("value '%v' is not a number or infinity, field name = %s", x, f.name)
			}
		}
		cd.data = v
	case schemapb.DataType_Double:
		v := sc.GetDoubleData().GetData()
		if len(v) != n {
			return cd, rowsErr(len(v))
		}
		for _, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return cd, invalid("value '%v' is not a number or infinity, field name = %s", x, f.name)
			}
		}
		cd.data = v
	case schemapb.DataType_VarChar:
		v := sc.GetStringData().GetData()
		if len(v) != n {
			return cd, rowsErr(len(v))
		}
		for j, s := range v {
			if err := checkString(f.name, s, f.maxLen, j); err != nil {
				return cd, err
			}
		}
		cd.data = v
	case schemapb.DataType_JSON:
		v := sc.GetJsonData().GetData()
		if len(v) != n {
			return cd, rowsErr(len(v))
		}
		for j, doc := range v {
			if err := checkJSON(c, f, doc, j); err != nil {
				return cd, err
			}
		}
		cd.data = v
	case schemapb.DataType_Array:
		ad := sc.GetArrayData()
		v := ad.GetData()
		if len(v) != n {
			return cd, rowsErr(len(v))
		}
		if ad.GetElementType() != f.elem && !(ad.GetElementType() == schemapb.DataType_String && f.elem == schemapb.DataType_VarChar) {
			return cd, invalid("the element type of array field %s doesn't match, expected: %s, actual: %s", f.name, f.elem, ad.GetElementType())
		}
		for j, a := range v {
			if err := checkArray(f, a, j); err != nil {
				return cd, err
			}
		}
		cd.data = v
	case schemapb.DataType_FloatVector:
		vf := fd.GetVectors()
		if int(vf.GetDim()) != f.dim {
			return cd, invalid("the dim (%d) of field data(%s) is not equal to schema dim (%d)", vf.GetDim(), f.name, f.dim)
		}
		v := vf.GetFloatVector().GetData()
		if len(v) != n*f.dim {
			return cd, rowsErr(len(v) / max(f.dim, 1))
		}
		for j, x := range v {
			// x-x is NaN exactly when x is NaN or ±Inf.
			if x-x != 0 {
				return cd, invalid("float vector field %s contains NaN or Inf at row %d", f.name, j/f.dim)
			}
		}
		cd.data = v
	case schemapb.DataType_BinaryVector, schemapb.DataType_Float16Vector, schemapb.DataType_BFloat16Vector,
		schemapb.DataType_Int8Vector:
		vf := fd.GetVectors()
		if int(vf.GetDim()) != f.dim {
			return cd, invalid("the dim (%d) of field data(%s) is not equal to schema dim (%d)", vf.GetDim(), f.name, f.dim)
		}
		var v []byte
		switch f.typ {
		case schemapb.DataType_BinaryVector:
			v = vf.GetBinaryVector()
		case schemapb.DataType_Float16Vector:
			v = vf.GetFloat16Vector()
		case schemapb.DataType_BFloat16Vector:
			v = vf.GetBfloat16Vector()
		case schemapb.DataType_Int8Vector:
			v = vf.GetInt8Vector()
		}
		rb := vecRowBytes(f.typ, f.dim)
		if len(v) != n*rb {
			if len(v)%max(rb, 1) != 0 {
				return cd, invalid("the byte length (%d) of %s field %s is not a multiple of the row size (%d bytes for dim %d)", len(v), f.typ, f.name, rb, f.dim)
			}
			return cd, rowsErr(len(v) / max(rb, 1))
		}
		if f.typ == schemapb.DataType_Float16Vector || f.typ == schemapb.DataType_BFloat16Vector {
			if j := checkHalfFinite(f.typ, v); j >= 0 {
				return cd, invalid("%s field %s contains NaN or Inf at row %d", strings.ToLower(f.typ.String()), f.name, j/f.dim)
			}
		}
		cd.data = v
	default:
		return cd, invalid("data type %s of field %s is not supported", f.typ, f.name)
	}
	return cd, nil
}

func narrowInts(f *fieldInfo, v []int32) (any, error) {
	switch f.typ {
	case schemapb.DataType_Int8:
		out := make([]int8, len(v))
		for i, x := range v {
			if x < math.MinInt8 || x > math.MaxInt8 {
				return nil, invalid("the %dth element (%d) out of range: [%d, %d], field name = %s", i, x, math.MinInt8, math.MaxInt8, f.name)
			}
			out[i] = int8(x)
		}
		return out, nil
	case schemapb.DataType_Int16:
		out := make([]int16, len(v))
		for i, x := range v {
			if x < math.MinInt16 || x > math.MaxInt16 {
				return nil, invalid("the %dth element (%d) out of range: [%d, %d], field name = %s", i, x, math.MinInt16, math.MaxInt16, f.name)
			}
			out[i] = int16(x)
		}
		return out, nil
	}
	return v, nil
}

func checkString(field, s string, maxLen, row int) error {
	if len(s) > maxLen {
		return invalid("length of varchar field %s exceeds max length, row number: %d, length: %d, max length: %d", field, row, len(s), maxLen)
	}
	if !utf8.ValidString(s) {
		return invalid("string data of field %s at row %d must be utf8 format", field, row)
	}
	return nil
}

// checkJSON validates one JSON value; dynamic-field values must be JSON
// objects whose keys are not static field names.
func checkJSON(c *collection, f *fieldInfo, doc []byte, row int) error {
	if len(doc) > maxJSONBytes {
		return invalid("the length (%d) of %dth JSON row of field %s exceeds max length (%d)", len(doc), row, f.name, maxJSONBytes)
	}
	if !f.isDyn {
		if !json.Valid(doc) {
			return invalid("invalid JSON in field %s at row %d: %s", f.name, row, truncate(doc))
		}
		return nil
	}
	var m map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(doc))
	if err := d.Decode(&m); err != nil || m == nil || d.More() {
		return invalid("dynamic field data at row %d must be a JSON object: %s", row, truncate(doc))
	}
	for k := range m {
		if _, ok := c.field(k); ok {
			return invalid("dynamic field name cannot include the static field name: %s", k)
		}
	}
	return nil
}

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}

// checkArray validates one array value of field f.
func checkArray(f *fieldInfo, a *schemapb.ScalarField, row int) error {
	var n int
	ok := true
	switch f.elem {
	case schemapb.DataType_Bool:
		n, ok = len(a.GetBoolData().GetData()), a.GetBoolData() != nil || a.GetData() == nil
	case schemapb.DataType_Int8, schemapb.DataType_Int16, schemapb.DataType_Int32:
		v := a.GetIntData().GetData()
		n, ok = len(v), a.GetIntData() != nil || a.GetData() == nil
		lo, hi := int32(math.MinInt32), int32(math.MaxInt32)
		if f.elem == schemapb.DataType_Int8 {
			lo, hi = math.MinInt8, math.MaxInt8
		} else if f.elem == schemapb.DataType_Int16 {
			lo, hi = math.MinInt16, math.MaxInt16
		}
		for _, x := range v {
			if x < lo || x > hi {
				return invalid("array element %d of field %s at row %d out of range [%d, %d]", x, f.name, row, lo, hi)
			}
		}
	case schemapb.DataType_Int64:
		n, ok = len(a.GetLongData().GetData()), a.GetLongData() != nil || a.GetData() == nil
	case schemapb.DataType_Float:
		v := a.GetFloatData().GetData()
		n, ok = len(v), a.GetFloatData() != nil || a.GetData() == nil
		for _, x := range v {
			if x-x != 0 {
				return invalid("array field %s at row %d contains NaN or Inf", f.name, row)
			}
		}
	case schemapb.DataType_Double:
		v := a.GetDoubleData().GetData()
		n, ok = len(v), a.GetDoubleData() != nil || a.GetData() == nil
		for _, x := range v {
			if x-x != 0 {
				return invalid("array field %s at row %d contains NaN or Inf", f.name, row)
			}
		}
	case schemapb.DataType_VarChar:
		v := a.GetStringData().GetData()
		n, ok = len(v), a.GetStringData() != nil || a.GetData() == nil
		for _, s := range v {
			if err := checkString(f.name, s, f.maxLen, row); err != nil {
				return err
			}
		}
	}
	if !ok {
		return invalid("array data of field %s at row %d has the wrong element type, expected %s", f.name, row, f.elem)
	}
	if n > f.maxCap {
		return invalid("array length exceeds max capacity, field name: %s, array length: %d, max capacity: %d", f.name, n, f.maxCap)
	}
	return nil
}

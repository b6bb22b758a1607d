package milvus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/merr"
)

// dynamicFieldName is the name of the hidden JSON column holding the
// dynamic fields of a row.
const dynamicFieldName = "$meta"

// restRow is one row of a REST insert: field name to raw JSON value.
type restRow = map[string]json.RawMessage

// decodeRows decodes the "data" member of a REST insert or upsert: an
// array of row objects, or a single row object.
func decodeRows(data json.RawMessage) ([]restRow, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		return nil, merr.Wrap(merr.ErrMissingRequiredParams, "data is required")
	}
	if data[0] == '{' {
		var row restRow
		if err := json.Unmarshal(data, &row); err != nil {
			return nil, merr.Wrapf(merr.ErrInvalidInsertData, "data must be a row object or an array of row objects: %s", describeJSONError(err, "data", nil))
		}
		return []restRow{row}, nil
	}
	var rows []restRow
	if err := json.Unmarshal(data, &rows); err != nil {
		return nil, merr.Wrapf(merr.ErrInvalidInsertData, "data must be a row object or an array of row objects: %s", describeJSONError(err, "data", nil))
	}
	if len(rows) == 0 {
		return nil, merr.Wrap(merr.ErrInvalidInsertData, "data holds no rows")
	}
	for i, r := range rows {
		if r == nil {
			return nil, merr.Wrapf(merr.ErrInvalidInsertData, "row %d is null", i)
		}
	}
	return rows, nil
}

// rowsToColumns converts REST rows into insert columns using the schema.
// JSON values are converted to the fields' types; keys that name no field
// go to the dynamic "$meta" column when the schema enables it. An
// auto-ID primary key is dropped unless keepAutoID (upsert needs it).
func rowsToColumns(schema *schemapb.CollectionSchema, rows []restRow, keepAutoID bool) ([]*schemapb.FieldData, error) {
	if len(rows) == 0 {
		return nil, merr.Wrap(merr.ErrInvalidInsertData, "no rows to insert")
	}
	known := map[string]bool{}
	var cols []*schemapb.FieldData
	for _, f := range schema.GetFields() {
		known[f.GetName()] = true
		if f.GetIsDynamic() || f.GetIsFunctionOutput() {
			continue
		}
		if f.GetIsPrimaryKey() && f.GetAutoID() && !keepAutoID {
			continue
		}
		col, err := buildColumn(f, rows)
		if err != nil {
			return nil, err
		}
		cols = append(cols, col)
	}
	extras := make([]map[string]json.RawMessage, len(rows))
	for i, r := range rows {
		for k, v := range r {
			if known[k] {
				continue
			}
			if !schema.GetEnableDynamicField() {
				return nil, merr.Wrapf(merr.ErrInvalidInsertData, "row %d: field %q is not in the schema and the dynamic field is disabled", i, k)
			}
			if extras[i] == nil {
				extras[i] = map[string]json.RawMessage{}
			}
			extras[i][k] = v
		}
	}
	if schema.GetEnableDynamicField() {
		data := make([][]byte, len(rows))
		for i, e := range extras {
			if e == nil {
				data[i] = []byte("{}")
				continue
			}
			b, err := json.Marshal(e)
			if err != nil {
				return nil, merr.Wrapf(merr.ErrInvalidInsertData, "row %d: dynamic fields: %v", i, err)
			}
			data[i] = b
		}
		cols = append(cols, &schemapb.FieldData{
			Type:      schemapb.DataType_JSON,
			FieldName: dynamicFieldName,
			IsDynamic: true,
			Field:     scalarField(&schemapb.ScalarField{Data: &schemapb.ScalarField_JsonData{JsonData: &schemapb.JSONArray{Data: data}}}),
		})
	}
	return cols, nil
}

func scalarField(sf *schemapb.ScalarField) *schemapb.FieldData_Scalars {
	return &schemapb.FieldData_Scalars{Scalars: sf}
}

// isNull reports whether a raw value is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// buildColumn builds the column of field f from rows.
func buildColumn(f *schemapb.FieldSchema, rows []restRow) (*schemapb.FieldData, error) {
	name := f.GetName()
	nullable := f.GetNullable() || f.GetDefaultValue() != nil
	var valid []bool
	if nullable {
		valid = make([]bool, len(rows))
	}
	fd := &schemapb.FieldData{Type: f.GetDataType(), FieldName: name, FieldId: f.GetFieldID()}
	// present returns the raw value of row i, or nil for a null that
	// the field allows.
	present := func(i int) (json.RawMessage, error) {
		raw, has := rows[i][name]
		if !has || isNull(raw) {
			if !nullable {
				return nil, merr.Wrapf(merr.ErrInvalidInsertData, "row %d: field %q is missing", i, name)
			}
			return nil, nil
		}
		if valid != nil {
			valid[i] = true
		}
		return raw, nil
	}
	wrap := func(i int, err error) error {
		return merr.Wrapf(merr.ErrInvalidInsertData, "row %d: field %q: %v", i, name, err)
	}
	n := len(rows)
	var sf *schemapb.ScalarField
	switch f.GetDataType() {
	case schemapb.DataType_Bool:
		data, err := parseColumn(n, present, wrap, jsonBool, false)
		if err != nil {
			return nil, err
		}
		sf = &schemapb.ScalarField{Data: &schemapb.ScalarField_BoolData{BoolData: &schemapb.BoolArray{Data: data}}}
	case schemapb.DataType_Int8, schemapb.DataType_Int16, schemapb.DataType_Int32:
		bits := map[schemapb.DataType]int{schemapb.DataType_Int8: 8, schemapb.DataType_Int16: 16, schemapb.DataType_Int32: 32}[f.GetDataType()]
		data, err := parseColumn(n, present, wrap, func(raw json.RawMessage) (int32, error) {
			v, err := jsonInt(raw, bits)
			return int32(v), err
		}, 0)
		if err != nil {
			return nil, err
		}
		sf = &schemapb.ScalarField{Data: &schemapb.ScalarField_IntData{IntData: &schemapb.IntArray{Data: data}}}
	case schemapb.DataType_Int64:
		data, err := parseColumn(n, present, wrap, func(raw json.RawMessage) (int64, error) { return jsonInt(raw, 64) }, 0)
		if err != nil {
			return nil, err
		}
		sf = &schemapb.ScalarField{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: data}}}
	case schemapb.DataType_Float:
		data, err := parseColumn(n, present, wrap, func(raw json.RawMessage) (float32, error) {
			v, err := jsonFloat(raw, 32)
			return float32(v), err
		}, 0)
		if err != nil {
			return nil, err
		}
		sf = &schemapb.ScalarField{Data: &schemapb.ScalarField_FloatData{FloatData: &schemapb.FloatArray{Data: data}}}
	case schemapb.DataType_Double:
		data, err := parseColumn(n, present, wrap, func(raw json.RawMessage) (float64, error) { return jsonFloat(raw, 64) }, 0)
		if err != nil {
			return nil, err
		}
		sf = &schemapb.ScalarField{Data: &schemapb.ScalarField_DoubleData{DoubleData: &schemapb.DoubleArray{Data: data}}}
	case schemapb.DataType_VarChar, schemapb.DataType_String:
		data, err := parseColumn(n, present, wrap, jsonString, "")
		if err != nil {
			return nil, err
		}
		sf = &schemapb.ScalarField{Data: &schemapb.ScalarField_StringData{StringData: &schemapb.StringArray{Data: data}}}
	case schemapb.DataType_JSON:
		data, err := parseColumn(n, present, wrap, func(raw json.RawMessage) ([]byte, error) {
			return append([]byte(nil), bytes.TrimSpace(raw)...), nil
		}, []byte{})
		if err != nil {
			return nil, err
		}
		sf = &schemapb.ScalarField{Data: &schemapb.ScalarField_JsonData{JsonData: &schemapb.JSONArray{Data: data}}}
	case schemapb.DataType_Array:
		elem := f.GetElementType()
		data, err := parseColumn(n, present, wrap, func(raw json.RawMessage) (*schemapb.ScalarField, error) {
			return jsonArray(raw, elem)
		}, nil)
		if err != nil {
			return nil, err
		}
		for i := range data {
			if data[i] == nil { // a null row: an empty array
				data[i] = &schemapb.ScalarField{}
			}
		}
		sf = &schemapb.ScalarField{Data: &schemapb.ScalarField_ArrayData{ArrayData: &schemapb.ArrayArray{Data: data, ElementType: elem}}}
	case schemapb.DataType_FloatVector:
		dim := fieldDim(f)
		var data []float32
		for i := range rows {
			raw, has := rows[i][name]
			if !has || isNull(raw) {
				return nil, merr.Wrapf(merr.ErrInvalidInsertData, "row %d: vector field %q is missing", i, name)
			}
			var v []float32
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, wrap(i, fmt.Errorf("not an array of float32: %s", describeJSONError(err, "the vector", nil)))
			}
			if dim == 0 {
				dim = len(v)
			}
			if len(v) != dim || dim == 0 {
				return nil, wrap(i, fmt.Errorf("vector has dim %d, want %d", len(v), dim))
			}
			if valid != nil {
				valid[i] = true
			}
			data = append(data, v...)
		}
		fd.Field = &schemapb.FieldData_Vectors{Vectors: &schemapb.VectorField{Dim: int64(dim), Data: &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{Data: data}}}}
	default:
		return nil, merr.Wrapf(merr.ErrInvalidInsertData, "field %q: data type %s is not supported by the REST API", name, f.GetDataType())
	}
	if sf != nil {
		fd.Field = scalarField(sf)
	}
	if valid != nil {
		fd.ValidData = valid
	}
	return fd, nil
}

// parseColumn parses the n values of a column: present(i) gives row i's raw
// value (nil for a null the field allows; that row gets null), parse
// converts it, and wrap names the row in a parse error.
func parseColumn[T any](n int, present func(int) (json.RawMessage, error), wrap func(int, error) error,
	parse func(json.RawMessage) (T, error), null T) ([]T, error) {
	out := make([]T, n)
	for i := range out {
		raw, err := present(i)
		if err != nil {
			return nil, err
		}
		if raw == nil {
			out[i] = null
			continue
		}
		if out[i], err = parse(raw); err != nil {
			return nil, wrap(i, err)
		}
	}
	return out, nil
}

func jsonBool(raw json.RawMessage) (bool, error) {
	switch string(bytes.TrimSpace(raw)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean: %s", truncate(raw))
}

// jsonInt parses a JSON integer that fits in bits. 64-bit integers may
// also be given as decimal strings (JavaScript cannot hold them exactly).
func jsonInt(raw json.RawMessage, bits int) (int64, error) {
	s := string(bytes.TrimSpace(raw))
	if bits == 64 && strings.HasPrefix(s, `"`) {
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return 0, fmt.Errorf("not an integer: %s", truncate(raw))
		}
		s = str
	}
	if v, err := strconv.ParseInt(s, 10, bits); err == nil {
		return v, nil
	}
	if !isJSONNumber(s) {
		return 0, fmt.Errorf("not an integer: %s", truncate(raw))
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("not an integer: %s", truncate(raw))
	}
	lim := math.Ldexp(1, bits-1)
	if f != math.Trunc(f) || f < -lim || f >= lim {
		return 0, fmt.Errorf("not an integer of %d bits: %s", bits, truncate(raw))
	}
	return int64(f), nil
}

// jsonFloat parses a JSON number as a float of the given bit size.
func jsonFloat(raw json.RawMessage, bits int) (float64, error) {
	s := string(bytes.TrimSpace(raw))
	if !isJSONNumber(s) {
		return 0, fmt.Errorf("not a number: %s", truncate(raw))
	}
	v, err := strconv.ParseFloat(s, bits)
	if err != nil {
		return 0, fmt.Errorf("not a float%d: %s", bits, truncate(raw))
	}
	return v, nil
}

// isJSONNumber reports whether s is a JSON number literal.
func isJSONNumber(s string) bool {
	if s == "" || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) {
		return false
	}
	return json.Valid([]byte(s))
}

func jsonString(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("not a string: %s", truncate(raw))
	}
	return s, nil
}

// jsonArray converts a JSON array into an Array field value.
func jsonArray(raw json.RawMessage, elem schemapb.DataType) (*schemapb.ScalarField, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("not an array: %s", truncate(raw))
	}
	var err error
	switch elem {
	case schemapb.DataType_Bool:
		data := make([]bool, len(items))
		for i, it := range items {
			if data[i], err = jsonBool(it); err != nil {
				return nil, err
			}
		}
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_BoolData{BoolData: &schemapb.BoolArray{Data: data}}}, nil
	case schemapb.DataType_Int8, schemapb.DataType_Int16, schemapb.DataType_Int32:
		bits := map[schemapb.DataType]int{schemapb.DataType_Int8: 8, schemapb.DataType_Int16: 16, schemapb.DataType_Int32: 32}[elem]
		data := make([]int32, len(items))
		for i, it := range items {
			v, err := jsonInt(it, bits)
			if err != nil {
				return nil, err
			}
			data[i] = int32(v)
		}
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_IntData{IntData: &schemapb.IntArray{Data: data}}}, nil
	case schemapb.DataType_Int64:
		data := make([]int64, len(items))
		for i, it := range items {
			if data[i], err = jsonInt(it, 64); err != nil {
				return nil, err
			}
		}
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: data}}}, nil
	case schemapb.DataType_Float:
		data := make([]float32, len(items))
		for i, it := range items {
			v, err := jsonFloat(it, 32)
			if err != nil {
				return nil, err
			}
			data[i] = float32(v)
		}
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_FloatData{FloatData: &schemapb.FloatArray{Data: data}}}, nil
	case schemapb.DataType_Double:
		data := make([]float64, len(items))
		for i, it := range items {
			if data[i], err = jsonFloat(it, 64); err != nil {
				return nil, err
			}
		}
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_DoubleData{DoubleData: &schemapb.DoubleArray{Data: data}}}, nil
	case schemapb.DataType_VarChar, schemapb.DataType_String:
		data := make([]string, len(items))
		for i, it := range items {
			if data[i], err = jsonString(it); err != nil {
				return nil, err
			}
		}
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_StringData{StringData: &schemapb.StringArray{Data: data}}}, nil
	}
	return nil, fmt.Errorf("array element type %s is not supported", elem)
}

// truncate shortens a raw value for error messages.
func truncate(raw json.RawMessage) string {
	const n = 64
	if len(raw) > n {
		return string(raw[:n]) + "..."
	}
	return string(raw)
}

// fieldLen is the number of rows in a column.
func fieldLen(fd *schemapb.FieldData) int {
	if n := len(fd.GetValidData()); n > 0 {
		return n
	}
	if v := fd.GetVectors(); v != nil {
		dim := int(v.GetDim())
		if fv := v.GetFloatVector(); fv != nil && dim > 0 {
			return len(fv.GetData()) / dim
		}
		return 0
	}
	sc := fd.GetScalars()
	switch {
	case sc.GetBoolData() != nil:
		return len(sc.GetBoolData().GetData())
	case sc.GetIntData() != nil:
		return len(sc.GetIntData().GetData())
	case sc.GetLongData() != nil:
		return len(sc.GetLongData().GetData())
	case sc.GetFloatData() != nil:
		return len(sc.GetFloatData().GetData())
	case sc.GetDoubleData() != nil:
		return len(sc.GetDoubleData().GetData())
	case sc.GetStringData() != nil:
		return len(sc.GetStringData().GetData())
	case sc.GetJsonData() != nil:
		return len(sc.GetJsonData().GetData())
	case sc.GetArrayData() != nil:
		return len(sc.GetArrayData().GetData())
	}
	return 0
}

// rowIndex maps row i of a column to its index in the data arrays, which
// may hold only the valid (non-null) values. null reports a null value.
func rowIndex(fd *schemapb.FieldData, i, dataLen int) (idx int, null bool) {
	valid := fd.GetValidData()
	if len(valid) == 0 {
		return i, false
	}
	if i >= len(valid) || !valid[i] {
		return 0, true
	}
	if dataLen >= len(valid) {
		return i, false
	}
	n := 0
	for j := 0; j < i; j++ {
		if valid[j] {
			n++
		}
	}
	return n, false
}

// fieldValue is the JSON-encodable value of row i of a column.
func fieldValue(fd *schemapb.FieldData, i int) (any, error) {
	oob := func() (any, error) {
		return nil, merr.Wrapf(merr.ErrServiceInternal, "result column %q has no row %d", fd.GetFieldName(), i)
	}
	if v := fd.GetVectors(); v != nil {
		fv := v.GetFloatVector()
		dim := int(v.GetDim())
		if fv == nil {
			return nil, merr.Wrapf(merr.ErrOperationNotSupported, "vector column %q: only FloatVector is supported", fd.GetFieldName())
		}
		idx, null := rowIndex(fd, i, len(fv.GetData())/max(dim, 1))
		if null {
			return nil, nil
		}
		if dim <= 0 || (idx+1)*dim > len(fv.GetData()) {
			return oob()
		}
		return fv.GetData()[idx*dim : (idx+1)*dim], nil
	}
	sc := fd.GetScalars()
	pick := func(n int) (int, bool, bool) {
		idx, null := rowIndex(fd, i, n)
		return idx, null, !null && idx >= n
	}
	switch {
	case sc.GetBoolData() != nil:
		d := sc.GetBoolData().GetData()
		idx, null, bad := pick(len(d))
		if null {
			return nil, nil
		} else if bad {
			return oob()
		}
		return d[idx], nil
	case sc.GetIntData() != nil:
		d := sc.GetIntData().GetData()
		idx, null, bad := pick(len(d))
		if null {
			return nil, nil
		} else if bad {
			return oob()
		}
		return d[idx], nil
	case sc.GetLongData() != nil:
		d := sc.GetLongData().GetData()
		idx, null, bad := pick(len(d))
		if null {
			return nil, nil
		} else if bad {
			return oob()
		}
		return d[idx], nil
	case sc.GetFloatData() != nil:
		d := sc.GetFloatData().GetData()
		idx, null, bad := pick(len(d))
		if null {
			return nil, nil
		} else if bad {
			return oob()
		}
		return jsonSafeFloat(float64(d[idx]), 32), nil
	case sc.GetDoubleData() != nil:
		d := sc.GetDoubleData().GetData()
		idx, null, bad := pick(len(d))
		if null {
			return nil, nil
		} else if bad {
			return oob()
		}
		return jsonSafeFloat(d[idx], 64), nil
	case sc.GetStringData() != nil:
		d := sc.GetStringData().GetData()
		idx, null, bad := pick(len(d))
		if null {
			return nil, nil
		} else if bad {
			return oob()
		}
		return d[idx], nil
	case sc.GetJsonData() != nil:
		d := sc.GetJsonData().GetData()
		idx, null, bad := pick(len(d))
		if null {
			return nil, nil
		} else if bad {
			return oob()
		}
		if len(d[idx]) == 0 {
			return nil, nil
		}
		if json.Valid(d[idx]) {
			return json.RawMessage(d[idx]), nil
		}
		return string(d[idx]), nil
	case sc.GetArrayData() != nil:
		d := sc.GetArrayData().GetData()
		idx, null, bad := pick(len(d))
		if null {
			return nil, nil
		} else if bad {
			return oob()
		}
		return scalarValues(d[idx]), nil
	}
	return nil, nil
}

// jsonSafeFloat keeps NaN and infinities (which JSON cannot encode) as
// strings; other values are returned as float32/float64.
func jsonSafeFloat(v float64, bits int) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'g', -1, bits)
	}
	if bits == 32 {
		return float32(v)
	}
	return v
}

// scalarValues returns the values of an Array element as a slice.
func scalarValues(sc *schemapb.ScalarField) any {
	switch {
	case sc.GetBoolData() != nil:
		return sc.GetBoolData().GetData()
	case sc.GetIntData() != nil:
		return sc.GetIntData().GetData()
	case sc.GetLongData() != nil:
		return sc.GetLongData().GetData()
	case sc.GetFloatData() != nil:
		d := sc.GetFloatData().GetData()
		out := make([]any, len(d))
		for i, v := range d {
			out[i] = jsonSafeFloat(float64(v), 32)
		}
		return out
	case sc.GetDoubleData() != nil:
		d := sc.GetDoubleData().GetData()
		out := make([]any, len(d))
		for i, v := range d {
			out[i] = jsonSafeFloat(v, 64)
		}
		return out
	case sc.GetStringData() != nil:
		return sc.GetStringData().GetData()
	}
	return []any{}
}

// columnsToRows turns result columns into n JSON rows. The dynamic
// "$meta" column is spread into each row's top level, restricted to the
// requested output fields unless they include "*" or "$meta".
func columnsToRows(cols []*schemapb.FieldData, n int, outputFields []string) ([]map[string]any, error) {
	allDynamic := len(outputFields) == 0
	wanted := map[string]bool{}
	for _, f := range outputFields {
		if f == "*" || f == dynamicFieldName {
			allDynamic = true
		}
		wanted[f] = true
	}
	rows := make([]map[string]any, n)
	for i := range rows {
		rows[i] = make(map[string]any, len(cols))
	}
	for _, c := range cols {
		dynamic := c.GetIsDynamic() || (c.GetFieldName() == dynamicFieldName && c.GetType() == schemapb.DataType_JSON)
		for i := 0; i < n; i++ {
			if !dynamic {
				v, err := fieldValue(c, i)
				if err != nil {
					return nil, err
				}
				rows[i][c.GetFieldName()] = v
				continue
			}
			d := c.GetScalars().GetJsonData().GetData()
			idx, null := rowIndex(c, i, len(d))
			if null || idx >= len(d) || len(d[idx]) == 0 {
				continue
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(d[idx], &m); err != nil {
				continue
			}
			for k, v := range m {
				if _, taken := rows[i][k]; taken {
					continue
				}
				if allDynamic || wanted[k] {
					rows[i][k] = v
				}
			}
		}
	}
	return rows, nil
}

// idsValues returns the primary keys as a JSON-encodable slice.
func idsValues(ids *schemapb.IDs) any {
	if s := ids.GetStrId(); s != nil {
		return s.GetData()
	}
	if d := ids.GetIntId().GetData(); d != nil {
		return d
	}
	return []int64{}
}

// idAt is the JSON value of the i-th primary key.
func idAt(ids *schemapb.IDs, i int) any {
	if s := ids.GetStrId().GetData(); i < len(s) {
		return s[i]
	}
	if d := ids.GetIntId().GetData(); i < len(d) {
		return d[i]
	}
	return nil
}

// quoteExprString quotes s as a string literal of the Milvus expression
// language.
func quoteExprString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// pkFilter builds "pk in [...]" from a REST "id" value: one ID or a list.
func pkFilter(pk *schemapb.FieldSchema, raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return "", merr.Wrap(merr.ErrMissingRequiredParams, "id is required")
	}
	items := []json.RawMessage{raw}
	if raw[0] == '[' {
		items = nil
		if err := json.Unmarshal(raw, &items); err != nil {
			return "", merr.InvalidParam("id must be a primary key or a list of them: %s", describeJSONError(err, "id", nil))
		}
	}
	parts := make([]string, 0, len(items))
	for _, it := range items {
		switch pk.GetDataType() {
		case schemapb.DataType_Int64:
			v, err := jsonInt(it, 64)
			if err != nil {
				return "", merr.InvalidParam("id: %v", err)
			}
			parts = append(parts, strconv.FormatInt(v, 10))
		case schemapb.DataType_VarChar, schemapb.DataType_String:
			v, err := jsonString(it)
			if err != nil {
				return "", merr.InvalidParam("id: %v", err)
			}
			parts = append(parts, quoteExprString(v))
		default:
			return "", merr.Wrap(merr.ErrCheckPrimaryKey, "")
		}
	}
	return pk.GetName() + " in [" + strings.Join(parts, ",") + "]", nil
}

// primaryField returns the schema's primary key field.
func primaryField(schema *schemapb.CollectionSchema) *schemapb.FieldSchema {
	for _, f := range schema.GetFields() {
		if f.GetIsPrimaryKey() {
			return f
		}
	}
	return nil
}

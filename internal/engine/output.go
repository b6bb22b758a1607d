package engine

import (
	"bytes"
	"encoding/json"
	"slices"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/merr"
)

// outputSpec is a resolved output_fields list.
type outputSpec struct {
	names    []string // echoed as OutputFields: static names, "$meta", dynamic keys
	fields   []int    // static fields to output, in schema order
	wholeDyn bool     // output the whole "$meta" column
	dynKeys  []string // output "$meta" filtered to these keys (if !wholeDyn)
}

// resolveOutput applies Milvus's output_fields rules: "*" means every field
// (vectors and "$meta" included); "$meta" the whole dynamic column; a name
// that is not a field is, in a dynamic collection, a dynamic key (output
// inside the "$meta" column), else an error. withPK adds the primary key.
func resolveOutput(c *collection, req []string, withPK bool) (outputSpec, error) {
	var sp outputSpec
	want := make([]bool, len(c.fields))
	if withPK {
		want[c.pk] = true
	}
	for _, name := range req {
		switch {
		case name == "*":
			for i := range c.fields {
				if c.fields[i].isDyn {
					sp.wholeDyn = true
				} else {
					want[i] = true
				}
			}
		case name == dynamicField && c.dyn >= 0:
			sp.wholeDyn = true
		default:
			if i, ok := c.field(name); ok {
				want[i] = true
				continue
			}
			if c.dyn < 0 || name == "" {
				return sp, merr.Wrap(merr.ErrFieldNotFound, "field "+name+" not exist", "field", name)
			}
			if !slices.Contains(sp.dynKeys, name) {
				sp.dynKeys = append(sp.dynKeys, name)
			}
		}
	}
	for i := range c.fields {
		if want[i] {
			sp.fields = append(sp.fields, i)
			sp.names = append(sp.names, c.fields[i].name)
		}
	}
	if sp.wholeDyn {
		sp.names = append(sp.names, dynamicField)
	} else {
		sp.names = append(sp.names, sp.dynKeys...)
	}
	return sp, nil
}

// rowRef is one result row: a snapshot index and a row within it.
type rowRef struct {
	snap int32
	row  int32
}

// buildOutput gathers the output columns for rows, in row order.
func buildOutput(c *collection, sp outputSpec, snaps []segSnap, rows []rowRef) []*schemapb.FieldData {
	out := make([]*schemapb.FieldData, 0, len(sp.fields)+1)
	for _, fi := range sp.fields {
		out = append(out, gatherField(c, fi, snaps, rows, nil))
	}
	if c.dyn >= 0 && (sp.wholeDyn || len(sp.dynKeys) > 0) {
		var keys []string
		if !sp.wholeDyn {
			keys = sp.dynKeys
		}
		out = append(out, gatherField(c, c.dyn, snaps, rows, keys))
	}
	return out
}

// gatherField builds field fi's FieldData for rows. For the dynamic field,
// keys (if non-nil) filters each JSON object to those keys.
func gatherField(c *collection, fi int, snaps []segSnap, rows []rowRef, keys []string) *schemapb.FieldData {
	f := &c.fields[fi]
	fd := &schemapb.FieldData{Type: f.typ, FieldName: f.name, FieldId: f.id, IsDynamic: f.isDyn}
	if f.isVector && f.typ != schemapb.DataType_FloatVector {
		data := make([]byte, 0, len(rows)*vecRowBytes(f.typ, f.dim))
		for _, r := range rows {
			ss := &snaps[r.snap]
			data = ss.cols[fi].appendRowBytes(data, ss.chunkRows, int(r.row))
		}
		vf := &schemapb.VectorField{Dim: int64(f.dim)}
		switch f.typ {
		case schemapb.DataType_BinaryVector:
			vf.Data = &schemapb.VectorField_BinaryVector{BinaryVector: data}
		case schemapb.DataType_Float16Vector:
			vf.Data = &schemapb.VectorField_Float16Vector{Float16Vector: data}
		case schemapb.DataType_BFloat16Vector:
			vf.Data = &schemapb.VectorField_Bfloat16Vector{Bfloat16Vector: data}
		case schemapb.DataType_Int8Vector:
			vf.Data = &schemapb.VectorField_Int8Vector{Int8Vector: data}
		}
		fd.Field = &schemapb.FieldData_Vectors{Vectors: vf}
		return fd
	}
	if f.isVector {
		data := make([]float32, 0, len(rows)*f.dim)
		for _, r := range rows {
			ss := &snaps[r.snap]
			data = append(data, ss.cols[fi].vector(ss.chunkRows, int(r.row))...)
		}
		fd.Field = &schemapb.FieldData_Vectors{Vectors: &schemapb.VectorField{
			Dim: int64(f.dim), Data: &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{Data: data}},
		}}
		return fd
	}
	sc := &schemapb.ScalarField{}
	switch f.typ {
	case schemapb.DataType_Bool:
		sc.Data = &schemapb.ScalarField_BoolData{BoolData: &schemapb.BoolArray{Data: gather[bool](fi, snaps, rows)}}
	case schemapb.DataType_Int8:
		sc.Data = &schemapb.ScalarField_IntData{IntData: &schemapb.IntArray{Data: widen(gather[int8](fi, snaps, rows))}}
	case schemapb.DataType_Int16:
		sc.Data = &schemapb.ScalarField_IntData{IntData: &schemapb.IntArray{Data: widen(gather[int16](fi, snaps, rows))}}
	case schemapb.DataType_Int32:
		sc.Data = &schemapb.ScalarField_IntData{IntData: &schemapb.IntArray{Data: gather[int32](fi, snaps, rows)}}
	case schemapb.DataType_Int64:
		sc.Data = &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: gather[int64](fi, snaps, rows)}}
	case schemapb.DataType_Float:
		sc.Data = &schemapb.ScalarField_FloatData{FloatData: &schemapb.FloatArray{Data: gather[float32](fi, snaps, rows)}}
	case schemapb.DataType_Double:
		sc.Data = &schemapb.ScalarField_DoubleData{DoubleData: &schemapb.DoubleArray{Data: gather[float64](fi, snaps, rows)}}
	case schemapb.DataType_VarChar:
		sc.Data = &schemapb.ScalarField_StringData{StringData: &schemapb.StringArray{Data: gather[string](fi, snaps, rows)}}
	case schemapb.DataType_JSON:
		docs := gather[[]byte](fi, snaps, rows)
		if keys != nil {
			for i, d := range docs {
				docs[i] = filterJSON(d, keys)
			}
		}
		sc.Data = &schemapb.ScalarField_JsonData{JsonData: &schemapb.JSONArray{Data: docs}}
	case schemapb.DataType_Array:
		sc.Data = &schemapb.ScalarField_ArrayData{ArrayData: &schemapb.ArrayArray{
			Data: gather[*schemapb.ScalarField](fi, snaps, rows), ElementType: f.elem,
		}}
	}
	fd.Field = &schemapb.FieldData_Scalars{Scalars: sc}
	if f.nullable {
		// Milvus returns nullable columns in full (a zero value at a
		// null row) with one validity flag per row.
		fd.ValidData = make([]bool, len(rows))
		for i, r := range rows {
			if v := snaps[r.snap].cols[fi].valid; v != nil {
				fd.ValidData[i] = v[r.row]
			} else {
				fd.ValidData[i] = true
			}
		}
	}
	return fd
}

func gather[T any](fi int, snaps []segSnap, rows []rowRef) []T {
	out := make([]T, len(rows))
	for i, r := range rows {
		out[i] = snaps[r.snap].cols[fi].data.([]T)[r.row]
	}
	return out
}

func widen[T int8 | int16](v []T) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}

// filterJSON returns the JSON object doc reduced to keys (Milvus outputs
// requested dynamic keys this way).
func filterJSON(doc []byte, keys []string) []byte {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		return []byte("{}")
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	for _, k := range keys {
		v, ok := m[k]
		if !ok {
			continue
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

// pkIDs returns the primary keys of rows as schemapb.IDs.
func pkIDs(c *collection, snaps []segSnap, rows []rowRef) *schemapb.IDs {
	if c.fields[c.pk].typ == schemapb.DataType_Int64 {
		return &schemapb.IDs{IdField: &schemapb.IDs_IntId{IntId: &schemapb.LongArray{Data: gather[int64](c.pk, snaps, rows)}}}
	}
	return &schemapb.IDs{IdField: &schemapb.IDs_StrId{StrId: &schemapb.StringArray{Data: gather[string](c.pk, snaps, rows)}}}
}

package engine

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"
)

// colData is the values of one field for a batch of rows, as a typed Go
// slice. The slice type per field type is:
//
//	Bool []bool, Int8 []int8, Int16 []int16, Int32 []int32, Int64 []int64,
//	Float []float32, Double []float64, VarChar []string, JSON [][]byte,
//	Array []*schemapb.ScalarField, FloatVector []float32 (n*dim, row-major),
//	BinaryVector, Float16Vector, BFloat16Vector, Int8Vector []byte (n rows
//	of compact bytes, row-major; see vectypes.go).
//
// The same representation is used by records, segment columns and the
// expression evaluator (expr.Source), so no conversion happens between them.
type colData struct {
	fieldID int64
	typ     schemapb.DataType
	dim     int // vector types only
	data    any
	// valid is the validity of a nullable column's rows (false = null;
	// the value slot then holds the type's zero value, a nil JSON
	// document or a nil array). nil: every row has a value.
	valid []bool
}

// Column encoding (inside insert/upsert records and segment files):
//
//	i64 fieldID, u8 type, then by type (n = the record's row count):
//	Bool/Int8: n bytes; Int16: 2n; Int32/Float: 4n; Int64/Double: 8n
//	VarChar, JSON: n × (uv length, bytes)
//	Array: n × (uv length, deterministic proto of schemapb.ScalarField)
//	FloatVector: u32 dim, zero padding to a 4-byte boundary of the
//	  enclosing buffer, n*dim raw little-endian float32s.
//	BinaryVector, Float16Vector, BFloat16Vector, Int8Vector: u32 dim, then
//	  n rows of compact bytes (dim/8, 2*dim, 2*dim, dim bytes a row), no
//	  padding.
//
// A column with null rows (colData.valid set) is written as
//
//	i64 fieldID, u8 255 (colNullable), u8 type, ceil(n/8) bytes validity
//	bitmap (bit i%8 of byte i/8 set = row i has a value), then the values
//	as above, null rows holding the zero value (empty JSON, empty array).
//
// 255 is no DataType, so columns written before nullable fields existed
// decode unchanged.

// colNullable is the type byte announcing a validity bitmap.
const colNullable = 255

//	BinaryVector, Float16Vector, BFloat16Vector, Int8Vector: u32 dim, then
//	  n rows of compact bytes (dim/8, 2*dim, 2*dim, dim bytes a row), no
//	  padding.

// encodeCol appends c's n values to w.
func encodeCol(w *enc, c colData, n int) error {
	w.i64(c.fieldID)
	if c.valid != nil {
		w.u8(colNullable)
		w.u8(uint8(c.typ))
		bm := make([]byte, (n+7)/8)
		for i, ok := range c.valid[:n] {
			if ok {
				bm[i/8] |= 1 << (i % 8)
			}
		}
		w.b = append(w.b, bm...)
	} else {
		w.u8(uint8(c.typ))
	}
	switch v := c.data.(type) {
	case []bool:
		for _, x := range v[:n] {
			w.bool(x)
		}
	case []int8:
		for _, x := range v[:n] {
			w.u8(uint8(x))
		}
	case []int16:
		for _, x := range v[:n] {
			w.b = append(w.b, byte(x), byte(uint16(x)>>8))
		}
	case []int32:
		for _, x := range v[:n] {
			w.u32(uint32(x))
		}
	case []int64:
		for _, x := range v[:n] {
			w.u64(uint64(x))
		}
	case []float32:
		if c.typ == schemapb.DataType_FloatVector {
			w.u32(uint32(c.dim))
			w.align4()
			w.f32s(v[:n*c.dim])
		} else {
			for _, x := range v[:n] {
				w.u32(math.Float32bits(x))
			}
		}
	case []float64:
		for _, x := range v[:n] {
			w.u64(math.Float64bits(x))
		}
	case []string:
		for _, x := range v[:n] {
			w.str(x)
		}
	case [][]byte:
		for _, x := range v[:n] {
			w.bytes(x)
		}
	case []byte:
		w.u32(uint32(c.dim))
		w.b = append(w.b, v[:n*vecRowBytes(c.typ, c.dim)]...)
	case []*schemapb.ScalarField:
		for _, x := range v[:n] {
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(x)
			if err != nil {
				return fmt.Errorf("engine: encode array: %w", err)
			}
			w.bytes(b)
		}
	default:
		return fmt.Errorf("engine: encode column of field %d: unsupported data %T", c.fieldID, c.data)
	}
	return nil
}

// encodedColSize returns an upper bound of encodeCol's output for c's n
// rows (so payload buffers are allocated once).
func encodedColSize(c colData, n int) int {
	hdr := 8 + 1 + 4 + 3 // field ID, type, dim, alignment
	if c.valid != nil {
		hdr += 1 + (n+7)/8
	}
	switch v := c.data.(type) {
	case []bool, []int8:
		return hdr + n
	case []int16:
		return hdr + 2*n
	case []int32:
		return hdr + 4*n
	case []int64, []float64:
		return hdr + 8*n
	case []float32:
		if c.typ == schemapb.DataType_FloatVector {
			return hdr + 4*n*c.dim
		}
		return hdr + 4*n
	case []string:
		size := hdr
		for _, x := range v[:n] {
			size += len(x) + binary.MaxVarintLen64
		}
		return size
	case [][]byte:
		size := hdr
		for _, x := range v[:n] {
			size += len(x) + binary.MaxVarintLen64
		}
		return size
	case []*schemapb.ScalarField:
		size := hdr
		for _, x := range v[:n] {
			size += proto.Size(x) + binary.MaxVarintLen64
		}
		return size
	case []byte:
		return hdr + n*vecRowBytes(c.typ, c.dim)
	}
	return hdr
}

// decodeCol reads one column of n rows. Vector data may alias r's input.
func decodeCol(r *dec, n int) colData {
	c := colData{fieldID: r.i64(), typ: schemapb.DataType(r.u8())}
	if r.err != nil {
		return c
	}
	if c.typ == colNullable {
		c.typ = schemapb.DataType(r.u8())
		bm := r.raw((n + 7) / 8)
		if r.err != nil {
			return c
		}
		c.valid = make([]bool, n)
		for i := range c.valid {
			c.valid[i] = bm[i/8]&(1<<(i%8)) != 0
		}
		if c.typ == schemapb.DataType_FloatVector {
			r.fail("nullable vector column")
			return c
		}
	}
	c = decodeColData(r, n, c)
	if c.valid != nil && r.err == nil {
		nullRows(c.data, c.valid)
	}
	return c
}

// nullRows sets the JSON and Array values of null rows to nil.
func nullRows(data any, valid []bool) {
	switch v := data.(type) {
	case [][]byte:
		for i, ok := range valid {
			if !ok {
				v[i] = nil
			}
		}
	case []*schemapb.ScalarField:
		for i, ok := range valid {
			if !ok {
				v[i] = nil
			}
		}
	}
}

func decodeColData(r *dec, n int, c colData) colData {
	switch c.typ {
	case schemapb.DataType_Bool:
		b := r.raw(n)
		v := make([]bool, len(b))
		for i, x := range b {
			v[i] = x != 0
		}
		c.data = v
	case schemapb.DataType_Int8:
		b := r.raw(n)
		v := make([]int8, len(b))
		for i, x := range b {
			v[i] = int8(x)
		}
		c.data = v
	case schemapb.DataType_Int16:
		b := r.raw(2 * n)
		v := make([]int16, len(b)/2)
		for i := range v {
			v[i] = int16(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
		}
		c.data = v
	case schemapb.DataType_Int32:
		if !r.need(4*n, "int32 column") {
			return c
		}
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(r.u32())
		}
		c.data = v
	case schemapb.DataType_Int64:
		if !r.need(8*n, "int64 column") {
			return c
		}
		v := make([]int64, n)
		for i := range v {
			v[i] = r.i64()
		}
		c.data = v
	case schemapb.DataType_Float:
		if !r.need(4*n, "float column") {
			return c
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(r.u32())
		}
		c.data = v
	case schemapb.DataType_Double:
		if !r.need(8*n, "double column") {
			return c
		}
		v := make([]float64, n)
		for i := range v {
			v[i] = math.Float64frombits(r.u64())
		}
		c.data = v
	case schemapb.DataType_VarChar, schemapb.DataType_String:
		if !r.need(n, "string column") {
			return c
		}
		v := make([]string, n)
		for i := range v {
			v[i] = r.str()
		}
		c.data = v
	case schemapb.DataType_JSON:
		if !r.need(n, "json column") {
			return c
		}
		v := make([][]byte, n)
		for i := range v {
			// Copy: JSON docs are kept by segments, and must not pin the
			// whole record payload.
			v[i] = append([]byte(nil), r.bytes()...)
		}
		c.data = v
	case schemapb.DataType_Array:
		if !r.need(n, "array column") {
			return c
		}
		v := make([]*schemapb.ScalarField, n)
		for i := range v {
			b := r.bytes()
			if r.err != nil {
				return c
			}
			sf := &schemapb.ScalarField{}
			if err := proto.Unmarshal(b, sf); err != nil {
				r.fail("array value: " + err.Error())
				return c
			}
			v[i] = sf
		}
		c.data = v
	case schemapb.DataType_FloatVector:
		c.dim = int(r.u32())
		r.align4()
		if r.err == nil && (c.dim <= 0 || c.dim > maxDim) {
			r.fail("vector dim")
			return c
		}
		if n > 0 && c.dim > (len(r.b)-r.off)/4/n {
			r.fail("vector data")
			return c
		}
		c.data = r.f32s(n * c.dim)
	case schemapb.DataType_BinaryVector, schemapb.DataType_Float16Vector, schemapb.DataType_BFloat16Vector,
		schemapb.DataType_Int8Vector:
		c.dim = int(r.u32())
		if r.err == nil && (c.dim <= 0 || c.dim > maxDim || vecRowBytes(c.typ, c.dim) == 0) {
			r.fail("vector dim")
			return c
		}
		rb := vecRowBytes(c.typ, c.dim)
		if n > 0 && rb > (len(r.b)-r.off)/n {
			r.fail("vector data")
			return c
		}
		c.data = r.raw(n * rb)
	default:
		r.fail(fmt.Sprintf("column type %d", c.typ))
	}
	return c
}

// dataLen returns the number of rows in a typed column slice (for vectors,
// the number of floats).
func dataLen(data any) int {
	switch v := data.(type) {
	case []bool:
		return len(v)
	case []int8:
		return len(v)
	case []int16:
		return len(v)
	case []int32:
		return len(v)
	case []int64:
		return len(v)
	case []float32:
		return len(v)
	case []float64:
		return len(v)
	case []string:
		return len(v)
	case [][]byte:
		return len(v)
	case []*schemapb.ScalarField:
		return len(v)
	case []byte:
		return len(v)
	}
	return 0
}

// appendData appends src[lo:hi] to dst (same slice type; dst may be nil)
// and returns the result.
func appendData(dst, src any, lo, hi int) any {
	switch s := src.(type) {
	case []bool:
		d, _ := dst.([]bool)
		return append(d, s[lo:hi]...)
	case []int8:
		d, _ := dst.([]int8)
		return append(d, s[lo:hi]...)
	case []int16:
		d, _ := dst.([]int16)
		return append(d, s[lo:hi]...)
	case []int32:
		d, _ := dst.([]int32)
		return append(d, s[lo:hi]...)
	case []int64:
		d, _ := dst.([]int64)
		return append(d, s[lo:hi]...)
	case []float32:
		d, _ := dst.([]float32)
		return append(d, s[lo:hi]...)
	case []float64:
		d, _ := dst.([]float64)
		return append(d, s[lo:hi]...)
	case []string:
		d, _ := dst.([]string)
		return append(d, s[lo:hi]...)
	case [][]byte:
		d, _ := dst.([][]byte)
		return append(d, s[lo:hi]...)
	case []*schemapb.ScalarField:
		d, _ := dst.([]*schemapb.ScalarField)
		return append(d, s[lo:hi]...)
	case []byte:
		d, _ := dst.([]byte)
		return append(d, s[lo:hi]...)
	}
	return dst
}

// sliceData returns data[:n] (the column's first n rows).
func sliceData(data any, n int) any {
	switch v := data.(type) {
	case []bool:
		return v[:n:n]
	case []int8:
		return v[:n:n]
	case []int16:
		return v[:n:n]
	case []int32:
		return v[:n:n]
	case []int64:
		return v[:n:n]
	case []float32:
		return v[:n:n]
	case []float64:
		return v[:n:n]
	case []string:
		return v[:n:n]
	case [][]byte:
		return v[:n:n]
	case []*schemapb.ScalarField:
		return v[:n:n]
	case []byte:
		return v[:n:n]
	}
	return nil
}

// emptyData returns an empty slice of the Go type used for field type t.
func emptyData(t schemapb.DataType) any {
	switch t {
	case schemapb.DataType_Bool:
		return []bool{}
	case schemapb.DataType_Int8:
		return []int8{}
	case schemapb.DataType_Int16:
		return []int16{}
	case schemapb.DataType_Int32:
		return []int32{}
	case schemapb.DataType_Int64:
		return []int64{}
	case schemapb.DataType_Float, schemapb.DataType_FloatVector:
		return []float32{}
	case schemapb.DataType_Double:
		return []float64{}
	case schemapb.DataType_VarChar, schemapb.DataType_String:
		return []string{}
	case schemapb.DataType_JSON:
		return [][]byte{}
	case schemapb.DataType_Array:
		return []*schemapb.ScalarField{}
	case schemapb.DataType_BinaryVector, schemapb.DataType_Float16Vector, schemapb.DataType_BFloat16Vector,
		schemapb.DataType_Int8Vector:
		return []byte{}
	}
	return nil
}

// encodeValue appends the value at row i of a scalar column to w (used by
// the state digest).
func encodeValue(w *enc, data any, i int) {
	switch v := data.(type) {
	case []bool:
		w.bool(v[i])
	case []int8:
		w.u8(uint8(v[i]))
	case []int16:
		w.u32(uint32(v[i]))
	case []int32:
		w.u32(uint32(v[i]))
	case []int64:
		w.i64(v[i])
	case []float32:
		w.u32(math.Float32bits(v[i]))
	case []float64:
		w.u64(math.Float64bits(v[i]))
	case []string:
		w.str(v[i])
	case [][]byte:
		w.bytes(v[i])
	case []*schemapb.ScalarField:
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(v[i])
		w.bytes(b)
	}
}

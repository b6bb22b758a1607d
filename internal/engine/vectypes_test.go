package engine

import (
	"encoding/binary"
	"math"
	"math/rand"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

// Every finite half and bfloat16 survives bytes -> float32 -> bytes.
func TestHalfRoundTrip(t *testing.T) {
	for _, typ := range []schemapb.DataType{schemapb.DataType_Float16Vector, schemapb.DataType_BFloat16Vector} {
		for u := 0; u < 1<<16; u++ {
			b := binary.LittleEndian.AppendUint16(nil, uint16(u))
			if checkHalfFinite(typ, b) >= 0 {
				continue
			}
			f := make([]float32, 1)
			bytesToFloats(typ, b, f)
			if math.IsNaN(float64(f[0])) || math.IsInf(float64(f[0]), 0) {
				t.Fatalf("%v %#x decodes to %v", typ, u, f[0])
			}
			back := appendFloatsAsBytes(typ, nil, f)
			if binary.LittleEndian.Uint16(back) != uint16(u) {
				t.Fatalf("%v %#x -> %v -> %#x", typ, u, f[0], binary.LittleEndian.Uint16(back))
			}
		}
	}
	if f16ToF32(0x3c00) != 1 || f16ToF32(0xc000) != -2 || f32ToF16(0.5) != 0x3800 {
		t.Fatal("known half values")
	}
	for i := -128; i < 128; i++ {
		f := make([]float32, 1)
		bytesToFloats(schemapb.DataType_Int8Vector, []byte{byte(int8(i))}, f)
		if f[0] != float32(i) || int8(appendFloatsAsBytes(schemapb.DataType_Int8Vector, nil, f)[0]) != int8(i) {
			t.Fatalf("int8 %d", i)
		}
	}
}

func vtSchema(name string) *schemapb.CollectionSchema {
	vf := func(id int64, n string, typ schemapb.DataType, dim string) *schemapb.FieldSchema {
		return &schemapb.FieldSchema{Name: n, DataType: typ, TypeParams: []*commonpb.KeyValuePair{{Key: "dim", Value: dim}}}
	}
	return &schemapb.CollectionSchema{Name: name, Fields: []*schemapb.FieldSchema{
		{Name: "id", DataType: schemapb.DataType_Int64, IsPrimaryKey: true},
		vf(0, "bin", schemapb.DataType_BinaryVector, "32"),
		vf(0, "f16", schemapb.DataType_Float16Vector, "4"),
		vf(0, "bf16", schemapb.DataType_BFloat16Vector, "4"),
		vf(0, "i8", schemapb.DataType_Int8Vector, "4"),
	}}
}

func vtFields(r *rand.Rand, lo, n int) []*schemapb.FieldData {
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(lo + i)
	}
	rnd := func(size int, half schemapb.DataType) []byte {
		b := make([]byte, size)
		r.Read(b)
		if half != 0 {
			for checkHalfFinite(half, b) >= 0 {
				r.Read(b)
			}
		}
		return b
	}
	vec := func(name string, typ schemapb.DataType, dim int64, vf *schemapb.VectorField) *schemapb.FieldData {
		vf.Dim = dim
		return &schemapb.FieldData{FieldName: name, Type: typ, Field: &schemapb.FieldData_Vectors{Vectors: vf}}
	}
	return []*schemapb.FieldData{
		{FieldName: "id", Type: schemapb.DataType_Int64, Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{
			Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: ids}}}}},
		vec("bin", schemapb.DataType_BinaryVector, 32, &schemapb.VectorField{Data: &schemapb.VectorField_BinaryVector{BinaryVector: rnd(4*n, 0)}}),
		vec("f16", schemapb.DataType_Float16Vector, 4, &schemapb.VectorField{Data: &schemapb.VectorField_Float16Vector{Float16Vector: rnd(8*n, schemapb.DataType_Float16Vector)}}),
		vec("bf16", schemapb.DataType_BFloat16Vector, 4, &schemapb.VectorField{Data: &schemapb.VectorField_Bfloat16Vector{Bfloat16Vector: rnd(8*n, schemapb.DataType_BFloat16Vector)}}),
		vec("i8", schemapb.DataType_Int8Vector, 4, &schemapb.VectorField{Data: &schemapb.VectorField_Int8Vector{Int8Vector: rnd(4*n, 0)}}),
	}
}

// TestVectorTypesRecovery: every vector type round-trips through insert,
// query output and search, through a sealed segment file and WAL replay,
// with the same state digest after reopening.
func TestVectorTypesRecovery(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	if err := e.CreateCollection(bg, "", vtSchema("v"), CreateCollectionOptions{}); err != nil {
		t.Fatal(err)
	}
	for f, p := range map[string]map[string]string{
		"bin": {"index_type": "BIN_FLAT", "metric_type": "JACCARD"}, "f16": {"index_type": "FLAT", "metric_type": "L2"},
		"bf16": {"index_type": "FLAT", "metric_type": "L2"}, "i8": {"index_type": "HNSW", "metric_type": "L2"},
	} {
		if err := e.CreateIndex(bg, "", "v", f, "", p); err != nil {
			t.Fatal(f, err)
		}
	}
	if err := e.LoadCollection(bg, "", "v"); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewSource(5))
	a, b := vtFields(r, 0, 150), vtFields(r, 150, 30)
	if _, err := e.Insert(bg, "", "v", "", a, 150); err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(bg, "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Insert(bg, "", "v", "", b, 30); err != nil {
		t.Fatal(err)
	}
	// A bad row length is refused.
	bad := vtFields(r, 500, 1)
	bad[1].GetVectors().Data = &schemapb.VectorField_BinaryVector{BinaryVector: []byte{1, 2, 3}}
	if _, err := e.Insert(bg, "", "v", "", bad, 1); err == nil {
		t.Fatal("3-byte binary row accepted for dim 32")
	}
	rowOf := func(fields []*schemapb.FieldData, fi, row, size int) []byte {
		vf := fields[fi].GetVectors()
		for _, raw := range [][]byte{vf.GetBinaryVector(), vf.GetFloat16Vector(), vf.GetBfloat16Vector(), vf.GetInt8Vector()} {
			if raw != nil {
				return raw[row*size : (row+1)*size]
			}
		}
		return nil
	}
	sizes := []int{0, 4, 8, 8, 4}
	types := []schemapb.DataType{0, schemapb.DataType_BinaryVector, schemapb.DataType_Float16Vector, schemapb.DataType_BFloat16Vector, schemapb.DataType_Int8Vector}
	check := func(e *Engine, when string) {
		t.Helper()
		for _, row := range []int{3, 140, 160} {
			src, sr := a, row
			if row >= 150 {
				src, sr = b, row-150
			}
			res, err := e.Query(bg, &QueryRequest{Collection: "v", Filter: "id == " + itoa(int64(row)), OutputFields: []string{"*"}})
			if err != nil {
				t.Fatal(err)
			}
			for fi := 1; fi <= 4; fi++ {
				fd := fieldNamed(res, src[fi].FieldName)
				want := rowOf(src, fi, sr, sizes[fi])
				if got := rowOf([]*schemapb.FieldData{fd}, 0, 0, sizes[fi]); string(got) != string(want) {
					t.Fatalf("%s: row %d %s = %x, want %x", when, row, src[fi].FieldName, got, want)
				}
				sres, err := e.Search(bg, &SearchRequest{Collection: "v", AnnsField: src[fi].FieldName, TopK: 2,
					RawVectors: [][]byte{want}, RawType: types[fi], RoundDecimal: -1})
				if err != nil {
					t.Fatalf("%s: search %s: %v", when, src[fi].FieldName, err)
				}
				if id := sres.GetIds().GetIntId().GetData()[0]; id != int64(row) {
					t.Fatalf("%s: search %s for row %d found %d first", when, src[fi].FieldName, row, id)
				}
			}
		}
	}
	check(e, "before restart")
	d1, err := e.Digest()
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	e2 := openTest(t, dir, nil)
	defer e2.Close()
	check(e2, "after restart")
	if d2, _ := e2.Digest(); d2 != d1 {
		t.Fatalf("digest %s after restart, %s before", d2, d1)
	}
}

// FuzzDecodeVectorCol: decodeCol never panics on compact vector columns.
func FuzzDecodeVectorCol(f *testing.F) {
	for _, typ := range []schemapb.DataType{schemapb.DataType_BinaryVector, schemapb.DataType_Float16Vector, schemapb.DataType_Int8Vector} {
		w := &enc{}
		if err := encodeCol(w, colData{fieldID: 101, typ: typ, dim: 16, data: make([]byte, 3*vecRowBytes(typ, 16))}, 3); err != nil {
			f.Fatal(err)
		}
		f.Add(w.b, 3)
	}
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if n < 0 || n > 1<<16 {
			return
		}
		r := &dec{b: b}
		c := decodeCol(r, n)
		if r.err == nil && isBytesVector(c.typ) && len(c.data.([]byte)) != n*vecRowBytes(c.typ, c.dim) {
			t.Fatalf("decoded %d bytes for %d rows of %v dim %d", len(c.data.([]byte)), n, c.typ, c.dim)
		}
	})
}

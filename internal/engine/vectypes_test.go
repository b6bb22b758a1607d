package engine

import (
	"encoding/binary"
	"math"
	"testing"

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

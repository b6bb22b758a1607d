package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"
)

// errCorrupt is returned (wrapped) by every decoder in this package when a
// payload or file is shorter than it claims or otherwise malformed.
var errCorrupt = errors.New("engine: corrupt encoding")

// littleEndian reports whether the host stores numbers little-endian; the
// on-disk formats are little-endian, and float32 vectors are copied as raw
// memory only when the host agrees.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// enc appends little-endian primitives to a byte slice. Fixed-width integers
// are 1, 4 or 8 bytes; "uv" is an unsigned varint; byte strings are a uv
// length followed by the bytes.
type enc struct{ b []byte }

func (w *enc) u8(v uint8)   { w.b = append(w.b, v) }
func (w *enc) u32(v uint32) { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *enc) u64(v uint64) { w.b = binary.LittleEndian.AppendUint64(w.b, v) }
func (w *enc) i64(v int64)  { w.u64(uint64(v)) }
func (w *enc) uv(v uint64)  { w.b = binary.AppendUvarint(w.b, v) }
func (w *enc) bool(v bool) {
	if v {
		w.u8(1)
	} else {
		w.u8(0)
	}
}
func (w *enc) bytes(b []byte) { w.uv(uint64(len(b))); w.b = append(w.b, b...) }
func (w *enc) str(s string)   { w.uv(uint64(len(s))); w.b = append(w.b, s...) }

// align4 pads with zero bytes to a multiple of 4 (relative to the start of
// the buffer) so that float32 data can be aliased when decoding.
func (w *enc) align4() {
	for len(w.b)%4 != 0 {
		w.b = append(w.b, 0)
	}
}

// f32s appends raw little-endian float32s.
func (w *enc) f32s(v []float32) {
	if len(v) == 0 {
		return
	}
	if littleEndian {
		w.b = append(w.b, unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*4)...)
		return
	}
	for _, f := range v {
		w.u32(math.Float32bits(f))
	}
}

// dec reads what enc wrote. After the first error every read returns zero
// values and err stays set.
type dec struct {
	b   []byte
	off int
	err error
}

func (r *dec) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at offset %d", errCorrupt, what, r.off)
	}
}

func (r *dec) need(n int, what string) bool {
	if r.err != nil {
		return false
	}
	if n < 0 || len(r.b)-r.off < n {
		r.fail(what)
		return false
	}
	return true
}

func (r *dec) u8() uint8 {
	if !r.need(1, "u8") {
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

func (r *dec) u32() uint32 {
	if !r.need(4, "u32") {
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *dec) u64() uint64 {
	if !r.need(8, "u64") {
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
}

func (r *dec) i64() int64 { return int64(r.u64()) }
func (r *dec) bool() bool { return r.u8() != 0 }

func (r *dec) uv() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("uvarint")
		return 0
	}
	r.off += n
	return v
}

// count reads a uv that is a count of items of at least minSize bytes each,
// rejecting counts the remaining input cannot hold.
func (r *dec) count(minSize int) int {
	v := r.uv()
	if r.err != nil {
		return 0
	}
	if minSize < 1 {
		minSize = 1
	}
	if v > uint64(len(r.b)-r.off)/uint64(minSize) {
		r.fail("count")
		return 0
	}
	return int(v)
}

// bytes returns a sub-slice of the input (not a copy).
func (r *dec) bytes() []byte {
	n := r.uv()
	if !r.need(int(min(n, math.MaxInt32)), "bytes") || n > math.MaxInt32 {
		r.fail("bytes")
		return nil
	}
	v := r.b[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return v
}

func (r *dec) str() string { return string(r.bytes()) }

// raw returns the next n bytes (not a copy).
func (r *dec) raw(n int) []byte {
	if !r.need(n, "raw") {
		return nil
	}
	v := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return v
}

func (r *dec) align4() {
	for r.err == nil && r.off%4 != 0 {
		r.u8()
	}
}

// f32s returns n float32s. When the host is little-endian and the data is
// 4-byte aligned in memory the result aliases the input; otherwise it is a
// copy.
func (r *dec) f32s(n int) []float32 {
	if n < 0 || n > (len(r.b)-r.off)/4 {
		r.fail("float32 data")
		return nil
	}
	b := r.raw(n * 4)
	if r.err != nil || n == 0 {
		return nil
	}
	if littleEndian && uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n)
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[i*4:]))
	}
	return out
}

// done fails if input remains.
func (r *dec) done() error {
	if r.err == nil && r.off != len(r.b) {
		r.fail("trailing bytes")
	}
	return r.err
}

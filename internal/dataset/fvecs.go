// Package dataset reads and makes benchmark vectors: TEXMEX .fvecs/.ivecs
// files, IDX image files, Fashion-MNIST from Debian's dataset-fashion-mnist
// package converted once into a cache directory (PrepareFashionMNIST), exact
// ground truth (ExactKNN) and seeded random data.
//
// fvecs format: a sequence of records, each a little-endian int32 d followed
// by d float32 values (ivecs: d int32 values). Every record has the same d;
// the file size must be a whole number of records.
package dataset

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
)

// Vectors is n vectors of dimension Dim stored contiguously.
type Vectors struct {
	Dim  int
	Data []float32 // len = N()*Dim
}

// N is the number of vectors.
func (v *Vectors) N() int {
	if v.Dim == 0 {
		return 0
	}
	return len(v.Data) / v.Dim
}

// Row returns vector i (a sub-slice, not a copy).
func (v *Vectors) Row(i int) []float32 { return v.Data[i*v.Dim : (i+1)*v.Dim] }

// ReadFvecs reads a whole .fvecs file; limit > 0 reads at most limit vectors.
func ReadFvecs(path string, limit int) (*Vectors, error) {
	dim, raw, err := readVecs(path, limit)
	if err != nil {
		return nil, err
	}
	out := &Vectors{Dim: dim, Data: make([]float32, 0, len(raw)/(4+4*dim)*dim)}
	for off := 0; off < len(raw); off += 4 + 4*dim {
		for j := 0; j < dim; j++ {
			out.Data = append(out.Data, math.Float32frombits(binary.LittleEndian.Uint32(raw[off+4+4*j:])))
		}
	}
	return out, nil
}

// ReadIvecs reads a whole .ivecs file as rows of int32.
func ReadIvecs(path string, limit int) ([][]int32, error) {
	dim, raw, err := readVecs(path, limit)
	if err != nil {
		return nil, err
	}
	var out [][]int32
	for off := 0; off < len(raw); off += 4 + 4*dim {
		row := make([]int32, dim)
		for j := range row {
			row[j] = int32(binary.LittleEndian.Uint32(raw[off+4+4*j:]))
		}
		out = append(out, row)
	}
	return out, nil
}

func readVecs(path string, limit int) (int, []byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, nil, fmt.Errorf("dataset: %w", err)
	}
	if len(raw) < 4 {
		return 0, nil, fmt.Errorf("dataset: %s: file too short", path)
	}
	dim := int(int32(binary.LittleEndian.Uint32(raw)))
	if dim <= 0 || dim > 1<<20 {
		return 0, nil, fmt.Errorf("dataset: %s: bad dimension %d", path, dim)
	}
	rec := 4 + 4*dim
	if len(raw)%rec != 0 {
		return 0, nil, fmt.Errorf("dataset: %s: size %d is not a whole number of %d-byte records", path, len(raw), rec)
	}
	for off := 0; off < len(raw); off += rec {
		if d := int(int32(binary.LittleEndian.Uint32(raw[off:]))); d != dim {
			return 0, nil, fmt.Errorf("dataset: %s: record at byte %d has dimension %d, want %d", path, off, d, dim)
		}
	}
	if limit > 0 && len(raw)/rec > limit {
		raw = raw[:limit*rec]
	}
	return dim, raw, nil
}

// WriteFvecs writes v as an .fvecs file.
func WriteFvecs(path string, v *Vectors) error {
	buf := make([]byte, 0, v.N()*(4+4*v.Dim))
	for i := 0; i < v.N(); i++ {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(v.Dim))
		for _, x := range v.Row(i) {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		}
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	return nil
}

// WriteIvecs writes rows (all of the same length) as an .ivecs file.
func WriteIvecs(path string, rows [][]int32) error {
	var buf []byte
	for i, r := range rows {
		if len(r) != len(rows[0]) {
			return fmt.Errorf("dataset: %s: row %d has %d values, row 0 %d", path, i, len(r), len(rows[0]))
		}
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(r)))
		for _, x := range r {
			buf = binary.LittleEndian.AppendUint32(buf, uint32(x))
		}
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	return nil
}

// Random returns n seeded uniform [0,1) vectors of dimension dim.
func Random(n, dim int, seed uint64) *Vectors {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	v := &Vectors{Dim: dim, Data: make([]float32, n*dim)}
	for i := range v.Data {
		v.Data[i] = r.Float32()
	}
	return v
}

package engine

import (
	"encoding/binary"
	"math"
	"sort"
	"sync/atomic"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/index/distance"
)

// delChunkRows is the number of delete LSNs per delete chunk.
const delChunkRows = 1024

// delChunk holds the delete LSNs of delChunkRows consecutive rows (0 =
// live). Written by apply with atomic stores, read by searches concurrently.
type delChunk [delChunkRows]atomic.Uint64

// maxChunkBytes bounds one vector chunk's size: chunks hold
// min(1024, SegmentMaxRows) rows, halved until they fit in this.
const maxChunkBytes = 8 << 20

// chunkRowsFor returns the rows per vector chunk for a segment of at most
// segMax rows whose widest vector has dim floats.
func chunkRowsFor(maxDim, segMax int) int {
	r := 1024
	for r > 16 && r*max(maxDim, 1)*4 > maxChunkBytes {
		r /= 2
	}
	return max(1, min(r, segMax))
}

// segColumn is one field's data in a segment.
//
// Scalar fields use data (a typed slice, see colData), appended with
// Go's append: a reader that copied the slice header under Engine.mu.RLock
// keeps reading the old backing array, whose first len elements never
// change.
//
// Vector fields use chunks: fixed-capacity blocks of chunkRows*dim float32s
// that are allocated once and never moved, so rows appended after a
// reader's snapshot land in memory the reader never reads. norms holds the
// L2 norm of each row (for COSINE). Float16, BFloat16 and Int8 vectors
// are held the same way, decoded to float32 (exact; vectypes.go); typ says
// which. BinaryVector columns use bin instead: fixed-capacity blocks of
// chunkRows*dim/8 bytes, same rules.
type segColumn struct {
	data   any
	dim    int
	typ    schemapb.DataType // vector columns: the field's type
	chunks [][]float32
	norms  []float32
	// valid is a nullable field's validity per row (false = null), nil
	// for other fields; appended like data.
	valid []bool
	bin   [][]byte
}

// isBin reports whether sc is a BinaryVector column.
func (sc *segColumn) isBin() bool { return sc.typ == schemapb.DataType_BinaryVector }

// segment is a run of rows of one partition, in LSN order. A growing
// segment receives appends; a sealed one is immutable except for delete
// LSNs.
type segment struct {
	id        int64 // local to this node (not replicated)
	collID    int64
	partID    int64
	chunkRows int
	// fieldIDs and fieldTypes describe cols (the collection's fields).
	fieldIDs   []int64
	fieldTypes []schemapb.DataType

	// Guarded by Engine.mu (apply and seal hold mu.Lock; snapshots take
	// mu.RLock). The elements of these slices below rows never change,
	// except delete LSNs (atomic).
	rows      int
	sealed    bool
	insertLSN []uint64 // per row, non-decreasing
	cols      []segColumn
	del       []*delChunk

	// deleted counts rows with a delete LSN set; incremented after the
	// LSN is stored, so a reader that sees 0 knows no delete is visible.
	deleted atomic.Int64

	// Guarded by Engine.ckptMu: the segment's file is referenced by the
	// current manifest.
	persisted bool

	// ann holds, per column (parallel to cols), the built ANN index of a
	// sealed segment's vector column, or nil (index.go). Set by the index
	// builder, read by searches without locks.
	ann []atomic.Pointer[segIndex]
}

func newSegment(id int64, c *collection, partID int64, segMax int) *segment {
	maxDim := 0
	for _, f := range c.fields {
		maxDim = max(maxDim, f.dim)
	}
	s := &segment{id: id, collID: c.id, partID: partID, chunkRows: chunkRowsFor(maxDim, segMax)}
	s.cols = make([]segColumn, len(c.fields))
	s.ann = make([]atomic.Pointer[segIndex], len(c.fields))
	for i, f := range c.fields {
		s.fieldIDs = append(s.fieldIDs, f.id)
		s.fieldTypes = append(s.fieldTypes, f.typ)
		if f.isVector {
			s.cols[i].dim = f.dim
			s.cols[i].typ = f.typ
		} else {
			s.cols[i].data = emptyData(f.typ)
			if f.nullable {
				s.cols[i].valid = []bool{}
			}
		}
	}
	return s
}

// appendRows appends rows [lo,hi) of the batch cols (indexed like the
// collection's fields; vectors flat n*dim) with insert LSN lsn. Caller
// holds Engine.mu.Lock. valids (parallel to cols, may be nil) holds the
// validity of nullable columns (nil entry: all rows valid).
func (s *segment) appendRows(lsn uint64, cols []any, valids [][]bool, lo, hi int) {
	n := hi - lo
	if n <= 0 {
		return
	}
	for i := range s.cols {
		sc := &s.cols[i]
		switch {
		case sc.isBin():
			s.appendBinary(sc, cols[i].([]byte), lo, hi)
		case sc.dim > 0 && sc.typ != schemapb.DataType_FloatVector:
			b := cols[i].([]byte)
			rb := vecRowBytes(sc.typ, sc.dim)
			v := make([]float32, (hi-lo)*sc.dim)
			bytesToFloats(sc.typ, b[lo*rb:hi*rb], v)
			s.appendVectors(sc, v, 0, hi-lo)
		case sc.dim > 0:
			s.appendVectors(sc, cols[i].([]float32), lo, hi)
		default:
			sc.data = appendData(sc.data, cols[i], lo, hi)
			if sc.valid != nil {
				var v []bool
				if valids != nil {
					v = valids[i]
				}
				sc.valid = appendValid(sc.valid, v, lo, hi)
			}
		}
	}
	for range n {
		s.insertLSN = append(s.insertLSN, lsn)
	}
	for need := (s.rows + n + delChunkRows - 1) / delChunkRows; len(s.del) < need; {
		s.del = append(s.del, new(delChunk))
	}
	s.rows += n
}

func (s *segment) appendVectors(sc *segColumn, src []float32, lo, hi int) {
	dim := sc.dim
	row := s.rows
	for i := lo; i < hi; {
		ci, off := row/s.chunkRows, row%s.chunkRows
		if ci == len(sc.chunks) {
			sc.chunks = append(sc.chunks, make([]float32, s.chunkRows*dim))
		}
		take := min(hi-i, s.chunkRows-off)
		copy(sc.chunks[ci][off*dim:(off+take)*dim], src[i*dim:(i+take)*dim])
		for j := 0; j < take; j++ {
			sc.norms = append(sc.norms, distance.Norm(src[(i+j)*dim:(i+j+1)*dim]))
		}
		i += take
		row += take
	}
}

func (s *segment) appendBinary(sc *segColumn, src []byte, lo, hi int) {
	rb := sc.dim / 8
	row := s.rows
	for i := lo; i < hi; {
		ci, off := row/s.chunkRows, row%s.chunkRows
		if ci == len(sc.bin) {
			sc.bin = append(sc.bin, make([]byte, s.chunkRows*rb))
		}
		take := min(hi-i, s.chunkRows-off)
		copy(sc.bin[ci][off*rb:(off+take)*rb], src[i*rb:(i+take)*rb])
		i += take
		row += take
	}
}

// seal makes s immutable and trims its last vector chunk to the rows it
// holds. Caller holds Engine.mu.Lock.
func (s *segment) seal() {
	if s.sealed {
		return
	}
	s.sealed = true
	for i := range s.cols {
		sc := &s.cols[i]
		if sc.isBin() && len(sc.bin) > 0 {
			last := len(sc.bin) - 1
			used := s.rows - last*s.chunkRows
			if used < s.chunkRows {
				bin := append([][]byte(nil), sc.bin...)
				bin[last] = append([]byte(nil), sc.bin[last][:used*sc.dim/8]...)
				sc.bin = bin
			}
			continue
		}
		if sc.dim == 0 || len(sc.chunks) == 0 {
			continue
		}
		last := len(sc.chunks) - 1
		used := s.rows - last*s.chunkRows
		if used < s.chunkRows {
			chunks := append([][]float32(nil), sc.chunks...)
			chunks[last] = append([]float32(nil), sc.chunks[last][:used*sc.dim]...)
			sc.chunks = chunks
		}
		sc.norms = sc.norms[:len(sc.norms):len(sc.norms)]
	}
}

// deleteLSN returns row's delete LSN (0 = live).
func (s *segment) deleteLSN(row int) uint64 {
	return s.del[row/delChunkRows][row%delChunkRows].Load()
}

// markDeleted sets row's delete LSN. Caller holds Engine.mu.Lock (the
// store itself is atomic for concurrent readers).
func (s *segment) markDeleted(row int, lsn uint64) {
	s.del[row/delChunkRows][row%delChunkRows].Store(lsn)
	s.deleted.Add(1)
}

// vector returns row's vector of column ci (a view into the chunk).
func (sc *segColumn) vector(chunkRows, row int) []float32 {
	off := (row % chunkRows) * sc.dim
	return sc.chunks[row/chunkRows][off : off+sc.dim : off+sc.dim]
}

// binVector returns row's binary vector (a view into the chunk).
func (sc *segColumn) binVector(chunkRows, row int) []byte {
	rb := sc.dim / 8
	off := (row % chunkRows) * rb
	return sc.bin[row/chunkRows][off : off+rb : off+rb]
}

// rowBytes appends row's vector in its compact wire form (the inserted
// bytes; FloatVector as little-endian float32s).
func (sc *segColumn) appendRowBytes(dst []byte, chunkRows, row int) []byte {
	switch {
	case sc.isBin():
		return append(dst, sc.binVector(chunkRows, row)...)
	case sc.typ == schemapb.DataType_FloatVector:
		for _, x := range sc.vector(chunkRows, row) {
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(x))
		}
		return dst
	}
	return appendFloatsAsBytes(sc.typ, dst, sc.vector(chunkRows, row))
}

// segSnap is a reader's view of a segment: the headers copied under
// Engine.mu.RLock and the number of rows visible at the snapshot LSN.
type segSnap struct {
	seg       *segment
	n         int // visible rows: a prefix, since rows are in LSN order
	cols      []segColumn
	del       []*delChunk
	vis       uint64 // snapshot LSN
	chunkRows int
	deletes   bool // some row may have a delete LSN
	sealed    bool
	rows      int // the segment's rows (>= n)
}

// snapshot returns s as of visible LSN vis. Caller holds Engine.mu.RLock
// (or writeMu).
func (s *segment) snapshot(vis uint64) segSnap {
	lsns := s.insertLSN[:s.rows]
	n := sort.Search(len(lsns), func(i int) bool { return lsns[i] > vis })
	cols := s.cols
	if !s.sealed {
		// Growing: copy the headers (appends replace them). A sealed
		// segment's headers never change again.
		cols = append([]segColumn(nil), s.cols...)
	}
	return segSnap{
		seg: s, n: n, cols: cols, del: s.del,
		vis: vis, chunkRows: s.chunkRows, deletes: s.deleted.Load() > 0,
		sealed: s.sealed, rows: s.rows,
	}
}

// live reports whether row (< n) is not deleted as of the snapshot.
func (ss *segSnap) live(row int) bool {
	if !ss.deletes {
		return true
	}
	d := ss.del[row/delChunkRows][row%delChunkRows].Load()
	return d == 0 || d > ss.vis
}

// segSource adapts a snapshot to expr.Source.
type segSource struct {
	c  *collection
	ss *segSnap
}

func (s segSource) Len() int { return s.ss.n }

func (s segSource) Column(name string) any {
	for i := range s.c.fields {
		if s.c.fields[i].name == name {
			if s.c.fields[i].isVector {
				return nil
			}
			if i >= len(s.ss.cols) {
				return nil
			}
			return sliceData(s.ss.cols[i].data, s.ss.n)
		}
	}
	return nil
}

// Valid implements expr.NullSource.
func (s segSource) Valid(name string) []bool {
	for i := range s.c.fields {
		if s.c.fields[i].name == name && !s.c.fields[i].isDyn {
			if i >= len(s.ss.cols) || s.ss.cols[i].valid == nil {
				return nil
			}
			return s.ss.cols[i].valid[:s.ss.n:s.ss.n]
		}
	}
	return nil
}

package hnsw

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sync"

	"github.com/tandem-db/tandem/internal/fileutil"
	"github.com/tandem-db/tandem/internal/index/distance"
)

const (
	magic      = "TNDMHNSW"
	version    = 1
	headerSize = 64

	flagKeepPruned = 1 // header flags bit: Config.KeepPruned
)

// ErrCorrupt is wrapped by every Load error caused by malformed input.
var ErrCorrupt = errors.New("hnsw: corrupt index file")

// WriteTo writes the graph (not the vectors) in the format described in the
// package comment. It must not run concurrently with Add or Delete.
func (x *Index) WriteTo(w io.Writer) (int64, error) {
	cw := &fileutil.HashWriter{W: w, Hash: fileutil.NewCRC32C()}
	bw := bufio.NewWriterSize(cw, 1<<16)
	ep, maxL, ok := x.loadEntry()
	if !ok {
		ep, maxL = 0, -1
	}
	h := make([]byte, headerSize)
	copy(h, magic)
	le := binary.LittleEndian
	le.PutUint32(h[8:], version)
	le.PutUint32(h[12:], uint32(x.cfg.Metric))
	le.PutUint32(h[16:], uint32(x.cfg.M))
	le.PutUint32(h[20:], uint32(x.cfg.EfConstruction))
	le.PutUint64(h[24:], x.cfg.Seed)
	le.PutUint32(h[32:], uint32(x.dim))
	le.PutUint32(h[36:], uint32(x.capacity))
	le.PutUint32(h[40:], uint32(x.nAdded.Load()))
	le.PutUint32(h[44:], uint32(int32(maxL)))
	le.PutUint32(h[48:], ep)
	le.PutUint32(h[52:], uint32(len(x.upper)))
	if x.cfg.KeepPruned {
		le.PutUint32(h[56:], flagKeepPruned)
	}
	bw.Write(h)
	bw.Write(x.levels)
	bw.Write(make([]byte, pad4(len(x.levels))))
	buf := make([]byte, 0, 1<<15)
	flush := func() {
		bw.Write(buf)
		buf = buf[:0]
	}
	for _, arr := range [][]uint64{x.added, x.deleted} {
		for _, v := range arr {
			buf = le.AppendUint64(buf, v)
			if len(buf) >= cap(buf)-8 {
				flush()
			}
		}
		flush()
	}
	for _, arr := range [][]uint32{x.level0, x.upper} {
		for _, v := range arr {
			buf = le.AppendUint32(buf, v)
			if len(buf) >= cap(buf)-4 {
				flush()
			}
		}
		flush()
	}
	if err := bw.Flush(); err != nil {
		return cw.N, fmt.Errorf("hnsw: write: %w", err)
	}
	var t [4]byte
	le.PutUint32(t[:], cw.Hash.Sum32())
	if _, err := cw.W.Write(t[:]); err != nil {
		return cw.N, fmt.Errorf("hnsw: write: %w", err)
	}
	return cw.N + 4, nil
}

func pad4(n int) int { return (4 - n%4) % 4 }

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// readErr maps a fileutil read error: truncated input is corrupt.
func readErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return corrupt("truncated")
	}
	return fmt.Errorf("hnsw: read: %w", err)
}

// readFull reads exactly n bytes, growing its buffer only as data arrives
// so that a corrupt size cannot cause a huge allocation.
func readFull(r io.Reader, n int) ([]byte, error) {
	b, err := fileutil.ReadFull(r, n)
	if err != nil {
		return nil, readErr(err)
	}
	return b, nil
}

func readU32s(r io.Reader, n int) ([]uint32, error) {
	v, err := fileutil.ReadU32s(r, n)
	if err != nil {
		return nil, readErr(err)
	}
	return v, nil
}

func readU64s(r io.Reader, n int) ([]uint64, error) {
	v, err := fileutil.ReadU64s(r, n)
	if err != nil {
		return nil, readErr(err)
	}
	return v, nil
}

// Load reads an index written by WriteTo over vecs, which must hold the same
// rows (with the same dimension) as when it was written; the graph is not
// rebuilt (cosine norms are recomputed). Malformed or truncated input gives
// an error wrapping ErrCorrupt, never a panic; every link is checked so
// that a loaded index cannot index out of range. Load reads exactly the
// bytes WriteTo wrote.
func Load(r io.Reader, vecs Vectors) (*Index, error) {
	if vecs == nil {
		return nil, paramErr("vectors must be non-nil")
	}
	cr := &fileutil.HashReader{R: r, Hash: fileutil.NewCRC32C()}
	h, err := readFull(cr, headerSize)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	if string(h[:8]) != magic {
		return nil, corrupt("bad magic")
	}
	if v := le.Uint32(h[8:]); v != version {
		return nil, corrupt("unsupported version %d", v)
	}
	cfg := Config{
		Metric:         distance.Metric(le.Uint32(h[12:])),
		M:              int(le.Uint32(h[16:])),
		EfConstruction: int(le.Uint32(h[20:])),
		Seed:           le.Uint64(h[24:]),
	}
	if le.Uint32(h[12:]) > 255 {
		return nil, corrupt("bad metric")
	}
	if err := cfg.Validate(); err != nil {
		return nil, corrupt("bad config: %v", err)
	}
	dim := int(le.Uint32(h[32:]))
	capacity := int(le.Uint32(h[36:]))
	count := int(le.Uint32(h[40:]))
	maxL := int(int32(le.Uint32(h[44:])))
	ep := le.Uint32(h[48:])
	upperLen := int(le.Uint32(h[52:]))
	flags := le.Uint32(h[56:])
	if flags&^flagKeepPruned != 0 || le.Uint32(h[60:]) != 0 {
		return nil, corrupt("unknown header flags")
	}
	cfg.KeepPruned = flags&flagKeepPruned != 0
	if dim != vecs.Dim() {
		return nil, paramErr("index dimension %d does not match vectors dimension %d", dim, vecs.Dim())
	}
	if capacity > MaxCapacity || count > capacity || maxL < -1 || maxL > maxLevelCap ||
		(count == 0) != (maxL == -1) || (count > 0 && int(ep) >= capacity) {
		return nil, corrupt("bad header")
	}
	lv, err := readFull(cr, capacity+pad4(capacity))
	if err != nil {
		return nil, err
	}
	levels := lv[:capacity:capacity]
	var sumLevels int64
	for _, l := range levels {
		if l > maxLevelCap {
			return nil, corrupt("level %d too large", l)
		}
		sumLevels += int64(l)
	}
	if sumLevels*int64(cfg.M+1) != int64(upperLen) {
		return nil, corrupt("upper size %d does not match levels", upperLen)
	}
	x, err := newIndexFrom(cfg, vecs, capacity, levels, upperLen)
	if err != nil {
		return nil, corrupt("%v", err)
	}
	words := (capacity + 63) / 64
	if x.added, err = readU64s(cr, words); err != nil {
		return nil, err
	}
	if x.deleted, err = readU64s(cr, words); err != nil {
		return nil, err
	}
	nAdded, nDeleted := 0, 0
	for w := range x.added {
		if x.deleted[w]&^x.added[w] != 0 {
			return nil, corrupt("deleted row that was never added")
		}
		nAdded += bits.OnesCount64(x.added[w])
		nDeleted += bits.OnesCount64(x.deleted[w])
	}
	if capacity%64 != 0 && words > 0 && x.added[words-1]>>(capacity%64) != 0 {
		return nil, corrupt("added bit beyond capacity")
	}
	if nAdded != count {
		return nil, corrupt("added count %d, header says %d", nAdded, count)
	}
	if x.level0, err = readU32s(cr, capacity*x.stride0); err != nil {
		return nil, err
	}
	if x.upper, err = readU32s(cr, upperLen); err != nil {
		return nil, err
	}
	sum := cr.Hash.Sum32()
	t, err := readFull(r, 4)
	if err != nil {
		return nil, err
	}
	if le.Uint32(t) != sum {
		return nil, corrupt("checksum mismatch")
	}
	if err := x.check(); err != nil {
		return nil, err
	}
	if count > 0 {
		if !bitGet(x.added, ep) || int(levels[ep]) != maxL {
			return nil, corrupt("bad entry point %d", ep)
		}
		x.entry.Store(packEntry(ep, maxL))
	}
	x.nAdded.Store(int64(nAdded))
	x.nDeleted.Store(int64(nDeleted))
	if x.invNorm != nil {
		for i := range x.invNorm {
			if bitGet(x.added, uint32(i)) {
				v := vecs.Vector(uint32(i))
				if len(v) != dim {
					return nil, paramErr("vector %d has dimension %d, want %d", i, len(v), dim)
				}
				x.invNorm[i] = math.Float32bits(invNorm(v))
			}
		}
	}
	return x, nil
}

// newIndexFrom builds the index shell for Load without allocating the link
// arrays (they are read from the input).
func newIndexFrom(cfg Config, vecs Vectors, capacity int, levels []uint8, upperLen int) (*Index, error) {
	m := cfg.M
	x := &Index{
		cfg: cfg, vecs: vecs, dim: vecs.Dim(), capacity: capacity,
		m: m, m0: 2 * m, stride0: 2*m + 1, strideU: m + 1,
		levels: levels,
	}
	// Allocate per-row arrays only after the input has proven it holds the
	// levels (capacity bytes were read), so their size is bounded by it.
	x.upperOff = make([]uint32, capacity)
	var off int64
	for i, l := range levels {
		x.upperOff[i] = uint32(off)
		off += int64(l) * int64(x.strideU)
	}
	if off != int64(upperLen) {
		return nil, fmt.Errorf("upper size mismatch")
	}
	x.locks = make([]sync.Mutex, capacity)
	if cfg.Metric == distance.Cosine {
		x.invNorm = make([]uint32, capacity)
	}
	x.pool.New = func() any { return newSearcher(capacity) }
	return x, nil
}

// check validates every link list: counts within bounds, only added rows
// have links, and every link points to an added row whose level is at
// least the list's level.
func (x *Index) check() error {
	for i := 0; i < x.capacity; i++ {
		id := uint32(i)
		isAdded := bitGet(x.added, id)
		for l := 0; l <= int(x.levels[i]); l++ {
			lst := x.list(id, l)
			maxConn := x.m
			if l == 0 {
				maxConn = x.m0
			}
			n := int(lst[0])
			if n > maxConn || (!isAdded && n != 0) {
				return corrupt("row %d level %d: bad link count %d", i, l, n)
			}
			for _, nb := range lst[1 : n+1] {
				if int(nb) >= x.capacity || !bitGet(x.added, nb) || int(x.levels[nb]) < l {
					return corrupt("row %d level %d: bad link %d", i, l, nb)
				}
			}
		}
	}
	return nil
}

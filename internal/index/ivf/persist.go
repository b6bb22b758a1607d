package ivf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sync/atomic"

	"github.com/tandem-db/tandem/internal/fileutil"
	"github.com/tandem-db/tandem/internal/index/distance"
)

const (
	magic      = "TNDMIVFF"
	version    = 1
	headerSize = 48
)

// ErrCorrupt is wrapped by every Load error caused by malformed input.
var ErrCorrupt = errors.New("ivf: corrupt index file")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// WriteTo writes centroids, lists and tombstones (not the vectors) in the
// format of the package comment. Concurrent Add/Delete may or may not be
// included but do not corrupt the output; run it on a quiescent index for a
// consistent snapshot.
func (x *Index) WriteTo(w io.Writer) (int64, error) {
	cw := &fileutil.HashWriter{W: w, Hash: fileutil.NewCRC32C()}
	bw := bufio.NewWriterSize(cw, 1<<16)
	le := binary.LittleEndian
	// Snapshot the lists first so the header's total matches.
	lists := make([][]uint32, len(x.lists))
	total := 0
	for i := range x.lists {
		x.lists[i].mu.RLock()
		lists[i] = x.lists[i].ids[:len(x.lists[i].ids):len(x.lists[i].ids)]
		x.lists[i].mu.RUnlock()
		total += len(lists[i])
	}
	x.rowsMu.Lock()
	rs := x.rows.Load()
	deleted := make([]uint64, len(rs.deleted))
	for i := range deleted {
		deleted[i] = atomic.LoadUint64(&rs.deleted[i])
	}
	x.rowsMu.Unlock()
	h := make([]byte, headerSize)
	copy(h, magic)
	le.PutUint32(h[8:], version)
	le.PutUint32(h[12:], uint32(x.cfg.Metric))
	le.PutUint32(h[16:], uint32(x.cfg.Nlist))
	le.PutUint32(h[20:], uint32(x.dim))
	le.PutUint64(h[24:], x.cfg.Seed)
	le.PutUint32(h[32:], uint32(x.cfg.Iters))
	if x.trained {
		le.PutUint32(h[36:], 1)
	}
	le.PutUint32(h[40:], uint32(len(deleted)))
	le.PutUint32(h[44:], uint32(total))
	bw.Write(h)
	buf := make([]byte, 0, 1<<15)
	put32 := func(v uint32) {
		buf = le.AppendUint32(buf, v)
		if len(buf) >= cap(buf)-8 {
			bw.Write(buf)
			buf = buf[:0]
		}
	}
	if x.trained {
		for _, f := range x.centroids {
			put32(math.Float32bits(f))
		}
	}
	for _, l := range lists {
		put32(uint32(len(l)))
	}
	for _, l := range lists {
		for _, id := range l {
			put32(id)
		}
	}
	for _, d := range deleted {
		put32(uint32(d))
		put32(uint32(d >> 32))
	}
	bw.Write(buf)
	if err := bw.Flush(); err != nil {
		return cw.N, fmt.Errorf("ivf: write: %w", err)
	}
	var t [4]byte
	le.PutUint32(t[:], cw.Hash.Sum32())
	if _, err := w.Write(t[:]); err != nil {
		return cw.N, fmt.Errorf("ivf: write: %w", err)
	}
	return cw.N + 4, nil
}

// readU32s reads n little-endian words, allocating only as data arrives so
// that a corrupt count cannot cause a huge allocation.
func readU32s(r io.Reader, n int) ([]uint32, error) {
	v, err := fileutil.ReadU32s(r, n)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, corrupt("truncated")
		}
		return nil, fmt.Errorf("ivf: read: %w", err)
	}
	return v, nil
}

// Load reads an index written by WriteTo over vecs (same rows, same
// dimension). Malformed input gives an error wrapping ErrCorrupt, never a
// panic: every id and size is checked. Load reads exactly what WriteTo
// wrote.
func Load(r io.Reader, vecs Vectors) (*Index, error) {
	if vecs == nil {
		return nil, paramErr("vectors must be non-nil")
	}
	cr := &fileutil.HashReader{R: r, Hash: fileutil.NewCRC32C()}
	h := make([]byte, headerSize)
	if _, err := io.ReadFull(cr, h); err != nil {
		return nil, corrupt("truncated header")
	}
	le := binary.LittleEndian
	if string(h[:8]) != magic {
		return nil, corrupt("bad magic")
	}
	if v := le.Uint32(h[8:]); v != version {
		return nil, corrupt("unsupported version %d", v)
	}
	metric := le.Uint32(h[12:])
	if metric > 255 {
		return nil, corrupt("bad metric")
	}
	cfg := Config{
		Metric: distance.Metric(metric),
		Nlist:  int(le.Uint32(h[16:])),
		Seed:   le.Uint64(h[24:]),
		Iters:  int(le.Uint32(h[32:])),
	}
	if err := cfg.Validate(); err != nil || cfg.Iters == 0 {
		return nil, corrupt("bad config: %v", err)
	}
	dim := int(le.Uint32(h[20:]))
	trained := le.Uint32(h[36:])
	words := int(le.Uint32(h[40:]))
	total := int(le.Uint32(h[44:]))
	if trained > 1 || words > (math.MaxUint32+1)/64 {
		return nil, corrupt("bad header")
	}
	if dim != vecs.Dim() {
		return nil, paramErr("index dimension %d does not match vectors dimension %d", dim, vecs.Dim())
	}
	if trained == 0 && (total != 0 || words != 0) {
		return nil, corrupt("untrained index with rows")
	}
	x, err := New(cfg, vecs)
	if err != nil {
		return nil, corrupt("%v", err)
	}
	if trained == 1 {
		cw, err := readU32s(cr, cfg.Nlist*dim)
		if err != nil {
			return nil, err
		}
		cent := make([]float32, len(cw))
		for i, w := range cw {
			cent[i] = math.Float32frombits(w)
		}
		x.setCentroids(cent)
	}
	sizes, err := readU32s(cr, cfg.Nlist)
	if err != nil {
		return nil, err
	}
	var sum int64
	for _, s := range sizes {
		sum += int64(s)
	}
	if sum != int64(total) {
		return nil, corrupt("list sizes sum to %d, header says %d", sum, total)
	}
	ids, err := readU32s(cr, total)
	if err != nil {
		return nil, err
	}
	dw, err := readU32s(cr, 2*words)
	if err != nil {
		return nil, err
	}
	crc := cr.Hash.Sum32()
	var t [4]byte
	if _, err := io.ReadFull(r, t[:]); err != nil {
		return nil, corrupt("truncated")
	}
	if le.Uint32(t[:]) != crc {
		return nil, corrupt("checksum mismatch")
	}
	rs := &rowState{added: make([]uint64, words), deleted: make([]uint64, words)}
	for i := range rs.deleted {
		rs.deleted[i] = uint64(dw[2*i]) | uint64(dw[2*i+1])<<32
	}
	off := 0
	for c, s := range sizes {
		l := ids[off : off+int(s) : off+int(s)]
		off += int(s)
		for _, id := range l {
			w := int(id >> 6)
			if w >= words {
				return nil, corrupt("row id %d beyond %d bitset words", id, words)
			}
			if rs.added[w]&(1<<(id&63)) != 0 {
				return nil, corrupt("row %d listed twice", id)
			}
			rs.added[w] |= 1 << (id & 63)
		}
		x.lists[c].ids = l
	}
	nDel := 0
	for i := range rs.deleted {
		if rs.deleted[i]&^rs.added[i] != 0 {
			return nil, corrupt("deleted row that was never added")
		}
		nDel += bits.OnesCount64(rs.deleted[i])
	}
	if cfg.Metric == distance.Cosine {
		maxID := -1
		for _, id := range ids {
			maxID = max(maxID, int(id))
		}
		rs.invNorm = make([]float32, maxID+1)
		for _, id := range ids {
			v := vecs.Vector(id)
			if len(v) != dim {
				return nil, paramErr("vector %d has dimension %d, want %d", id, len(v), dim)
			}
			rs.invNorm[id] = invNorm(v)
		}
	}
	x.rows.Store(rs)
	x.nAdded.Store(int64(total))
	x.nDeleted.Store(int64(nDel))
	return x, nil
}

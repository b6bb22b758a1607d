package quant

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/tandem-db/tandem/internal/index/distance"
	"github.com/tandem-db/tandem/internal/index/flat"
	"github.com/tandem-db/tandem/internal/index/ivf"
)

// Kind is a codec kind.
type Kind uint8

// Codec kinds.
const (
	KindSQ8 Kind = 1
	KindPQ  Kind = 2
)

// Vectors is the raw vectors of the indexed rows (the segment's own),
// read for training, encoding and refinement.
type Vectors interface {
	Dim() int
	Vector(id uint32) []float32
}

// IVFConfig configures an IVF_SQ8 / IVF_PQ index.
type IVFConfig struct {
	Kind   Kind
	Metric distance.Metric
	Nlist  int
	M      int // PQ sub-quantizers (dim % M == 0)
	Nbits  int // PQ bits per sub-quantizer, 1..8
	Seed   uint64
	// Refine keeps the raw vectors (read through Vectors) to re-rank
	// candidates exactly (SCANN's reorder).
	Refine bool
}

type qlist struct {
	ids   []uint32
	codes []byte
	norms []float32 // SQ8 + L2: squared norm of each decoded row
}

// IVF is an IVF index over quantized codes: the coarse quantizer is
// package ivf's k-means; each list holds row ids and their codes (SQ8 of
// the row, or PQ of the row's residual to its centroid, as FAISS's
// IndexIVFPQ). Cosine rows and queries are normalised first. Immutable
// after Build/LoadIVF; safe for concurrent Search.
type IVF struct {
	cfg      IVFConfig
	dim      int
	vecs     Vectors
	n        int
	cent     []float32
	sq       *SQ8
	pq       *PQ
	codeSize int
	lists    []qlist
	pool     sync.Pool
}

type ivfScratch struct {
	qn     []float32
	scores []float32
	resid  []float32
	table  []float32
	sq     SQQuery
	probes []probe
	topk   *flat.TopK
}

type probe struct {
	key  float32 // smaller is better
	list int32
}

func normalised(v []float32, dst []float32) []float32 {
	dst = append(dst[:0], v...)
	if n := distance.Norm(v); n > 0 {
		inv := 1 / n
		for j := range dst {
			dst[j] *= inv
		}
	}
	return dst
}

// BuildIVF trains and fills an index over rows 0..n-1 of vecs.
func BuildIVF(cfg IVFConfig, vecs Vectors, n, threads int) (*IVF, error) {
	dim := vecs.Dim()
	if cfg.Kind == KindPQ && (cfg.M < 1 || dim%cfg.M != 0 || cfg.Nbits < 1 || cfg.Nbits > 8) {
		return nil, fmt.Errorf("quant: pq m=%d nbits=%d invalid for dim %d", cfg.M, cfg.Nbits, dim)
	}
	coarse, err := ivf.New(ivf.Config{Metric: cfg.Metric, Nlist: cfg.Nlist, Seed: cfg.Seed, Iters: ivf.DefaultIters}, vecs)
	if err != nil {
		return nil, err
	}
	if err := coarse.Train(n, threads); err != nil {
		return nil, err
	}
	if err := coarse.AddAll(n, threads); err != nil {
		return nil, err
	}
	x := &IVF{cfg: cfg, dim: dim, vecs: vecs, n: n, cent: append([]float32(nil), coarse.Centroids()...), lists: make([]qlist, cfg.Nlist)}
	listOf := make([]int32, n)
	for c := range x.lists {
		x.lists[c].ids = coarse.ListIDs(c)
		for _, id := range x.lists[c].ids {
			listOf[id] = int32(c)
		}
	}
	coarse = nil
	cos := cfg.Metric == distance.Cosine
	// prepared returns the vector that is encoded for row id (normalised
	// for Cosine; minus its centroid for PQ).
	prepared := func(id uint32, buf []float32) []float32 {
		v := vecs.Vector(id)
		if cos {
			v = normalised(v, buf)
		}
		if cfg.Kind == KindPQ {
			if !cos {
				v = append(buf[:0], v...)
			}
			c := x.cent[int(listOf[id])*dim:]
			for j := range v {
				v[j] -= c[j]
			}
		}
		return v
	}
	threads = max(1, threads)
	switch cfg.Kind {
	case KindSQ8:
		buf := make([]float32, dim)
		x.sq = TrainSQ8(dim, func(yield func([]float32) bool) {
			for i := range n {
				if !yield(prepared(uint32(i), buf)) {
					return
				}
			}
		})
		x.codeSize = dim
	case KindPQ:
		// Training reads rows concurrently (one sub-space per goroutine):
		// give each call its own buffer.
		x.pq = TrainPQ(dim, cfg.M, cfg.Nbits, n, func(i int) []float32 {
			return prepared(uint32(i), make([]float32, dim))
		}, cfg.Seed, threads)
		x.codeSize = cfg.M
	default:
		return nil, fmt.Errorf("quant: codec kind %d", cfg.Kind)
	}
	// Encode list by list, lists spread over threads.
	var wg sync.WaitGroup
	next := make(chan int, len(x.lists))
	for c := range x.lists {
		next <- c
	}
	close(next)
	for range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]float32, dim)
			scratch := make([]float32, 256)
			for c := range next {
				l := &x.lists[c]
				l.codes = make([]byte, len(l.ids)*x.codeSize)
				if x.sq != nil && cfg.Metric == distance.L2 {
					l.norms = make([]float32, len(l.ids))
				}
				for i, id := range l.ids {
					v := prepared(id, buf)
					code := l.codes[i*x.codeSize : (i+1)*x.codeSize]
					if x.sq != nil {
						nrm := x.sq.Encode(v, code)
						if l.norms != nil {
							l.norms[i] = nrm
						}
					} else {
						x.pq.Encode(v, code, scratch)
					}
				}
			}
		}()
	}
	wg.Wait()
	x.initPool()
	return x, nil
}

func (x *IVF) initPool() {
	x.pool.New = func() any {
		s := &ivfScratch{qn: make([]float32, x.dim), scores: make([]float32, x.cfg.Nlist), resid: make([]float32, x.dim), topk: flat.NewTopK(0, x.cfg.Metric)}
		if x.pq != nil {
			s.table = make([]float32, x.pq.M*x.pq.Ksub)
		}
		return s
	}
}

// Config returns the configuration.
func (x *IVF) Config() IVFConfig { return x.cfg }

// Len returns the number of indexed rows.
func (x *IVF) Len() int { return x.n }

// MemoryBytes is the size of centroids, codec, ids, codes and norms.
func (x *IVF) MemoryBytes() int64 {
	b := int64(4 * len(x.cent))
	if x.sq != nil {
		b += x.sq.MemoryBytes()
	}
	if x.pq != nil {
		b += x.pq.MemoryBytes()
	}
	for i := range x.lists {
		l := &x.lists[i]
		b += int64(4*len(l.ids) + len(l.codes) + 4*len(l.norms))
	}
	return b
}

// selectProbes returns the nprobe lists closest to q (best first).
func (x *IVF) selectProbes(s *ivfScratch, q []float32, nprobe int) []probe {
	if x.cfg.Metric == distance.L2 {
		distance.L2SquaredBatch(q, x.cent, x.dim, s.scores)
	} else {
		distance.DotBatch(q, x.cent, x.dim, s.scores)
		for i := range s.scores {
			s.scores[i] = -s.scores[i]
		}
	}
	nprobe = min(nprobe, len(s.scores))
	ps := s.probes[:0]
	for c, key := range s.scores {
		if len(ps) == nprobe && key >= ps[len(ps)-1].key {
			continue
		}
		if len(ps) < nprobe {
			ps = append(ps, probe{})
		}
		i := len(ps) - 1
		for i > 0 && ps[i-1].key > key {
			ps[i] = ps[i-1]
			i--
		}
		ps[i] = probe{key: key, list: int32(c)}
	}
	s.probes = ps
	return ps
}

// Search returns the k best allowed rows (Milvus scores: L2 squared
// distance, IP, cosine), best first, probing nprobe lists. With
// cfg.Refine, reorderK (>= k) candidates by code distance are re-scored
// exactly on the raw vectors.
func (x *IVF) Search(q []float32, k, nprobe, reorderK int, allow func(uint32) bool) []flat.Hit {
	if k <= 0 || len(q) != x.dim || x.n == 0 {
		return nil
	}
	s := x.pool.Get().(*ivfScratch)
	defer x.pool.Put(s)
	if x.cfg.Metric == distance.Cosine {
		q = normalised(q, s.qn)
	}
	want := k
	if x.cfg.Refine {
		want = max(k, reorderK)
	}
	s.topk.Reset(want)
	l2 := x.cfg.Metric == distance.L2
	if x.sq != nil {
		x.sq.Prepare(q, &s.sq)
	} else if !l2 {
		x.pq.TableIP(q, s.table)
	}
	for _, p := range x.selectProbes(s, q, nprobe) {
		l := &x.lists[p.list]
		if len(l.ids) == 0 {
			continue
		}
		var base float32
		if x.pq != nil {
			c := x.cent[int(p.list)*x.dim : (int(p.list)+1)*x.dim]
			if l2 {
				for j := range q {
					s.resid[j] = q[j] - c[j]
				}
				x.pq.TableL2(s.resid, s.table)
			} else {
				base = -p.key // q·c
			}
		}
		cs := x.codeSize
		for i, id := range l.ids {
			if allow != nil && !allow(id) {
				continue
			}
			code := l.codes[i*cs : (i+1)*cs : (i+1)*cs]
			var score float32
			switch {
			case x.sq != nil && l2:
				score = s.sq.L2(code, l.norms[i])
			case x.sq != nil:
				score = s.sq.Dot(code)
			default:
				score = base + distance.SumLookup(s.table, x.pq.Ksub, code)
			}
			s.topk.Push(int64(id), score)
		}
	}
	hits := s.topk.Results()
	if x.cfg.Refine {
		hits = refine(hits, q, k, x.cfg.Metric, x.vecs, s.topk)
	}
	return hits
}

// refine re-scores hits exactly with the raw vectors (q already
// normalised for Cosine) and keeps the k best.
func refine(hits []flat.Hit, q []float32, k int, m distance.Metric, vecs Vectors, t *flat.TopK) []flat.Hit {
	t.Reset(k)
	for _, h := range hits {
		v := vecs.Vector(uint32(h.ID))
		var sc float32
		switch m {
		case distance.L2:
			sc = distance.L2Squared(q, v)
		case distance.IP:
			sc = distance.Dot(q, v)
		default:
			n := distance.Norm(v)
			if n > 0 {
				sc = distance.Dot(q, v) / n
			}
		}
		t.Push(h.ID, sc)
	}
	return t.Results()
}

// IVF file format (WriteTo/LoadIVF), little endian:
//
//	8 magic "TNDMIVFQ", u32 version (1), u32 kind, u32 metric, u32 nlist,
//	u32 dim, u32 m, u32 nbits, u32 refine, u64 seed, u32 rows
//	nlist*dim f32 centroids
//	codec (SQ8: u32 dim, vmin, scale; PQ: u32 dim, m, nbits, codebooks)
//	per list: u32 count, count u32 ids, count*codeSize codes,
//	  (SQ8 + L2) count f32 norms
//	u32 CRC-32C of every byte before it
const ivfMagic = "TNDMIVFQ"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// WriteTo writes the index (codes, not the raw vectors).
func (x *IVF) WriteTo(w io.Writer) (int64, error) {
	b := []byte(ivfMagic)
	for _, v := range []uint32{1, uint32(x.cfg.Kind), uint32(x.cfg.Metric), uint32(x.cfg.Nlist), uint32(x.dim), uint32(x.cfg.M), uint32(x.cfg.Nbits), b2u(x.cfg.Refine)} {
		b = appendU32(b, v)
	}
	b = binary.LittleEndian.AppendUint64(b, x.cfg.Seed)
	b = appendU32(b, uint32(x.n))
	b = appendF32s(b, x.cent)
	if x.sq != nil {
		b = x.sq.AppendTo(b)
	} else {
		b = x.pq.AppendTo(b)
	}
	for i := range x.lists {
		l := &x.lists[i]
		b = appendU32(b, uint32(len(l.ids)))
		for _, id := range l.ids {
			b = appendU32(b, id)
		}
		b = append(b, l.codes...)
		b = appendF32s(b, l.norms)
	}
	b = appendU32(b, crc32.Checksum(b, castagnoli))
	n, err := w.Write(b)
	return int64(n), err
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// LoadIVF reads an index written by WriteTo (exactly its bytes) over vecs.
func LoadIVF(r io.Reader, vecs Vectors) (*IVF, error) {
	head := make([]byte, 8+4*8+8+4)
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, corrupt("header: %v", err)
	}
	hr := &reader{b: head, off: 8}
	if string(head[:8]) != ivfMagic {
		return nil, corrupt("bad magic")
	}
	ver, kind, metric, nlist, dim, m, nbits, ref := hr.u32(), Kind(hr.u32()), distance.Metric(hr.u32()), int(hr.u32()), int(hr.u32()), int(hr.u32()), int(hr.u32()), hr.u32()
	seed := binary.LittleEndian.Uint64(head[hr.off:])
	hr.off += 8
	rows := int(hr.u32())
	if ver != 1 || (kind != KindSQ8 && kind != KindPQ) || metric < distance.L2 || metric > distance.Cosine ||
		nlist < 1 || nlist > ivf.MaxNlist || dim < 1 || dim > 1<<16 || ref > 1 || rows < 0 || vecs == nil || vecs.Dim() != dim {
		return nil, corrupt("header fields")
	}
	cfg := IVFConfig{Kind: kind, Metric: metric, Nlist: nlist, M: m, Nbits: nbits, Seed: seed, Refine: ref == 1}
	// The rest: centroids, codec, lists, CRC. Read it in one piece.
	rest, err := io.ReadAll(io.LimitReader(r, int64(4*nlist*dim)+int64(rows)*int64(8+dim)+int64(4*nlist)+1<<28))
	if err != nil {
		return nil, corrupt("body: %v", err)
	}
	body := &reader{b: rest}
	x := &IVF{cfg: cfg, dim: dim, vecs: vecs, n: rows, lists: make([]qlist, nlist)}
	x.cent = body.f32s(nlist * dim)
	if kind == KindSQ8 {
		x.sq = readSQ8(body, dim)
		x.codeSize = dim
	} else {
		x.pq = readPQ(body, dim)
		if x.pq != nil && (x.pq.M != m || x.pq.Nbits != nbits) {
			return nil, corrupt("pq codec m/nbits differ from the header")
		}
		x.codeSize = m
	}
	total := 0
	for i := range x.lists {
		cnt := int(body.u32())
		if body.err != nil || cnt > rows-total {
			return nil, corrupt("list %d size", i)
		}
		total += cnt
		l := &x.lists[i]
		l.ids = make([]uint32, cnt)
		for j := range l.ids {
			l.ids[j] = body.u32()
			if body.err == nil && int(l.ids[j]) >= rows {
				return nil, corrupt("row id %d >= rows %d", l.ids[j], rows)
			}
		}
		l.codes = body.bytes(cnt * x.codeSize)
		if x.sq != nil && metric == distance.L2 {
			l.norms = body.f32s(cnt)
		}
		if body.err != nil {
			return nil, body.err
		}
	}
	if total != rows {
		return nil, corrupt("lists hold %d rows, header %d", total, rows)
	}
	if body.err != nil || len(rest)-body.off != 4 {
		return nil, corrupt("trailing bytes or missing checksum")
	}
	all := append(append([]byte(nil), head...), rest[:body.off]...)
	if crc32.Checksum(all, castagnoli) != binary.LittleEndian.Uint32(rest[body.off:]) {
		return nil, corrupt("checksum mismatch")
	}
	x.initPool()
	return x, nil
}

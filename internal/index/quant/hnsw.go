package quant

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/tandem-db/tandem/internal/index/distance"
	"github.com/tandem-db/tandem/internal/index/flat"
	"github.com/tandem-db/tandem/internal/index/hnsw"
)

// HNSWConfig configures an HNSW_SQ / HNSW_PQ index.
type HNSWConfig struct {
	Graph hnsw.Config
	Kind  Kind
	M     int // PQ sub-quantizers
	Nbits int // PQ bits
	// Refine re-ranks candidates on the raw vectors (Milvus's refine=true;
	// Tandem refines with the segment's FP32 rows whatever refine_type).
	Refine bool
}

// HNSW is an HNSW graph searched with code distances. The graph is built
// by package hnsw on the raw rows (Tandem keeps them in the segment
// anyway; FAISS/Milvus build on the codes, which gives a slightly worse
// graph); searches walk it with SQ8/PQ asymmetric distances only, and
// with Refine re-score the best refine_k*k candidates exactly. Immutable
// after Build/Load; safe for concurrent Search.
type HNSW struct {
	cfg      HNSWConfig
	g        *hnsw.Index
	vecs     Vectors
	dim, n   int
	sq       *SQ8
	pq       *PQ
	codeSize int
	codes    []byte
	norms    []float32 // SQ8 + L2
	pool     sync.Pool
}

// BuildHNSW builds the graph over rows 0..n-1 and encodes them.
func BuildHNSW(cfg HNSWConfig, vecs Vectors, n, threads int, stop func() bool) (*HNSW, error) {
	g, err := hnsw.New(cfg.Graph, vecs, n)
	if err != nil {
		return nil, err
	}
	for lo := 0; lo < n; lo += 4096 {
		if stop != nil && stop() {
			return nil, errStopped
		}
		if err := g.AddAll(min(n, lo+4096), threads); err != nil {
			return nil, err
		}
	}
	x := &HNSW{cfg: cfg, g: g, vecs: vecs, dim: vecs.Dim(), n: n}
	if err := x.encode(threads); err != nil {
		return nil, err
	}
	x.initPool()
	return x, nil
}

var errStopped = fmt.Errorf("quant: build stopped")

// ErrStopped is returned by BuildHNSW when stop reports true.
var ErrStopped = errStopped

func (x *HNSW) prep(id uint32, buf []float32) []float32 {
	v := x.vecs.Vector(id)
	if x.cfg.Graph.Metric == distance.Cosine {
		return normalised(v, buf)
	}
	return v
}

func (x *HNSW) encode(threads int) error {
	dim, n := x.dim, x.n
	switch x.cfg.Kind {
	case KindSQ8:
		buf := make([]float32, dim)
		x.sq = TrainSQ8(dim, func(yield func([]float32) bool) {
			for i := range n {
				if !yield(x.prep(uint32(i), buf)) {
					return
				}
			}
		})
		x.codeSize = dim
		if x.cfg.Graph.Metric == distance.L2 {
			x.norms = make([]float32, n)
		}
	case KindPQ:
		if x.cfg.M < 1 || dim%x.cfg.M != 0 || x.cfg.Nbits < 1 || x.cfg.Nbits > 8 {
			return fmt.Errorf("quant: pq m=%d nbits=%d invalid for dim %d", x.cfg.M, x.cfg.Nbits, dim)
		}
		x.pq = TrainPQ(dim, x.cfg.M, x.cfg.Nbits, n, func(i int) []float32 { return x.prep(uint32(i), make([]float32, dim)) }, x.cfg.Graph.Seed, threads)
		x.codeSize = x.cfg.M
	default:
		return fmt.Errorf("quant: codec kind %d", x.cfg.Kind)
	}
	x.codes = make([]byte, n*x.codeSize)
	threads = max(1, threads)
	var wg sync.WaitGroup
	per := (n + threads - 1) / threads
	for t := range threads {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			buf := make([]float32, dim)
			scratch := make([]float32, 256)
			for i := lo; i < hi; i++ {
				v := x.prep(uint32(i), buf)
				code := x.codes[i*x.codeSize : (i+1)*x.codeSize]
				if x.sq != nil {
					nrm := x.sq.Encode(v, code)
					if x.norms != nil {
						x.norms[i] = nrm
					}
				} else {
					x.pq.Encode(v, code, scratch)
				}
			}
		}(min(n, t*per), min(n, (t+1)*per))
	}
	wg.Wait()
	return nil
}

type hnswScratch struct {
	qn      []float32
	table   []float32
	sq      SQQuery
	visited []uint32
	epoch   uint32
	cand    []hc // min-heap by d
	res     []hc // max-heap by d (size <= ef)
	topk    *flat.TopK
}

type hc struct {
	d  float32
	id uint32
}

func (x *HNSW) initPool() {
	x.pool.New = func() any {
		s := &hnswScratch{qn: make([]float32, x.dim), visited: make([]uint32, x.n), topk: flat.NewTopK(0, x.cfg.Graph.Metric)}
		if x.pq != nil {
			s.table = make([]float32, x.pq.M*x.pq.Ksub)
		}
		return s
	}
}

// Graph returns the underlying graph.
func (x *HNSW) Graph() *hnsw.Index { return x.g }

// Config returns the configuration.
func (x *HNSW) Config() HNSWConfig { return x.cfg }

// Len returns the number of rows.
func (x *HNSW) Len() int { return x.n }

// MemoryBytes is the graph plus codes, norms and codec.
func (x *HNSW) MemoryBytes() int64 {
	b := x.g.MemoryBytes() + int64(len(x.codes)+4*len(x.norms))
	if x.sq != nil {
		b += x.sq.MemoryBytes()
	}
	if x.pq != nil {
		b += x.pq.MemoryBytes()
	}
	return b
}

// dist is the internal code distance (smaller is better).
func (x *HNSW) dist(s *hnswScratch, id uint32) float32 {
	code := x.codes[int(id)*x.codeSize : (int(id)+1)*x.codeSize]
	switch {
	case x.sq != nil && x.norms != nil:
		return s.sq.L2(code, x.norms[id])
	case x.sq != nil:
		return -s.sq.Dot(code)
	case x.cfg.Graph.Metric == distance.L2:
		return distance.SumLookup(s.table, x.pq.Ksub, code)
	default:
		return -distance.SumLookup(s.table, x.pq.Ksub, code)
	}
}

func (x *HNSW) score(d float32) float32 {
	if x.cfg.Graph.Metric == distance.L2 {
		return d
	}
	return -d
}

// Search returns the k best allowed rows, best first (Milvus scores),
// walking the graph with beam ef; with cfg.Refine, the best
// refineK*k candidates are re-scored on the raw vectors.
func (x *HNSW) Search(q []float32, k, ef, refineK int, allow func(uint32) bool) []flat.Hit {
	if k <= 0 || len(q) != x.dim || x.n == 0 {
		return nil
	}
	ep, maxL, ok := x.g.Entry()
	if !ok {
		return nil
	}
	s := x.pool.Get().(*hnswScratch)
	defer x.pool.Put(s)
	if x.cfg.Graph.Metric == distance.Cosine {
		q = normalised(q, s.qn)
	}
	switch {
	case x.sq != nil:
		x.sq.Prepare(q, &s.sq)
	case x.cfg.Graph.Metric == distance.L2:
		x.pq.TableL2(q, s.table)
	default:
		x.pq.TableIP(q, s.table)
	}
	want := k
	if x.cfg.Refine {
		want = k * max(1, refineK)
	}
	ef = max(ef, want)
	// Greedy descent on the upper levels.
	cur, curD := ep, x.dist(s, ep)
	for l := maxL; l > 0; l-- {
		for changed := true; changed; {
			changed = false
			for _, nb := range x.g.Neighbors(cur, l) {
				if d := x.dist(s, nb); d < curD {
					cur, curD, changed = nb, d, true
				}
			}
		}
	}
	// Beam search on level 0.
	s.epoch++
	if s.epoch == 0 {
		clear(s.visited)
		s.epoch = 1
	}
	s.cand, s.res = s.cand[:0], s.res[:0]
	s.visited[cur] = s.epoch
	s.cand = pushMin(s.cand, hc{curD, cur})
	if allow == nil || allow(cur) {
		s.res = pushMax(s.res, hc{curD, cur})
	}
	for len(s.cand) > 0 {
		c := s.cand[0]
		if len(s.res) >= ef && c.d > s.res[0].d {
			break
		}
		s.cand = popMin(s.cand)
		for _, nb := range x.g.Neighbors(c.id, 0) {
			if s.visited[nb] == s.epoch {
				continue
			}
			s.visited[nb] = s.epoch
			d := x.dist(s, nb)
			if len(s.res) < ef || d < s.res[0].d {
				s.cand = pushMin(s.cand, hc{d, nb})
				if allow == nil || allow(nb) {
					s.res = pushMax(s.res, hc{d, nb})
					if len(s.res) > ef {
						s.res = popMax(s.res)
					}
				}
			}
		}
	}
	s.topk.Reset(want)
	for _, r := range s.res {
		s.topk.Push(int64(r.id), x.score(r.d))
	}
	hits := s.topk.Results()
	if x.cfg.Refine {
		return refine(hits, q, k, x.cfg.Graph.Metric, x.vecs, s.topk)
	}
	if len(hits) > k {
		hits = hits[:k]
	}
	return hits
}

func pushMin(h []hc, c hc) []hc {
	h = append(h, c)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h[p].d <= h[i].d {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
	return h
}

func popMin(h []hc) []hc {
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && h[l].d < h[m].d {
			m = l
		}
		if r < n && h[r].d < h[m].d {
			m = r
		}
		if m == i {
			return h
		}
		h[m], h[i] = h[i], h[m]
		i = m
	}
}

func pushMax(h []hc, c hc) []hc {
	h = append(h, c)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h[p].d >= h[i].d {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
	return h
}

func popMax(h []hc) []hc {
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && h[l].d > h[m].d {
			m = l
		}
		if r < n && h[r].d > h[m].d {
			m = r
		}
		if m == i {
			return h
		}
		h[m], h[i] = h[i], h[m]
		i = m
	}
}

// HNSW file format (WriteTo/LoadHNSW), little endian:
//
//	8 magic "TNDMHNSQ", u32 version (1), u32 kind, u32 m, u32 nbits,
//	u32 refine, u32 rows, u32 dim, u64 graph length G
//	G bytes: the graph (package hnsw's WriteTo, with its own CRC)
//	codec (SQ8 or PQ), rows*codeSize codes, (SQ8 + L2) rows f32 norms
//	u32 CRC-32C of every byte before it
const hnswMagic = "TNDMHNSQ"

// WriteTo writes graph, codec and codes (not the raw vectors).
func (x *HNSW) WriteTo(w io.Writer) (int64, error) {
	var gb bytes.Buffer
	if _, err := x.g.WriteTo(&gb); err != nil {
		return 0, err
	}
	b := []byte(hnswMagic)
	for _, v := range []uint32{1, uint32(x.cfg.Kind), uint32(x.cfg.M), uint32(x.cfg.Nbits), b2u(x.cfg.Refine), uint32(x.n), uint32(x.dim)} {
		b = appendU32(b, v)
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(gb.Len()))
	b = append(b, gb.Bytes()...)
	if x.sq != nil {
		b = x.sq.AppendTo(b)
	} else {
		b = x.pq.AppendTo(b)
	}
	b = append(b, x.codes...)
	b = appendF32s(b, x.norms)
	b = appendU32(b, crc32.Checksum(b, castagnoli))
	n, err := w.Write(b)
	return int64(n), err
}

// LoadHNSW reads an index written by WriteTo (all of r) over vecs.
func LoadHNSW(r io.Reader, vecs Vectors) (*HNSW, error) {
	all, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if len(all) < 8+7*4+8+4 || string(all[:8]) != hnswMagic {
		return nil, corrupt("bad header")
	}
	body := all[:len(all)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(all[len(all)-4:]) {
		return nil, corrupt("checksum mismatch")
	}
	rd := &reader{b: body, off: 8}
	ver, kind, m, nbits, ref, rows, dim := rd.u32(), Kind(rd.u32()), int(rd.u32()), int(rd.u32()), rd.u32(), int(rd.u32()), int(rd.u32())
	glen := binary.LittleEndian.Uint64(body[rd.off:])
	rd.off += 8
	if ver != 1 || (kind != KindSQ8 && kind != KindPQ) || ref > 1 || vecs == nil || vecs.Dim() != dim || glen > uint64(len(body)-rd.off) {
		return nil, corrupt("header fields")
	}
	g, err := hnsw.Load(bytes.NewReader(body[rd.off:rd.off+int(glen)]), vecs)
	if err != nil {
		return nil, fmt.Errorf("quant: graph: %w", err)
	}
	rd.off += int(glen)
	if g.Capacity() != rows || g.Len() != rows {
		return nil, corrupt("graph holds %d rows, header %d", g.Len(), rows)
	}
	x := &HNSW{cfg: HNSWConfig{Graph: g.Config(), Kind: kind, M: m, Nbits: nbits, Refine: ref == 1}, g: g, vecs: vecs, dim: dim, n: rows}
	if kind == KindSQ8 {
		x.sq = readSQ8(rd, dim)
		x.codeSize = dim
	} else {
		x.pq = readPQ(rd, dim)
		if x.pq != nil && (x.pq.M != m || x.pq.Nbits != nbits) {
			return nil, corrupt("pq codec m/nbits differ from the header")
		}
		x.codeSize = m
	}
	x.codes = rd.bytes(rows * x.codeSize)
	if x.sq != nil && x.cfg.Graph.Metric == distance.L2 {
		x.norms = rd.f32s(rows)
	}
	if rd.err != nil {
		return nil, rd.err
	}
	if rd.off != len(body) {
		return nil, corrupt("%d trailing bytes", len(body)-rd.off)
	}
	x.initPool()
	return x, nil
}

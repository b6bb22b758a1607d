// Package hnsw is Tandem's HNSW (hierarchical navigable small world) graph
// index over float32 vectors that it does not own: vectors are read through
// the Vectors interface, so the engine's segment storage is not duplicated.
//
// Memory layout (flat arrays, no per-node maps or pointers):
//   - level0: capacity*(M0+1) uint32; node i's level-0 list is
//     level0[i*(M0+1):] = [count, id_1 .. id_count, unused...], M0 = 2*M.
//   - levels: one byte per row, the row's top level. Levels are a hash of
//     Config.Seed and the row id (multiplier 1/ln(M)), so they are fixed at
//     New for every row and the upper lists can be laid out up front.
//   - upper: one []uint32 arena; row i with level L > 0 owns L lists of
//     M+1 words (count + ids) starting at upperOff[i], level 1 first.
//   - added / deleted: bitsets (tombstones: deleted rows still route).
//   - invNorm (Cosine only): 1/Norm(v) per row as float32 bits; a zero vector
//     has 0. Vectors are never modified; cosine similarity is computed as
//     Dot(q, v) * invNorm(q) * invNorm(v).
//
// Internally every metric is a distance where smaller is better: L2 squared,
// -IP, -cosine. Search converts back to Milvus scores.
//
// Algorithm (Malkov & Yashunin's HNSW): insertion descends greedily from
// the entry point to the new row's level, then on each level from there
// down runs a beam search of width efConstruction, picks at most M
// neighbours with the "select neighbours heuristic" (keepPruned off unless
// Config.KeepPruned), links both ways, and re-prunes a neighbour's list with
// the same heuristic when it overflows (M links on levels >= 1, M0 = 2*M on
// level 0). Search descends greedily to level 0 and runs a beam search of
// width ef. Filters and tombstones apply to results only; see Search for
// when a filtered search switches to an exact scan. Neighbour vectors are
// prefetched (prefetch_amd64.s) before they are scored, since the scan is
// bound by memory, not arithmetic.
//
// Concurrency invariants:
//   - Add may run on many goroutines. A node's link lists are written only
//     under its own mutex (locks[i]); the entry point and max level are
//     changed only under epMu and published in one atomic word.
//   - Link-list words, bitset words, invNorm and the entry word are written
//     with atomic stores and read with atomic loads, so Search needs no
//     locks and may run concurrently with Add and Delete (and passes -race).
//     A writer stores the ids of a list before its count; every position
//     below a count read by a searcher therefore holds a valid, added row.
//   - WriteTo must not run concurrently with Add or Delete.
//
// On-disk format (WriteTo/Load), all little endian:
//
//	header 64 bytes: magic "TNDMHNSW", u32 version (1), u32 metric, u32 M,
//	  u32 efConstruction, u64 seed, u32 dim, u32 capacity, u32 added count,
//	  i32 maxLevel (-1 when empty), u32 entry, u32 len(upper),
//	  u32 flags (bit 0: KeepPruned), 4 zero bytes
//	levels   capacity bytes, zero padded to a multiple of 4
//	added    ceil(capacity/64) u64
//	deleted  ceil(capacity/64) u64
//	level0   capacity*(2M+1) u32
//	upper    len(upper) u32
//	trailer  u32 CRC-32C (Castagnoli) of every byte before it
//
// Vectors and norms are not stored; Load recomputes the cosine norms from
// the Vectors it is given.
package hnsw

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tandem-db/tandem/internal/index/distance"
	"github.com/tandem-db/tandem/internal/merr"
)

// Vectors gives the index read access to the rows it indexes.
type Vectors interface {
	// Dim is the vector dimension.
	Dim() int
	// Vector returns row id (len Dim). It must stay valid and unchanged for
	// the index's lifetime once the row has been added, and be safe for
	// concurrent use.
	Vector(id uint32) []float32
}

// maxLevelCap bounds a node's level (the hash makes > 20 astronomically
// unlikely for M >= 2; it also bounds what Load accepts).
const maxLevelCap = 32

// MaxCapacity is the largest number of rows an index can hold.
const MaxCapacity = 1<<31 - 1

// Index is an HNSW graph. Create it with New or Load.
type Index struct {
	cfg      Config
	vecs     Vectors
	dim      int
	capacity int
	m, m0    int
	stride0  int // m0 + 1
	strideU  int // m + 1

	level0   []uint32
	levels   []uint8
	upperOff []uint32
	upper    []uint32
	invNorm  []uint32 // float32 bits; Cosine only

	locks   []sync.Mutex
	added   []uint64 // bitset, atomic
	deleted []uint64 // bitset, atomic

	epMu     sync.Mutex
	entry    atomic.Uint64 // 0: empty; else (maxLevel+1)<<32 | entry id
	nAdded   atomic.Int64
	nDeleted atomic.Int64 // added rows with a tombstone

	pool sync.Pool // *searcher
}

// New returns an empty index for rows 0..capacity-1 of vecs. Memory for
// the graph of all capacity rows is allocated up front.
func New(cfg Config, vecs Vectors, capacity int) (*Index, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if vecs == nil || vecs.Dim() <= 0 {
		return nil, paramErr("vectors must be non-nil with a positive dimension")
	}
	if capacity < 0 || capacity > MaxCapacity {
		return nil, paramErr("capacity=%d out of range [0, %d]", capacity, MaxCapacity)
	}
	levels := make([]uint8, capacity)
	mult := 1 / math.Log(float64(cfg.M))
	for i := range levels {
		levels[i] = levelFor(cfg.Seed, uint32(i), mult)
	}
	x, err := newIndex(cfg, vecs, capacity, levels)
	if err != nil {
		return nil, err
	}
	return x, nil
}

// newIndex allocates an index with the given per-row levels.
func newIndex(cfg Config, vecs Vectors, capacity int, levels []uint8) (*Index, error) {
	m := cfg.M
	x := &Index{
		cfg:      cfg,
		vecs:     vecs,
		dim:      vecs.Dim(),
		capacity: capacity,
		m:        m,
		m0:       2 * m,
		stride0:  2*m + 1,
		strideU:  m + 1,
		levels:   levels,
		upperOff: make([]uint32, capacity),
		locks:    make([]sync.Mutex, capacity),
		added:    make([]uint64, (capacity+63)/64),
		deleted:  make([]uint64, (capacity+63)/64),
	}
	var off int64
	for i, l := range levels {
		x.upperOff[i] = uint32(off)
		off += int64(l) * int64(x.strideU)
		if off > math.MaxUint32 {
			return nil, paramErr("capacity=%d with M=%d is too large", capacity, m)
		}
	}
	x.level0 = make([]uint32, capacity*x.stride0)
	x.upper = make([]uint32, off)
	if cfg.Metric == distance.Cosine {
		x.invNorm = make([]uint32, capacity)
	}
	x.pool.New = func() any { return newSearcher(capacity) }
	return x, nil
}

// levelFor draws row id's level from a geometric-like distribution:
// floor(-ln(u) * mult) with u uniform in (0, 1] from a hash of seed and id.
func levelFor(seed uint64, id uint32, mult float64) uint8 {
	h := splitmix64(seed ^ (uint64(id)+1)*0x9e3779b97f4a7c15)
	u := (float64(h>>11) + 1) / (1 << 53)
	l := int(-math.Log(u) * mult)
	return uint8(min(l, maxLevelCap))
}

func splitmix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Config returns the build configuration.
func (x *Index) Config() Config { return x.cfg }

// Dim returns the vector dimension.
func (x *Index) Dim() int { return x.dim }

// Capacity returns the number of rows the index can hold.
func (x *Index) Capacity() int { return x.capacity }

// Len returns the number of added rows that are not deleted.
func (x *Index) Len() int { return int(x.nAdded.Load() - x.nDeleted.Load()) }

// list returns the link list (count word first) of node id at level.
func (x *Index) list(id uint32, level int) []uint32 {
	if level == 0 {
		o := int(id) * x.stride0
		return x.level0[o : o+x.stride0 : o+x.stride0]
	}
	o := int(x.upperOff[id]) + (level-1)*x.strideU
	return x.upper[o : o+x.strideU : o+x.strideU]
}

func bitGet(b []uint64, id uint32) bool {
	return atomic.LoadUint64(&b[id>>6])&(1<<(id&63)) != 0
}

// bitSet sets the bit and reports whether it was clear before.
func bitSet(b []uint64, id uint32) bool {
	mask := uint64(1) << (id & 63)
	return atomic.OrUint64(&b[id>>6], mask)&mask == 0
}

// IsDeleted reports whether row id carries a tombstone.
func (x *Index) IsDeleted(id uint32) bool {
	return int(id) < x.capacity && bitGet(x.deleted, id)
}

// Contains reports whether row id has been added (deleted or not).
func (x *Index) Contains(id uint32) bool {
	return int(id) < x.capacity && bitGet(x.added, id)
}

// Delete marks row id deleted: it keeps routing searches but is never
// returned. Deleting a row that was not added, or twice, does nothing.
// Safe for concurrent use.
func (x *Index) Delete(id uint32) {
	if int(id) >= x.capacity || !bitGet(x.added, id) {
		return
	}
	if bitSet(x.deleted, id) {
		x.nDeleted.Add(1)
	}
}

// query is a vector prepared for distance computation: for Cosine, scale
// is 1/Norm(vec) (0 for a zero vector); otherwise scale is unused.
type query struct {
	vec   []float32
	scale float32
}

func (x *Index) prepare(v []float32) query {
	q := query{vec: v}
	if x.cfg.Metric == distance.Cosine {
		q.scale = invNorm(v)
	}
	return q
}

func invNorm(v []float32) float32 {
	n := distance.Norm(v)
	if n == 0 || n != n {
		return 0
	}
	return 1 / n
}

// dist is the internal distance (smaller is better) from q to row id.
func (x *Index) dist(q query, id uint32) float32 {
	return x.distVec(q, x.vecs.Vector(id), id)
}

// distVec is dist with row id's vector v already fetched.
func (x *Index) distVec(q query, v []float32, id uint32) float32 {
	switch x.cfg.Metric {
	case distance.L2:
		return distance.L2Squared(q.vec, v)
	case distance.IP:
		return -distance.Dot(q.vec, v)
	default:
		return -distance.Dot(q.vec, v) * q.scale * math.Float32frombits(atomic.LoadUint32(&x.invNorm[id]))
	}
}

// distNodes is the internal distance between two rows.
func (x *Index) distNodes(a, b uint32) float32 {
	q := query{vec: x.vecs.Vector(a)}
	if x.invNorm != nil {
		q.scale = math.Float32frombits(atomic.LoadUint32(&x.invNorm[a]))
	}
	return x.dist(q, b)
}

// score converts an internal distance to the Milvus score.
func (x *Index) score(d float32) float32 {
	if x.cfg.Metric == distance.L2 {
		return d
	}
	return -d
}

func (x *Index) loadEntry() (ep uint32, maxLevel int, ok bool) {
	e := x.entry.Load()
	if e == 0 {
		return 0, -1, false
	}
	return uint32(e), int(e>>32) - 1, true
}

func packEntry(ep uint32, level int) uint64 { return uint64(level+1)<<32 | uint64(ep) }

// Add inserts row id (< capacity). The row's vector must already be
// readable through Vectors. Safe for concurrent use with Add, Delete and
// Search. Adding a row twice is an error.
func (x *Index) Add(id uint32) error {
	if int(id) >= x.capacity {
		return paramErr("id %d out of range [0, %d)", id, x.capacity)
	}
	v := x.vecs.Vector(id)
	if len(v) != x.dim {
		return paramErr("vector %d has dimension %d, want %d", id, len(v), x.dim)
	}
	q := x.prepare(v)
	if x.invNorm != nil {
		// Before the added bit: an exact scan that sees the bit sees the norm.
		atomic.StoreUint32(&x.invNorm[id], math.Float32bits(q.scale))
	}
	if !bitSet(x.added, id) {
		return fmt.Errorf("hnsw: %w", merr.Wrapf(merr.ErrParameterInvalid, "row %d already added", id))
	}
	s := x.pool.Get().(*searcher)
	x.insert(s, id, q)
	x.pool.Put(s)
	x.nAdded.Add(1)
	return nil
}

func (x *Index) insert(s *searcher, id uint32, q query) {
	level := int(x.levels[id])
	ep, maxL, ok := x.loadEntry()
	if !ok || level > maxL {
		x.epMu.Lock()
		ep, maxL, ok = x.loadEntry()
		if !ok {
			x.entry.Store(packEntry(id, level))
			x.epMu.Unlock()
			return
		}
		if level <= maxL {
			x.epMu.Unlock()
		} else {
			// Keep epMu until this node is linked and becomes the entry.
			defer func() {
				x.entry.Store(packEntry(id, level))
				x.epMu.Unlock()
			}()
		}
	}
	cur, curD := x.greedy(q, ep, maxL, level)
	for l := min(level, maxL); l >= 0; l-- {
		x.searchLayer(s, q, cur, curD, x.cfg.EfConstruction, l, nil)
		// s.res is a max-heap; sort ascending for the heuristic.
		cands := s.heapSortResults()
		maxConn := x.m
		// Copy the selection: link reuses s.sel when it prunes.
		sel := append(s.chosen[:0], x.selectNeighbours(s, cands, maxConn, id)...)
		s.chosen = sel
		x.setLinks(s, id, l, sel)
		for _, c := range sel {
			x.link(s, c.id, id, c.d, l)
		}
		if len(cands) > 0 {
			cur, curD = cands[0].id, cands[0].d
		}
	}
}

// greedy descends from ep on levels maxL..above+1, each time moving to the
// closest neighbour until no neighbour is closer.
func (x *Index) greedy(q query, ep uint32, maxL, above int) (uint32, float32) {
	cur := ep
	curD := x.dist(q, cur)
	var vbuf [64][]float32
	var ibuf [64]uint32
	for l := maxL; l > above; l-- {
		for changed := true; changed; {
			changed = false
			lst := x.list(cur, l)
			n := min(int(atomic.LoadUint32(&lst[0])), len(lst)-1, len(vbuf))
			vs, ids := vbuf[:n], ibuf[:n]
			for j := range vs {
				ids[j] = atomic.LoadUint32(&lst[j+1])
				vs[j] = x.vecs.Vector(ids[j])
				prefetch(vs[j][:min(len(vs[j]), prefetchFloats)])
			}
			for j, v := range vs {
				nb := ids[j]
				if d := x.distVec(q, v, nb); d < curD {
					cur, curD, changed = nb, d, true
				}
			}
		}
	}
	return cur, curD
}

// selectNeighbours applies the HNSW "select neighbours heuristic" to cands
// sorted by ascending distance: a candidate is kept if it is closer to the
// base than to every neighbour kept so far; with Config.KeepPruned the
// remaining slots are then filled with the closest discarded candidates.
// self is skipped. The result aliases s.sel.
func (x *Index) selectNeighbours(s *searcher, cands []cand, maxConn int, self uint32) []cand {
	sel := s.sel[:0]
	for _, c := range cands {
		if len(sel) >= maxConn {
			break
		}
		if c.id == self {
			continue
		}
		good := true
		for _, r := range sel {
			if x.distNodes(c.id, r.id) < c.d {
				good = false
				break
			}
		}
		if good {
			sel = append(sel, c)
		} else if x.cfg.KeepPruned {
			s.pruned = append(s.pruned, c)
		}
	}
	if x.cfg.KeepPruned {
		// Fill the free slots with the closest discarded candidates.
		for _, c := range s.pruned {
			if len(sel) >= maxConn {
				break
			}
			sel = append(sel, c)
		}
		s.pruned = s.pruned[:0]
	}
	s.sel = sel
	return sel
}

// setLinks sets node id's list at level to sel, keeping the links that
// concurrent inserts added to it meanwhile. Such links exist because id is
// reachable on a level as soon as its neighbours there link to it, while
// its own lists on the levels below are still empty: a concurrent insert
// that reaches id on its way down may select it and link id -> itself on
// a lower level before id's insert gets there. Overwriting the list would
// drop those links, and with them possibly the only in-link of the other
// node, which no search could then reach (seen as an exact-match query
// missing its own row after a concurrent build). If the union exceeds the
// level's capacity it is pruned with the heuristic, as link does.
func (x *Index) setLinks(s *searcher, id uint32, level int, sel []cand) {
	x.locks[id].Lock()
	defer x.locks[id].Unlock()
	lst := x.list(id, level)
	if n := int(lst[0]); n > 0 {
		maxConn := x.m
		if level == 0 {
			maxConn = x.m0
		}
		pc := append(s.prune[:0], sel...)
		for j := 1; j <= n; j++ {
			nb := lst[j]
			if !slices.ContainsFunc(sel, func(c cand) bool { return c.id == nb }) {
				pc = append(pc, cand{x.distNodes(id, nb), nb})
			}
		}
		s.prune = pc
		if len(pc) > maxConn {
			sortCands(pc)
			pc = x.selectNeighbours(s, pc, maxConn, id)
		}
		sel = pc
	}
	for j, c := range sel {
		atomic.StoreUint32(&lst[j+1], c.id)
	}
	atomic.StoreUint32(&lst[0], uint32(len(sel)))
}

// link adds a link nb -> id at level (d = distance between them), pruning
// nb's list with the heuristic when it is full.
func (x *Index) link(s *searcher, nb, id uint32, d float32, level int) {
	maxConn := x.m
	if level == 0 {
		maxConn = x.m0
	}
	x.locks[nb].Lock()
	defer x.locks[nb].Unlock()
	lst := x.list(nb, level)
	n := int(lst[0])
	for j := 1; j <= n; j++ {
		if lst[j] == id {
			return
		}
	}
	if n < maxConn {
		atomic.StoreUint32(&lst[n+1], id)
		atomic.StoreUint32(&lst[0], uint32(n+1))
		return
	}
	pc := append(s.prune[:0], cand{d, id})
	for j := 1; j <= n; j++ {
		pc = append(pc, cand{x.distNodes(nb, lst[j]), lst[j]})
	}
	sortCands(pc)
	s.prune = pc
	// selectNeighbours uses s.sel, distinct from s.prune.
	sel := x.selectNeighbours(s, pc, maxConn, nb)
	for j, c := range sel {
		atomic.StoreUint32(&lst[j+1], c.id)
	}
	atomic.StoreUint32(&lst[0], uint32(len(sel)))
}

// AddAll adds rows 0..n-1 using threads goroutines (threads <= 0: GOMAXPROCS).
// Rows already added are skipped. It returns the first error.
func (x *Index) AddAll(n int, threads int) error {
	if n < 0 || n > x.capacity {
		return paramErr("n=%d out of range [0, %d]", n, x.capacity)
	}
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	threads = max(1, min(threads, n))
	var next atomic.Int64
	const chunk = 16
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(chunk)) - chunk
				if lo >= n {
					return
				}
				for id := lo; id < min(lo+chunk, n); id++ {
					if bitGet(x.added, uint32(id)) {
						continue
					}
					if err := x.Add(uint32(id)); err != nil {
						errOnce.Do(func() { firstErr = err })
						next.Store(int64(n))
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// MemoryBytes returns the bytes held by the graph (not the vectors):
// link lists, levels, locks, bitsets, norms, and one pooled search scratch.
func (x *Index) MemoryBytes() int64 {
	b := int64(len(x.level0))*4 + int64(len(x.upper))*4 + int64(len(x.upperOff))*4 +
		int64(len(x.levels)) + int64(len(x.locks))*8 + int64(len(x.added)+len(x.deleted))*8 +
		int64(len(x.invNorm))*4
	b += int64(x.capacity) * 2 // one visited array
	return b
}

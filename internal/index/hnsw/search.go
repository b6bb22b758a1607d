package hnsw

import (
	"math"
	"math/bits"
	"slices"
	"sync/atomic"

	"github.com/tandem-db/tandem/internal/index/flat"
)

// cand is a (distance, row) pair; smaller d is better.
type cand struct {
	d  float32
	id uint32
}

func candLess(a, b cand) bool {
	if a.d != b.d {
		return a.d < b.d
	}
	return a.id < b.id
}

func sortCands(c []cand) {
	slices.SortFunc(c, func(a, b cand) int {
		switch {
		case candLess(a, b):
			return -1
		case candLess(b, a):
			return 1
		}
		return 0
	})
}

// searcher is per-goroutine scratch, pooled by the index: an epoch-stamped
// visited array (one uint16 per row; cleared every 65535 uses) and heaps.
type searcher struct {
	visited []uint16
	epoch   uint16
	cands   []cand // min-heap on d: candidates to expand
	res     []cand // max-heap on d: best results so far (at most ef)
	sel     []cand // heuristic output
	pruned  []cand // candidates the heuristic discarded (KeepPruned)
	chosen  []cand // the new node's neighbours while linking back
	prune   []cand // pruning input
	ids     []uint32
	vs      [][]float32
}

func newSearcher(capacity int) *searcher {
	return &searcher{visited: make([]uint16, capacity)}
}

// reset starts a new visited epoch and empties the heaps.
func (s *searcher) reset() {
	s.epoch++
	if s.epoch == 0 {
		clear(s.visited)
		s.epoch = 1
	}
	s.cands = s.cands[:0]
	s.res = s.res[:0]
}

// pushCand pushes onto the candidate min-heap.
func (s *searcher) pushCand(c cand) {
	h := append(s.cands, c)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h[p].d <= c.d {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = c
	s.cands = h
}

// popCand removes the candidate min-heap's top.
func (s *searcher) popCand() {
	h := s.cands
	n := len(h) - 1
	last := h[n]
	h = h[:n]
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && h[r].d < h[c].d {
			c = r
		}
		if h[c].d >= last.d {
			break
		}
		h[i] = h[c]
		i = c
	}
	if n > 0 {
		h[i] = last
	}
	s.cands = h
}

// pushRes pushes onto the result max-heap.
func (s *searcher) pushRes(c cand) {
	h := append(s.res, c)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h[p].d >= c.d {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = c
	s.res = h
}

// popRes removes the result max-heap's top (the worst result).
func (s *searcher) popRes() {
	h := s.res
	n := len(h) - 1
	last := h[n]
	h = h[:n]
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && h[r].d > h[c].d {
			c = r
		}
		if h[c].d <= last.d {
			break
		}
		h[i] = h[c]
		i = c
	}
	if n > 0 {
		h[i] = last
	}
	s.res = h
}

// sortedResults sorts s.res in place by ascending distance, ties by row
// id (it is no longer a heap afterwards) and returns it.
func (s *searcher) sortedResults() []cand {
	sortCands(s.res)
	return s.res
}

// heapSortResults sorts the max-heap s.res in place by ascending distance
// (heap sort: no comparator calls; ties in arbitrary but deterministic
// order) and returns it. Used on the insert path.
func (s *searcher) heapSortResults() []cand {
	h := s.res
	for n := len(h) - 1; n > 0; n-- {
		top := h[0]
		last := h[n]
		i := 0
		for {
			c := 2*i + 1
			if c >= n {
				break
			}
			if r := c + 1; r < n && h[r].d > h[c].d {
				c = r
			}
			if h[c].d <= last.d {
				break
			}
			h[i] = h[c]
			i = c
		}
		h[i] = last
		h[n] = top
	}
	return h
}

// filter decides which rows may be returned (routing ignores it).
type filter struct {
	allow      func(id uint32) bool
	deleted    []uint64
	anyDeleted bool
}

func (f *filter) accept(id uint32) bool {
	if f.anyDeleted && bitGet(f.deleted, id) {
		return false
	}
	return f.allow == nil || f.allow(id)
}

// searchLayer runs the HNSW beam search on one level from ep, leaving up to
// ef accepted rows (all rows when f is nil) in s.res. Rows rejected by f
// still route: they enter the candidate heap while the result set is not
// full or they are closer than its worst entry.
func (x *Index) searchLayer(s *searcher, q query, ep uint32, epD float32, ef, level int, f *filter) {
	s.reset()
	visited, epoch := s.visited, s.epoch
	visited[ep] = epoch
	s.pushCand(cand{epD, ep})
	lower := float32(math.Inf(1))
	if f == nil || f.accept(ep) {
		s.pushRes(cand{epD, ep})
		lower = epD
	}
	for len(s.cands) > 0 {
		c := s.cands[0]
		if c.d > lower && len(s.res) >= ef {
			break
		}
		s.popCand()
		lst := x.list(c.id, level)
		n := min(int(atomic.LoadUint32(&lst[0])), len(lst)-1)
		// Gather the unvisited neighbours first, then score them while
		// prefetching the next one's vector (the scan is memory bound).
		ids, vs := s.ids[:0], s.vs[:0]
		for j := 1; j <= n; j++ {
			nb := atomic.LoadUint32(&lst[j])
			if visited[nb] == epoch {
				continue
			}
			visited[nb] = epoch
			ids = append(ids, nb)
			vs = append(vs, x.vecs.Vector(nb))
		}
		for _, v := range vs {
			prefetch(v[:min(len(v), prefetchFloats)])
		}
		for j, nb := range ids {
			d := x.distVec(q, vs[j], nb)
			if len(s.res) < ef || d < lower {
				s.pushCand(cand{d, nb})
				if f == nil || f.accept(nb) {
					s.pushRes(cand{d, nb})
					if len(s.res) > ef {
						s.popRes()
					}
					lower = s.res[0].d
				}
			}
		}
		s.ids, s.vs = ids, vs
	}
}

// prefetchFloats is how much of each neighbour's vector (from its start)
// is prefetched before the neighbours are scored; the hardware prefetcher
// streams the rest. Measured on Fashion-MNIST (784-d, ef 16/64/200): 16 to
// 256 floats perform within noise of each other, 784 is ~5% slower (fill
// buffers saturate) and no prefetch is 20-25% slower.
const prefetchFloats = 64

// Filter-selectivity policy (see Search).
const (
	// sampleProbes is how many rows are probed to estimate the fraction of
	// live rows the filter allows.
	sampleProbes = 256
	// graphCostPerEf models an unfiltered graph search as about
	// graphCostPerEf*ef distance computations; with an allowed fraction f it
	// costs about graphCostPerEf*ef/f, while an exact scan of the allowed
	// rows costs f*live.
	graphCostPerEf = 16
	// ExactFraction: a filter allowing less than this fraction of live rows
	// always uses exact search.
	ExactFraction = 0.01
)

// Search returns the k best rows for q, best first (ties: smaller row id
// first). Scores are Milvus scores: squared L2 distance, inner product, or
// cosine similarity. ef (raised to k if smaller) is the beam width at level
// 0. len(q) must equal Dim(); otherwise, or when k <= 0 or the index is
// empty, Search returns nil.
//
// Deleted rows and rows for which allow (if non-nil) returns false are never
// returned; they still route the graph walk. When the filter is selective,
// Search uses an exact scan of the allowed rows instead: the allowed
// fraction f of live rows is estimated from sampleProbes rows, and the scan
// is chosen when f < ExactFraction (1%), when f*live < graphCostPerEf*ef/f
// (the scan is then cheaper than a filtered walk, which visits about
// graphCostPerEf*ef/f rows), or when the index has at most
// graphCostPerEf*ef live rows. If the walk finds fewer than
// k rows, Search also falls back to the exact scan, so it returns
// min(k, allowed live rows) rows. allow must be safe for concurrent use if
// Search is called concurrently. Safe for concurrent use with Add and
// Delete.
func (x *Index) Search(q []float32, k, ef int, allow func(id uint32) bool) []flat.Hit {
	if k <= 0 || len(q) != x.dim {
		return nil
	}
	ep, maxL, ok := x.loadEntry()
	if !ok {
		return nil
	}
	ef = max(ef, k)
	f := filter{allow: allow, deleted: x.deleted, anyDeleted: x.nDeleted.Load() > 0}
	qq := x.prepare(q)
	if allow != nil && x.preferExact(allow, ef) {
		return x.exact(qq, k, &f)
	}
	s := x.pool.Get().(*searcher)
	defer x.pool.Put(s)
	cur, curD := x.greedy(qq, ep, maxL, 0)
	var fp *filter
	if allow != nil || f.anyDeleted {
		fp = &f
	}
	x.searchLayer(s, qq, cur, curD, ef, 0, fp)
	if len(s.res) < k {
		return x.exact(qq, k, &f)
	}
	res := s.sortedResults()[:k]
	out := make([]flat.Hit, len(res))
	for i, c := range res {
		out[i] = flat.Hit{ID: int64(c.id), Score: x.score(c.d)}
	}
	return out
}

// preferExact estimates the allowed fraction of live rows and reports
// whether an exact scan is expected to be cheaper than a filtered walk.
func (x *Index) preferExact(allow func(uint32) bool, ef int) bool {
	live := x.Len()
	if live <= graphCostPerEf*ef {
		return true
	}
	probes := min(sampleProbes, live)
	seen, ok := 0, 0
	// Probe evenly spaced rows (stride coprime-ish via an odd offset).
	step := max(1, x.capacity/probes)
	for i, tries := uint32(step/2), 0; tries < 4*probes && seen < probes; i, tries = i+uint32(step)+1, tries+1 {
		if int(i) >= x.capacity {
			i %= uint32(x.capacity)
		}
		if !bitGet(x.added, i) || bitGet(x.deleted, i) {
			continue
		}
		seen++
		if allow(i) {
			ok++
		}
	}
	if seen == 0 {
		return true
	}
	frac := float64(ok) / float64(seen)
	if frac < ExactFraction {
		return true
	}
	return frac*float64(live) < graphCostPerEf*float64(ef)/frac
}

// exact scans every live allowed row.
func (x *Index) exact(q query, k int, f *filter) []flat.Hit {
	t := flat.NewTopK(k, x.cfg.Metric)
	for w := range x.added {
		word := atomic.LoadUint64(&x.added[w]) &^ atomic.LoadUint64(&x.deleted[w])
		for word != 0 {
			b := uint32(bits.TrailingZeros64(word))
			word &= word - 1
			id := uint32(w)<<6 | b
			if f.allow != nil && !f.allow(id) {
				continue
			}
			t.Push(int64(id), x.score(x.dist(q, id)))
		}
	}
	return t.Results()
}

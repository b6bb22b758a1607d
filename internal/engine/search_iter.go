package engine

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"slices"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/index/distance"
	"github.com/tandem-db/tandem/internal/merr"
)

// Search iterator pages (Tandem issues 15/16: the Milvus search iterator
// v2 the SDKs negotiate; the wire side is in internal/api/milvus,
// search_iter.go).
//
// A page is the next TopK rows in the iterator's order after a cursor:
// score from best to worst (ascending for L2, descending for IP and
// COSINE), then the tie key ascending, then scan position. The tie key is
// the primary key for Int64 keys and a 64-bit FNV-1a hash of the key for
// VarChar keys (so that a cursor fits in the iterator token). The cursor
// is the (score, tie key) of the last row of the previous page; a page
// holds only rows strictly after it, so rows with the same score as the
// bound are neither repeated nor lost across pages. A cursor without a tie
// key (a token Tandem did not issue) skips every row with the bound's
// score, as Milvus's bound does.
//
// Pages are scanned exactly (every visible row is scored; ANN indexes are
// not used): the order is total and the same on every member of a group,
// so an iterator carries on across a failover or a switchover without
// repeating or skipping rows, with only its token and last bound (the
// server keeps no iterator state). The cost is one exact scan per page.

// SearchCursor is where a search iterator page starts: strictly after the
// row with score Score and tie key Key.
type SearchCursor struct {
	Score  float32
	Key    int64
	HasKey bool // false: rows with score Score are all skipped
}

// iterHit is a candidate row of a page.
type iterHit struct {
	key   float32 // score oriented so that smaller is better (NaN: +Inf)
	tie   int64
	id    int64 // snapshot<<32 | row
	score float32
}

func iterLess(a, b iterHit) bool {
	if a.key != b.key {
		return a.key < b.key
	}
	if a.tie != b.tie {
		return a.tie < b.tie
	}
	return a.id < b.id
}

// orient maps a score to a key where smaller is better.
func orient(score float32, higher bool) float32 {
	if score != score {
		return float32(math.Inf(1))
	}
	if higher {
		return -score
	}
	return score
}

// tieKeyString is the tie key of a VarChar primary key.
func tieKeyString(s string) int64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return int64(h.Sum64())
}

// SearchPage is one search iterator page.
type SearchPage struct {
	Data *schemapb.SearchResultData
	// Lasts holds, per query, the cursor of its last row (HasKey false and
	// Score NaN when the query found nothing).
	Lasts []SearchCursor
	// HigherIsBetter: the metric ranks higher scores first (IP, COSINE).
	HigherIsBetter bool
}

// SearchPage returns one search iterator page per query vector: the
// req.TopK rows after cursor (nil: from the best). req.Offset is ignored
// (the iterator refuses offsets).
func (e *Engine) SearchPage(ctx context.Context, req *SearchRequest, after *SearchCursor) (*SearchPage, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	nq := len(req.Vectors)
	switch {
	case nq < 1 || nq > maxNQ:
		return nil, invalid("nq (number of search vector per search request) should be in range [1, %d], but got %d", maxNQ, nq)
	case req.TopK < 1 || req.TopK > maxTopK:
		return nil, invalid("topk [%d] is invalid, it should be in range [1, %d]", req.TopK, maxTopK)
	}
	vis := e.visibleLSN()
	e.mu.RLock()
	c, err := e.lookupLocked(req.DB, req.Collection)
	if err != nil {
		e.mu.RUnlock()
		return nil, err
	}
	if !c.loaded {
		e.mu.RUnlock()
		return nil, merr.CollectionNotLoaded(req.Collection)
	}
	parts, err := resolvePartitions(c, req.Partitions)
	if err != nil {
		e.mu.RUnlock()
		return nil, err
	}
	vf, err := annsField(c, req.AnnsField)
	if err != nil {
		e.mu.RUnlock()
		return nil, err
	}
	ix := c.indexOn(c.fields[vf].id)
	snaps := e.snapshotLocked(c, parts, vis)
	e.mu.RUnlock()

	metric, err := metricOf(req.MetricType, ix)
	if err != nil {
		return nil, err
	}
	dim := c.fields[vf].dim
	for i, v := range req.Vectors {
		if len(v) != dim {
			return nil, invalid("vector dimension mismatch: the dim of query vector %d is %d, the dim of field %s is %d", i, len(v), c.fields[vf].name, dim)
		}
	}
	sp, err := resolveOutput(c, req.OutputFields, false)
	if err != nil {
		return nil, err
	}
	if ix != nil {
		// The index's search params are checked as for a search, though
		// the page is scanned exactly.
		if _, err := parseANNQuery(ix, req.Params, req.TopK); err != nil {
			return nil, err
		}
	}
	skips, err := buildSkips(c, snaps, req.Filter, req.FilterParams, nil)
	if err != nil {
		return nil, err
	}

	res := &schemapb.SearchResultData{
		NumQueries: int64(nq), TopK: int64(req.TopK), OutputFields: sp.names,
		PrimaryFieldName: c.fields[c.pk].name, Topks: make([]int64, nq),
	}
	lasts := make([]SearchCursor, nq)
	var rows []rowRef
	scratch := make([]float32, 512)
	for qi, q := range req.Vectors {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("engine: search: %w", ctx.Err())
		}
		hits := scanPage(c, snaps, vf, skips, metric, q, req.TopK, after, scratch)
		res.Topks[qi] = int64(len(hits))
		lasts[qi] = SearchCursor{Score: float32(math.NaN())}
		for _, h := range hits {
			res.Scores = append(res.Scores, roundScore(h.score, req.RoundDecimal))
			rows = append(rows, rowRef{snap: int32(h.id >> 32), row: int32(h.id & 0xffffffff)})
		}
		if n := len(hits); n > 0 {
			lasts[qi] = SearchCursor{Score: hits[n-1].score, Key: hits[n-1].tie, HasKey: true}
		}
	}
	if res.Scores == nil {
		res.Scores = []float32{}
	}
	res.Ids = pkIDs(c, snaps, rows)
	res.FieldsData = buildOutput(c, sp, snaps, rows)
	return &SearchPage{Data: res, Lasts: lasts, HigherIsBetter: metric.HigherIsBetter()}, nil
}

// scanPage scores q against every visible row not skipped and returns the
// best k after cursor (nil: none) in iterator order.
func scanPage(c *collection, snaps []segSnap, vf int, skips [][]bool, metric distance.Metric, q []float32, k int, after *SearchCursor, scratch []float32) []iterHit {
	higher := metric.HigherIsBetter()
	var qn float32
	if metric == distance.Cosine {
		qn = distance.Norm(q)
	}
	var boundKey float32
	if after != nil {
		boundKey = orient(after.Score, higher)
	}
	h := &hitHeap{max: k}
	for si := range snaps {
		ss := &snaps[si]
		col := &ss.cols[vf]
		dim := col.dim
		ints, _ := ss.cols[c.pk].data.([]int64)
		strs, _ := ss.cols[c.pk].data.([]string)
		tieOf := func(row int) int64 {
			if ints != nil {
				return ints[row]
			}
			return tieKeyString(strs[row])
		}
		skip := skips[si]
		for ci, ch := range col.chunks {
			lo := ci * ss.chunkRows
			if lo >= ss.n {
				break
			}
			hi := min(ss.n, lo+ss.chunkRows)
			for blo := lo; blo < hi; blo += len(scratch) {
				bhi := min(hi, blo+len(scratch))
				out := scratch[:bhi-blo]
				block := ch[(blo-lo)*dim : (bhi-lo)*dim]
				switch metric {
				case distance.L2:
					distance.L2SquaredBatch(q, block, dim, out)
				case distance.IP:
					distance.DotBatch(q, block, dim, out)
				case distance.Cosine:
					distance.DotBatch(q, block, dim, out)
					for i := range out {
						var vn float32
						if col.norms != nil {
							vn = col.norms[blo+i]
						} else {
							vn = distance.Norm(block[i*dim : (i+1)*dim])
						}
						if d := qn * vn; d != 0 {
							out[i] /= d
						} else {
							out[i] = 0
						}
					}
				default:
					panic("engine: scanPage: unsupported metric " + metric.String())
				}
				for i, s := range out {
					row := blo + i
					if skip != nil && skip[row] {
						continue
					}
					key := orient(s, higher)
					tieKnown := false
					var tie int64
					if after != nil {
						if key < boundKey {
							continue
						}
						if key == boundKey {
							if !after.HasKey {
								continue
							}
							tie, tieKnown = tieOf(row), true
							if tie <= after.Key {
								continue
							}
						}
					}
					if h.full() && key > h.worst().key {
						continue
					}
					if !tieKnown {
						tie = tieOf(row)
					}
					h.offer(iterHit{key: key, tie: tie, id: int64(si)<<32 | int64(row), score: s})
				}
			}
		}
	}
	hits := h.hits
	slices.SortFunc(hits, func(a, b iterHit) int {
		switch {
		case iterLess(a, b):
			return -1
		case iterLess(b, a):
			return 1
		}
		return 0
	})
	return hits
}

// hitHeap keeps the max best hits under iterLess: a max-heap whose root
// is the worst kept hit.
type hitHeap struct {
	max  int
	hits []iterHit
}

func (h *hitHeap) full() bool      { return len(h.hits) >= h.max }
func (h *hitHeap) worst() *iterHit { return &h.hits[0] }

func (h *hitHeap) offer(e iterHit) {
	if len(h.hits) < h.max {
		h.hits = append(h.hits, e)
		for i := len(h.hits) - 1; i > 0; {
			p := (i - 1) / 2
			if !iterLess(h.hits[p], h.hits[i]) {
				break
			}
			h.hits[i], h.hits[p] = h.hits[p], h.hits[i]
			i = p
		}
		return
	}
	if h.max == 0 || !iterLess(e, h.hits[0]) {
		return
	}
	h.hits[0] = e
	n := len(h.hits)
	for i := 0; ; {
		c := 2*i + 1
		if c >= n {
			return
		}
		if r := c + 1; r < n && iterLess(h.hits[c], h.hits[r]) {
			c = r
		}
		if !iterLess(h.hits[i], h.hits[c]) {
			return
		}
		h.hits[i], h.hits[c] = h.hits[c], h.hits[i]
		i = c
	}
}

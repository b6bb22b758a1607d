package engine

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/expr"
	"github.com/tandem-db/tandem/internal/index/distance"
	"github.com/tandem-db/tandem/internal/index/flat"
	"github.com/tandem-db/tandem/internal/merr"
)

// Search limits (Milvus's defaults).
const (
	maxTopK = 16384
	maxNQ   = 16384
)

// searcher scores queries against one segment's vectors: the visible rows
// it finds (exactly or approximately), excluding deleted and filtered-out
// rows, are offered to t with ID baseID+row. flatSearcher is the exact
// scan; annSearcher (index.go) searches a sealed segment's HNSW or IVF
// index. Both report Milvus scores, so one TopK merges them. A searcher is
// used by concurrent queries.
type searcher interface {
	search(q []float32, qNorm float32, baseID int64, t *flat.TopK, scratch []float32)
}

// flatSearcher is the exact searcher over a snapshot's vector chunks.
type flatSearcher struct {
	metric    distance.Metric
	col       *segColumn
	n         int // visible rows
	chunkRows int
	skip      []bool // rows to skip (deleted or filtered out); nil: none
}

func (fs *flatSearcher) search(q []float32, qNorm float32, baseID int64, t *flat.TopK, scratch []float32) {
	skip := fs.skip
	dim := fs.col.dim
	for ci, ch := range fs.col.chunks {
		lo := ci * fs.chunkRows
		if lo >= fs.n {
			break
		}
		hi := min(fs.n, lo+fs.chunkRows)
		var sk []bool
		if skip != nil {
			sk = skip[lo:hi]
		}
		flat.ScanBlock(fs.metric, q, qNorm, ch[:(hi-lo)*dim], dim, fs.col.norms[lo:hi], sk, baseID+int64(lo), t, scratch)
	}
}

// binSearcher is the exact searcher over a snapshot's binary vector chunks
// (HAMMING or JACCARD).
type binSearcher struct {
	metric    distance.Metric
	col       *segColumn
	n         int
	chunkRows int
	skip      []bool
}

func (bs *binSearcher) search(q []byte, baseID int64, t *flat.TopK) {
	rb := bs.col.dim / 8
	for row := 0; row < bs.n; row++ {
		if bs.skip != nil && bs.skip[row] {
			continue
		}
		off := (row % bs.chunkRows) * rb
		v := bs.col.bin[row/bs.chunkRows][off : off+rb]
		t.Push(baseID+int64(row), distance.BinaryDistance(bs.metric, q, v))
	}
}

// vecTypeName is the segcore name of a vector type in Milvus's
// "vector type must be the same" error.
func vecTypeName(t schemapb.DataType) string {
	switch t {
	case schemapb.DataType_FloatVector:
		return "VECTOR_FLOAT"
	case schemapb.DataType_BinaryVector:
		return "VECTOR_BINARY"
	case schemapb.DataType_Float16Vector:
		return "VECTOR_FLOAT16"
	case schemapb.DataType_BFloat16Vector:
		return "VECTOR_BFLOAT16"
	case schemapb.DataType_Int8Vector:
		return "VECTOR_INT8"
	case schemapb.DataType_SparseFloatVector:
		return "VECTOR_SPARSE_U32_F32"
	}
	return t.String()
}

// queryVectors returns the request's query vectors for field f: float32
// vectors (FloatVector queries; Float16/BFloat16/Int8 queries decoded; a
// FloatVector query of a Float16/BFloat16 field is accepted as Milvus
// converts it), or the raw bytes of binary queries.
func queryVectors(req *SearchRequest, f *fieldInfo) ([][]float32, [][]byte, error) {
	qt := schemapb.DataType_FloatVector
	if req.RawVectors != nil {
		qt = req.RawType
	}
	ok := qt == f.typ || (qt == schemapb.DataType_FloatVector &&
		(f.typ == schemapb.DataType_Float16Vector || f.typ == schemapb.DataType_BFloat16Vector))
	if !ok {
		return nil, nil, merr.WithMessage(merr.ErrUnexpected, fmt.Sprintf("vector type must be the same, field %s - type %s, search info type %s",
			f.name, vecTypeName(f.typ), vecTypeName(qt)))
	}
	switch qt {
	case schemapb.DataType_FloatVector:
		return req.Vectors, nil, nil
	case schemapb.DataType_BinaryVector:
		return nil, req.RawVectors, nil
	}
	eb := vecRowBytes(qt, 1)
	out := make([][]float32, len(req.RawVectors))
	for i, b := range req.RawVectors {
		if len(b)%eb != 0 {
			return nil, nil, invalid("query vector %d: byte length %d is not a multiple of %d", i, len(b), eb)
		}
		if j := checkHalfFinite(qt, b); qt != schemapb.DataType_Int8Vector && j >= 0 {
			return nil, nil, invalid("query vector %d contains NaN or Inf at element %d", i, j)
		}
		out[i] = make([]float32, len(b)/eb)
		bytesToFloats(qt, b, out[i])
	}
	return out, nil, nil
}

// searchScratch is per-goroutine search state, pooled.
type searchScratch struct {
	scores []float32
	topk   *flat.TopK
	metric distance.Metric // topk's metric
}

var scratchPool = sync.Pool{New: func() any { return &searchScratch{scores: make([]float32, 1024)} }}

// metricOf resolves the search metric: the request's (which must match the
// index's, as in Milvus) or the index's.
func metricOf(req string, ix *indexMeta) (distance.Metric, error) {
	im := distance.Cosine
	if ix != nil && ix.metric != 0 {
		im = ix.metric
	}
	if strings.TrimSpace(req) == "" {
		return im, nil
	}
	m, err := distance.ParseMetric(req)
	if err != nil {
		return 0, err
	}
	if m != im {
		return 0, fmt.Errorf("metric type not match: %w",
			merr.Wrap(merr.ErrParameterInvalid, "", "expected", im.String(), "actual", m.String()))
	}
	return m, nil
}

// Search runs a top-k search per query vector over the visible rows of the
// chosen partitions, filtered by req.Filter: through each sealed segment's
// ANN index when it is built (req.Params: "ef" for HNSW/AUTOINDEX, "nprobe"
// for IVF_FLAT, validated even when no segment is indexed yet), exactly
// otherwise. A range search (req.Params "radius", optionally
// "range_filter") and a group-by search (req.GroupByField) scan exactly
// (search_extra.go).
func (e *Engine) Search(ctx context.Context, req *SearchRequest) (*schemapb.SearchResultData, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	res, _, err := e.search(ctx, req, e.visibleLSN())
	return res, err
}

// search is Search as of visible LSN vis; it also returns the metric the
// scores are in.
func (e *Engine) search(ctx context.Context, req *SearchRequest, vis uint64) (*schemapb.SearchResultData, distance.Metric, error) {
	nq := len(req.Vectors)
	if req.RawVectors != nil {
		nq = len(req.RawVectors)
	}
	switch {
	case nq < 1 || nq > maxNQ:
		return nil, 0, invalid("nq (number of search vector per search request) should be in range [1, %d], but got %d", maxNQ, nq)
	case req.TopK < 1 || req.TopK > maxTopK:
		return nil, 0, invalid("topk [%d] is invalid, it should be in range [1, %d]", req.TopK, maxTopK)
	case req.Offset < 0 || req.TopK+req.Offset > maxTopK:
		return nil, 0, invalid("top k + offset should be in range [1, %d], but got %d", maxTopK, req.TopK+req.Offset)
	}
	e.mu.RLock()
	c, err := e.lookupLocked(req.DB, req.Collection)
	if err != nil {
		e.mu.RUnlock()
		return nil, 0, err
	}
	if !c.loaded {
		e.mu.RUnlock()
		return nil, 0, merr.CollectionNotLoaded(req.Collection)
	}
	parts, err := resolvePartitions(c, req.Partitions)
	if err != nil {
		e.mu.RUnlock()
		return nil, 0, err
	}
	vf, err := annsField(c, req.AnnsField)
	if err != nil {
		e.mu.RUnlock()
		return nil, 0, err
	}
	ix := c.indexOn(c.fields[vf].id)
	snaps := e.snapshotLocked(c, parts, vis)
	e.mu.RUnlock()

	metric, err := metricOf(req.MetricType, ix)
	if err != nil {
		return nil, 0, err
	}
	dim := c.fields[vf].dim
	queries, binQueries, err := queryVectors(req, &c.fields[vf])
	if err != nil {
		return nil, 0, err
	}
	for i, v := range queries {
		if len(v) != dim {
			return nil, 0, invalid("vector dimension mismatch: the dim of query vector %d is %d, the dim of field %s is %d", i, len(v), c.fields[vf].name, dim)
		}
	}
	for i, v := range binQueries {
		if len(v)*8 != dim {
			return nil, 0, invalid("vector dimension mismatch: the dim of query vector %d is %d, the dim of field %s is %d", i, len(v)*8, c.fields[vf].name, dim)
		}
	}
	rng, err := parseRange(req.Params, metric)
	if err != nil {
		return nil, 0, err
	}
	grp, err := parseGroupBy(c, req)
	if err != nil {
		return nil, 0, err
	}
	if rng.on && grp != nil {
		return nil, 0, fmt.Errorf("Not allowed to do range-search when doing search-group-by: %w",
			merr.Wrap(merr.ErrParameterInvalid, "", "expected", "", "actual", ""))
	}
	if binQueries != nil && (rng.on || grp != nil) {
		return nil, 0, invalid("range search and group-by search on a BinaryVector field are not supported by Tandem yet")
	}
	sp, err := resolveOutput(c, req.OutputFields, false)
	if err != nil {
		return nil, 0, err
	}
	k := req.TopK + req.Offset
	// Segments with a built, current ANN index are searched through it;
	// range and group-by searches scan exactly.
	anns := make([]*segIndex, len(snaps))
	var aq annQuery
	if ix != nil {
		if aq, err = parseANNQuery(ix, req.Params, k); err != nil {
			return nil, 0, err
		}
		if aq.spec.kind != annExact && !rng.on && grp == nil {
			for i := range snaps {
				if si := snaps[i].seg.ann[vf].Load(); si != nil && si.indexID == ix.id {
					anns[i] = si
				}
			}
		}
	}
	skips, err := buildSkips(c, snaps, req.Filter, req.FilterParams, anns)
	if err != nil {
		return nil, 0, err
	}
	searchers := make([]searcher, len(snaps))
	var binSearchers []*binSearcher
	if binQueries != nil {
		binSearchers = make([]*binSearcher, len(snaps))
		for i := range snaps {
			ss := &snaps[i]
			binSearchers[i] = &binSearcher{metric: metric, col: &ss.cols[vf], n: ss.n, chunkRows: ss.chunkRows, skip: skips[i]}
		}
	}
	total := 0
	for i := range snaps {
		if binQueries != nil {
			break
		}
		ss := &snaps[i]
		total += ss.n
		if si := anns[i]; si != nil {
			searchers[i] = &annSearcher{si: si, aq: &aq, k: k, allow: allowFor(ss, si.rows, skips[i])}
			continue
		}
		searchers[i] = &flatSearcher{metric: metric, col: &ss.cols[vf], n: ss.n, chunkRows: ss.chunkRows, skip: skips[i]}
	}

	hits := make([][]flat.Hit, nq)
	var groups [][]hitGroup
	if grp != nil {
		groups = make([][]hitGroup, nq)
	}
	runQuery := func(qi int, scr *searchScratch) {
		if binQueries != nil {
			if scr.topk == nil || scr.metric != metric {
				scr.topk, scr.metric = flat.NewTopK(k, metric), metric
			} else {
				scr.topk.Reset(k)
			}
			for si, s := range binSearchers {
				s.search(binQueries[qi], int64(si)<<32, scr.topk)
			}
			hits[qi] = scr.topk.Results()
			return
		}
		q := queries[qi]
		var qn float32
		if metric == distance.Cosine {
			qn = distance.Norm(q)
		}
		kk := k
		if grp != nil {
			kk = min(total, max(64, 4*k*grp.size))
		}
		for {
			if scr.topk == nil || scr.metric != metric {
				scr.topk, scr.metric = flat.NewTopK(kk, metric), metric
			} else {
				scr.topk.Reset(kk)
			}
			if rng.on {
				scr.topk.SetRange(rng.radius, rng.rangeFilter, rng.hasFilter)
			}
			for si, s := range searchers {
				s.search(q, qn, int64(si)<<32, scr.topk, scr.scores)
			}
			hs := scr.topk.Results()
			if grp == nil {
				hits[qi] = hs
				return
			}
			gs, enough := grp.collect(snaps, hs, k)
			if enough || len(hs) < kk || kk >= total {
				groups[qi] = gs
				return
			}
			kk = min(total, 2*kk)
		}
	}
	workers := min(nq, runtime.GOMAXPROCS(0))
	if workers <= 1 {
		scr := scratchPool.Get().(*searchScratch)
		for qi := range nq {
			if qi%64 == 0 && ctx.Err() != nil {
				return nil, 0, fmt.Errorf("engine: search: %w", ctx.Err())
			}
			runQuery(qi, scr)
		}
		scratchPool.Put(scr)
	} else {
		var wg sync.WaitGroup
		next := make(chan int, nq)
		for qi := range nq {
			next <- qi
		}
		close(next)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				scr := &searchScratch{scores: make([]float32, 1024)}
				for qi := range next {
					if ctx.Err() != nil {
						return
					}
					runQuery(qi, scr)
				}
			}()
		}
		wg.Wait()
		if ctx.Err() != nil {
			return nil, 0, fmt.Errorf("engine: search: %w", ctx.Err())
		}
	}
	if grp != nil {
		// Offset and limit count groups; a group's hits stay together.
		for qi, gs := range groups {
			if req.Offset < len(gs) {
				gs = gs[req.Offset:]
			} else {
				gs = nil
			}
			var hs []flat.Hit
			for _, g := range gs {
				hs = append(hs, g.hits...)
			}
			hits[qi] = hs
		}
	}

	res := &schemapb.SearchResultData{
		NumQueries: int64(nq), TopK: int64(req.TopK), OutputFields: sp.names,
		PrimaryFieldName: c.fields[c.pk].name, Topks: make([]int64, nq),
	}
	var rows []rowRef
	for qi, hs := range hits {
		if grp == nil {
			if req.Offset < len(hs) {
				hs = hs[req.Offset:]
			} else {
				hs = nil
			}
		}
		res.Topks[qi] = int64(len(hs))
		for _, h := range hs {
			res.Scores = append(res.Scores, roundScore(h.Score, req.RoundDecimal))
			rows = append(rows, rowRef{snap: int32(h.ID >> 32), row: int32(h.ID & 0xffffffff)})
		}
	}
	if res.Scores == nil {
		res.Scores = []float32{}
	}
	res.Ids = pkIDs(c, snaps, rows)
	res.FieldsData = buildOutput(c, sp, snaps, rows)
	if grp != nil {
		res.GroupByFieldValue = gatherField(c, grp.field, snaps, rows, nil)
	}
	return res, metric, nil
}

// annsField returns the vector field to search.
func annsField(c *collection, name string) (int, error) {
	vfs := c.vectorFields()
	if name == "" {
		if len(vfs) != 1 {
			return 0, invalid("multiple anns_fields exist, please specify a anns_field in search_params")
		}
		return vfs[0], nil
	}
	i, ok := c.field(name)
	if !ok {
		return 0, merr.Wrap(merr.ErrFieldNotFound, "", "field", name)
	}
	if !c.fields[i].isVector {
		return 0, invalid("field %s is not a vector field", name)
	}
	return i, nil
}

// buildSkips returns, per snapshot, the rows to skip (deleted as of the
// snapshot or not matching filter), or nil when no row is skipped. Without
// a filter, snapshots searched through an index (anns[i] != nil; anns may
// be nil) get nil: their deletes are checked per candidate (allowFor).
func buildSkips(c *collection, snaps []segSnap, filter string, params map[string]*schemapb.TemplateValue,
	anns []*segIndex) ([][]bool, error) {
	skips := make([][]bool, len(snaps))
	var x *expr.Expr
	if strings.TrimSpace(filter) != "" {
		var err error
		if x, err = expr.ParseWithTemplates(filter, c.exprSchema, params); err != nil {
			return nil, err
		}
	}
	for i := range snaps {
		ss := &snaps[i]
		if x == nil && (!ss.deletes || (anns != nil && anns[i] != nil)) {
			continue
		}
		skip := make([]bool, ss.n)
		if x != nil {
			if err := x.Eval(segSource{c: c, ss: ss}, skip); err != nil {
				return nil, err
			}
			for j := range skip {
				skip[j] = !skip[j]
			}
		}
		if ss.deletes {
			for j := range skip {
				if !skip[j] && !ss.live(j) {
					skip[j] = true
				}
			}
		}
		skips[i] = skip
	}
	return skips, nil
}

// roundScore rounds s to d decimals (d < 0: unchanged).
func roundScore(s float32, d int) float32 {
	if d < 0 {
		return s
	}
	p := math.Pow(10, float64(d))
	return float32(math.Round(float64(s)*p) / p)
}

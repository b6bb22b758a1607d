package engine

// Quantized and mapped vector index types (Tandem issue 16).
//
//   - IVF_SQ8: package ivf's k-means lists holding 8-bit per-dimension
//     scalar codes (quant.SQ8). Params nlist [1, 65536] (default 128);
//     search nprobe [1, nlist] (default 8).
//   - IVF_PQ: the same lists holding PQ codes of the residuals; m required
//     (dim % m == 0), nbits default 8 (Milvus accepts [1, 16]; Tandem
//     builds 1..8 and refuses more).
//   - SCANN: Tandem's SCANN is IVF + 4-bit PQ over 2-dimension sub-spaces
//     (m = dim/2, as ScaNN's fast-scan codes), re-ranked on the segment's
//     raw vectors when with_raw_data (default true); search nprobe and
//     reorder_k (default topK).
//   - HNSW_SQ / HNSW_PQ: package hnsw's graph (built on the raw rows) walked
//     with code distances only; refine=true re-scores the best
//     refine_k*topK (refine_k >= 1, default 1) on the segment's FP32 rows,
//     whatever refine_type names. sq_type SQ4U/SQ6/SQ8/FP16/BF16 are all
//     accepted and encoded as SQ8.
//   - DISKANN: an HNSW graph (M = max_degree/2, efConstruction =
//     search_list_size), persisted beside the segment like HNSW and loaded
//     into memory (not memory-mapped); search_list is its ef.
//
// Index files: <segment>.<index ID>.ivfq|hnswq, the engine envelope
// (index.go) around quant's own CRC'd encoding; kinds 3 (IVFQ), 4 (HNSWQ).

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tandem-db/tandem/internal/index/distance"
	"github.com/tandem-db/tandem/internal/index/flat"
	"github.com/tandem-db/tandem/internal/index/hnsw"
	"github.com/tandem-db/tandem/internal/index/ivf"
	"github.com/tandem-db/tandem/internal/index/quant"
	"github.com/tandem-db/tandem/internal/merr"
)

const (
	indexIVFSQ8  = "IVF_SQ8"
	indexIVFPQ   = "IVF_PQ"
	indexSCANN   = "SCANN"
	indexHNSWSQ  = "HNSW_SQ"
	indexHNSWPQ  = "HNSW_PQ"
	indexDISKANN = "DISKANN"

	// paramDim is the field dimension the engine adds to a quantized
	// index's parsed params (never stored).
	paramDim = "dim"
)

// quantIndexTypes are the vector index types of this file.
var quantIndexTypes = []string{indexIVFSQ8, indexIVFPQ, indexSCANN, indexHNSWSQ, indexHNSWPQ, indexDISKANN}

func init() {
	for _, t := range quantIndexTypes {
		vectorIndexTypes[t] = true
	}
}

// quantSpec is the build configuration of a quantized index.
type quantSpec struct {
	ivf  quant.IVFConfig
	hnsw quant.HNSWConfig
}

func qParamErr(format string, args ...any) error {
	return merr.Wrapf(merr.ErrParameterInvalid, format, args...)
}

func rangeParam(p map[string]string, key string, def, lo, hi int) (int, error) {
	v, ok := p[key]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < lo || n > hi {
		return 0, qParamErr("param '%s' (%s) should be in range [%d, %d]", key, v, lo, hi)
	}
	return n, nil
}

func boolParam(p map[string]string, key string, def bool) (bool, error) {
	v, ok := p[key]
	if !ok {
		return def, nil
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return false, qParamErr("param '%s' (%s) should be a boolean", key, v)
	}
	return b, nil
}

var (
	sqTypes     = map[string]int{"SQ4U": 1, "SQ6": 2, "SQ8": 3, "BF16": 4, "FP16": 4}
	refineTypes = map[string]int{"SQ6": 2, "SQ8": 3, "BF16": 4, "FP16": 4, "FP32": 5}
)

// parseQuantSpec parses the params of a quantized index type. dim is the
// field's dimension (0 when unknown: the dim checks are skipped).
func parseQuantSpec(p map[string]string, dim int) (annSpec, error) {
	metric, err := distance.ParseMetric(p[paramMetricType])
	if err != nil {
		return annSpec{}, userParamErr(err)
	}
	it := p[paramIndexType]
	switch it {
	case indexIVFSQ8, indexIVFPQ, indexSCANN:
		nlist, err := rangeParam(p, ivf.ParamNlist, ivf.DefaultNlist, ivf.MinNlist, ivf.MaxNlist)
		if err != nil {
			return annSpec{}, err
		}
		cfg := quant.IVFConfig{Kind: quant.KindSQ8, Metric: metric, Nlist: nlist}
		switch it {
		case indexIVFPQ:
			cfg.Kind = quant.KindPQ
			if cfg.M, cfg.Nbits, err = pqParams(p, dim, true); err != nil {
				return annSpec{}, err
			}
		case indexSCANN:
			if dim > 0 && dim%2 != 0 {
				return annSpec{}, qParamErr("dimension must be able to be divided by 2, dimension: %d", dim)
			}
			if cfg.Refine, err = boolParam(p, "with_raw_data", true); err != nil {
				return annSpec{}, err
			}
			cfg.Kind, cfg.M, cfg.Nbits = quant.KindPQ, dim/2, 4 // M set at build when dim is unknown here
		}
		return annSpec{kind: annIVFQ, quant: quantSpec{ivf: cfg}}, nil
	case indexHNSWSQ, indexHNSWPQ, indexDISKANN:
		var g hnsw.Config
		if it == indexDISKANN {
			deg, err := rangeParam(p, "max_degree", 56, 1, 512)
			if err != nil {
				return annSpec{}, err
			}
			sl, err := rangeParam(p, "search_list_size", 100, 1, math.MaxInt32)
			if err != nil {
				return annSpec{}, err
			}
			g = hnsw.Config{Metric: metric, M: max(hnsw.MinM, deg/2), EfConstruction: sl}
			return annSpec{kind: annHNSW, hnsw: g}, nil
		}
		if g, err = hnsw.ParseParams(p); err != nil {
			return annSpec{}, userParamErr(err)
		}
		cfg := quant.HNSWConfig{Graph: g, Kind: quant.KindSQ8}
		if cfg.Refine, err = boolParam(p, "refine", false); err != nil {
			return annSpec{}, err
		}
		prec := 3
		if it == indexHNSWSQ {
			st := strings.ToUpper(strings.TrimSpace(p["sq_type"]))
			if st == "" {
				st = "SQ8"
			}
			var ok bool
			if prec, ok = sqTypes[st]; !ok {
				return annSpec{}, qParamErr("invalid sq_type: %s, supported: [SQ4U SQ6 SQ8 BF16 FP16]", p["sq_type"])
			}
		} else {
			cfg.Kind = quant.KindPQ
			if cfg.M, cfg.Nbits, err = pqParams(p, dim, true); err != nil {
				return annSpec{}, err
			}
			prec = 0
		}
		if rt, ok := p["refine_type"]; ok && cfg.Refine {
			rp, ok := refineTypes[strings.ToUpper(strings.TrimSpace(rt))]
			if !ok {
				return annSpec{}, qParamErr("invalid refine_type: %s, supported: [SQ6 SQ8 BF16 FP16 FP32]", rt)
			}
			if rp <= prec {
				return annSpec{}, qParamErr("refine_type %s must be of higher precision than the quantized data", rt)
			}
		}
		return annSpec{kind: annHNSWQ, quant: quantSpec{hnsw: cfg}}, nil
	}
	return annSpec{kind: annExact}, nil
}

// pqParams reads m and nbits (Milvus's IVF_PQ checker rules and wording).
func pqParams(p map[string]string, dim int, required bool) (m, nbits int, err error) {
	nbits = 8
	if s, ok := p["nbits"]; ok {
		if nbits, err = strconv.Atoi(strings.TrimSpace(s)); err != nil {
			return 0, 0, qParamErr("invalid nbits: %s", s)
		}
		if nbits < 1 || nbits > 16 {
			return 0, 0, qParamErr("param 'nbits' (%s) should be in range [1, 16]", s)
		}
		if nbits > 8 {
			return 0, 0, merr.Wrapf(merr.ErrParameterInvalid, "nbits=%d is not supported by this server, supported: [1, 8]", nbits)
		}
	}
	s, ok := p["m"]
	if !ok {
		if required {
			return 0, 0, qParamErr("parameter `m` not found")
		}
		return 0, nbits, nil
	}
	m, err = strconv.Atoi(strings.TrimSpace(s))
	if err != nil || m <= 0 {
		return 0, 0, qParamErr("invalid `m`: %s", s)
	}
	if dim > 0 && dim%m != 0 {
		return 0, 0, qParamErr("dimension must be abled to be divided by `m`, dimension: %d, m: %d", dim, m)
	}
	return m, nbits, nil
}

// quantSearch holds the quantized-index search settings of one request.
type quantSearch struct {
	refineK  int // HNSW_SQ/PQ: candidates re-scored = refineK*topK
	reorderK int // SCANN
}

// parseQuantQuery reads the search params of a quantized index.
func parseQuantQuery(ix *indexMeta, aq *annQuery, params map[string]string, k int) error {
	var err error
	switch aq.spec.kind {
	case annIVFQ:
		if aq.nprobe, err = ivf.ParseSearchParams(params, aq.spec.quant.ivf.Nlist); err != nil {
			return userParamErr(err)
		}
		aq.q.reorderK = k
		if s, ok := params["reorder_k"]; ok {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 || n > hnsw.MaxEf {
				return qParamErr("param 'reorder_k' (%s) should be in range [1, %d]", s, hnsw.MaxEf)
			}
			aq.q.reorderK = max(k, n)
		}
	case annHNSWQ:
		if aq.ef, err = hnsw.ParseSearchParams(params, k); err != nil {
			return userParamErr(err)
		}
		aq.q.refineK = 1
		if s, ok := params["refine_k"]; ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil || f < 1 || f > 1000 {
				return qParamErr("param 'refine_k' (%s) should be in range [1, 1000]", s)
			}
			aq.q.refineK = int(math.Ceil(f))
		}
	}
	if ix.params[paramIndexType] == indexDISKANN {
		if s, ok := params["search_list"]; ok {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < k || n > hnsw.MaxEf {
				return qParamErr("search_list (%s) should be in range [topk, %d]", s, hnsw.MaxEf)
			}
			aq.ef = n
		}
	}
	return nil
}

// quantSearchSeg searches si's quantized index.
func (si *segIndex) quantSearch(q []float32, k int, aq *annQuery, allow func(uint32) bool) []flat.Hit {
	if si.qi != nil {
		return si.qi.Search(q, k, aq.nprobe, aq.q.reorderK, allow)
	}
	return si.qh.Search(q, k, aq.ef, aq.q.refineK, allow)
}

// buildQuant builds a quantized index for t into si.
func (x *indexer) buildQuant(t buildTask, vecs *segVectors, si *segIndex) error {
	switch t.spec.kind {
	case annIVFQ:
		cfg := t.spec.quant.ivf
		cfg.Seed = uint64(t.key.seg.id)
		if t.ix.params[paramIndexType] == indexSCANN {
			cfg.M = max(1, vecs.Dim()/2)
		}
		if cfg.Kind == quant.KindPQ && (cfg.M < 1 || vecs.Dim()%cfg.M != 0) {
			return fmt.Errorf("engine: build %s: m=%d does not divide dim %d", t.ix.params[paramIndexType], cfg.M, vecs.Dim())
		}
		v, err := quant.BuildIVF(cfg, vecs, t.rows, x.threads)
		if err != nil {
			return fmt.Errorf("engine: build ivfq: %w", err)
		}
		si.qi = v
	case annHNSWQ:
		cfg := t.spec.quant.hnsw
		cfg.Graph.Seed = uint64(t.key.seg.id)
		h, err := quant.BuildHNSW(cfg, vecs, t.rows, x.threads, x.stopping)
		if err != nil {
			if err == quant.ErrStopped {
				return errBuildStopped
			}
			return fmt.Errorf("engine: build hnswq: %w", err)
		}
		si.qh = h
	default:
		return fmt.Errorf("engine: build: index kind %d", t.spec.kind)
	}
	return nil
}

// Milvus's autoIndex.params.build for float vectors: HNSW M=18,
// efConstruction=240.
const (
	autoIndexM      = 18
	autoIndexEfCons = 240
)

// autoIndexDefaults applies Milvus's AUTOINDEX build defaults to the
// parameters not given.
func autoIndexDefaults(cfg *hnsw.Config, params map[string]string) {
	if _, ok := params[hnsw.ParamM]; !ok {
		cfg.M = autoIndexM
	}
	if _, ok := params[hnsw.ParamEfConstruction]; !ok {
		cfg.EfConstruction = autoIndexEfCons
	}
}

package milvus

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/merr"
)

// Hybrid search reranking (Tandem issue 16), following Milvus 2.6's
// proxy: the rank params of a HybridSearchRequest carry "limit" (required),
// "offset", "round_decimal" and the ranker as the SDKs send it: "strategy"
// ("rrf", the default, or "weighted") and "params" (a JSON object: {"k":
// 60} for RRF, {"weights": [...], "norm_score": bool} for weighted).
//
//   - RRF: a hit at rank r (1-based) of a sub-search scores 1/(k+r); a
//     primary key's score is the sum over the sub-searches that found it.
//     k defaults to 60 and must be in (0, 16384).
//   - Weighted: score = sum of weight_i * norm_i(score_i). Without
//     norm_score, norm_i is the identity, except when the sub-searches mix
//     L2 with IP/COSINE, where L2 distances become 1 - 2*atan(d)/pi so
//     that larger is better for all. With norm_score: COSINE (1+s)/2, IP
//     0.5 + atan(s)/pi, L2 1 - 2*atan(d)/pi. The merged order is
//     descending, except for all-L2 sub-searches without norm_score
//     (ascending sums of distances).
//
// Ties are broken by the smaller primary key. Offset and limit apply after
// the merge; round_decimal rounds the merged scores (half up). The output
// fields of a hit come from the first sub-search that found it.

// Rank parameter keys.
const (
	rpStrategy = "strategy"
	rpParams   = "params"
	rpK        = "k"
	rpWeights  = "weights"
	rpNorm     = "norm_score"

	maxQueryResultWindow = 16384
	maxAnnRequests       = 1024
	defaultRRFK          = 60.0
)

// ranker is a parsed hybrid-search ranker.
type ranker struct {
	weighted bool
	k        float64   // RRF
	weights  []float32 // weighted
	norm     bool      // weighted: norm_score
}

// rankParams are the decoded HybridSearchRequest.RankParams.
type rankParams struct {
	limit, offset int
	roundDecimal  int
	r             ranker
}

// parseRankParams decodes the rank params with Milvus's checks and wording.
func parseRankParams(kvs []*commonpb.KeyValuePair) (rankParams, error) {
	m := kvMap(kvs)
	rp := rankParams{roundDecimal: -1}
	ls, ok := m[spLimit]
	if !ok {
		return rp, fmt.Errorf("%s not found in rank_params", spLimit)
	}
	limit, err := strconv.ParseInt(ls, 0, 64)
	if err != nil {
		return rp, fmt.Errorf("%s [%s] is invalid", spLimit, ls)
	}
	var offset int64
	if os, ok := m[spOffset]; ok {
		if offset, err = strconv.ParseInt(os, 0, 64); err != nil {
			return rp, fmt.Errorf("%s [%s] is invalid", spOffset, os)
		}
	}
	switch {
	case offset < 0:
		return rp, fmt.Errorf("invalid max query result window, %s [%d] is invalid, should be gte than 0", spOffset, offset)
	case limit <= 0:
		return rp, fmt.Errorf("invalid max query result window, %s [%d] is invalid, should be greater than 0", spLimit, limit)
	case offset+limit > maxQueryResultWindow:
		return rp, fmt.Errorf("invalid max query result window, (offset+limit) should be in range [1, %d], but got %d", maxQueryResultWindow, offset+limit)
	}
	rp.limit, rp.offset = int(limit), int(offset)
	if rs, ok := m[spRoundDecimal]; ok {
		rd, err := strconv.ParseInt(rs, 0, 64)
		if err != nil || rd != -1 && (rd < 0 || rd > 6) {
			return rp, fmt.Errorf("%s [%s] is invalid, should be -1 or an integer in range [0, 6]", spRoundDecimal, rs)
		}
		rp.roundDecimal = int(rd)
	}
	if m[spGroupBy] != "" {
		return rp, merr.Wrapf(merr.ErrOperationNotSupported, "hybrid search with %s is not supported", spGroupBy)
	}
	rp.r, err = parseRanker(m)
	return rp, err
}

// parseRanker decodes "strategy" and "params" (Milvus's legacy rank params).
func parseRanker(m map[string]string) (ranker, error) {
	r := ranker{k: defaultRRFK}
	strategy, ok := m[rpStrategy]
	if !ok {
		return r, nil
	}
	if strategy != "rrf" && strategy != "weighted" {
		return r, fmt.Errorf("unsupported rank type %s", strategy)
	}
	ps, ok := m[rpParams]
	if !ok {
		return r, fmt.Errorf("params not found in rank_params")
	}
	var params map[string]any
	if err := json.Unmarshal([]byte(ps), &params); err != nil {
		return r, fmt.Errorf("Parse rerank params failed, err: %s", err)
	}
	if strategy == "rrf" {
		if v, ok := params[rpK]; ok {
			f, isNum := v.(float64)
			if !isNum {
				return r, fmt.Errorf("The type of rank param k should be float")
			}
			r.k = f
		}
		if r.k <= 0 || r.k >= 16384 {
			return r, fmt.Errorf("The rank params k should be in range (0, %d)", 16384)
		}
		return r, nil
	}
	r.weighted = true
	if v, ok := params[rpWeights]; ok {
		raw, _ := json.Marshal(v)
		if err := json.Unmarshal(raw, &r.weights); err != nil {
			return r, fmt.Errorf("Parse %s param failed, weight should be []float, bug got: %s", rpWeights, raw)
		}
		for _, w := range r.weights {
			if w < 0 || w > 1 {
				return r, fmt.Errorf("rank param weight should be in range [0, 1]")
			}
		}
	}
	if v, ok := params[rpNorm]; ok {
		b, isBool := v.(bool)
		if !isBool {
			return r, fmt.Errorf("Weighted rerank err, norm_score should been bool type, but [norm_score:%v]'s type is %T", v, v)
		}
		r.norm = b
	}
	if len(r.weights) == 0 {
		return r, fmt.Errorf("%s not found", rpWeights)
	}
	return r, nil
}

// higherBetter reports whether a metric's larger scores are better.
func higherBetter(metric string) bool {
	switch strings.ToUpper(metric) {
	case "IP", "COSINE", "BM25":
		return true
	}
	return false
}

// normFunc is Milvus's score normalisation for the weighted ranker.
func normFunc(norm bool, metric string, mixed bool) func(float32) float32 {
	atanL2 := func(d float32) float32 { return 1 - 2*float32(math.Atan(float64(d)))/math.Pi }
	if !norm {
		if !mixed || higherBetter(metric) {
			return func(s float32) float32 { return s }
		}
		return atanL2
	}
	switch strings.ToUpper(metric) {
	case "COSINE":
		return func(s float32) float32 { return (1 + s) * 0.5 }
	case "IP":
		return func(s float32) float32 { return 0.5 + float32(math.Atan(float64(s)))/math.Pi }
	}
	return atanL2
}

// hitLoc is where a merged hit's row is: sub-search and flat position in
// its result.
type hitLoc struct{ sub, pos int }

// merged is one query's reranked hits.
type merged struct {
	ids    []any // int64 or string primary keys
	scores []float32
	locs   []hitLoc
}

// pkAt is the primary key at flat position i of ids.
func pkAt(ids *schemapb.IDs, i int) any {
	if s := ids.GetStrId(); s != nil {
		return s.GetData()[i]
	}
	return ids.GetIntId().GetData()[i]
}

func comparePK(a, b any) int {
	switch x := a.(type) {
	case int64:
		return cmp.Compare(x, b.(int64))
	case string:
		return cmp.Compare(x, b.(string))
	}
	return 0
}

// rerank merges the sub-search results (each for the same nq queries,
// scored in metrics[i]) into one result per query.
func rerank(subs []*schemapb.SearchResultData, metrics []string, rp rankParams) ([]merged, error) {
	if rp.r.weighted && len(subs) != len(rp.r.weights) {
		return nil, fmt.Errorf("the length of weights param mismatch with ann search requests: %w",
			merr.Wrap(merr.ErrParameterInvalid, "", "expected", len(subs), "actual", len(rp.r.weights)))
	}
	nq := int(subs[0].GetNumQueries())
	starts := make([]int, len(subs))
	larger, smaller := 0, 0
	for _, m := range metrics {
		if higherBetter(m) {
			larger++
		} else {
			smaller++
		}
	}
	mixed := larger > 0 && smaller > 0
	descending := true
	if rp.r.weighted && !rp.r.norm && !mixed && larger == 0 {
		descending = false
	}
	norms := make([]func(float32) float32, len(subs))
	for i := range subs {
		norms[i] = normFunc(rp.r.norm, metrics[i], mixed)
	}
	out := make([]merged, nq)
	for qi := range nq {
		scores := map[any]float32{}
		locs := map[any]hitLoc{}
		for si, sub := range subs {
			n := int(sub.GetTopks()[qi])
			for r := range n {
				pos := starts[si] + r
				id := pkAt(sub.GetIds(), pos)
				var s float32
				if rp.r.weighted {
					s = rp.r.weights[si] * norms[si](sub.GetScores()[pos])
				} else {
					s = 1 / (float32(rp.r.k) + float32(r+1))
				}
				if _, seen := locs[id]; !seen {
					locs[id] = hitLoc{sub: si, pos: pos}
				}
				scores[id] += s
			}
			starts[si] += n
		}
		ids := make([]any, 0, len(scores))
		for id := range scores {
			ids = append(ids, id)
		}
		slices.SortFunc(ids, func(a, b any) int {
			sa, sb := scores[a], scores[b]
			if sa == sb {
				return comparePK(a, b)
			}
			if (sa > sb) == descending {
				return -1
			}
			return 1
		})
		if len(ids) > rp.offset+rp.limit {
			ids = ids[:rp.offset+rp.limit]
		}
		var m merged
		for _, id := range ids[min(rp.offset, len(ids)):] {
			s := scores[id]
			if rp.roundDecimal != -1 {
				p := math.Pow(10, float64(rp.roundDecimal))
				s = float32(math.Floor(float64(s)*p+0.5) / p)
			}
			m.ids = append(m.ids, id)
			m.scores = append(m.scores, s)
			m.locs = append(m.locs, locs[id])
		}
		out[qi] = m
	}
	return out, nil
}

// mergedResult builds the SearchResultData of reranked hits: ids, scores,
// and the output fields copied from the sub-search rows.
func mergedResult(subs []*schemapb.SearchResultData, ms []merged, limit int, pkType schemapb.DataType) *schemapb.SearchResultData {
	res := &schemapb.SearchResultData{
		NumQueries: int64(len(ms)), TopK: int64(limit), Topks: make([]int64, len(ms)),
		Scores: []float32{}, OutputFields: subs[0].GetOutputFields(), PrimaryFieldName: subs[0].GetPrimaryFieldName(),
	}
	var intIDs []int64
	var strIDs []string
	var locs []hitLoc
	for qi, m := range ms {
		res.Topks[qi] = int64(len(m.ids))
		res.Scores = append(res.Scores, m.scores...)
		for _, id := range m.ids {
			switch x := id.(type) {
			case int64:
				intIDs = append(intIDs, x)
			case string:
				strIDs = append(strIDs, x)
			}
		}
		locs = append(locs, m.locs...)
	}
	if pkType == schemapb.DataType_VarChar {
		if strIDs == nil {
			strIDs = []string{}
		}
		res.Ids = &schemapb.IDs{IdField: &schemapb.IDs_StrId{StrId: &schemapb.StringArray{Data: strIDs}}}
	} else {
		if intIDs == nil {
			intIDs = []int64{}
		}
		res.Ids = &schemapb.IDs{IdField: &schemapb.IDs_IntId{IntId: &schemapb.LongArray{Data: intIDs}}}
	}
	for fi, proto0 := range subs[0].GetFieldsData() {
		fd := emptyLike(proto0)
		for _, l := range locs {
			appendRow(fd, subs[l.sub].GetFieldsData()[fi], l.pos)
		}
		res.FieldsData = append(res.FieldsData, fd)
	}
	return res
}

// emptyLike is a FieldData of src's field and type with no rows.
func emptyLike(src *schemapb.FieldData) *schemapb.FieldData {
	fd := &schemapb.FieldData{Type: src.GetType(), FieldName: src.GetFieldName(), FieldId: src.GetFieldId(), IsDynamic: src.GetIsDynamic()}
	if v := src.GetVectors(); v != nil {
		fd.Field = &schemapb.FieldData_Vectors{Vectors: &schemapb.VectorField{
			Dim: v.GetDim(), Data: &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{Data: []float32{}}},
		}}
		return fd
	}
	sc := &schemapb.ScalarField{}
	switch src.GetScalars().GetData().(type) {
	case *schemapb.ScalarField_BoolData:
		sc.Data = &schemapb.ScalarField_BoolData{BoolData: &schemapb.BoolArray{Data: []bool{}}}
	case *schemapb.ScalarField_IntData:
		sc.Data = &schemapb.ScalarField_IntData{IntData: &schemapb.IntArray{Data: []int32{}}}
	case *schemapb.ScalarField_LongData:
		sc.Data = &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: []int64{}}}
	case *schemapb.ScalarField_FloatData:
		sc.Data = &schemapb.ScalarField_FloatData{FloatData: &schemapb.FloatArray{Data: []float32{}}}
	case *schemapb.ScalarField_DoubleData:
		sc.Data = &schemapb.ScalarField_DoubleData{DoubleData: &schemapb.DoubleArray{Data: []float64{}}}
	case *schemapb.ScalarField_StringData:
		sc.Data = &schemapb.ScalarField_StringData{StringData: &schemapb.StringArray{Data: []string{}}}
	case *schemapb.ScalarField_JsonData:
		sc.Data = &schemapb.ScalarField_JsonData{JsonData: &schemapb.JSONArray{Data: [][]byte{}}}
	case *schemapb.ScalarField_ArrayData:
		sc.Data = &schemapb.ScalarField_ArrayData{ArrayData: &schemapb.ArrayArray{
			Data: []*schemapb.ScalarField{}, ElementType: src.GetScalars().GetArrayData().GetElementType(),
		}}
	}
	fd.Field = &schemapb.FieldData_Scalars{Scalars: sc}
	if vd := src.GetValidData(); vd != nil {
		fd.ValidData = []bool{}
	}
	return fd
}

// appendRow appends row i of src to dst (built by emptyLike(src)).
func appendRow(dst, src *schemapb.FieldData, i int) {
	if src.GetValidData() != nil {
		dst.ValidData = append(dst.ValidData, src.GetValidData()[i])
	}
	if v := src.GetVectors(); v != nil {
		d := int(v.GetDim())
		fv := dst.GetVectors().GetFloatVector()
		fv.Data = append(fv.Data, v.GetFloatVector().GetData()[i*d:(i+1)*d]...)
		return
	}
	s, d := src.GetScalars(), dst.GetScalars()
	switch x := s.GetData().(type) {
	case *schemapb.ScalarField_BoolData:
		a := d.GetBoolData()
		a.Data = append(a.Data, x.BoolData.GetData()[i])
	case *schemapb.ScalarField_IntData:
		a := d.GetIntData()
		a.Data = append(a.Data, x.IntData.GetData()[i])
	case *schemapb.ScalarField_LongData:
		a := d.GetLongData()
		a.Data = append(a.Data, x.LongData.GetData()[i])
	case *schemapb.ScalarField_FloatData:
		a := d.GetFloatData()
		a.Data = append(a.Data, x.FloatData.GetData()[i])
	case *schemapb.ScalarField_DoubleData:
		a := d.GetDoubleData()
		a.Data = append(a.Data, x.DoubleData.GetData()[i])
	case *schemapb.ScalarField_StringData:
		a := d.GetStringData()
		a.Data = append(a.Data, x.StringData.GetData()[i])
	case *schemapb.ScalarField_JsonData:
		a := d.GetJsonData()
		a.Data = append(a.Data, x.JsonData.GetData()[i])
	case *schemapb.ScalarField_ArrayData:
		a := d.GetArrayData()
		a.Data = append(a.Data, x.ArrayData.GetData()[i])
	}
}

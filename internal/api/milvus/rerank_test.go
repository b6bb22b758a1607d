package milvus

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/merr"
)

func rkv(pairs ...string) []*commonpb.KeyValuePair {
	var out []*commonpb.KeyValuePair
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, &commonpb.KeyValuePair{Key: pairs[i], Value: pairs[i+1]})
	}
	return out
}

func TestParseRankParams(t *testing.T) {
	rp, err := parseRankParams(rkv("limit", "10"))
	if err != nil || rp.limit != 10 || rp.r.weighted || rp.r.k != 60 || rp.roundDecimal != -1 {
		t.Fatalf("default: %+v %v", rp, err)
	}
	rp, err = parseRankParams(rkv("limit", "5", "offset", "2", "round_decimal", "3", "strategy", "weighted", "params", `{"weights":[0.1,0.9],"norm_score":true}`))
	if err != nil || rp.offset != 2 || rp.roundDecimal != 3 || !rp.r.weighted || !rp.r.norm || len(rp.r.weights) != 2 {
		t.Fatalf("weighted: %+v %v", rp, err)
	}
	for _, c := range []struct {
		kvs  []*commonpb.KeyValuePair
		want string
	}{
		{rkv(), "limit not found in rank_params"},
		{rkv("limit", "x"), "limit [x] is invalid"},
		{rkv("limit", "0"), "invalid max query result window, limit [0] is invalid, should be greater than 0"},
		{rkv("limit", "1", "offset", "-1"), "invalid max query result window, offset [-1] is invalid, should be gte than 0"},
		{rkv("limit", "16384", "offset", "1"), "invalid max query result window, (offset+limit) should be in range [1, 16384], but got 16385"},
		{rkv("limit", "1", "round_decimal", "7"), "round_decimal [7] is invalid, should be -1 or an integer in range [0, 6]"},
		{rkv("limit", "1", "strategy", "max", "params", "{}"), "unsupported rank type max"},
		{rkv("limit", "1", "strategy", "rrf"), "params not found in rank_params"},
		{rkv("limit", "1", "strategy", "rrf", "params", "{"), "Parse rerank params failed, err: "},
		{rkv("limit", "1", "strategy", "rrf", "params", `{"k":"a"}`), "The type of rank param k should be float"},
		{rkv("limit", "1", "strategy", "rrf", "params", `{"k":0}`), "The rank params k should be in range (0, 16384)"},
		{rkv("limit", "1", "strategy", "weighted", "params", `{}`), "weights not found"},
		{rkv("limit", "1", "strategy", "weighted", "params", `{"weights":"a"}`), "Parse weights param failed, weight should be []float, bug got: \"a\""},
		{rkv("limit", "1", "strategy", "weighted", "params", `{"weights":[2]}`), "rank param weight should be in range [0, 1]"},
		{rkv("limit", "1", "strategy", "weighted", "params", `{"weights":[1],"norm_score":"yes"}`), "norm_score should been bool type"},
	} {
		if _, err := parseRankParams(c.kvs); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err %v, want %q", c.kvs, err, c.want)
		}
	}
}

// sub builds a one-query sub-search result with int64 keys.
func sub(ids []int64, scores []float32) *schemapb.SearchResultData {
	return &schemapb.SearchResultData{
		NumQueries: 1, Topks: []int64{int64(len(ids))}, Scores: scores,
		Ids: &schemapb.IDs{IdField: &schemapb.IDs_IntId{IntId: &schemapb.LongArray{Data: ids}}},
		FieldsData: []*schemapb.FieldData{{Type: schemapb.DataType_Int64, FieldName: "x", Field: &schemapb.FieldData_Scalars{
			Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: ids}}}}}},
	}
}

func TestRerank(t *testing.T) {
	a := sub([]int64{1, 2, 3}, []float32{0.1, 0.5, 2})   // L2
	b := sub([]int64{3, 4, 1}, []float32{0.9, 0.8, 0.1}) // IP
	rrf := rankParams{limit: 10, roundDecimal: -1, r: ranker{k: 60}}
	ms, err := rerank([]*schemapb.SearchResultData{a, b}, []string{"L2", "IP"}, rrf)
	if err != nil {
		t.Fatal(err)
	}
	// 1: 1/61 + 1/63; 3: 1/63 + 1/61 (tie, smaller key first); 2: 1/62; 4: 1/62.
	if got := ms[0].ids; len(got) != 4 || got[0] != int64(1) || got[1] != int64(3) || got[2] != int64(2) || got[3] != int64(4) {
		t.Fatalf("rrf order %v %v", got, ms[0].scores)
	}
	if math.Abs(float64(ms[0].scores[0])-(1.0/61+1.0/63)) > 1e-7 {
		t.Fatalf("rrf score %v", ms[0].scores[0])
	}
	// Output fields come from the first sub-search that found the key.
	res := mergedResult([]*schemapb.SearchResultData{a, b}, ms, 10, schemapb.DataType_Int64)
	if x := res.FieldsData[0].GetScalars().GetLongData().GetData(); len(x) != 4 || x[1] != 3 || x[3] != 4 {
		t.Fatalf("fields %v", x)
	}
	// Weighted, mixed metrics: L2 distances become 1 - 2*atan(d)/pi.
	w := rankParams{limit: 2, offset: 1, roundDecimal: 2, r: ranker{weighted: true, weights: []float32{0.5, 0.5}}}
	ms, err = rerank([]*schemapb.SearchResultData{a, b}, []string{"L2", "IP"}, w)
	if err != nil {
		t.Fatal(err)
	}
	l2 := func(d float64) float64 { return 1 - 2*math.Atan(d)/math.Pi }
	want := map[int64]float64{1: 0.5*l2(0.1) + 0.5*0.1, 2: 0.5 * l2(0.5), 3: 0.5*l2(2) + 0.5*0.9, 4: 0.5 * 0.8}
	// Ranking: 3 (0.5976), 1 (0.5865), 2 (0.3524), 4 (0.4): offset 1 -> 1, 4.
	if len(ms[0].ids) != 2 || ms[0].ids[0] != int64(1) || ms[0].ids[1] != int64(4) {
		t.Fatalf("weighted %v %v (want scores %v)", ms[0].ids, ms[0].scores, want)
	}
	if math.Abs(float64(ms[0].scores[0])-math.Round(want[1]*100)/100) > 1e-6 {
		t.Fatalf("rounded %v", ms[0].scores[0])
	}
	// Weights count mismatch: Milvus's wording and code.
	_, err = rerank([]*schemapb.SearchResultData{a, b}, []string{"L2", "IP"}, rankParams{limit: 1, r: ranker{weighted: true, weights: []float32{1}}})
	if !errors.Is(err, merr.ErrParameterInvalid) || err.Error() != "the length of weights param mismatch with ann search requests: invalid parameter[expected=2][actual=1]" {
		t.Fatalf("mismatch: %v", err)
	}
	// All L2 without norm_score: ascending sums of weighted distances.
	ms, _ = rerank([]*schemapb.SearchResultData{a, a}, []string{"L2", "L2"}, rankParams{limit: 3, roundDecimal: -1, r: ranker{weighted: true, weights: []float32{1, 1}}})
	if ms[0].ids[0] != int64(1) || ms[0].ids[2] != int64(3) {
		t.Fatalf("all L2 %v", ms[0].ids)
	}
}

func FuzzParseRankParams(f *testing.F) {
	f.Add("10", "rrf", `{"k": 60}`, "2")
	f.Add("5", "weighted", `{"weights":[0.5,0.5],"norm_score":true}`, "-1")
	f.Add("x", "avg", `{`, "9")
	f.Fuzz(func(t *testing.T, limit, strategy, params, rd string) {
		rp, err := parseRankParams(rkv("limit", limit, "strategy", strategy, "params", params, "round_decimal", rd))
		if err != nil {
			return
		}
		if rp.limit < 1 || rp.offset < 0 || rp.limit+rp.offset > maxQueryResultWindow || rp.roundDecimal < -1 || rp.roundDecimal > 6 {
			t.Fatalf("accepted bad params %+v", rp)
		}
		if rp.r.weighted && len(rp.r.weights) == 0 || !rp.r.weighted && (rp.r.k <= 0 || rp.r.k >= 16384) {
			t.Fatalf("accepted bad ranker %+v", rp.r)
		}
	})
}

package compat

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
)

// The search-parity fixture (hybrid, group-by and range search tests): a
// collection with three FLAT-indexed vector fields — "va" (L2), "vb" (IP),
// "vc" (COSINE) — and scalars "age" (Int64), "tag" (VarChar), "score"
// (Float), "doc" (JSON); the test keeps its own copy of the rows to compute
// the brute-force reference.

const spDim, spRows = 8, 300

type spRow struct {
	id         int64
	age        int64
	tag        string
	va, vb, vc []float32
}

type spFixture struct {
	name string
	rows []spRow
}

// spMetric is each vector field's metric.
var spMetric = map[string]entity.MetricType{"va": entity.L2, "vb": entity.IP, "vc": entity.COSINE}

func newSPFixture(t *testing.T, e *Env) *spFixture {
	t.Helper()
	name := e.Coll(t)
	schema := entity.NewSchema().WithName(name).
		WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
		WithField(entity.NewField().WithName("age").WithDataType(entity.FieldTypeInt64)).
		WithField(entity.NewField().WithName("tag").WithDataType(entity.FieldTypeVarChar).WithMaxLength(16)).
		WithField(entity.NewField().WithName("score").WithDataType(entity.FieldTypeFloat)).
		WithField(entity.NewField().WithName("doc").WithDataType(entity.FieldTypeJSON))
	var idx []milvusclient.CreateIndexOption
	for _, f := range []string{"va", "vb", "vc"} {
		schema.WithField(entity.NewField().WithName(f).WithDataType(entity.FieldTypeFloatVector).WithDim(spDim))
		idx = append(idx, milvusclient.NewCreateIndexOption(name, f, index.NewFlatIndex(spMetric[f])))
	}
	if err := e.C.CreateCollection(e.Ctx, milvusclient.NewCreateCollectionOption(name, schema).WithIndexOptions(idx...)); err != nil {
		t.Fatal(err)
	}
	lt, err := e.C.LoadCollection(e.Ctx, milvusclient.NewLoadCollectionOption(name))
	if err != nil {
		t.Fatal(err)
	}
	if err := lt.Await(e.Ctx); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(16, 2026))
	fx := &spFixture{name: name}
	vec := func() []float32 {
		v := make([]float32, spDim)
		for j := range v {
			v[j] = r.Float32()*2 - 1
		}
		return v
	}
	var ids, ages []int64
	var tags []string
	var scores []float32
	var docs [][]byte
	var va, vb, vc [][]float32
	for i := range spRows {
		row := spRow{id: int64(i), age: int64(r.IntN(40)), tag: []string{"red", "green", "blue", "black", "white"}[r.IntN(5)], va: vec(), vb: vec(), vc: vec()}
		fx.rows = append(fx.rows, row)
		ids, ages, tags = append(ids, row.id), append(ages, row.age), append(tags, row.tag)
		scores = append(scores, r.Float32())
		docs = append(docs, fmt.Appendf(nil, `{"n":%d}`, i%7))
		va, vb, vc = append(va, row.va), append(vb, row.vb), append(vc, row.vc)
	}
	// Two inserts with a flush between them: sealed and growing rows.
	half := spRows / 2
	for _, part := range [][2]int{{0, half}, {half, spRows}} {
		lo, hi := part[0], part[1]
		if _, err := e.C.Insert(e.Ctx, milvusclient.NewColumnBasedInsertOption(name,
			column.NewColumnInt64("id", ids[lo:hi]), column.NewColumnInt64("age", ages[lo:hi]),
			column.NewColumnVarChar("tag", tags[lo:hi]), column.NewColumnFloat("score", scores[lo:hi]),
			column.NewColumnJSONBytes("doc", docs[lo:hi]), column.NewColumnFloatVector("va", spDim, va[lo:hi]),
			column.NewColumnFloatVector("vb", spDim, vb[lo:hi]), column.NewColumnFloatVector("vc", spDim, vc[lo:hi]))); err != nil {
			t.Fatal(err)
		}
		if lo == 0 {
			ft, err := e.C.Flush(e.Ctx, milvusclient.NewFlushOption(name))
			if err != nil {
				t.Fatal(err)
			}
			if err := ft.Await(e.Ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	return fx
}

func (fx *spFixture) query(seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	v := make([]float32, spDim)
	for j := range v {
		v[j] = r.Float32()*2 - 1
	}
	return v
}

// spHit is a reference hit.
type spHit struct {
	id    int64
	score float32
}

// spScore is Milvus's score of row under field's metric (L2 squared).
func spScore(field string, q []float32, row spRow) float32 {
	v := map[string][]float32{"va": row.va, "vb": row.vb, "vc": row.vc}[field]
	var s, nq, nv float64
	for i := range q {
		switch field {
		case "va":
			d := float64(q[i]) - float64(v[i])
			s += d * d
		default:
			s += float64(q[i]) * float64(v[i])
			nq += float64(q[i]) * float64(q[i])
			nv += float64(v[i]) * float64(v[i])
		}
	}
	if field == "vc" {
		s /= math.Sqrt(nq) * math.Sqrt(nv)
	}
	return float32(s)
}

// ranked is the brute-force ranking of the rows that pass keep (nil: all)
// for a search of field, best first, ties by smaller id.
func (fx *spFixture) ranked(field string, q []float32, keep func(spRow) bool) []spHit {
	var hs []spHit
	for _, row := range fx.rows {
		if keep == nil || keep(row) {
			hs = append(hs, spHit{row.id, spScore(field, q, row)})
		}
	}
	higher := field != "va"
	slices.SortFunc(hs, func(a, b spHit) int {
		if a.score != b.score {
			if (a.score > b.score) == higher {
				return -1
			}
			return 1
		}
		return int(a.id - b.id)
	})
	return hs
}

type hopt = milvusclient.HybridSearchOption

// spRanker is a hybrid-search ranker with raw rank params (for norm_score
// and round_decimal, which the SDK's rankers do not send).
type spRanker []*commonpb.KeyValuePair

func (r spRanker) GetParams() []*commonpb.KeyValuePair { return r }

func weightedNorm(weights []float64, norm bool, extra ...string) spRanker {
	p, _ := json.Marshal(map[string]any{"weights": weights, "norm_score": norm})
	kvs := spRanker{{Key: "strategy", Value: "weighted"}, {Key: "params", Value: string(p)}}
	for i := 0; i+1 < len(extra); i += 2 {
		kvs = append(kvs, &commonpb.KeyValuePair{Key: extra[i], Value: extra[i+1]})
	}
	return kvs
}

// refMerge is the reference reranking (Milvus's formulas in float32).
func refMerge(subs [][]spHit, metrics []string, rrfK float32, weights []float32, norm bool, offset, limit int) []spHit {
	scores := map[int64]float32{}
	larger, smaller := 0, 0
	for _, m := range metrics {
		if m == "L2" {
			smaller++
		} else {
			larger++
		}
	}
	mixed := larger > 0 && smaller > 0
	atanL2 := func(d float32) float32 { return 1 - 2*float32(math.Atan(float64(d)))/math.Pi }
	for si, hs := range subs {
		for r, h := range hs {
			var s float32
			if weights == nil {
				s = 1 / (rrfK + float32(r+1))
			} else {
				x := h.score
				switch {
				case norm && metrics[si] == "COSINE":
					x = (1 + x) * 0.5
				case norm && metrics[si] == "IP":
					x = 0.5 + float32(math.Atan(float64(x)))/math.Pi
				case norm || (mixed && metrics[si] == "L2"):
					x = atanL2(x)
				}
				s = weights[si] * x
			}
			scores[h.id] += s
		}
	}
	descending := weights == nil || norm || larger > 0
	var out []spHit
	for id, s := range scores {
		out = append(out, spHit{id, s})
	}
	slices.SortFunc(out, func(a, b spHit) int {
		if a.score != b.score {
			if (a.score > b.score) == descending {
				return -1
			}
			return 1
		}
		return int(a.id - b.id)
	})
	out = out[min(offset, len(out)):]
	return out[:min(limit, len(out))]
}

// checkHits compares a result set with reference hits: same ids (a swap of
// near-equal scores allowed), scores within tol.
func checkHits(t *testing.T, what string, rs milvusclient.ResultSet, want []spHit, tol float64) {
	t.Helper()
	if rs.ResultCount != len(want) {
		t.Fatalf("%s: %d hits, want %d (%v)", what, rs.ResultCount, len(want), want)
	}
	for i, w := range want {
		id, _ := rs.IDs.GetAsInt64(i)
		if math.Abs(float64(rs.Scores[i]-w.score)) > tol || (id != w.id && math.Abs(float64(rs.Scores[i]-w.score)) > 1e-6) {
			t.Fatalf("%s: hit %d is id %d score %v, want id %d score %v", what, i, id, rs.Scores[i], w.id, w.score)
		}
	}
}

// TestCompatHybridSearch: HybridSearch over two and three vector fields
// with the RRF and weighted rankers (with and without norm_score), sub-
// request filters and limits, offset, round_decimal and output fields
// equals the brute-force reference, before and after a restart /
// failover; Milvus's refusals of bad ranker params carry its wording.
func TestCompatHybridSearch(t *testing.T) {
	both(t, func(t *testing.T, e *Env) {
		fx := newSPFixture(t, e)
		qa, qb, qc := fx.query(1), fx.query(2), fx.query(3)
		young := func(r spRow) bool { return r.age < 20 }
		subA := fx.ranked("va", qa, young)[:20]
		subB := fx.ranked("vb", qb, nil)[:15]
		subC := fx.ranked("vc", qc, nil)[:10]
		reqs := func() []*milvusclient.AnnRequest {
			return []*milvusclient.AnnRequest{
				milvusclient.NewAnnRequest("va", 20, entity.FloatVector(qa)).WithFilter("age < 20"),
				milvusclient.NewAnnRequest("vb", 15, entity.FloatVector(qb)),
			}
		}
		type tc struct {
			name   string
			opt    func() hopt
			want   []spHit
			tol    float64
			fields bool
		}
		// hybridX builds a hybrid search with an offset and output fields.
		hybridX := func(limit, offset int, out []string, rk milvusclient.Reranker, r ...*milvusclient.AnnRequest) hopt {
			o := milvusclient.NewHybridSearchOption(fx.name, limit, r...).WithConsistencyLevel(entity.ClStrong).
				WithOffset(offset).WithOutputFields(out...)
			if rk != nil {
				o = o.WithReranker(rk)
			}
			return o
		}
		hybrid := func(limit int, rk milvusclient.Reranker, r ...*milvusclient.AnnRequest) hopt {
			return hybridX(limit, 0, nil, rk, r...)
		}
		cases := []tc{
			{"rrf default", func() hopt {
				return hybridX(10, 0, []string{"tag", "age"}, nil, reqs()...)
			}, refMerge([][]spHit{subA, subB}, []string{"L2", "IP"}, 60, nil, false, 0, 10), 1e-6, true},
			{"rrf k=10 offset 3", func() hopt {
				return hybridX(8, 3, nil, milvusclient.NewRRFReranker().WithK(10), reqs()...)
			}, refMerge([][]spHit{subA, subB}, []string{"L2", "IP"}, 10, nil, false, 3, 8), 1e-6, false},
			{"weighted mixed", func() hopt {
				return hybrid(12, milvusclient.NewWeightedReranker([]float64{0.7, 0.3}), reqs()...)
			}, refMerge([][]spHit{subA, subB}, []string{"L2", "IP"}, 0, []float32{0.7, 0.3}, false, 0, 12), 1e-5, false},
			{"weighted norm three fields", func() hopt {
				return hybridX(10, 0, []string{"*"}, weightedNorm([]float64{0.2, 0.5, 0.3}, true), append(reqs(),
					milvusclient.NewAnnRequest("vc", 10, entity.FloatVector(qc)))...)
			}, refMerge([][]spHit{subA, subB, subC}, []string{"L2", "IP", "COSINE"}, 0, []float32{0.2, 0.5, 0.3}, true, 0, 10), 1e-5, true},
			{"weighted all L2 ascending", func() hopt {
				return hybrid(6, milvusclient.NewWeightedReranker([]float64{1, 0.5}),
					milvusclient.NewAnnRequest("va", 20, entity.FloatVector(qa)).WithFilter("age < 20"),
					milvusclient.NewAnnRequest("va", 10, entity.FloatVector(qb)))
			}, refMerge([][]spHit{subA, fx.ranked("va", qb, nil)[:10]}, []string{"L2", "L2"}, 0, []float32{1, 0.5}, false, 0, 6), 1e-5, false},
		}
		rounded := refMerge([][]spHit{subA, subB}, []string{"L2", "IP"}, 0, []float32{0.6, 0.4}, true, 0, 5)
		for i := range rounded {
			rounded[i].score = float32(math.Floor(float64(rounded[i].score)*100+0.5) / 100)
		}
		cases = append(cases, tc{"round_decimal 2", func() hopt {
			return hybrid(5, weightedNorm([]float64{0.6, 0.4}, true, "round_decimal", "2"), reqs()...)
		}, rounded, 1e-6, false})

		byID := map[int64]spRow{}
		for _, r := range fx.rows {
			byID[r.id] = r
		}
		check := func(when string) {
			t.Helper()
			for _, c := range cases {
				res, err := e.C.HybridSearch(e.Ctx, c.opt())
				if err != nil {
					t.Fatalf("%s %s: %v", when, c.name, err)
				}
				if len(res) != 1 {
					t.Fatalf("%s %s: %d result sets", when, c.name, len(res))
				}
				checkHits(t, when+" "+c.name, res[0], c.want, c.tol)
				if c.fields {
					tags, ages := res[0].GetColumn("tag"), res[0].GetColumn("age")
					if tags == nil || ages == nil {
						t.Fatalf("%s %s: output fields missing: %v", when, c.name, res[0].Fields)
					}
					for i := range res[0].ResultCount {
						id, _ := res[0].IDs.GetAsInt64(i)
						tg, _ := tags.GetAsString(i)
						ag, _ := ages.GetAsInt64(i)
						if tg != byID[id].tag || ag != byID[id].age {
							t.Fatalf("%s %s: row %d fields %q %d, want %q %d", when, c.name, id, tg, ag, byID[id].tag, byID[id].age)
						}
					}
				}
			}
		}
		check("before " + e.Name + " disruption")
		e.Disrupt(t)
		check("after " + e.Name + " disruption")

		// Two query vectors per sub-request: one result set each.
		res, err := e.C.HybridSearch(e.Ctx, hybrid(5, nil,
			milvusclient.NewAnnRequest("va", 20, entity.FloatVector(qa), entity.FloatVector(qc)).WithFilter("age < 20"),
			milvusclient.NewAnnRequest("vb", 15, entity.FloatVector(qb), entity.FloatVector(qa))))
		if err != nil || len(res) != 2 {
			t.Fatalf("nq 2: %v %d", err, len(res))
		}
		checkHits(t, "nq 2 first", res[0], refMerge([][]spHit{subA, subB}, []string{"L2", "IP"}, 60, nil, false, 0, 5), 1e-6)
		checkHits(t, "nq 2 second", res[1], refMerge([][]spHit{fx.ranked("va", qc, young)[:20], fx.ranked("vb", qa, nil)[:15]},
			[]string{"L2", "IP"}, 60, nil, false, 0, 5), 1e-6)

		// Milvus's refusals.
		for _, c := range []struct {
			name string
			rk   milvusclient.Reranker
			want string
		}{
			{"weights count", milvusclient.NewWeightedReranker([]float64{1}), "the length of weights param mismatch with ann search requests"},
			{"weight range", milvusclient.NewWeightedReranker([]float64{1.5, 0.1}), "rank param weight should be in range [0, 1]"},
			{"rrf k range", milvusclient.NewRRFReranker().WithK(20000), "The rank params k should be in range (0, 16384)"},
			{"strategy", spRanker{{Key: "strategy", Value: "avg"}, {Key: "params", Value: "{}"}}, "unsupported rank type avg"},
			{"weights missing", spRanker{{Key: "strategy", Value: "weighted"}, {Key: "params", Value: "{}"}}, "weights not found"},
			{"params missing", spRanker{{Key: "strategy", Value: "rrf"}}, "params not found in rank_params"},
			{"round_decimal", weightedNorm([]float64{0.5, 0.5}, false, "round_decimal", "9"), "round_decimal [9] is invalid, should be -1 or an integer in range [0, 6]"},
		} {
			_, err := e.C.HybridSearch(e.Ctx, hybrid(5, c.rk, reqs()...))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%s: err %v, want %q", c.name, err, c.want)
			}
		}
		_, err = e.C.HybridSearch(e.Ctx, hybridX(16384, 1, nil, nil, reqs()...))
		if err == nil || !strings.Contains(err.Error(), "(offset+limit) should be in range [1, 16384], but got 16385") {
			t.Fatalf("window: %v", err)
		}
	})
}

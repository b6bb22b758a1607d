package engine

import (
	"errors"
	"math"
	"math/rand"
	"strconv"
	"strings"
	"testing"

	"github.com/tandem-db/tandem/internal/index/distance"
	"github.com/tandem-db/tandem/internal/merr"
)

// extraFixture: a collection of 400 rows over sealed and growing segments
// and the test's model of them.
func extraFixture(t *testing.T, metric distance.Metric) (*Engine, map[int64]refRow, *rand.Rand) {
	t.Helper()
	e := openTest(t, t.TempDir(), func(c *Config) { c.SegmentMaxRows = 150 })
	t.Cleanup(func() { e.Close() })
	const dim = 8
	setupColl(t, e, "x", dim, metric.String(), false, false, false)
	r := rand.New(rand.NewSource(16 + int64(metric)))
	model := map[int64]refRow{}
	for i := range 4 {
		ids := seq(i*100, 100)
		b := genBatch(r, ids, dim, false)
		if _, err := e.Insert(bg, "", "x", "", b.fields(dim, true, false, false), len(ids)); err != nil {
			t.Fatal(err)
		}
		for j, id := range ids {
			model[id] = refRow{vec: b.vecs[j*dim : (j+1)*dim], age: b.ages[j], tag: b.tags[j]}
		}
		if i == 1 {
			if err := e.Flush(bg, "", nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	return e, model, r
}

func randQuery(r *rand.Rand, dim int) []float32 {
	q := make([]float32, dim)
	for i := range q {
		q[i] = r.Float32()*2 - 1
	}
	return q
}

// TestRangeSearchMatchesBruteForce: radius and range_filter keep exactly
// the rows in Milvus's range, best first, for every metric.
func TestRangeSearchMatchesBruteForce(t *testing.T) {
	for _, metric := range []distance.Metric{distance.L2, distance.IP, distance.Cosine} {
		t.Run(metric.String(), func(t *testing.T) {
			e, model, r := extraFixture(t, metric)
			all := func(int64, refRow) bool { return true }
			for qi := range 5 {
				q := randQuery(r, 8)
				ids, scores := bruteForce(metric, q, model, all, len(model))
				// Bounds halfway between neighbouring scores: no ties on them.
				mid := func(i int) float64 { return (float64(scores[i]) + float64(scores[i+1])) / 2 }
				radius, rf := mid(80), mid(9) // ranks 10..80 are in range
				for _, withFilter := range []bool{false, true} {
					params := map[string]string{"radius": fmtF(radius)}
					lo := 0
					if withFilter {
						params["range_filter"] = fmtF(rf)
						lo = 10
					}
					for _, k := range []int{5, 50, 100} {
						res, err := e.Search(bg, &SearchRequest{Collection: "x", Vectors: [][]float32{q}, TopK: k, Params: params, RoundDecimal: -1})
						if err != nil {
							t.Fatal(err)
						}
						want := ids[lo:81]
						if len(want) > k {
							want = want[:k]
						}
						got := res.Ids.GetIntId().GetData()
						if len(got) != len(want) {
							t.Fatalf("q%d filter=%v k=%d: %d hits, want %d", qi, withFilter, k, len(got), len(want))
						}
						for i := range got {
							if math.Abs(float64(res.Scores[i]-scores[lo+i])) > 1e-4 {
								t.Fatalf("q%d hit %d: id %d score %v, want id %d score %v", qi, i, got[i], res.Scores[i], want[i], scores[lo+i])
							}
						}
					}
				}
			}
			// Milvus's refusal of a range_filter on the wrong side.
			q := [][]float32{randQuery(r, 8)}
			bad := map[string]string{"radius": "0.5", "range_filter": "0.2"}
			want := "range_filter must be greater than radius for IP/COSINE, range_filter:0.200000, radius:0.500000: invalid parameter"
			if metric == distance.L2 {
				bad = map[string]string{"radius": "0.2", "range_filter": "0.5"}
				want = "range_filter must be less than radius for L2/HAMMING/JACCARD, range_filter:0.500000, radius:0.200000: invalid parameter"
			}
			_, err := e.Search(bg, &SearchRequest{Collection: "x", Vectors: q, TopK: 5, Params: bad, RoundDecimal: -1})
			if !errors.Is(err, merr.ErrParameterInvalid) || err.Error() != want {
				t.Fatalf("err = %v, want %q", err, want)
			}
			_, err = e.Search(bg, &SearchRequest{Collection: "x", Vectors: q, TopK: 5, Params: map[string]string{"radius": "x"}, RoundDecimal: -1})
			if !errors.Is(err, merr.ErrParameterInvalid) || !strings.Contains(err.Error(), "must pass numpy type for radius") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func fmtF(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// refGroups is the reference group-by: Milvus's segcore order over the
// brute-force ranking.
func refGroups(ids []int64, scores []float32, val func(int64) any, want, size int, strict bool) (gids []int64, gscores []float32, gvals []any) {
	type grp struct {
		v   any
		ids []int64
		sc  []float32
	}
	var groups []*grp
	index := map[any]*grp{}
	full := 0
	for i, id := range ids {
		v := val(id)
		g, ok := index[v]
		if !ok {
			if len(groups) >= want {
				continue
			}
			g = &grp{v: v}
			index[v] = g
			groups = append(groups, g)
		}
		if len(g.ids) >= size {
			continue
		}
		g.ids = append(g.ids, id)
		g.sc = append(g.sc, scores[i])
		if len(g.ids) == size {
			full++
		}
		if len(groups) == want && (!strict || full == want) {
			break
		}
	}
	for _, g := range groups {
		for i := range g.ids {
			gids = append(gids, g.ids[i])
			gscores = append(gscores, g.sc[i])
			gvals = append(gvals, g.v)
		}
	}
	return
}

// TestGroupBySearchMatchesBruteForce: group-by on Int64 and VarChar, with
// group sizes, strict group size and offset, equals the reference.
func TestGroupBySearchMatchesBruteForce(t *testing.T) {
	for _, metric := range []distance.Metric{distance.L2, distance.IP, distance.Cosine} {
		t.Run(metric.String(), func(t *testing.T) {
			e, model, r := extraFixture(t, metric)
			all := func(int64, refRow) bool { return true }
			for qi := range 3 {
				q := randQuery(r, 8)
				ids, scores := bruteForce(metric, q, model, all, len(model))
				for _, field := range []string{"age", "tag"} {
					val := func(id int64) any {
						if field == "age" {
							return model[id].age
						}
						return model[id].tag
					}
					for _, c := range []struct{ k, off, size int }{{3, 0, 1}, {5, 0, 3}, {2, 1, 4}, {10, 2, 2}} {
						for _, strict := range []bool{false, true} {
							res, err := e.Search(bg, &SearchRequest{Collection: "x", Vectors: [][]float32{q}, TopK: c.k, Offset: c.off,
								GroupByField: field, GroupSize: c.size, StrictGroupSize: strict, RoundDecimal: -1})
							if err != nil {
								t.Fatal(err)
							}
							wids, wsc, wvals := refGroups(ids, scores, val, c.k+c.off, c.size, strict)
							// Skip the offset groups.
							skip, seen := 0, map[any]bool{}
							for skip < len(wvals) && (len(seen) < c.off || seen[wvals[skip]]) {
								seen[wvals[skip]] = true
								skip++
							}
							wids, wsc, wvals = wids[skip:], wsc[skip:], wvals[skip:]
							got := res.Ids.GetIntId().GetData()
							if len(got) != len(wids) || int(res.Topks[0]) != len(wids) {
								t.Fatalf("q%d %s %+v strict=%v: %d hits %v, want %d %v", qi, field, c, strict, len(got), got, len(wids), wids)
							}
							gv := res.GroupByFieldValue
							for i := range got {
								var v any
								if field == "age" {
									v = gv.GetScalars().GetLongData().GetData()[i]
								} else {
									v = gv.GetScalars().GetStringData().GetData()[i]
								}
								if got[i] != wids[i] && math.Abs(float64(res.Scores[i]-wsc[i])) > 1e-4 || v != val(got[i]) || v != wvals[i] {
									t.Fatalf("q%d %s %+v strict=%v hit %d: id %d (%v) score %v, want id %d (%v) score %v", qi, field, c, strict, i, got[i], v, res.Scores[i], wids[i], wvals[i], wsc[i])
								}
							}
						}
					}
				}
			}
			q := [][]float32{randQuery(r, 8)}
			for field, want := range map[string]string{
				"score": "unsupported data type FLOAT for group by operator: invalid parameter",
				"doc":   "unsupported data type JSON for group by operator: invalid parameter",
				"vec":   "unsupported data type VECTOR_FLOAT for group by operator: invalid parameter",
				"nope":  "groupBy field not found in schema: field not found[field=nope]",
			} {
				_, err := e.Search(bg, &SearchRequest{Collection: "x", Vectors: q, TopK: 3, GroupByField: field, RoundDecimal: -1})
				if err == nil || err.Error() != want {
					t.Fatalf("group by %s: %v, want %q", field, err, want)
				}
			}
			_, err := e.Search(bg, &SearchRequest{Collection: "x", Vectors: q, TopK: 3, GroupByField: "age", Params: map[string]string{"radius": "1"}, RoundDecimal: -1})
			if !errors.Is(err, merr.ErrParameterInvalid) || !strings.HasPrefix(err.Error(), "Not allowed to do range-search when doing search-group-by") {
				t.Fatalf("range + group: %v", err)
			}
		})
	}
}

package compat

import (
	"fmt"
	"strings"
	"testing"

	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
)

// TestCompatRangeSearch: radius and range_filter on L2 (range_filter <= d
// < radius), IP and COSINE (radius < s <= range_filter) keep exactly the
// brute-force rows in range, best first, with limits, offset and filters,
// before and after a restart / failover; range_filter on the wrong side of
// radius and non-numeric bounds are refused with Milvus's wording.
func TestCompatRangeSearch(t *testing.T) {
	both(t, func(t *testing.T, e *Env) {
		fx := newSPFixture(t, e)
		type tc struct {
			anns          string
			withFilter    bool
			limit, offset int
			filter        string
		}
		cases := []tc{
			{"va", false, 10, 0, ""}, {"va", true, 50, 0, ""}, {"va", true, 20, 5, "age < 30"},
			{"vb", false, 10, 0, ""}, {"vb", true, 100, 0, ""}, {"vb", true, 20, 5, "tag != \"red\""},
			{"vc", false, 10, 0, ""}, {"vc", true, 100, 0, ""}, {"vc", true, 15, 3, "age >= 5"},
		}
		check := func(when string) {
			t.Helper()
			for ci, c := range cases {
				q := fx.query(uint64(200 + ci))
				var keep func(spRow) bool
				switch {
				case strings.HasPrefix(c.filter, "age < "):
					keep = func(r spRow) bool { return r.age < 30 }
				case strings.HasPrefix(c.filter, "tag"):
					keep = func(r spRow) bool { return r.tag != "red" }
				case strings.HasPrefix(c.filter, "age >= "):
					keep = func(r spRow) bool { return r.age >= 5 }
				}
				ranked := fx.ranked(c.anns, q, keep)
				// Bounds halfway between neighbouring scores (no ties on a
				// bound): ranks 8..70 (or 0..70 without range_filter).
				mid := func(i int) float64 { return (float64(ranked[i].score) + float64(ranked[i+1].score)) / 2 }
				ap := index.NewCustomAnnParam()
				ap.WithRadius(mid(70))
				lo := 0
				if c.withFilter {
					ap.WithRangeFilter(mid(7))
					lo = 8
				}
				opt := milvusclient.NewSearchOption(fx.name, c.limit, []entity.Vector{entity.FloatVector(q)}).
					WithANNSField(c.anns).WithAnnParam(ap).WithOffset(c.offset).WithConsistencyLevel(entity.ClStrong)
				if c.filter != "" {
					opt = opt.WithFilter(c.filter)
				}
				res, err := e.C.Search(e.Ctx, opt)
				if err != nil {
					t.Fatalf("%s case %d: %v", when, ci, err)
				}
				want := ranked[lo:71]
				want = want[min(c.offset, len(want)):]
				want = want[:min(c.limit, len(want))]
				checkHits(t, fmt.Sprintf("%s case %d %+v", when, ci, c), res[0], want, 1e-5)
			}
		}
		check("before " + e.Name + " disruption")
		e.Disrupt(t)
		check("after " + e.Name + " disruption")

		q := []entity.Vector{entity.FloatVector(fx.query(1))}
		for _, c := range []struct {
			anns, params, want string
		}{
			{"va", `{"radius": 1.0, "range_filter": 2.0}`, "range_filter must be less than radius for L2/HAMMING/JACCARD, range_filter:2.000000, radius:1.000000"},
			{"vb", `{"radius": 0.5, "range_filter": 0.5}`, "range_filter must be greater than radius for IP/COSINE, range_filter:0.500000, radius:0.500000"},
			{"vc", `{"radius": 0.9, "range_filter": 0.1}`, "range_filter must be greater than radius for IP/COSINE, range_filter:0.100000, radius:0.900000"},
			{"va", `{"radius": "far"}`, "must pass numpy type for radius"},
			{"va", `{"radius": 3, "range_filter": "near"}`, "must pass numpy type for range_filter"},
		} {
			_, err := e.C.Search(e.Ctx, milvusclient.NewSearchOption(fx.name, 5, q).WithANNSField(c.anns).WithSearchParam("params", c.params))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%s %s: %v, want %q", c.anns, c.params, err, c.want)
			}
		}
	})
}

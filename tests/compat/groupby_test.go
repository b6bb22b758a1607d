package compat

import (
	"fmt"
	"strings"
	"testing"

	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
)

// refGroupBy is the reference group-by search over a brute-force ranking:
// hits best first join their group unless it is full; new groups open
// while fewer than limit+offset exist; the scan stops once limit+offset
// groups exist (with strict, once they are all full); the first offset
// groups are skipped. It returns the hits and their group values.
func refGroupBy(ranked []spHit, val func(int64) any, limit, offset, size int, strict bool) ([]spHit, []any) {
	want := limit + offset
	type grp struct {
		v    any
		hits []spHit
	}
	var groups []*grp
	index := map[any]*grp{}
	full := 0
	for _, h := range ranked {
		v := val(h.id)
		g, ok := index[v]
		if !ok {
			if len(groups) >= want {
				continue
			}
			g = &grp{v: v}
			index[v] = g
			groups = append(groups, g)
		}
		if len(g.hits) >= size {
			continue
		}
		g.hits = append(g.hits, h)
		if len(g.hits) == size {
			full++
		}
		if len(groups) == want && (!strict || full == want) {
			break
		}
	}
	var hits []spHit
	var vals []any
	for _, g := range groups[min(offset, len(groups)):] {
		for _, h := range g.hits {
			hits = append(hits, h)
			vals = append(vals, g.v)
		}
	}
	return hits, vals
}

// TestCompatGroupBySearch: search with group_by_field on Int64 and VarChar
// fields, group_size, strict_group_size, offset and a filter equals the
// brute-force reference (hits and GroupByValue), before and after a
// restart / failover; grouping by Float, JSON or vector fields, an unknown
// field, or with a range search is refused with Milvus's wording.
func TestCompatGroupBySearch(t *testing.T) {
	both(t, func(t *testing.T, e *Env) {
		fx := newSPFixture(t, e)
		byID := map[int64]spRow{}
		for _, r := range fx.rows {
			byID[r.id] = r
		}
		type tc struct {
			field, filter, anns string
			limit, offset, size int
			strict              bool
		}
		cases := []tc{
			{"tag", "", "va", 3, 0, 1, false},
			{"tag", "", "vb", 4, 0, 3, true},
			{"age", "", "vc", 5, 0, 2, false},
			{"age", "", "va", 4, 2, 3, true},
			{"tag", "age >= 10", "vb", 2, 1, 4, false},
		}
		check := func(when string) {
			t.Helper()
			for ci, c := range cases {
				q := fx.query(uint64(100 + ci))
				opt := milvusclient.NewSearchOption(fx.name, c.limit, []entity.Vector{entity.FloatVector(q)}).
					WithANNSField(c.anns).WithGroupByField(c.field).WithGroupSize(c.size).WithStrictGroupSize(c.strict).
					WithOffset(c.offset).WithOutputFields("tag", "age").WithConsistencyLevel(entity.ClStrong)
				if c.filter != "" {
					opt = opt.WithFilter(c.filter)
				}
				res, err := e.C.Search(e.Ctx, opt)
				if err != nil {
					t.Fatalf("%s case %d: %v", when, ci, err)
				}
				var keep func(spRow) bool
				if c.filter != "" {
					keep = func(r spRow) bool { return r.age >= 10 }
				}
				val := func(id int64) any {
					if c.field == "tag" {
						return byID[id].tag
					}
					return byID[id].age
				}
				want, vals := refGroupBy(fx.ranked(c.anns, q, keep), val, c.limit, c.offset, c.size, c.strict)
				what := fmt.Sprintf("%s case %d %+v", when, ci, c)
				checkHits(t, what, res[0], want, 1e-5)
				gv := res[0].GroupByValue
				if gv == nil || gv.Len() != len(want) {
					t.Fatalf("%s: group values %v", what, gv)
				}
				for i := range want {
					var v any
					if c.field == "tag" {
						v, _ = gv.GetAsString(i)
					} else {
						v, _ = gv.GetAsInt64(i)
					}
					id, _ := res[0].IDs.GetAsInt64(i)
					if v != vals[i] || v != val(id) {
						t.Fatalf("%s: hit %d (id %d) group value %v, want %v", what, i, id, v, vals[i])
					}
				}
			}
		}
		check("before " + e.Name + " disruption")
		e.Disrupt(t)
		check("after " + e.Name + " disruption")

		q := []entity.Vector{entity.FloatVector(fx.query(1))}
		for field, want := range map[string]string{
			"score": "unsupported data type FLOAT for group by operator",
			"doc":   "unsupported data type JSON for group by operator",
			"vb":    "unsupported data type VECTOR_FLOAT for group by operator",
			"nope":  "groupBy field not found in schema",
		} {
			_, err := e.C.Search(e.Ctx, milvusclient.NewSearchOption(fx.name, 3, q).WithANNSField("va").WithGroupByField(field))
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("group by %s: %v, want %q", field, err, want)
			}
		}
		for _, c := range []struct {
			opt  milvusclient.SearchOption
			want string
		}{
			{milvusclient.NewSearchOption(fx.name, 3, q).WithANNSField("va").WithGroupByField("tag").WithGroupSize(11),
				"input group size:11 exceeds configured max group size:10"},
			{milvusclient.NewSearchOption(fx.name, 3, q).WithANNSField("va").WithGroupByField("tag").WithSearchParam("group_size", "-1"),
				"input group size:-1 is negative, failed to do search_groupby"},
			{milvusclient.NewSearchOption(fx.name, 3, q).WithANNSField("va").WithGroupByField("tag").WithSearchParam("params", `{"radius": 4}`),
				"Not allowed to do range-search when doing search-group-by"},
			{milvusclient.NewSearchOption(fx.name, 3, q).WithANNSField("va").WithGroupByField("tag").WithSearchParam("iterator", "true"),
				"Not allowed to do groupBy when doing iteration"},
		} {
			_, err := e.C.Search(e.Ctx, c.opt)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		}
	})
}

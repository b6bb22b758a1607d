package engine

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/index/distance"
)

// idStrings returns a result's ids as strings.
func idStrings(ids *schemapb.IDs) []string {
	var out []string
	for _, v := range ids.GetIntId().GetData() {
		out = append(out, fmt.Sprint(v))
	}
	out = append(out, ids.GetStrId().GetData()...)
	return out
}

// TestSearchPageWalksEveryRowOnce: paging with the cursor of each page's
// last row visits every live matching row exactly once, in the order of
// one page holding everything, though most scores tie; for every metric,
// Int64 and VarChar keys, growing and sealed segments, deletes and a
// filter; page sizes are random (seeded).
func TestSearchPageWalksEveryRowOnce(t *testing.T) {
	for _, metric := range []distance.Metric{distance.L2, distance.IP, distance.Cosine} {
		for _, strPK := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/str=%v", metric, strPK), func(t *testing.T) {
				e := openTest(t, t.TempDir(), func(c *Config) { c.SegmentMaxRows = 70 })
				defer e.Close()
				const dim = 4
				setupColl(t, e, "p", dim, metric.String(), strPK, false, false)
				r := rand.New(rand.NewSource(11))
				keys := r.Perm(300)
				for b := 0; b < 3; b++ {
					ids := make([]int64, 100)
					for i := range ids {
						ids[i] = int64(keys[b*100+i])
					}
					bt := genBatch(r, ids, dim, strPK)
					for i := range ids { // five distinct vectors: ties everywhere
						g := float32(ids[i]%5) + 1
						copy(bt.vecs[i*dim:], []float32{g, 1, g / 2, 0.5})
					}
					if _, err := e.Insert(bg, "", "p", "", bt.fields(dim, true, strPK, false), len(ids)); err != nil {
						t.Fatal(err)
					}
					if b == 1 {
						if err := e.Flush(bg, "", nil); err != nil {
							t.Fatal(err)
						}
					}
				}
				if _, err := e.Delete(bg, "", "p", "", "age < 10"); err != nil {
					t.Fatal(err)
				}
				req := &SearchRequest{Collection: "p", Vectors: [][]float32{{2, 1, 1, 0.5}}, Filter: "age < 90", RoundDecimal: -1}
				one := *req
				one.TopK = 300
				all, err := e.SearchPage(bg, &one, nil)
				if err != nil {
					t.Fatal(err)
				}
				want := idStrings(all.Data.GetIds())
				if len(want) < 200 {
					t.Fatalf("only %d rows match", len(want))
				}
				var got []string
				var after *SearchCursor
				for pages := 0; ; pages++ {
					if pages > 400 {
						t.Fatal("iterator does not end")
					}
					page := *req
					page.TopK = 1 + r.Intn(17)
					p, err := e.SearchPage(bg, &page, after)
					if err != nil {
						t.Fatal(err)
					}
					ids := idStrings(p.Data.GetIds())
					if len(ids) == 0 {
						break
					}
					got = append(got, ids...)
					last := p.Lasts[0]
					if !last.HasKey {
						t.Fatalf("non-empty page without a cursor: %+v", last)
					}
					after = &last
				}
				if !slices.Equal(got, want) {
					t.Fatalf("paged order differs from one page:\n got %v\nwant %v", got, want)
				}
				// A bound without a key (a token Tandem did not issue)
				// skips every row tied with it, as Milvus's bound does.
				first := *req
				first.TopK = 1
				p, err := e.SearchPage(bg, &first, nil)
				if err != nil {
					t.Fatal(err)
				}
				bound := p.Data.GetScores()[0]
				rest := *req
				rest.TopK = 300
				p, err = e.SearchPage(bg, &rest, &SearchCursor{Score: bound})
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range p.Data.GetScores() {
					if s == bound {
						t.Fatalf("score %v equal to the bound returned", s)
					}
				}
				if n := len(p.Data.GetScores()); n == 0 || n >= len(want)-1 {
					t.Fatalf("after the best score: %d rows of %d", n, len(want))
				}
			})
		}
	}
}

// TestQueryPKOrder: queries answer in primary-key order whatever the
// insert order; a limit keeps the smallest keys after the offset, so
// paging with "id > last" visits every row once.
func TestQueryPKOrder(t *testing.T) {
	for _, strPK := range []bool{false, true} {
		t.Run(fmt.Sprintf("str=%v", strPK), func(t *testing.T) {
			e := openTest(t, t.TempDir(), func(c *Config) { c.SegmentMaxRows = 40 })
			defer e.Close()
			const dim = 4
			setupColl(t, e, "q", dim, "L2", strPK, false, false)
			r := rand.New(rand.NewSource(5))
			keys := r.Perm(200)
			for b := 0; b < 4; b++ {
				ids := make([]int64, 50)
				for i := range ids {
					ids[i] = int64(keys[b*50+i])
				}
				bt := genBatch(r, ids, dim, strPK)
				if _, err := e.Insert(bg, "", "q", "", bt.fields(dim, true, strPK, false), len(ids)); err != nil {
					t.Fatal(err)
				}
				if b == 1 {
					if err := e.Flush(bg, "", nil); err != nil {
						t.Fatal(err)
					}
				}
			}
			var want []string
			for k := range 200 {
				if strPK {
					want = append(want, fmt.Sprintf("k%d", k))
				} else {
					want = append(want, fmt.Sprint(k))
				}
			}
			slices.Sort(want)
			if !strPK {
				want = want[:0]
				for k := range 200 {
					want = append(want, fmt.Sprint(k))
				}
			}
			pkOf := func(cols []*schemapb.FieldData) []string {
				for _, c := range cols {
					if c.GetFieldName() == "id" {
						var out []string
						for _, v := range c.GetScalars().GetLongData().GetData() {
							out = append(out, fmt.Sprint(v))
						}
						return append(out, c.GetScalars().GetStringData().GetData()...)
					}
				}
				t.Fatal("no id column")
				return nil
			}
			cols, err := e.Query(bg, &QueryRequest{Collection: "q", Filter: "age >= 0"})
			if err != nil {
				t.Fatal(err)
			}
			if got := pkOf(cols); !slices.Equal(got, want) {
				t.Fatalf("query order: %v", got)
			}
			cols, err = e.Query(bg, &QueryRequest{Collection: "q", Limit: 7, Offset: 5})
			if err != nil {
				t.Fatal(err)
			}
			if got := pkOf(cols); !slices.Equal(got, want[5:12]) {
				t.Fatalf("limit 7 offset 5: %v", got)
			}
			var got []string
			filter := ""
			for {
				cols, err := e.Query(bg, &QueryRequest{Collection: "q", Filter: filter, Limit: 13})
				if err != nil {
					t.Fatal(err)
				}
				page := pkOf(cols)
				if len(page) == 0 {
					break
				}
				got = append(got, page...)
				last := page[len(page)-1]
				if strPK {
					filter = fmt.Sprintf("id > %q", last)
				} else {
					filter = "id > " + last
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("paged by id > last: %v", got)
			}
		})
	}
}

// BenchmarkSearchPage: one search iterator page (an exact scan with the
// cursor test) against one exact top-k search of the same size, over
// 100,000 rows of dim 128 without an ANN index.
func BenchmarkSearchPage(b *testing.B) {
	const dim, n, per = 128, 100000, 5000
	e := openTest(b, b.TempDir(), func(c *Config) { c.SegmentMaxRows = 0; c.Sync = SyncInterval })
	defer e.Close()
	if err := e.CreateCollection(bg, "", vecSchema("sp", dim), CreateCollectionOptions{}); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewSource(1))
	for i := 0; i < n; i += per {
		if _, err := e.Insert(bg, "", "sp", "", vecBatch(r, i, per, dim), per); err != nil {
			b.Fatal(err)
		}
	}
	if err := e.CreateIndex(bg, "", "sp", "vec", "", map[string]string{"index_type": "FLAT", "metric_type": "L2"}); err != nil {
		b.Fatal(err)
	}
	if err := e.LoadCollection(bg, "", "sp"); err != nil {
		b.Fatal(err)
	}
	q := make([]float32, dim)
	for j := range q {
		q[j] = r.Float32()
	}
	req := &SearchRequest{Collection: "sp", TopK: 100, RoundDecimal: -1, Vectors: [][]float32{q}}
	first, err := e.SearchPage(bg, req, nil)
	if err != nil {
		b.Fatal(err)
	}
	after := first.Lasts[0]
	b.Run("search", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := e.Search(bg, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("page", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := e.SearchPage(bg, req, &after); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package engine

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/tandem-db/tandem/internal/index/distance"
)

// TestSearchMatchesBruteForce: exact search equals a float64 brute force
// over the test's own model of the live rows, for every metric, with
// filters, partitions, deletes and upserts, across growing and sealed
// segments.
func TestSearchMatchesBruteForce(t *testing.T) {
	for _, metric := range []distance.Metric{distance.L2, distance.IP, distance.Cosine} {
		t.Run(metric.String(), func(t *testing.T) {
			dir := t.TempDir()
			e := openTest(t, dir, func(c *Config) { c.SegmentMaxRows = 150 })
			defer e.Close()
			const dim = 16
			setupColl(t, e, "s", dim, metric.String(), false, false, false)
			if err := e.CreatePartition(bg, "", "s", "pa"); err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewSource(int64(metric)))
			model := map[int64]refRow{}
			insert := func(ids []int64, part string, upsert bool) {
				b := genBatch(r, ids, dim, false)
				var err error
				if upsert {
					_, err = e.Upsert(bg, "", "s", part, b.fields(dim, true, false, false), len(ids))
				} else {
					_, err = e.Insert(bg, "", "s", part, b.fields(dim, true, false, false), len(ids))
				}
				if err != nil {
					t.Fatal(err)
				}
				if part == "" {
					part = DefaultPartition
				}
				for i, id := range ids {
					model[id] = refRow{vec: b.vecs[i*dim : (i+1)*dim], age: b.ages[i], tag: b.tags[i], part: part}
				}
			}
			for i := range 6 {
				part := ""
				if i%2 == 1 {
					part = "pa"
				}
				insert(seq(i*100, 100), part, false)
			}
			if err := e.Flush(bg, "", nil); err != nil { // seal + persist some
				t.Fatal(err)
			}
			insert(seq(550, 80), "", true)   // upsert across partitions
			insert(seq(20, 10), "pa", false) // insert of existing keys supersedes
			n, err := e.Delete(bg, "", "s", "", "age > 80 or id in [1, 2, 3, 4]")
			if err != nil {
				t.Fatal(err)
			}
			deleted := 0
			for id, row := range model {
				if row.age > 80 || (id >= 1 && id <= 4) {
					delete(model, id)
					deleted++
				}
			}
			if int(n) != deleted {
				t.Fatalf("deleted %d, model %d", n, deleted)
			}
			insert(seq(700, 30), "", false) // growing rows after the deletes

			type tc struct {
				filter string
				parts  []string
				keep   func(int64, refRow) bool
			}
			cases := []tc{
				{"", nil, func(int64, refRow) bool { return true }},
				{"age < 40", nil, func(_ int64, r refRow) bool { return r.age < 40 }},
				{`tag in ["red", "blue"] and id % 3 == 0`, nil, func(id int64, r refRow) bool { return (r.tag == "red" || r.tag == "blue") && id%3 == 0 }},
				{"", []string{"pa"}, func(_ int64, r refRow) bool { return r.part == "pa" }},
				{"age >= 50", []string{DefaultPartition}, func(_ int64, r refRow) bool { return r.part == DefaultPartition && r.age >= 50 }},
			}
			for ci, c := range cases {
				for _, k := range []int{1, 10, 50} {
					qs := make([][]float32, 3)
					for i := range qs {
						qs[i] = make([]float32, dim)
						for j := range qs[i] {
							qs[i][j] = r.Float32()*2 - 1
						}
					}
					res, err := e.Search(bg, &SearchRequest{Collection: "s", Vectors: qs, TopK: k, Filter: c.filter, Partitions: c.parts, RoundDecimal: -1})
					if err != nil {
						t.Fatal(err)
					}
					ids := res.Ids.GetIntId().GetData()
					off := 0
					for qi, q := range qs {
						wantIDs, wantScores := bruteForce(metric, q, model, c.keep, k)
						got := int(res.Topks[qi])
						if got != len(wantIDs) {
							t.Fatalf("case %d k %d q %d: %d hits want %d", ci, k, qi, got, len(wantIDs))
						}
						for h := 0; h < got; h++ {
							id, sc := ids[off+h], res.Scores[off+h]
							row, ok := model[id]
							if !ok || !c.keep(id, row) {
								t.Fatalf("case %d: returned id %d that is deleted or filtered", ci, id)
							}
							if math.Abs(float64(sc-wantScores[h])) > 1e-4 {
								t.Fatalf("case %d k %d q %d hit %d: id %d score %v want id %d score %v", ci, k, qi, h, id, sc, wantIDs[h], wantScores[h])
							}
						}
						off += got
					}
				}
			}
			// Offset pages through the same ranking.
			q := [][]float32{model[700].vec}
			all, _ := e.Search(bg, &SearchRequest{Collection: "s", Vectors: q, TopK: 20, RoundDecimal: -1})
			page, _ := e.Search(bg, &SearchRequest{Collection: "s", Vectors: q, TopK: 10, Offset: 10, RoundDecimal: -1})
			if fmt.Sprint(all.Ids.GetIntId().GetData()[10:]) != fmt.Sprint(page.Ids.GetIntId().GetData()) {
				t.Fatalf("offset page %v vs %v", page.Ids.GetIntId().GetData(), all.Ids.GetIntId().GetData()[10:])
			}
			// RoundDecimal.
			rd, _ := e.Search(bg, &SearchRequest{Collection: "s", Vectors: q, TopK: 3, RoundDecimal: 2})
			for _, s := range rd.Scores {
				if math.Abs(float64(s)*100-math.Round(float64(s)*100)) > 1e-3 {
					t.Fatalf("score %v not rounded", s)
				}
			}
		})
	}
}

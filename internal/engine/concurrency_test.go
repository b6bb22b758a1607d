package engine

import (
	"fmt"
	"math/rand"
	"sync"
	"testing"
)

// TestConcurrentWritesAndReads runs inserts, upserts, deletes, searches,
// queries and checkpoints at once (meaningful under -race), and checks
// that an upsert batch is seen atomically: all old or all new.
func TestConcurrentWritesAndReads(t *testing.T) {
	e := openTest(t, t.TempDir(), func(c *Config) { c.SegmentMaxRows = 200 })
	defer e.Close()
	const dim = 8
	setupColl(t, e, "cc", dim, "L2", false, false, false)
	setupColl(t, e, "atom", dim, "IP", false, false, false)

	var wg sync.WaitGroup
	errs := make(chan error, 100)
	report := func(err error) {
		if err != nil {
			select {
			case errs <- err:
			default:
			}
		}
	}
	const batches, batchRows = 30, 50
	inserted := make(chan []int64, 2*batches)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(w)))
			for i := range batches {
				ids := seq(w*1_000_000+i*batchRows, batchRows)
				b := genBatch(r, ids, dim, false)
				_, err := e.Insert(bg, "", "cc", "", b.fields(dim, true, false, false), batchRows)
				report(err)
				inserted <- ids
			}
		}()
	}
	var deleted int64
	wg.Add(1)
	go func() { // deleter: removes the first 10 keys of every third batch
		defer wg.Done()
		for i := range 2 * batches {
			ids := <-inserted
			if i%3 != 0 {
				continue
			}
			n, err := e.Delete(bg, "", "cc", "", fmt.Sprintf("id >= %d and id < %d", ids[0], ids[0]+10))
			report(err)
			deleted += n
		}
	}()
	wg.Add(1)
	go func() { // upserter: 50 keys, every batch carries one version in age
		defer wg.Done()
		r := rand.New(rand.NewSource(9))
		for v := range 40 {
			b := genBatch(r, seq(0, 50), dim, false)
			for i := range b.ages {
				b.ages[i] = int64(v)
			}
			_, err := e.Upsert(bg, "", "atom", "", b.fields(dim, true, false, false), 50)
			report(err)
		}
	}()
	wg.Add(1)
	go func() { // checkpoints
		defer wg.Done()
		for range 4 {
			report(e.Flush(bg, "", nil))
		}
	}()
	for s := range 2 {
		wg.Add(1)
		go func() { // searchers and atomicity checker
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(100 + s)))
			for i := range 60 {
				qs := make([][]float32, 1+i%3)
				for j := range qs {
					qs[j] = make([]float32, dim)
					for d := range qs[j] {
						qs[j][d] = r.Float32()
					}
				}
				res, err := e.Search(bg, &SearchRequest{Collection: "cc", Vectors: qs, TopK: 20, Filter: "age < 90", OutputFields: []string{"age"}, RoundDecimal: -1})
				if err != nil {
					report(err)
					return
				}
				off := 0
				for _, k := range res.Topks {
					seen := map[int64]bool{}
					for _, id := range res.Ids.GetIntId().GetData()[off : off+int(k)] {
						if seen[id] {
							report(fmt.Errorf("duplicate id %d in one result", id))
						}
						seen[id] = true
					}
					off += int(k)
				}
				for _, a := range res.FieldsData[0].GetScalars().GetLongData().GetData() {
					if a >= 90 {
						report(fmt.Errorf("filtered row returned (age %d)", a))
					}
				}
				q, err := e.Query(bg, &QueryRequest{Collection: "atom", Filter: "id >= 0", OutputFields: []string{"age"}})
				if err != nil {
					report(err)
					return
				}
				ages := q[1].GetScalars().GetLongData().GetData()
				if len(ages) != 0 && len(ages) != 50 {
					report(fmt.Errorf("upsert not atomic: %d rows visible", len(ages)))
				}
				for _, a := range ages {
					if a != ages[0] {
						report(fmt.Errorf("upsert not atomic: versions %d and %d visible", ages[0], a))
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st, err := e.CollectionStats("", "cc")
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(2*batches*batchRows) - deleted; st.RowCount != want {
		t.Fatalf("rows %d want %d", st.RowCount, want)
	}
}

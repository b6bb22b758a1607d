package engine

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/tandem-db/tandem/internal/wal"
)

// randomWorkload runs a seeded sequence of DDL and DML on e. After each
// operation it calls after(). It returns nothing; errors from operations
// that may legitimately fail (e.g. deleting from a dropped partition) are
// ignored, but every successful call is a record.
func randomWorkload(t *testing.T, e *Engine, seed int64, ops int, after func(op int)) {
	t.Helper()
	r := rand.New(rand.NewSource(seed))
	const dim = 6
	type collState struct {
		name          string
		strPK, autoID bool
		dynamic       bool
		parts         []string
		nextKey       int
	}
	var colls []*collState
	mk := func(i int) {
		cs := &collState{name: fmt.Sprintf("c%d", i), strPK: i%3 == 1, autoID: i%3 == 2, dynamic: i%2 == 0, parts: []string{""}}
		if err := e.CreateCollection(bg, "", testSchema(cs.name, dim, cs.strPK, cs.autoID, cs.dynamic), CreateCollectionOptions{}); err != nil {
			t.Fatal(err)
		}
		colls = append(colls, cs)
	}
	mk(0)
	mk(1)
	mk(2)
	nColl := 3
	for op := 0; op < ops; op++ {
		cs := colls[r.Intn(len(colls))]
		part := cs.parts[r.Intn(len(cs.parts))]
		switch x := r.Intn(100); {
		case x < 40: // insert (overlapping keys supersede)
			n := 1 + r.Intn(60)
			start := r.Intn(cs.nextKey + 1)
			if r.Intn(2) == 0 {
				start = cs.nextKey
			}
			b := genBatch(r, seq(start, n), dim, cs.strPK)
			cs.nextKey = max(cs.nextKey, start+n)
			if _, err := e.Insert(bg, "", cs.name, part, b.fields(dim, !cs.autoID, cs.strPK, cs.dynamic), n); err != nil {
				t.Fatalf("op %d insert: %v", op, err)
			}
		case x < 55: // upsert
			if cs.autoID {
				continue
			}
			n := 1 + r.Intn(30)
			b := genBatch(r, seq(r.Intn(cs.nextKey+1), n), dim, cs.strPK)
			if _, err := e.Upsert(bg, "", cs.name, part, b.fields(dim, true, cs.strPK, cs.dynamic), n); err != nil {
				t.Fatalf("op %d upsert: %v", op, err)
			}
		case x < 65: // delete by expression
			if _, err := e.Delete(bg, "", cs.name, part, fmt.Sprintf("age < %d and tag == %q", r.Intn(40), tagVals[r.Intn(4)])); err != nil {
				t.Fatalf("op %d delete: %v", op, err)
			}
		case x < 72: // delete by keys
			var keys []string
			for range 5 {
				k := r.Intn(cs.nextKey + 1)
				if cs.strPK {
					keys = append(keys, fmt.Sprintf("%q", fmt.Sprintf("k%d", k)))
				} else {
					keys = append(keys, fmt.Sprint(k))
				}
			}
			ex := "id in ["
			for i, k := range keys {
				if i > 0 {
					ex += ","
				}
				ex += k
			}
			if _, err := e.Delete(bg, "", cs.name, "", ex+"]"); err != nil {
				t.Fatalf("op %d delete keys: %v", op, err)
			}
		case x < 77:
			name := fmt.Sprintf("p%d", r.Intn(4))
			if err := e.CreatePartition(bg, "", cs.name, name); err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(cs.parts, name) {
				cs.parts = append(cs.parts, name)
			}
		case x < 80:
			if len(cs.parts) > 1 {
				p := cs.parts[len(cs.parts)-1]
				_ = e.ReleaseCollection(bg, "", cs.name)
				if err := e.DropPartition(bg, "", cs.name, p); err != nil {
					t.Fatal(err)
				}
				cs.parts = cs.parts[:len(cs.parts)-1]
			}
		case x < 85:
			metric := []string{"L2", "IP", "COSINE"}[r.Intn(3)]
			if err := e.ReleaseCollection(bg, "", cs.name); err != nil {
				t.Fatal(err)
			}
			_ = e.DropIndex(bg, "", cs.name, "vec", "")
			if err := e.CreateIndex(bg, "", cs.name, "vec", "", map[string]string{"index_type": "FLAT", "metric_type": metric}); err != nil {
				t.Fatal(err)
			}
			if err := e.LoadCollection(bg, "", cs.name); err != nil {
				t.Fatal(err)
			}
		case x < 88:
			if err := e.Flush(bg, "", nil); err != nil {
				t.Fatal(err)
			}
		case x < 90:
			if len(colls) > 1 {
				i := r.Intn(len(colls))
				if err := e.DropCollection(bg, "", colls[i].name); err != nil {
					t.Fatal(err)
				}
				colls = slices.Delete(colls, i, i+1)
			}
			mk(nColl)
			nColl++
		default:
			if _, err := e.WriteEpochStart(bg, uint64(op)); err != nil {
				t.Fatal(err)
			}
		}
		if after != nil {
			after(op)
		}
	}
}

// TestApplyDeterminism: B applies A's records and reaches A's state at
// every sampled LSN.
func TestApplyDeterminism(t *testing.T) {
	a := openTest(t, t.TempDir(), func(c *Config) { c.SegmentMaxRows = 37 })
	defer a.Close()
	var recs []wal.Record
	digests := map[uint64]string{}
	collect := func() {
		from := uint64(len(recs)) + 1
		if err := a.IterateWAL(from, func(r wal.Record) error {
			recs = append(recs, r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	randomWorkload(t, a, 42, 300, func(op int) {
		collect()
		if op%7 == 0 {
			digests[a.LastLSN()] = mustDigest(t, a)
		}
	})
	digests[a.LastLSN()] = mustDigest(t, a)
	if len(recs) != int(a.LastLSN()) {
		t.Fatalf("collected %d records, last lsn %d", len(recs), a.LastLSN())
	}

	dirB := t.TempDir()
	b := openTest(t, dirB, func(c *Config) { c.SegmentMaxRows = 1000 }) // a different segment layout
	compared := 0
	for _, r := range recs {
		if err := b.ApplyRecord(r); err != nil {
			t.Fatalf("apply lsn %d: %v", r.LSN, err)
		}
		if want, ok := digests[r.LSN]; ok {
			if err := b.WaitDurable(bg, r.LSN); err != nil {
				t.Fatal(err)
			}
			if got := mustDigest(t, b); got != want {
				t.Fatalf("digest differs at lsn %d", r.LSN)
			}
			compared++
		}
	}
	if compared < 20 {
		t.Fatalf("only %d digests compared", compared)
	}
	// Out-of-order records are refused.
	if err := b.ApplyRecord(recs[3]); err == nil {
		t.Fatal("applied an old record")
	}
	final := mustDigest(t, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openTest(t, dirB, nil)
	defer b.Close()
	if got := mustDigest(t, b); got != final {
		t.Fatal("digest differs after reopen")
	}
}

package engine

import (
	"math/rand"
	"testing"
)

// With the read limit on, reads see nothing above it; advancing it makes
// the rows appear; it never goes back.
func TestReadLimit(t *testing.T) {
	e := openTest(t, t.TempDir(), haConfig)
	defer e.Close()
	haSetup(t, e)
	r := rand.New(rand.NewSource(1))
	count := func() int64 {
		t.Helper()
		res, err := e.Query(bg, &QueryRequest{Collection: "c", OutputFields: []string{"count(*)"}})
		if err != nil {
			t.Fatal(err)
		}
		return res[0].GetScalars().GetLongData().GetData()[0]
	}
	b := genBatch(r, seq(0, 10), haDim, false)
	if _, err := e.Insert(bg, "", "c", "", b.fields(haDim, true, false, false), 10); err != nil {
		t.Fatal(err)
	}
	first := e.LastLSN()
	e.SetReadLimit(true, first)
	b = genBatch(r, seq(10, 5), haDim, false)
	if _, err := e.Insert(bg, "", "c", "", b.fields(haDim, true, false, false), 5); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 10 {
		t.Fatalf("count with the limit at the first insert: %d, want 10", n)
	}
	e.AdvanceReadLimit(e.LastLSN())
	e.AdvanceReadLimit(first) // never lowers it
	if n := count(); n != 15 {
		t.Fatalf("count after advancing the limit: %d, want 15", n)
	}
	if on, lsn := e.ReadLimit(); !on || lsn != e.LastLSN() {
		t.Fatalf("ReadLimit() = %v, %d", on, lsn)
	}
	e.SetReadLimit(false, 0)
	if n := count(); n != 15 {
		t.Fatalf("count with the limit off: %d", n)
	}
}

package hnsw

import (
	"slices"
	"testing"

	"github.com/tandem-db/tandem/internal/index/distance"
)

type sliceVecs struct {
	dim int
	v   []float32
}

func (s sliceVecs) Dim() int                   { return s.dim }
func (s sliceVecs) Vector(id uint32) []float32 { return s.v[int(id)*s.dim : (int(id)+1)*s.dim] }

// TestInsertKeepsConcurrentLinks: a node X is reachable on a level as soon
// as its neighbours there link to it, while its lists below are still
// empty, so a concurrent insert of Y may select X and link X -> Y on a
// lower level before X's insert gets there. X's insert must keep that link
// when it sets its own list: it once overwrote it, and Y, whose only
// in-link it could be, became unreachable (a concurrent build left rows
// that an exact-match query at ef 64 never found: engine
// TestANNDeletesAndFilters' "old snapshot ... want row 150"). The
// interleaving is replayed step by step: Y's link into X's level-0 list is
// made before X is added.
func TestInsertKeepsConcurrentLinks(t *testing.T) {
	// On a line: A=1, Y=2, X=0. X's own selection from {A, Y} keeps A and
	// prunes Y (Y is closer to A than to X), so only the kept link holds Y.
	const a, y, xid = 0, 1, 2
	v := sliceVecs{dim: 2, v: []float32{1, 0, 2, 0, 0, 0}}
	x, err := New(Config{Metric: distance.L2, M: 4, EfConstruction: 16, Seed: 1}, v, 3)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(x.Add(a))
	must(x.Add(y))
	s := newSearcher(3)
	x.link(s, xid, y, 4, 0) // Y's insert, having reached X through an upper level
	must(x.Add(xid))
	lst := x.list(xid, 0)
	got := slices.Clone(lst[1 : 1+lst[0]])
	if !slices.Contains(got, y) || !slices.Contains(got, a) {
		t.Fatalf("X's level-0 links %v, want both A (%d, its own choice) and Y (%d, linked concurrently)", got, a, y)
	}

	// Over capacity (m0 = 4 links at level 0 with M = 2), the union is
	// pruned with the heuristic, not cut: nodes at 1..5 on the line, the
	// last four linked into X's list before X is added.
	v2 := sliceVecs{dim: 2, v: []float32{1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 0, 0}}
	x2, err := New(Config{Metric: distance.L2, M: 2, EfConstruction: 16, Seed: 1}, v2, 6)
	must(err)
	for id := uint32(0); id < 5; id++ {
		must(x2.Add(id))
	}
	for id := uint32(1); id < 5; id++ {
		d := float32((id + 1) * (id + 1))
		x2.link(s, 5, id, d, 0)
	}
	must(x2.Add(5))
	lst = x2.list(5, 0)
	got = slices.Clone(lst[1 : 1+lst[0]])
	if len(got) < 1 || len(got) > x2.m0 || !slices.Contains(got, 0) {
		t.Fatalf("X's level-0 list %v: want 1..%d links including the nearest (0)", got, x2.m0)
	}
}

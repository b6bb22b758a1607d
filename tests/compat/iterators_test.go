package compat

import (
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
	sdkmerr "github.com/milvus-io/milvus/pkg/v2/util/merr"
)

// iterColl creates and loads a collection of n rows whose keys are
// inserted shuffled, in two batches, with only seven distinct vectors (so
// that most search scores tie).
func iterColl(t *testing.T, e *Env, n int) string {
	t.Helper()
	name := e.Coll(t)
	const dim = 4
	schema := entity.NewSchema().WithName(name).
		WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
		WithField(entity.NewField().WithName("n").WithDataType(entity.FieldTypeInt64)).
		WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(dim))
	if err := e.C.CreateCollection(e.Ctx, milvusclient.NewCreateCollectionOption(name, schema).
		WithIndexOptions(milvusclient.NewCreateIndexOption(name, "vec", index.NewHNSWIndex(entity.L2, 16, 64)))); err != nil {
		t.Fatal(err)
	}
	lt, err := e.C.LoadCollection(e.Ctx, milvusclient.NewLoadCollectionOption(name))
	if err != nil {
		t.Fatal(err)
	}
	if err := lt.Await(e.Ctx); err != nil {
		t.Fatal(err)
	}
	keys := rand.New(rand.NewPCG(3, 4)).Perm(n)
	for _, part := range [][]int{keys[:n/2], keys[n/2:]} {
		ids := make([]int64, len(part))
		vecs := make([][]float32, len(part))
		for i, k := range part {
			ids[i] = int64(k)
			g := float32(k % 7)
			vecs[i] = []float32{g, 1, 0.5, g / 2}
		}
		if _, err := e.C.Insert(e.Ctx, milvusclient.NewColumnBasedInsertOption(name,
			column.NewColumnInt64("id", ids), column.NewColumnInt64("n", ids), column.NewColumnFloatVector("vec", dim, vecs))); err != nil {
			t.Fatal(err)
		}
	}
	return name
}

func pks(t *testing.T, rs milvusclient.ResultSet) []int64 {
	t.Helper()
	out := make([]int64, rs.IDs.Len())
	for i := range out {
		v, err := rs.IDs.GetAsInt64(i)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = v
	}
	return out
}

// TestCompatQueryIterator: the Go SDK's query iterator pages in
// primary-key order (the SDK asks for "id > last" with a limit), so it
// returns every row once, in key order, whatever the insert order; its
// limit caps the rows. The iterator's state is the last key, held by the
// client: an iterator begun before a restart / failover carries on after
// it and still returns every row once.
func TestCompatQueryIterator(t *testing.T) {
	both(t, func(t *testing.T, e *Env) {
		const n = 300
		name := iterColl(t, e, n)
		want := make([]int64, n)
		for i := range want {
			want[i] = int64(i)
		}
		it, err := e.C.QueryIterator(e.Ctx, milvusclient.NewQueryIteratorOption(name).WithBatchSize(40).
			WithOutputFields("n").WithConsistencyLevel(entity.ClStrong))
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		next := func() bool {
			rs, err := it.Next(e.Ctx)
			if errors.Is(err, io.EOF) {
				return false
			}
			if err != nil {
				t.Fatal(err)
			}
			col := rs.GetColumn("id")
			for i := range col.Len() {
				v, _ := col.GetAsInt64(i)
				got = append(got, v)
			}
			return true
		}
		for range 3 {
			next()
		}
		e.Disrupt(t)
		for next() {
		}
		if !slices.Equal(got, want) {
			t.Fatalf("query iterator across a %s disruption: %d rows %v", e.Name, len(got), got)
		}
		lim, err := e.C.QueryIterator(e.Ctx, milvusclient.NewQueryIteratorOption(name).WithBatchSize(7).
			WithFilter("n % 2 == 1").WithIteratorLimit(25))
		if err != nil {
			t.Fatal(err)
		}
		var odd []int64
		for {
			rs, err := lim.Next(e.Ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			col := rs.GetColumn("id")
			for i := range col.Len() {
				v, _ := col.GetAsInt64(i)
				odd = append(odd, v)
			}
		}
		if len(odd) != 25 || odd[0] != 1 || odd[24] != 49 {
			t.Fatalf("filtered iterator with limit 25: %v", odd)
		}
	})
}

// TestCompatSearchIterator: the Go SDK's search iterator (v2: the server
// hands out a token and the last bound) returns every row once, in score
// order, though most scores tie, and the pages continue across a restart /
// failover: the token carries the cursor, so the new active answers the
// next page as the old one would have. The iterator limit caps the rows.
// Refusals: group-by and offset with an iterator, as Milvus words them.
func TestCompatSearchIterator(t *testing.T) {
	both(t, func(t *testing.T, e *Env) {
		const n = 300
		name := iterColl(t, e, n)
		q := entity.FloatVector([]float32{3, 1, 0.5, 1.5})
		drain := func(it milvusclient.SearchIterator, ids []int64, scores []float32, pages int) ([]int64, []float32) {
			for p := 0; pages < 0 || p < pages; p++ {
				rs, err := it.Next(e.Ctx)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, pks(t, rs)...)
				scores = append(scores, rs.Scores...)
			}
			return ids, scores
		}
		opt := func() milvusclient.SearchIteratorOption {
			return milvusclient.NewSearchIteratorOption(name, q).WithBatchSize(25).WithConsistencyLevel(entity.ClStrong)
		}
		it, err := e.C.SearchIterator(e.Ctx, opt())
		if err != nil {
			t.Fatal(err)
		}
		ids, scores := drain(it, nil, nil, 3)
		e.Disrupt(t)
		ids, scores = drain(it, ids, scores, -1)
		seen := map[int64]bool{}
		for i, id := range ids {
			if seen[id] {
				t.Fatalf("row %d returned twice", id)
			}
			seen[id] = true
			if i > 0 && scores[i] < scores[i-1] {
				t.Fatalf("scores out of order at %d: %v", i, scores[i-1:i+1])
			}
		}
		if len(ids) != n {
			t.Fatalf("search iterator across a %s disruption returned %d rows, want %d", e.Name, len(ids), n)
		}
		// A fresh iterator after the disruption returns the same sequence.
		again, err := e.C.SearchIterator(e.Ctx, opt())
		if err != nil {
			t.Fatal(err)
		}
		if ids2, _ := drain(again, nil, nil, -1); !slices.Equal(ids2, ids) {
			t.Fatalf("a fresh iterator returns another order")
		}
		lim, err := e.C.SearchIterator(e.Ctx, milvusclient.NewSearchIteratorOption(name, q).
			WithBatchSize(10).WithIteratorLimit(33).WithFilter("n < 100"))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := drain(lim, nil, nil, -1); len(got) != 33 {
			t.Fatalf("limit 33: %d rows", len(got))
		}

		for _, tc := range []struct {
			name string
			opt  milvusclient.SearchIteratorOption
			want string
		}{
			{"group by", milvusclient.NewSearchIteratorOption(name, q).WithGroupByField("n"),
				"Not allowed to do groupBy when doing iteration: invalid parameter[expected=][actual=]"},
			{"offset", milvusclient.NewSearchIteratorOption(name, q).WithOffset(5),
				"parse iterator v2 info failed: Setting an offset is not permitted when using a search iterator v2: invalid parameter[expected=][actual=]"},
		} {
			_, err := e.C.SearchIterator(e.Ctx, tc.opt)
			if !errors.Is(err, sdkmerr.ErrParameterInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: %v, want %q (code 1100)", tc.name, err, tc.want)
			}
		}
	})
}

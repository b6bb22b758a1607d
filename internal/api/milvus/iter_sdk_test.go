package milvus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
)

// iterRows is how many rows the iterator tests insert, in three batches
// (the middle one flushed), keys shuffled so that insert order is not key
// order.
const iterRows = 240

// iterVec gives many rows the same vector (ties on every score).
func iterVec(k int64) []float32 {
	g := float32(k % 7)
	return []float32{g, 1, 0.5, g / 2}
}

// setupIterColl creates and loads coll (Int64 or VarChar keys) with
// iterRows rows, indexed with HNSW (the iterator scans exactly anyway).
func setupIterColl(t *testing.T, ctx context.Context, c *milvusclient.Client, coll string, varchar bool) []string {
	t.Helper()
	pkField := entity.NewField().WithName("pk").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)
	if varchar {
		pkField = entity.NewField().WithName("pk").WithDataType(entity.FieldTypeVarChar).WithMaxLength(32).WithIsPrimaryKey(true)
	}
	schema := entity.NewSchema().WithField(pkField).
		WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(4)).
		WithField(entity.NewField().WithName("n").WithDataType(entity.FieldTypeInt64))
	must(t, c.CreateCollection(ctx, milvusclient.NewCreateCollectionOption(coll, schema)))
	task, err := c.CreateIndex(ctx, milvusclient.NewCreateIndexOption(coll, "vec", index.NewHNSWIndex(entity.L2, 8, 64)))
	must(t, err)
	must(t, task.Await(ctx))
	lt, err := c.LoadCollection(ctx, milvusclient.NewLoadCollectionOption(coll))
	must(t, err)
	must(t, lt.Await(ctx))

	keys := rand.New(rand.NewSource(7)).Perm(iterRows)
	var names []string
	for b := 0; b < 3; b++ {
		part := keys[b*iterRows/3 : (b+1)*iterRows/3]
		var ints, ns []int64
		var strs []string
		var vecs [][]float32
		for _, k := range part {
			ints = append(ints, int64(k))
			strs = append(strs, fmt.Sprintf("k%03d", k))
			ns = append(ns, int64(k))
			vecs = append(vecs, iterVec(int64(k)))
		}
		pk := column.Column(column.NewColumnInt64("pk", ints))
		if varchar {
			pk = column.NewColumnVarChar("pk", strs)
		}
		names = append(names, strs...)
		_, err := c.Insert(ctx, milvusclient.NewColumnBasedInsertOption(coll, pk,
			column.NewColumnFloatVector("vec", 4, vecs), column.NewColumnInt64("n", ns)))
		must(t, err)
		if b == 1 {
			ft, err := c.Flush(ctx, milvusclient.NewFlushOption(coll))
			must(t, err)
			must(t, ft.Await(ctx))
		}
	}
	slices.Sort(names)
	return names
}

func TestSDKQueryIteratorPKOrder(t *testing.T) {
	ts := startServer(t, Options{})
	c := sdkClient(t, ts)
	ctx := testCtx(t)
	setupIterColl(t, ctx, c, "qi", false)

	drain := func(opt milvusclient.QueryIteratorOption) []int64 {
		t.Helper()
		it, err := c.QueryIterator(ctx, opt)
		must(t, err)
		var got []int64
		for {
			rs, err := it.Next(ctx)
			if errors.Is(err, io.EOF) {
				return got
			}
			must(t, err)
			got = append(got, int64s(t, rs.GetColumn("pk"))...)
		}
	}
	want := func(pred func(int64) bool, limit int) []int64 {
		var out []int64
		for k := int64(0); k < iterRows && (limit < 0 || len(out) < limit); k++ {
			if pred(k) {
				out = append(out, k)
			}
		}
		return out
	}
	all := func(int64) bool { return true }
	if got := drain(milvusclient.NewQueryIteratorOption("qi").WithBatchSize(7)); !slices.Equal(got, want(all, -1)) {
		t.Fatalf("query iterator: %v", got)
	}
	if got := drain(milvusclient.NewQueryIteratorOption("qi").WithBatchSize(9).WithFilter("n % 3 == 1").
		WithOutputFields("n")); !slices.Equal(got, want(func(k int64) bool { return k%3 == 1 }, -1)) {
		t.Fatalf("filtered query iterator: %v", got)
	}
	if got := drain(milvusclient.NewQueryIteratorOption("qi").WithBatchSize(8).WithIteratorLimit(50)); !slices.Equal(got, want(all, 50)) {
		t.Fatalf("query iterator with limit 50: %v", got)
	}
	// A plain query with a limit returns the smallest keys, in key order.
	rs, err := c.Query(ctx, milvusclient.NewQueryOption("qi").WithLimit(5).WithOffset(3))
	must(t, err)
	if got := int64s(t, rs.GetColumn("pk")); !slices.Equal(got, []int64{3, 4, 5, 6, 7}) {
		t.Fatalf("query limit 5 offset 3: %v", got)
	}
}

func TestSDKQueryIteratorVarChar(t *testing.T) {
	ts := startServer(t, Options{})
	c := sdkClient(t, ts)
	ctx := testCtx(t)
	names := setupIterColl(t, ctx, c, "qv", true)
	it, err := c.QueryIterator(ctx, milvusclient.NewQueryIteratorOption("qv").WithBatchSize(11))
	must(t, err)
	var got []string
	for {
		rs, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		must(t, err)
		col := rs.GetColumn("pk")
		for i := 0; i < col.Len(); i++ {
			s, err := col.GetAsString(i)
			must(t, err)
			got = append(got, s)
		}
	}
	if !slices.Equal(got, names) {
		t.Fatalf("varchar query iterator: %v", got)
	}
}

// drainSearch runs a search iterator to its end and returns the hits' ids
// (as strings) and scores.
func drainSearch(t *testing.T, ctx context.Context, c *milvusclient.Client, opt milvusclient.SearchIteratorOption) ([]string, []float32) {
	t.Helper()
	it, err := c.SearchIterator(ctx, opt)
	must(t, err)
	var ids []string
	var scores []float32
	for {
		rs, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return ids, scores
		}
		must(t, err)
		for i := 0; i < rs.IDs.Len(); i++ {
			s, err := rs.IDs.GetAsString(i)
			if err != nil {
				v, err2 := rs.IDs.GetAsInt64(i)
				must(t, err2)
				s = fmt.Sprint(v)
			}
			ids = append(ids, s)
		}
		scores = append(scores, rs.Scores...)
	}
}

func TestSDKSearchIteratorV2(t *testing.T) {
	for _, varchar := range []bool{false, true} {
		t.Run(fmt.Sprintf("varchar=%v", varchar), func(t *testing.T) {
			ts := startServer(t, Options{})
			c := sdkClient(t, ts)
			ctx := testCtx(t)
			setupIterColl(t, ctx, c, "si", varchar)
			q := entity.FloatVector([]float32{3, 1, 0.5, 1.5})

			ids, scores := drainSearch(t, ctx, c, milvusclient.NewSearchIteratorOption("si", q).WithBatchSize(13))
			if len(ids) != iterRows {
				t.Fatalf("search iterator returned %d hits, want %d", len(ids), iterRows)
			}
			seen := map[string]bool{}
			for i, id := range ids {
				if seen[id] {
					t.Fatalf("hit %s repeated (at %d)", id, i)
				}
				seen[id] = true
				if i > 0 && scores[i] < scores[i-1] {
					t.Fatalf("scores not ascending at %d: %v", i, scores[i-1:i+1])
				}
			}
			// The whole order equals one search of everything (both exact,
			// ties by key): iterating in pages of 13 loses no tied row.
			full, err := c.Search(ctx, milvusclient.NewSearchOption("si", iterRows, []entity.Vector{q}).
				WithSearchParam("iterator", "true").WithSearchParam("search_iter_v2", "true").
				WithSearchParam("search_iter_batch_size", fmt.Sprint(iterRows)))
			must(t, err)
			if full[0].IDs.Len() != iterRows {
				t.Fatalf("one page of everything: %d hits", full[0].IDs.Len())
			}
			for i := range iterRows {
				s, err := full[0].IDs.GetAsString(i)
				if err != nil {
					v, _ := full[0].IDs.GetAsInt64(i)
					s = fmt.Sprint(v)
				}
				if s != ids[i] {
					t.Fatalf("hit %d: iterator %s, one page %s", i, ids[i], s)
				}
			}

			// Iterator limit and filter.
			ids, _ = drainSearch(t, ctx, c, milvusclient.NewSearchIteratorOption("si", q).WithBatchSize(6).WithIteratorLimit(20))
			if len(ids) != 20 {
				t.Fatalf("limit 20: %d hits", len(ids))
			}
			ids, _ = drainSearch(t, ctx, c, milvusclient.NewSearchIteratorOption("si", q).WithBatchSize(6).
				WithFilter("n < 30").WithOutputFields("n"))
			if len(ids) != 30 {
				t.Fatalf("filter n < 30: %d hits", len(ids))
			}
		})
	}
}

func TestSDKSearchIteratorRefusals(t *testing.T) {
	ts := startServer(t, Options{})
	c := sdkClient(t, ts)
	ctx := testCtx(t)
	setupIterColl(t, ctx, c, "sr", false)
	q := entity.FloatVector([]float32{1, 1, 1, 1})
	for _, tc := range []struct {
		name string
		opt  milvusclient.SearchIteratorOption
		want string
	}{
		{"group by", milvusclient.NewSearchIteratorOption("sr", q).WithGroupByField("n"),
			"Not allowed to do groupBy when doing iteration: invalid parameter[expected=][actual=]"},
		{"offset", milvusclient.NewSearchIteratorOption("sr", q).WithOffset(3),
			"parse iterator v2 info failed: Setting an offset is not permitted when using a search iterator v2: invalid parameter[expected=][actual=]"},
		{"token", milvusclient.NewSearchIteratorOption("sr", q).WithSearchParam("search_iter_id", "nope"),
			"parse iterator v2 info failed: invalid token format"},
		{"bound", milvusclient.NewSearchIteratorOption("sr", q).WithSearchParam("search_iter_last_bound", "x"),
			"parse iterator v2 info failed: failed to parse input last bound"},
	} {
		_, err := c.SearchIterator(ctx, tc.opt)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	// The SDK sets collection_id itself; a stale one (the collection was
	// re-created under its name) is refused.
	_, err := c.Search(ctx, milvusclient.NewSearchOption("sr", 3, []entity.Vector{q}).
		WithSearchParam("iterator", "true").WithSearchParam("collection_id", "999999"))
	if want := "collection id:999999 in the request is not consistent to that in the search context,alias or database may have been changed"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("stale collection id: %v", err)
	}
	_, err = c.Search(ctx, milvusclient.NewSearchOption("sr", 3, []entity.Vector{q}).WithSearchParam("search_iter_v2", "true"))
	if want := "parse iterator v2 info failed: both iterator and search_iter_v2 must be set in the SDK"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("v2 without iterator: %v", err)
	}
}

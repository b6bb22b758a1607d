package compat

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
	sdkmerr "github.com/milvus-io/milvus/pkg/v2/util/merr"
)

// TestCompatScalarIndexes: INVERTED, STL_SORT, TRIE and BITMAP indexes on
// scalar fields are accepted per Milvus's type rules, listed by
// DescribeIndex before and after a restart / failover, leave filter
// results unchanged, and each refused combination carries Milvus's code
// (1100) and wording.
func TestCompatScalarIndexes(t *testing.T) {
	both(t, func(t *testing.T, e *Env) {
		name := e.Coll(t)
		schema := entity.NewSchema().WithName(name).
			WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
			WithField(entity.NewField().WithName("age").WithDataType(entity.FieldTypeInt64)).
			WithField(entity.NewField().WithName("score").WithDataType(entity.FieldTypeDouble)).
			WithField(entity.NewField().WithName("color").WithDataType(entity.FieldTypeVarChar).WithMaxLength(16)).
			WithField(entity.NewField().WithName("flag").WithDataType(entity.FieldTypeBool)).
			WithField(entity.NewField().WithName("tags").WithDataType(entity.FieldTypeArray).
				WithElementType(entity.FieldTypeVarChar).WithMaxLength(8).WithMaxCapacity(4)).
			WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(2))
		if err := e.C.CreateCollection(e.Ctx, milvusclient.NewCreateCollectionOption(name, schema).
			WithIndexOptions(milvusclient.NewCreateIndexOption(name, "vec", index.NewFlatIndex(entity.L2)))); err != nil {
			t.Fatal(err)
		}
		refusals := []struct {
			field string
			idx   index.Index
			want  string
		}{
			{"age", index.NewTrieIndex(), "TRIE are only supported on varchar field"},
			{"tags", index.NewSortedIndex(), "STL_SORT are only supported on numeric, varchar or timestamptz field, got Array"},
			{"id", index.NewBitmapIndex(), "create bitmap index on primary key not supported"},
			{"score", index.NewBitmapIndex(), "bitmap index are only supported on bool, int, string and array field"},
		}
		for _, r := range refusals {
			_, err := e.C.CreateIndex(e.Ctx, milvusclient.NewCreateIndexOption(name, r.field, r.idx))
			if err == nil || !errors.Is(err, sdkmerr.ErrParameterInvalid) || !strings.Contains(err.Error(), r.want) {
				t.Errorf("%s on %s: %v, want 1100 %q", r.idx.IndexType(), r.field, err, r.want)
			}
		}
		accepted := map[string]index.Index{
			"age": index.NewSortedIndex(), "color": index.NewTrieIndex(), "tags": index.NewBitmapIndex(),
			"flag": index.NewInvertedIndex(), "score": index.NewInvertedIndex(),
		}
		for f, ix := range accepted {
			task, err := e.C.CreateIndex(e.Ctx, milvusclient.NewCreateIndexOption(name, f, ix))
			if err != nil {
				t.Fatalf("%s on %s: %v", ix.IndexType(), f, err)
			}
			if err := task.Await(e.Ctx); err != nil {
				t.Fatal(err)
			}
		}
		lt, err := e.C.LoadCollection(e.Ctx, milvusclient.NewLoadCollectionOption(name))
		if err != nil {
			t.Fatal(err)
		}
		if err := lt.Await(e.Ctx); err != nil {
			t.Fatal(err)
		}
		const n = 20
		ids, ages := make([]int64, n), make([]int64, n)
		scores := make([]float64, n)
		colors := make([]string, n)
		flags := make([]bool, n)
		tags := make([][]string, n)
		vecs := make([][]float32, n)
		for i := range n {
			ids[i], ages[i], scores[i] = int64(i), int64(i%7), float64(i)/2
			colors[i] = []string{"red", "blue"}[i%2]
			flags[i] = i%3 == 0
			tags[i] = [][]string{{"x"}, {"y", "x"}}[i%2]
			vecs[i] = []float32{float32(i), 0}
		}
		if _, err := e.C.Insert(e.Ctx, milvusclient.NewColumnBasedInsertOption(name,
			column.NewColumnInt64("id", ids), column.NewColumnInt64("age", ages), column.NewColumnDouble("score", scores),
			column.NewColumnVarChar("color", colors), column.NewColumnBool("flag", flags),
			column.NewColumnVarCharArray("tags", tags), column.NewColumnFloatVector("vec", 2, vecs))); err != nil {
			t.Fatal(err)
		}
		if _, err := e.C.Flush(e.Ctx, milvusclient.NewFlushOption(name)); err != nil {
			t.Fatal(err)
		}
		check := func(when string) {
			t.Helper()
			for f, ix := range accepted {
				d, err := e.C.DescribeIndex(e.Ctx, milvusclient.NewDescribeIndexOption(name, f))
				if err != nil {
					t.Fatalf("%s: describe %s: %v", when, f, err)
				}
				if got := d.Params()[index.IndexTypeKey]; !strings.EqualFold(got, string(ix.IndexType())) {
					t.Errorf("%s: index on %s is %s, want %s", when, f, got, ix.IndexType())
				}
			}
			rs, err := e.C.Query(e.Ctx, milvusclient.NewQueryOption(name).
				WithFilter(`age in [1, 2] and color == "blue" and flag == false and array_contains(tags, "y") and score < 8`).
				WithOutputFields("id").WithConsistencyLevel(entity.ClStrong))
			if err != nil {
				t.Fatalf("%s: query: %v", when, err)
			}
			var got []int64
			for i := range rs.ResultCount {
				v, _ := rs.GetColumn("id").GetAsInt64(i)
				got = append(got, v)
			}
			slices.Sort(got)
			if !slices.Equal(got, []int64{1}) { // odd ids with age 1 or 2, not a multiple of 3, score < 8: 1 (9 has flag)
				t.Errorf("%s: ids %v", when, got)
			}
		}
		check("before " + e.Name + " disruption")
		e.Disrupt(t)
		check("after " + e.Name + " disruption")
		if err := e.C.DropCollection(e.Ctx, milvusclient.NewDropCollectionOption(name)); err != nil {
			t.Fatal(err)
		}
	})
}

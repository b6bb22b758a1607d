package compat

import (
	"strings"
	"testing"

	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
)

// wantErr fails t unless err is a Milvus error with code 1100 (invalid
// parameter) whose message contains want.
func wantErr(t *testing.T, what string, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: got %v, want an error containing %q", what, err, want)
	}
}

// TestCompatNullable: nullable fields and default values (Milvus docs
// "Nullable & Default"): column- and row-based inserts with nulls and
// left-out values, ValidData in query and search output, `is null`
// filters, and the documented refusals — before and after a restart /
// failover.
func TestCompatNullable(t *testing.T) {
	both(t, func(t *testing.T, e *Env) {
		name := e.Coll(t)
		const dim = 4
		schema := entity.NewSchema().WithName(name).
			WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
			WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(dim)).
			WithField(entity.NewField().WithName("age").WithDataType(entity.FieldTypeInt64).WithNullable(true)).
			WithField(entity.NewField().WithName("status").WithDataType(entity.FieldTypeVarChar).WithMaxLength(16).
				WithNullable(true).WithDefaultValueString("active")).
			WithField(entity.NewField().WithName("score").WithDataType(entity.FieldTypeInt32).WithDefaultValueInt(7))

		// Refusals (CreateCollection).
		bad := func(f *entity.Field) error {
			s := entity.NewSchema().WithName(name + "_bad").
				WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
				WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(dim)).
				WithField(f)
			return e.C.CreateCollection(e.Ctx, milvusclient.NewCreateCollectionOption(name+"_bad", s))
		}
		wantErr(t, "nullable vector", bad(entity.NewField().WithName("v2").WithDataType(entity.FieldTypeFloatVector).WithDim(dim).WithNullable(true)),
			"vector type not support null")
		wantErr(t, "default type mismatch", bad(entity.NewField().WithName("x").WithDataType(entity.FieldTypeInt64).WithDefaultValueString("a")),
			"default value type mismatches field schema type")
		wantErr(t, "default too long", bad(entity.NewField().WithName("x").WithDataType(entity.FieldTypeVarChar).WithMaxLength(2).WithDefaultValueString("abc")),
			"the length (3) of string exceeds max length (2)")
		pkNull := entity.NewSchema().WithName(name + "_bad").
			WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true).WithNullable(true)).
			WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(dim))
		wantErr(t, "nullable pk", e.C.CreateCollection(e.Ctx, milvusclient.NewCreateCollectionOption(name+"_bad", pkNull)),
			"primary field not support null")

		if err := e.C.CreateCollection(e.Ctx, milvusclient.NewCreateCollectionOption(name, schema).
			WithIndexOptions(milvusclient.NewCreateIndexOption(name, "vec", index.NewFlatIndex(entity.L2)))); err != nil {
			t.Fatal(err)
		}
		lt, err := e.C.LoadCollection(e.Ctx, milvusclient.NewLoadCollectionOption(name))
		if err != nil {
			t.Fatal(err)
		}
		if err := lt.Await(e.Ctx); err != nil {
			t.Fatal(err)
		}
		vec := func(i int) []float32 { return []float32{float32(i), 1, 0, 0} }

		// Column-based: ids 0..3, age null at 1 and 3 (compact values),
		// status null at 2 (-> "active"), score left out (-> 7).
		age, err := column.NewNullableColumnInt64("age", []int64{10, 30}, []bool{true, false, true, false})
		if err != nil {
			t.Fatal(err)
		}
		status, err := column.NewNullableColumnVarChar("status", []string{"a", "b", "d"}, []bool{true, true, false, true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.C.Insert(e.Ctx, milvusclient.NewColumnBasedInsertOption(name,
			column.NewColumnInt64("id", []int64{0, 1, 2, 3}),
			column.NewColumnFloatVector("vec", dim, [][]float32{vec(0), vec(1), vec(2), vec(3)}),
			age, status)); err != nil {
			t.Fatal(err)
		}
		// Row-based: the SDK builds ValidData from nil values (null, or the
		// default); a field left out of every row gets its default.
		if _, err := e.C.Insert(e.Ctx, milvusclient.NewRowBasedInsertOption(name,
			map[string]any{"id": int64(4), "vec": vec(4), "age": int64(50), "status": nil},
			map[string]any{"id": int64(5), "vec": vec(5), "age": nil, "status": "z"},
		)); err != nil {
			t.Fatal(err)
		}

		check := func(when string) {
			t.Helper()
			rs, err := e.C.Query(e.Ctx, milvusclient.NewQueryOption(name).WithFilter("id >= 0").
				WithOutputFields("age", "status", "score").WithConsistencyLevel(entity.ClStrong))
			if err != nil {
				t.Fatalf("%s: query: %v", when, err)
			}
			if rs.ResultCount != 6 {
				t.Fatalf("%s: %d rows", when, rs.ResultCount)
			}
			ids := rs.GetColumn("id")
			ageC, statusC, scoreC := rs.GetColumn("age"), rs.GetColumn("status"), rs.GetColumn("score")
			wantAge := map[int64]any{0: int64(10), 1: nil, 2: int64(30), 3: nil, 4: int64(50), 5: nil}
			wantStatus := map[int64]string{0: "a", 1: "b", 2: "active", 3: "d", 4: "active", 5: "z"}
			wantScore := map[int64]int32{0: 7, 1: 7, 2: 7, 3: 7, 4: 7, 5: 7}
			for i := 0; i < rs.ResultCount; i++ {
				id, _ := ids.GetAsInt64(i)
				null, _ := ageC.IsNull(i)
				if (wantAge[id] == nil) != null {
					t.Errorf("%s: id %d: age null = %v", when, id, null)
				} else if !null {
					if v, _ := ageC.GetAsInt64(i); v != wantAge[id] {
						t.Errorf("%s: id %d: age %d", when, id, v)
					}
				}
				if v, _ := statusC.GetAsString(i); v != wantStatus[id] {
					t.Errorf("%s: id %d: status %q, want %q", when, id, v, wantStatus[id])
				}
				if v, _ := scoreC.GetAsInt64(i); int32(v) != wantScore[id] {
					t.Errorf("%s: id %d: score %d, want %d", when, id, v, wantScore[id])
				}
			}
			for filter, want := range map[string]int64{
				"age is null": 3, "age IS NOT NULL": 3, "age > 0": 3, "age != 10": 2, "not (age == 10)": 2,
				`status == "active"`: 2, "score == 7": 6,
			} {
				cnt, err := e.C.Query(e.Ctx, milvusclient.NewQueryOption(name).WithFilter(filter).
					WithOutputFields("count(*)").WithConsistencyLevel(entity.ClStrong))
				if err != nil {
					t.Fatalf("%s: %s: %v", when, filter, err)
				}
				if c, _ := cnt.GetColumn("count(*)").GetAsInt64(0); c != want {
					t.Errorf("%s: count(%s) = %d, want %d", when, filter, c, want)
				}
			}
			sr, err := e.C.Search(e.Ctx, milvusclient.NewSearchOption(name, 2, []entity.Vector{entity.FloatVector(vec(3))}).
				WithFilter("age is null").WithOutputFields("age").WithConsistencyLevel(entity.ClStrong))
			if err != nil {
				t.Fatalf("%s: search: %v", when, err)
			}
			if len(sr) != 1 || sr[0].ResultCount != 2 {
				t.Fatalf("%s: search results %v", when, sr)
			}
			for i := 0; i < 2; i++ {
				if null, _ := sr[0].GetColumn("age").IsNull(i); !null {
					t.Errorf("%s: search row %d: age not null", when, i)
				}
			}
		}
		check("before " + e.Name + " disruption")

		// Insert refusals.
		short, _ := column.NewNullableColumnInt64("age", []int64{1}, []bool{true})
		_, err = e.C.Insert(e.Ctx, milvusclient.NewColumnBasedInsertOption(name,
			column.NewColumnInt64("id", []int64{9, 10}), column.NewColumnFloatVector("vec", dim, [][]float32{vec(9), vec(10)})).
			WithColumns(short))
		if err == nil {
			t.Errorf("valid_data of the wrong length accepted")
		}
		_, err = e.C.Insert(e.Ctx, milvusclient.NewColumnBasedInsertOption(name,
			column.NewColumnInt64("id", []int64{9}), column.NewColumnFloatVector("vec", dim, [][]float32{vec(9)}),
			column.NewColumnInt32("score", []int32{1})))
		wantErr(t, "default field without valid_data", err, "the length of valid_data of field(score) is wrong")

		e.Disrupt(t)
		check("after " + e.Name + " disruption")
		if err := e.C.DropCollection(e.Ctx, milvusclient.NewDropCollectionOption(name)); err != nil {
			t.Fatal(err)
		}
	})
}

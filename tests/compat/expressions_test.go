package compat

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
	sdkmerr "github.com/milvus-io/milvus/pkg/v2/util/merr"
)

// TestCompatExpressions: every filter-expression form of Milvus 2.6 that
// Tandem implements (comparisons, ranges, in, like, arithmetic, **, JSON
// paths, exists, array indexes, array equality, array_contains / _all /
// _any and their json_ aliases, array_length, templates through
// WithTemplateParam) selects the same rows before and after a restart /
// failover, and each kind of refusal carries Milvus's code and wording.
func TestCompatExpressions(t *testing.T) {
	both(t, func(t *testing.T, e *Env) {
		name := e.Coll(t)
		schema := entity.NewSchema().WithName(name).
			WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
			WithField(entity.NewField().WithName("age").WithDataType(entity.FieldTypeInt64)).
			WithField(entity.NewField().WithName("color").WithDataType(entity.FieldTypeVarChar).WithMaxLength(16)).
			WithField(entity.NewField().WithName("tags").WithDataType(entity.FieldTypeArray).
				WithElementType(entity.FieldTypeVarChar).WithMaxLength(8).WithMaxCapacity(4)).
			WithField(entity.NewField().WithName("nums").WithDataType(entity.FieldTypeArray).
				WithElementType(entity.FieldTypeInt64).WithMaxCapacity(4)).
			WithField(entity.NewField().WithName("meta").WithDataType(entity.FieldTypeJSON)).
			WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(4))
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
		// Ten rows: id i, age 10*i, color red/blue, tags, nums, meta.
		const n = 10
		ids, ages := make([]int64, n), make([]int64, n)
		colors := make([]string, n)
		tags := make([][]string, n)
		nums := make([][]int64, n)
		metas := make([][]byte, n)
		vecs := make([][]float32, n)
		for i := range n {
			ids[i], ages[i] = int64(i), int64(10*i)
			colors[i] = []string{"red", "blue", "green"}[i%3]
			tags[i] = [][]string{{"a"}, {"a", "b"}, {"b", "c"}, {}}[i%4]
			nums[i] = [][]int64{{1, 2}, {3}, {1, 2, 3}}[i%3]
			opt := ""
			if i%2 == 0 {
				opt = `, "opt": true`
			}
			metas[i] = fmt.Appendf(nil, `{"k": {"x": %d}, "arr": [%d, %d]%s}`, i, i%3, i%5, opt)
			vecs[i] = []float32{float32(i), 1, 0, 0}
		}
		if _, err := e.C.Insert(e.Ctx, milvusclient.NewColumnBasedInsertOption(name,
			column.NewColumnInt64("id", ids), column.NewColumnInt64("age", ages),
			column.NewColumnVarChar("color", colors), column.NewColumnVarCharArray("tags", tags),
			column.NewColumnInt64Array("nums", nums), column.NewColumnJSONBytes("meta", metas),
			column.NewColumnFloatVector("vec", 4, vecs))); err != nil {
			t.Fatal(err)
		}
		type tc struct {
			filter string
			params map[string]any
			want   []int64
		}
		cases := []tc{
			{`age > 50`, nil, []int64{6, 7, 8, 9}},
			{`10 <= age < 40`, nil, []int64{1, 2, 3}},
			{`90 >= age > 70`, nil, []int64{8, 9}},
			{`age in [10, 20, 99]`, nil, []int64{1, 2}},
			{`age not in [0, 10, 20, 30, 40, 50, 60]`, nil, []int64{7, 8, 9}},
			{`color like "re%"`, nil, []int64{0, 3, 6, 9}},
			{`color like "%ee%"`, nil, []int64{2, 5, 8}},
			{`age % 30 == 0`, nil, []int64{0, 3, 6, 9}},
			{`age + 5 > 80`, nil, []int64{8, 9}},
			{`age * 2 <= 20`, nil, []int64{0, 1}},
			{`meta["k"]["x"] > 2 ** 2.5`, nil, []int64{6, 7, 8, 9}},
			{`not (age > 10) && color != "red"`, nil, []int64{1}},
			{`meta["k"]["x"] >= 8`, nil, []int64{8, 9}},
			{`meta["arr"][1] == 4`, nil, []int64{4, 9}},
			{`exists meta["opt"]`, nil, []int64{0, 2, 4, 6, 8}},
			{`nums[0] == 3`, nil, []int64{1, 4, 7}},
			{`tags == ["a", "b"]`, nil, []int64{1, 5, 9}},
			{`nums != [1, 2]`, nil, []int64{1, 2, 4, 5, 7, 8}},
			{`array_contains(tags, "c")`, nil, []int64{2, 6}},
			{`array_contains_all(tags, ["a", "b"])`, nil, []int64{1, 5, 9}},
			{`array_contains_any(nums, [3, 7])`, nil, []int64{1, 2, 4, 5, 7, 8}},
			{`json_contains(meta["arr"], 4)`, nil, []int64{4, 9}},
			{`json_contains_all(meta["arr"], [1, 1])`, nil, []int64{1, 4, 6, 7}},
			{`json_contains_any(meta["arr"], [2, 3])`, nil, []int64{2, 3, 5, 7, 8}},
			{`array_length(tags) == 0`, nil, []int64{3, 7}},
			{`array_length(nums) >= 2 and age < 30`, nil, []int64{0, 2}},
			{`age > {a} and color == {c}`, map[string]any{"a": 30, "c": "red"}, []int64{6, 9}},
			{`{lo} < age <= {hi}`, map[string]any{"lo": 10, "hi": 30}, []int64{2, 3}},
			{`id in {ids}`, map[string]any{"ids": []int64{1, 3, 11}}, []int64{1, 3}},
			{`array_contains_any(tags, {t})`, map[string]any{"t": []string{"c"}}, []int64{2, 6}},
			{`json_contains(meta["arr"], {v})`, map[string]any{"v": 4}, []int64{4, 9}},
		}
		query := func(c tc) ([]int64, error) {
			opt := milvusclient.NewQueryOption(name).WithFilter(c.filter).WithOutputFields("id").
				WithConsistencyLevel(entity.ClStrong)
			for k, v := range c.params {
				opt = opt.WithTemplateParam(k, v)
			}
			rs, err := e.C.Query(e.Ctx, opt)
			if err != nil {
				return nil, err
			}
			col := rs.GetColumn("id")
			var got []int64
			for i := range col.Len() {
				v, _ := col.GetAsInt64(i)
				got = append(got, v)
			}
			slices.Sort(got)
			return got, nil
		}
		check := func(when string) {
			t.Helper()
			for _, c := range cases {
				got, err := query(c)
				if err != nil {
					t.Fatalf("%s: %s: %v", when, c.filter, err)
				}
				if !slices.Equal(got, c.want) {
					t.Errorf("%s: %s: got %v, want %v", when, c.filter, got, c.want)
				}
			}
			// A templated search filters the same way.
			res, err := e.C.Search(e.Ctx, milvusclient.NewSearchOption(name, n, []entity.Vector{entity.FloatVector(vecs[0])}).
				WithFilter(`array_contains(tags, {t}) and age >= {a}`).WithTemplateParam("t", "a").WithTemplateParam("a", 10).
				WithConsistencyLevel(entity.ClStrong))
			if err != nil {
				t.Fatalf("%s: search: %v", when, err)
			}
			var got []int64 // rows with "a": i%4 in {0, 1}; age >= 10 drops row 0
			for i := range res[0].ResultCount {
				v, _ := res[0].IDs.GetAsInt64(i)
				got = append(got, v)
			}
			slices.Sort(got)
			if !slices.Equal(got, []int64{1, 4, 5, 8, 9}) {
				t.Errorf("%s: templated search ids %v", when, got)
			}
		}
		check("before " + e.Name + " disruption")
		e.Disrupt(t)
		check("after " + e.Name + " disruption")

		// Refusals: code 1100 (invalid parameter) and Milvus's wording.
		refusals := []tc{
			{`nope > 1`, nil, nil},
			{`age == "a"`, nil, nil},
			{`age in [1.5]`, nil, nil},
			{`array_contains(age, 1)`, nil, nil},
			{`array_length(age) == 1`, nil, nil},
			{`exists age`, nil, nil},
			{`tags > ["a"]`, nil, nil},
			{`age ** 2 > 1`, nil, nil},
			{`age & 1 == 1`, nil, nil},
			{`50 < age < 10`, nil, nil},
			{`age > {x}`, map[string]any{"y": 1}, nil},
			{`age in {x}`, map[string]any{"x": 1}, nil},
			{`age > {x}`, map[string]any{"x": "s"}, nil},
		}
		wants := []string{
			"field nope not exist",
			`cannot cast value to Int64, value: string_val:"a"`,
			"value 'float_val:1.5' in list cannot be casted to Int64",
			"contains operation are only supported on json or array fields now, got: age",
			"array_length operation are only supported on json or array fields now, got: array_length(age)",
			"exists operations are only supportted on json field, got:Int64",
			"can not comparisons array fields directly",
			"power can only apply on constants: age**2",
			"BitAnd is not supported: age&1==1",
			"invalid range: lowerbound is greater than upperbound",
			"the value of expression template variable name {x} is not found",
			"the value of term expression template variable {x} is not array",
			`cannot cast value to Int64, value: string_val:"s"`,
		}
		for i, c := range refusals {
			_, err := query(c)
			if err == nil {
				t.Errorf("%s: accepted", c.filter)
				continue
			}
			if !errors.Is(err, sdkmerr.ErrParameterInvalid) {
				t.Errorf("%s: %v is not invalid parameter (1100)", c.filter, err)
			}
			if !strings.Contains(err.Error(), wants[i]) {
				t.Errorf("%s: %v, want %q", c.filter, err, wants[i])
			}
		}
		if err := e.C.DropCollection(e.Ctx, milvusclient.NewDropCollectionOption(name)); err != nil {
			t.Fatal(err)
		}
	})
}

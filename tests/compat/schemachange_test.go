package compat

import (
	"testing"

	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
)

// TestCompatSchemaChange: AddCollectionField (the new field must be
// nullable; existing rows read null or its default), AlterCollection
// properties / DropCollectionProperties (DescribeCollection shows them),
// AlterCollectionField (max_length), with Milvus's refusals — before and
// after a restart / failover.
func TestCompatSchemaChange(t *testing.T) {
	both(t, func(t *testing.T, e *Env) {
		name := e.Coll(t)
		const dim = 4
		schema := entity.NewSchema().WithName(name).
			WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
			WithField(entity.NewField().WithName("tag").WithDataType(entity.FieldTypeVarChar).WithMaxLength(4)).
			WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(dim))
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
		if _, err := e.C.Insert(e.Ctx, milvusclient.NewColumnBasedInsertOption(name,
			column.NewColumnInt64("id", []int64{0, 1, 2}), column.NewColumnVarChar("tag", []string{"a", "b", "c"}),
			column.NewColumnFloatVector("vec", dim, [][]float32{vec(0), vec(1), vec(2)}))); err != nil {
			t.Fatal(err)
		}

		// AddCollectionField refusals.
		add := func(f *entity.Field) error {
			return e.C.AddCollectionField(e.Ctx, milvusclient.NewAddCollectionFieldOption(name, f))
		}
		wantErr(t, "not nullable", add(entity.NewField().WithName("n").WithDataType(entity.FieldTypeInt64)),
			"added field must be nullable, please check it, field name = n")
		wantErr(t, "duplicate", add(entity.NewField().WithName("tag").WithDataType(entity.FieldTypeVarChar).WithMaxLength(4).WithNullable(true)),
			"duplicate field name: tag")
		wantErr(t, "partition key", add(entity.NewField().WithName("n").WithDataType(entity.FieldTypeInt64).WithNullable(true).WithIsPartitionKey(true)),
			"not support to add partition key field")
		wantErr(t, "varchar without max_length", add(entity.NewField().WithName("n").WithDataType(entity.FieldTypeVarChar).WithNullable(true)),
			"type param(max_length) should be specified for the field(n)")

		if err := add(entity.NewField().WithName("n").WithDataType(entity.FieldTypeInt64).WithNullable(true)); err != nil {
			t.Fatal(err)
		}
		if err := add(entity.NewField().WithName("lvl").WithDataType(entity.FieldTypeInt32).WithNullable(true).WithDefaultValueInt(3)); err != nil {
			t.Fatal(err)
		}
		nCol, _ := column.NewNullableColumnInt64("n", []int64{40}, []bool{true})
		if _, err := e.C.Insert(e.Ctx, milvusclient.NewColumnBasedInsertOption(name,
			column.NewColumnInt64("id", []int64{3}), column.NewColumnVarChar("tag", []string{"d"}),
			column.NewColumnFloatVector("vec", dim, [][]float32{vec(3)}), nCol)); err != nil {
			t.Fatal(err)
		}

		// Properties.
		if err := e.C.AlterCollectionProperties(e.Ctx, milvusclient.NewAlterCollectionPropertiesOption(name).
			WithProperty("collection.ttl.seconds", 86400)); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "ttl not a number", e.C.AlterCollectionProperties(e.Ctx, milvusclient.NewAlterCollectionPropertiesOption(name).
			WithProperty("collection.ttl.seconds", "soon")), "collection TTL is not a valid positive integer")
		wantErr(t, "mmap while loaded", e.C.AlterCollectionProperties(e.Ctx, milvusclient.NewAlterCollectionPropertiesOption(name).
			WithProperty("mmap.enabled", true)), "can not alter mmap properties if collection loaded")
		if err := e.C.AlterCollectionProperties(e.Ctx, milvusclient.NewAlterCollectionPropertiesOption(name).
			WithProperty("collection.autocompaction.enabled", false)); err != nil {
			t.Fatal(err)
		}
		if err := e.C.DropCollectionProperties(e.Ctx, milvusclient.NewDropCollectionPropertiesOption(name, "collection.autocompaction.enabled")); err != nil {
			t.Fatal(err)
		}
		// AlterCollectionField.
		if err := e.C.AlterCollectionFieldProperty(e.Ctx, milvusclient.NewAlterCollectionFieldPropertiesOption(name, "tag").
			WithProperty("max_length", 8)); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "max_length of an int", e.C.AlterCollectionFieldProperty(e.Ctx, milvusclient.NewAlterCollectionFieldPropertiesOption(name, "n").
			WithProperty("max_length", 8)), "can not modify the maxlength for non-string types")
		wantErr(t, "unknown field key", e.C.AlterCollectionFieldProperty(e.Ctx, milvusclient.NewAlterCollectionFieldPropertiesOption(name, "tag").
			WithProperty("nullable", true)), "nullable does not allow update in collection field param")
		// The longer max_length is in force.
		if _, err := e.C.Insert(e.Ctx, milvusclient.NewColumnBasedInsertOption(name,
			column.NewColumnInt64("id", []int64{4}), column.NewColumnVarChar("tag", []string{"eeeeee"}),
			column.NewColumnFloatVector("vec", dim, [][]float32{vec(4)}))); err != nil {
			t.Fatal(err)
		}

		check := func(when string) {
			t.Helper()
			coll, err := e.C.DescribeCollection(e.Ctx, milvusclient.NewDescribeCollectionOption(name))
			if err != nil {
				t.Fatalf("%s: describe: %v", when, err)
			}
			if coll.Properties["collection.ttl.seconds"] != "86400" || len(coll.Properties) != 1 {
				t.Errorf("%s: properties %v", when, coll.Properties)
			}
			var fields []string
			for _, f := range coll.Schema.Fields {
				fields = append(fields, f.Name)
				if f.Name == "n" && !f.Nullable {
					t.Errorf("%s: n not nullable", when)
				}
				if f.Name == "tag" && f.TypeParams["max_length"] != "8" {
					t.Errorf("%s: tag max_length %v", when, f.TypeParams)
				}
			}
			if len(fields) != 5 || fields[3] != "n" || fields[4] != "lvl" {
				t.Errorf("%s: fields %v", when, fields)
			}
			for filter, want := range map[string]int64{"n is null": 4, "n == 40": 1, "lvl == 3": 5, `tag == "eeeeee"`: 1} {
				cnt, err := e.C.Query(e.Ctx, milvusclient.NewQueryOption(name).WithFilter(filter).
					WithOutputFields("count(*)").WithConsistencyLevel(entity.ClStrong))
				if err != nil {
					t.Fatalf("%s: %s: %v", when, filter, err)
				}
				if c, _ := cnt.GetColumn("count(*)").GetAsInt64(0); c != want {
					t.Errorf("%s: count(%s) = %d, want %d", when, filter, c, want)
				}
			}
			rs, err := e.C.Query(e.Ctx, milvusclient.NewQueryOption(name).WithFilter("id in [0, 3]").
				WithOutputFields("n").WithConsistencyLevel(entity.ClStrong))
			if err != nil {
				t.Fatalf("%s: query: %v", when, err)
			}
			for i := 0; i < rs.ResultCount; i++ {
				id, _ := rs.GetColumn("id").GetAsInt64(i)
				null, _ := rs.GetColumn("n").IsNull(i)
				if null != (id == 0) {
					t.Errorf("%s: id %d: n null = %v", when, id, null)
				}
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

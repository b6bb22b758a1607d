package compat

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
)

// vecRows returns the rows of a vector column as the SDK serializes them.
func vecRows(t *testing.T, c column.Column) [][]byte {
	t.Helper()
	out := make([][]byte, c.Len())
	for i := range out {
		v, err := c.Get(i)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = v.(entity.Vector).Serialize()
	}
	return out
}

// TestCompatVectorTypes: a collection with the four vector types besides
// FloatVector (BinaryVector, Float16Vector, BFloat16Vector, Int8Vector),
// Milvus's limit of 4 vector fields: every type round-trips (query returns
// the inserted bytes) and is searched correctly (a row's own vector finds
// it first), through sealed segments and the WAL, before and after a
// restart / failover.
func TestCompatVectorTypes(t *testing.T) {
	both(t, func(t *testing.T, e *Env) {
		name := e.Coll(t)
		const n, fdim, bdim = 400, 16, 64
		schema := entity.NewSchema().WithName(name).
			WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
			WithField(entity.NewField().WithName("bin").WithDataType(entity.FieldTypeBinaryVector).WithDim(bdim)).
			WithField(entity.NewField().WithName("f16").WithDataType(entity.FieldTypeFloat16Vector).WithDim(fdim)).
			WithField(entity.NewField().WithName("bf16").WithDataType(entity.FieldTypeBFloat16Vector).WithDim(fdim)).
			WithField(entity.NewField().WithName("i8").WithDataType(entity.FieldTypeInt8Vector).WithDim(fdim))
		if err := e.C.CreateCollection(e.Ctx, milvusclient.NewCreateCollectionOption(name, schema).WithIndexOptions(
			milvusclient.NewCreateIndexOption(name, "bin", index.NewBinIvfFlatIndex(entity.HAMMING, 8)),
			milvusclient.NewCreateIndexOption(name, "f16", index.NewHNSWIndex(entity.L2, 16, 64)),
			milvusclient.NewCreateIndexOption(name, "bf16", index.NewIvfFlatIndex(entity.L2, 4)),
			milvusclient.NewCreateIndexOption(name, "i8", index.NewHNSWIndex(entity.COSINE, 16, 64)),
		)); err != nil {
			t.Fatal(err)
		}
		lt, err := e.C.LoadCollection(e.Ctx, milvusclient.NewLoadCollectionOption(name))
		if err != nil {
			t.Fatal(err)
		}
		if err := lt.Await(e.Ctx); err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(3, 4))
		ids := make([]int64, n)
		bins := make([][]byte, n)
		fl := make([][]float32, n)
		i8s := make([][]int8, n)
		for i := range ids {
			ids[i] = int64(i)
			bins[i] = make([]byte, bdim/8)
			for j := range bins[i] {
				bins[i][j] = byte(r.Uint32())
			}
			fl[i] = make([]float32, fdim)
			i8s[i] = make([]int8, fdim)
			for j := range fl[i] {
				fl[i][j] = r.Float32()*2 - 1
				i8s[i][j] = int8(r.IntN(255) - 127)
			}
		}
		cols := []column.Column{
			column.NewColumnInt64("id", ids),
			column.NewColumnBinaryVector("bin", bdim, bins),
			column.NewColumnFloat16VectorFromFp32Vector("f16", fdim, fl),
			column.NewColumnBFloat16VectorFromFp32Vector("bf16", fdim, fl),
			column.NewColumnInt8Vector("i8", fdim, i8s),
		}
		want := map[string][][]byte{}
		for _, c := range cols[1:] {
			want[c.Name()] = vecRows(t, c)
		}
		// Half the rows, flushed (sealed segment files), then the rest
		// (growing segment, WAL only).
		insert := func(lo, hi int) {
			t.Helper()
			part := make([]column.Column, len(cols))
			for i, c := range cols {
				part[i] = c.Slice(lo, hi)
			}
			if _, err := e.C.Insert(e.Ctx, milvusclient.NewColumnBasedInsertOption(name, part...)); err != nil {
				t.Fatal(err)
			}
		}
		insert(0, n/2)
		ft, err := e.C.Flush(e.Ctx, milvusclient.NewFlushOption(name))
		if err != nil {
			t.Fatal(err)
		}
		if err := ft.Await(e.Ctx); err != nil {
			t.Fatal(err)
		}
		insert(n/2, n)

		queryOf := func(field string, row int) entity.Vector {
			b := want[field][row]
			switch field {
			case "bin":
				return entity.BinaryVector(b)
			case "f16":
				return entity.Float16Vector(b)
			case "bf16":
				return entity.BFloat16Vector(b)
			}
			return entity.Int8Vector(i8s[row])
		}
		check := func(when string) {
			t.Helper()
			for _, row := range []int{7, n/2 + 9} {
				rs, err := e.C.Query(e.Ctx, milvusclient.NewQueryOption(name).WithIDs(column.NewColumnInt64("id", []int64{int64(row)})).
					WithOutputFields("bin", "f16", "bf16", "i8").WithConsistencyLevel(entity.ClStrong))
				if err != nil {
					t.Fatalf("%s: query: %v", when, err)
				}
				for field, rows := range want {
					got := vecRows(t, rs.GetColumn(field))
					if len(got) != 1 || !bytes.Equal(got[0], rows[row]) {
						t.Fatalf("%s: %s of row %d = %x, want %x", when, field, row, got, rows[row])
					}
				}
				for field := range want {
					res, err := e.C.Search(e.Ctx, milvusclient.NewSearchOption(name, 3, []entity.Vector{queryOf(field, row)}).
						WithANNSField(field).WithOutputFields(field).WithConsistencyLevel(entity.ClStrong))
					if err != nil {
						t.Fatalf("%s: search %s: %v", when, field, err)
					}
					if got, _ := res[0].IDs.GetAsInt64(0); res[0].ResultCount != 3 || got != int64(row) {
						t.Fatalf("%s: search %s for row %d: first hit %d of %d", when, field, row, got, res[0].ResultCount)
					}
					if field == "bin" && res[0].Scores[0] != 0 {
						t.Fatalf("%s: HAMMING distance of a row to itself = %v", when, res[0].Scores[0])
					}
					if g := vecRows(t, res[0].GetColumn(field)); !bytes.Equal(g[0], want[field][row]) {
						t.Fatalf("%s: search output %s = %x, want %x", when, field, g[0], want[field][row])
					}
				}
			}
			// Several vector fields: the search must name one.
			_, err := e.C.Search(e.Ctx, milvusclient.NewSearchOption(name, 3, []entity.Vector{queryOf("f16", 1)}))
			if err == nil || !strings.Contains(err.Error(), "multiple anns_fields exist, please specify a anns_field in search_params") {
				t.Fatalf("%s: search without anns_field: %v", when, err)
			}
			// A query vector of another type.
			_, err = e.C.Search(e.Ctx, milvusclient.NewSearchOption(name, 3, []entity.Vector{queryOf("bin", 1)}).WithANNSField("i8"))
			if err == nil || !strings.Contains(err.Error(), "vector type must be the same") {
				t.Fatalf("%s: binary query on an int8 field: %v", when, err)
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

// TestCompatVectorTypeRefusals: Milvus's refusals for the vector types —
// binary dim not a multiple of 8, more than 4 vector fields, indexes and
// metrics a type cannot use — with Milvus's messages, nothing created.
func TestCompatVectorTypeRefusals(t *testing.T) {
	both(t, func(t *testing.T, e *Env) {
		name := e.Coll(t)
		expect := func(what string, err error, msg string) {
			t.Helper()
			if err == nil || !strings.Contains(err.Error(), msg) {
				t.Fatalf("%s: error %v, want %q", what, err, msg)
			}
		}
		pk := entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)
		err := e.C.CreateCollection(e.Ctx, milvusclient.NewCreateCollectionOption(name, entity.NewSchema().WithName(name).WithField(pk).
			WithField(entity.NewField().WithName("b").WithDataType(entity.FieldTypeBinaryVector).WithDim(12))))
		expect("binary dim 12", err, "invalid dimension: 12. should be multiple of 8.")
		s5 := entity.NewSchema().WithName(name).WithField(pk)
		for _, f := range []string{"v1", "v2", "v3", "v4", "v5"} {
			s5.WithField(entity.NewField().WithName(f).WithDataType(entity.FieldTypeFloatVector).WithDim(4))
		}
		err = e.C.CreateCollection(e.Ctx, milvusclient.NewCreateCollectionOption(name, s5))
		expect("5 vector fields", err, "maximum vector field's number should be limited to 4")
		if has, err := e.C.HasCollection(e.Ctx, milvusclient.NewHasCollectionOption(name)); err != nil || has {
			t.Fatalf("refused collection exists: %v %v", has, err)
		}

		schema := entity.NewSchema().WithName(name).WithField(pk).
			WithField(entity.NewField().WithName("bin").WithDataType(entity.FieldTypeBinaryVector).WithDim(16)).
			WithField(entity.NewField().WithName("f16").WithDataType(entity.FieldTypeFloat16Vector).WithDim(4)).
			WithField(entity.NewField().WithName("i8").WithDataType(entity.FieldTypeInt8Vector).WithDim(4))
		if err := e.C.CreateCollection(e.Ctx, milvusclient.NewCreateCollectionOption(name, schema)); err != nil {
			t.Fatal(err)
		}
		idx := func(field string, ix index.Index) error {
			_, err := e.C.CreateIndex(e.Ctx, milvusclient.NewCreateIndexOption(name, field, ix))
			return err
		}
		expect("HNSW on binary", idx("bin", index.NewHNSWIndex(entity.HAMMING, 8, 64)), "data type BinaryVector can't build with this index HNSW")
		expect("L2 on BIN_FLAT", idx("bin", index.NewBinFlatIndex(entity.L2)), "binary vector index does not support metric type: L2")
		expect("HAMMING on float16", idx("f16", index.NewHNSWIndex(entity.HAMMING, 8, 64)), "float vector index does not support metric type: HAMMING")
		expect("BIN_FLAT on float16", idx("f16", index.NewBinFlatIndex(entity.HAMMING)), "data type Float16Vector can't build with this index BIN_FLAT")
		expect("IVF_FLAT on int8", idx("i8", index.NewIvfFlatIndex(entity.L2, 4)), "data type Int8Vector can't build with this index IVF_FLAT")
		// AUTOINDEX on a binary field defaults to HAMMING.
		if err := idx("bin", index.NewGenericIndex("bin", map[string]string{"index_type": "AUTOINDEX"})); err != nil {
			t.Fatal(err)
		}
		d, err := e.C.DescribeIndex(e.Ctx, milvusclient.NewDescribeIndexOption(name, "bin"))
		if err != nil || d.Params()["metric_type"] != "HAMMING" {
			t.Fatalf("AUTOINDEX on binary: %v %v", d.Params(), err)
		}
		// Wrong byte length of a binary row: refused, nothing written.
		_, err = e.C.Insert(e.Ctx, milvusclient.NewColumnBasedInsertOption(name,
			column.NewColumnInt64("id", []int64{1}),
			column.NewColumnBinaryVector("bin", 16, [][]byte{{1, 2, 3}}),
			column.NewColumnFloat16Vector("f16", 4, [][]byte{make([]byte, 8)}),
			column.NewColumnInt8Vector("i8", 4, [][]int8{{1, 2, 3, 4}})))
		if err == nil {
			t.Fatal("binary row of 3 bytes for dim 16 accepted")
		}
		// NaN in a float16 row.
		_, err = e.C.Insert(e.Ctx, milvusclient.NewColumnBasedInsertOption(name,
			column.NewColumnInt64("id", []int64{1}),
			column.NewColumnBinaryVector("bin", 16, [][]byte{{1, 2}}),
			column.NewColumnFloat16Vector("f16", 4, [][]byte{{0, 0x7e, 0, 0, 0, 0, 0, 0}}),
			column.NewColumnInt8Vector("i8", 4, [][]int8{{1, 2, 3, 4}})))
		expect("NaN in float16", err, "contains NaN or Inf")
		e.Disrupt(t)
		st, err := e.C.GetCollectionStats(e.Ctx, milvusclient.NewGetCollectionStatsOption(name))
		if err != nil || st["row_count"] != "0" {
			t.Fatalf("rows after refused inserts: %v %v", st, err)
		}
		if err := e.C.DropCollection(e.Ctx, milvusclient.NewDropCollectionOption(name)); err != nil {
			t.Fatal(err)
		}
	})
}

package engine

import (
	"math"
	"math/rand"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/merr"
)

// TestBadInput: every invalid request returns the right Milvus code and
// changes nothing (same digest, same LSN).
func TestBadInput(t *testing.T) {
	e := openTest(t, t.TempDir(), func(c *Config) { c.MaxRequestBytes = 1 << 20 })
	defer e.Close()
	const dim = 4
	setupColl(t, e, "v", dim, "L2", false, false, false)
	setupColl(t, e, "va", dim, "L2", false, true, true)
	r := rand.New(rand.NewSource(1))
	good := func() *batch { return genBatch(r, seq(0, 3), dim, false) }
	ins := func(coll string, fds []*schemapb.FieldData, n int) func() error {
		return func() error { _, err := e.Insert(bg, "", coll, "", fds, n); return err }
	}
	withField := func(fds []*schemapb.FieldData, name string, fd *schemapb.FieldData) []*schemapb.FieldData {
		out := []*schemapb.FieldData{}
		for _, f := range fds {
			if f.FieldName == name {
				if fd != nil {
					out = append(out, fd)
				}
				continue
			}
			out = append(out, f)
		}
		return out
	}
	schemaWith := func(mod func(s *schemapb.CollectionSchema)) *schemapb.CollectionSchema {
		s := testSchema("bad", dim, false, false, false)
		mod(s)
		return s
	}
	create := func(s *schemapb.CollectionSchema) func() error {
		return func() error { return e.CreateCollection(bg, "", s, CreateCollectionOptions{}) }
	}
	b := good()
	nanVec := append([]float32(nil), b.vecs...)
	nanVec[5] = float32(math.NaN())
	big := genBatch(r, seq(0, 100), 4, false)
	bigDoc := make([]byte, 20000)
	for i := range bigDoc {
		bigDoc[i] = ' '
	}
	bigDoc[0], bigDoc[len(bigDoc)-1] = '{', '}'
	for i := range big.docs {
		big.docs[i] = bigDoc
	}
	int8Schema := schemaWith(func(s *schemapb.CollectionSchema) {
		s.Name = "i8"
		s.Fields = append(s.Fields, &schemapb.FieldSchema{Name: "small", DataType: schemapb.DataType_Int8})
	})
	if err := e.CreateCollection(bg, "", int8Schema, CreateCollectionOptions{}); err != nil {
		t.Fatal(err)
	}
	i8 := &schemapb.FieldData{Type: schemapb.DataType_Int8, FieldName: "small", Field: &schemapb.FieldData_Scalars{
		Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_IntData{IntData: &schemapb.IntArray{Data: []int32{1, 300, 2}}}}}}

	cases := []struct {
		name string
		code int32
		call func() error
	}{
		{"insert missing collection", 100, ins("nope", b.fields(dim, true, false, false), 3)},
		{"insert unknown db", merr.ErrDatabaseNotFound.Code, func() error { _, err := e.Insert(bg, "db2", "v", "", b.fields(dim, true, false, false), 3); return err }},
		{"insert missing partition", 200, func() error { _, err := e.Insert(bg, "", "v", "p9", b.fields(dim, true, false, false), 3); return err }},
		{"wrong dim", 1100, ins("v", withField(b.fields(dim, true, false, false), "vec", vecField("vec", 3, b.vecs[:9])), 3)},
		{"vector rows", 1100, ins("v", withField(b.fields(dim, true, false, false), "vec", vecField("vec", dim, b.vecs[:8])), 3)},
		{"missing field", 1100, ins("v", withField(b.fields(dim, true, false, false), "age", nil), 3)},
		{"missing pk", 1100, ins("v", withField(b.fields(dim, true, false, false), "id", nil), 3)},
		{"unknown field", 1100, ins("v", append(b.fields(dim, true, false, false), longField("zzz", []int64{1, 2, 3})), 3)},
		{"duplicate field", 1100, ins("v", append(b.fields(dim, true, false, false), longField("age", []int64{1, 2, 3})), 3)},
		{"pk with auto id", 1100, ins("va", b.fields(dim, true, false, true), 3)},
		{"varchar too long", 1100, ins("v", withField(b.fields(dim, true, false, false), "tag", strField("tag", []string{"a", "this-is-longer-than-16", "c"})), 3)},
		{"bad utf8", 1100, ins("v", withField(b.fields(dim, true, false, false), "tag", strField("tag", []string{"a", "\xff", "c"})), 3)},
		{"invalid json", 1100, ins("v", withField(b.fields(dim, true, false, false), "doc", jsonField("doc", [][]byte{[]byte("{}"), []byte("{bad"), []byte("1")}, false)), 3)},
		{"nan vector", 1100, ins("v", withField(b.fields(dim, true, false, false), "vec", vecField("vec", dim, nanVec)), 3)},
		{"inf float", 1100, ins("v", withField(b.fields(dim, true, false, false), "score", floatField("score", []float32{1, float32(math.Inf(1)), 2})), 3)},
		{"row count mismatch", 1100, ins("v", withField(b.fields(dim, true, false, false), "age", longField("age", []int64{1, 2})), 3)},
		{"zero rows", 1100, ins("v", b.fields(dim, true, false, false), 0)},
		{"wrong type", 1100, ins("v", withField(b.fields(dim, true, false, false), "age", floatField("age", []float32{1, 2, 3})), 3)},
		{"int8 out of range", 1100, ins("i8", append(b.fields(dim, true, false, false), i8), 3)},
		{"too large", merr.ErrParameterTooLarge.Code, ins("v", big.fields(4, true, false, false), 100)},
		{"dynamic not object", 1100, ins("va", append(b.fields(dim, false, false, false), jsonField("", [][]byte{[]byte(`"x"`), []byte(`{}`), []byte(`{}`)}, true)), 3)},
		{"dynamic on static collection", 1100, ins("v", b.fields(dim, true, false, true), 3)},
		{"dynamic key shadows field", 1100, ins("va", append(b.fields(dim, false, false, false), jsonField("$meta", [][]byte{[]byte(`{"age":1}`), []byte(`{}`), []byte(`{}`)}, true)), 3)},
		{"dynamic array", 1100, ins("va", append(b.fields(dim, false, false, false), jsonField("$meta", [][]byte{[]byte(`[1]`), []byte(`{}`), []byte(`{}`)}, true)), 3)},
		{"upsert without pk", 1100, func() error { _, err := e.Upsert(bg, "", "va", "", b.fields(dim, false, false, true), 3); return err }},

		{"bad collection name", 1100, create(schemaWith(func(s *schemapb.CollectionSchema) { s.Name = "1abc" }))},
		{"bad collection chars", 1100, create(schemaWith(func(s *schemapb.CollectionSchema) { s.Name = "a-b" }))},
		{"no pk", 1100, create(schemaWith(func(s *schemapb.CollectionSchema) { s.Fields[0].IsPrimaryKey = false }))},
		{"two pks", 1100, create(schemaWith(func(s *schemapb.CollectionSchema) { s.Fields[2].IsPrimaryKey = true }))},
		{"float pk", 1100, create(schemaWith(func(s *schemapb.CollectionSchema) { s.Fields[0].DataType = schemapb.DataType_Float }))},
		{"no vector", 1100, create(schemaWith(func(s *schemapb.CollectionSchema) { s.Fields = slicesDelete(s.Fields, 1) }))},
		{"dim zero", 1100, create(schemaWith(func(s *schemapb.CollectionSchema) { s.Fields[1].TypeParams = []*commonpb.KeyValuePair{kv("dim", "0")} }))},
		{"dim huge", 1100, create(schemaWith(func(s *schemapb.CollectionSchema) {
			s.Fields[1].TypeParams = []*commonpb.KeyValuePair{kv("dim", "40000")}
		}))},
		{"dim missing", 1100, create(schemaWith(func(s *schemapb.CollectionSchema) { s.Fields[1].TypeParams = nil }))},
		{"varchar no max_length", 1100, create(schemaWith(func(s *schemapb.CollectionSchema) { s.Fields[3].TypeParams = nil }))},
		{"binary vector dim not a multiple of 8", 65535, create(schemaWith(func(s *schemapb.CollectionSchema) { s.Fields[1].DataType = schemapb.DataType_BinaryVector }))},
		{"varchar auto id", 1100, create(schemaWith(func(s *schemapb.CollectionSchema) {
			s.Fields[0].DataType = schemapb.DataType_VarChar
			s.Fields[0].TypeParams = []*commonpb.KeyValuePair{kv("max_length", "8")}
			s.Fields[0].AutoID = true
		}))},
		{"duplicate field name", 1100, create(schemaWith(func(s *schemapb.CollectionSchema) { s.Fields[2].Name = "tag" }))},
		{"auto id on non-pk", 1100, create(schemaWith(func(s *schemapb.CollectionSchema) { s.Fields[2].AutoID = true }))},
		{"create unknown db", 800, func() error {
			return e.CreateCollection(bg, "x", testSchema("zz", 4, false, false, false), CreateCollectionOptions{})
		}},

		{"index type", merr.ErrIndexNotSupported.Code, func() error {
			return e.CreateIndex(bg, "", "i8", "vec", "", map[string]string{"index_type": "GPU_CAGRA", "metric_type": "L2"})
		}},
		{"index metric", 1100, func() error {
			return e.CreateIndex(bg, "", "i8", "vec", "", map[string]string{"index_type": "FLAT", "metric_type": "HAMMING"})
		}},
		{"index hnsw M", 1100, func() error {
			return e.CreateIndex(bg, "", "i8", "vec", "", map[string]string{"index_type": "HNSW", "M": "1"})
		}},
		{"index missing field", merr.ErrFieldNotFound.Code, func() error { return e.CreateIndex(bg, "", "i8", "nope", "", nil) }},
		{"index missing collection", 100, func() error { return e.CreateIndex(bg, "", "nope", "vec", "", nil) }},
		{"load without index", merr.ErrIndexNotFound.Code, func() error { return e.LoadCollection(bg, "", "i8") }},
		{"load missing", 100, func() error { return e.LoadCollection(bg, "", "nope") }},

		{"search unloaded", 101, searchErr(e, &SearchRequest{Collection: "i8", Vectors: [][]float32{b.vecs[:4]}, TopK: 1})},
		{"search topk 0", 1100, searchErr(e, &SearchRequest{Collection: "v", Vectors: [][]float32{b.vecs[:4]}, TopK: 0})},
		{"search topk big", 1100, searchErr(e, &SearchRequest{Collection: "v", Vectors: [][]float32{b.vecs[:4]}, TopK: 16385})},
		{"search nq 0", 1100, searchErr(e, &SearchRequest{Collection: "v", TopK: 1})},
		{"search dim", 1100, searchErr(e, &SearchRequest{Collection: "v", Vectors: [][]float32{b.vecs[:3]}, TopK: 1})},
		{"search output", merr.ErrFieldNotFound.Code, searchErr(e, &SearchRequest{Collection: "v", Vectors: [][]float32{b.vecs[:4]}, TopK: 1, OutputFields: []string{"nope"}})},
		{"search filter", 1100, searchErr(e, &SearchRequest{Collection: "v", Vectors: [][]float32{b.vecs[:4]}, TopK: 1, Filter: "age >>> 3"})},
		{"search partition", 200, searchErr(e, &SearchRequest{Collection: "v", Vectors: [][]float32{b.vecs[:4]}, TopK: 1, Partitions: []string{"nope"}})},
		{"search metric", 1100, searchErr(e, &SearchRequest{Collection: "v", Vectors: [][]float32{b.vecs[:4]}, TopK: 1, MetricType: "COSINE"})},
		{"search missing", 100, searchErr(e, &SearchRequest{Collection: "nope", Vectors: [][]float32{b.vecs[:4]}, TopK: 1})},
		{"query no filter no limit", 1100, queryErr(e, &QueryRequest{Collection: "v"})},
		{"query count with fields", 1100, queryErr(e, &QueryRequest{Collection: "v", Filter: "age > 1", OutputFields: []string{"count(*)", "age"}})},
		{"query bad filter", 1100, queryErr(e, &QueryRequest{Collection: "v", Filter: "nope > 1"})},
		{"query unloaded", 101, queryErr(e, &QueryRequest{Collection: "i8", Filter: "age > 1"})},
		{"delete empty", 1100, func() error { _, err := e.Delete(bg, "", "v", "", ""); return err }},
		{"delete bad expr", 1100, func() error { _, err := e.Delete(bg, "", "v", "", "age >"); return err }},
		{"delete missing partition", 200, func() error { _, err := e.Delete(bg, "", "v", "p9", "age > 1"); return err }},
		{"partition bad name", 1100, func() error { return e.CreatePartition(bg, "", "v", "a b") }},
		{"drop default partition", 1100, func() error { return e.DropPartition(bg, "", "v", DefaultPartition) }},
	}
	for _, tc := range cases {
		before, lsn := mustDigest(t, e), e.LastLSN()
		err := tc.call()
		t.Logf("%s: %v", tc.name, err)
		if got := merr.Code(err); got != tc.code {
			t.Errorf("%s: code %d (%v), want %d", tc.name, got, err, tc.code)
		}
		if mustDigest(t, e) != before || e.LastLSN() != lsn {
			t.Errorf("%s: state changed", tc.name)
		}
	}
	// The good batch still inserts.
	if _, err := e.Insert(bg, "", "v", "", b.fields(dim, true, false, false), 3); err != nil {
		t.Fatal(err)
	}
}

func searchErr(e *Engine, req *SearchRequest) func() error {
	return func() error { _, err := e.Search(bg, req); return err }
}

func queryErr(e *Engine, req *QueryRequest) func() error {
	return func() error { _, err := e.Query(bg, req); return err }
}

func slicesDelete(fs []*schemapb.FieldSchema, i int) []*schemapb.FieldSchema {
	return append(fs[:i:i], fs[i+1:]...)
}

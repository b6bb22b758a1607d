package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand"
	"sort"
	"strconv"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/index/distance"
)

var (
	bg       = context.Background()
	quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))
)

func openTest(t testing.TB, dir string, mod func(*Config)) *Engine {
	t.Helper()
	cfg := Config{DataDir: dir, SegmentMaxRows: 100, Logger: quietLog}
	if mod != nil {
		mod(&cfg)
	}
	e, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return e
}

func kv(k, v string) *commonpb.KeyValuePair { return &commonpb.KeyValuePair{Key: k, Value: v} }

// testSchema: pk (Int64 or VarChar) "id", FloatVector "vec", Int64 "age",
// VarChar "tag", Float "score", JSON "doc"; optional dynamic field.
func testSchema(name string, dim int, strPK, autoID, dynamic bool) *schemapb.CollectionSchema {
	pk := &schemapb.FieldSchema{Name: "id", IsPrimaryKey: true, DataType: schemapb.DataType_Int64, AutoID: autoID}
	if strPK {
		pk.DataType = schemapb.DataType_VarChar
		pk.TypeParams = []*commonpb.KeyValuePair{kv("max_length", "64")}
	}
	return &schemapb.CollectionSchema{
		Name:               name,
		EnableDynamicField: dynamic,
		Fields: []*schemapb.FieldSchema{
			pk,
			{Name: "vec", DataType: schemapb.DataType_FloatVector, TypeParams: []*commonpb.KeyValuePair{kv("dim", strconv.Itoa(dim))}},
			{Name: "age", DataType: schemapb.DataType_Int64},
			{Name: "tag", DataType: schemapb.DataType_VarChar, TypeParams: []*commonpb.KeyValuePair{kv("max_length", "16")}},
			{Name: "score", DataType: schemapb.DataType_Float},
			{Name: "doc", DataType: schemapb.DataType_JSON},
		},
	}
}

func longField(name string, v []int64) *schemapb.FieldData {
	return &schemapb.FieldData{Type: schemapb.DataType_Int64, FieldName: name, Field: &schemapb.FieldData_Scalars{
		Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: v}}}}}
}

func strField(name string, v []string) *schemapb.FieldData {
	return &schemapb.FieldData{Type: schemapb.DataType_VarChar, FieldName: name, Field: &schemapb.FieldData_Scalars{
		Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_StringData{StringData: &schemapb.StringArray{Data: v}}}}}
}

func floatField(name string, v []float32) *schemapb.FieldData {
	return &schemapb.FieldData{Type: schemapb.DataType_Float, FieldName: name, Field: &schemapb.FieldData_Scalars{
		Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_FloatData{FloatData: &schemapb.FloatArray{Data: v}}}}}
}

func jsonField(name string, v [][]byte, dynamic bool) *schemapb.FieldData {
	return &schemapb.FieldData{Type: schemapb.DataType_JSON, FieldName: name, IsDynamic: dynamic, Field: &schemapb.FieldData_Scalars{
		Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_JsonData{JsonData: &schemapb.JSONArray{Data: v}}}}}
}

func vecField(name string, dim int, v []float32) *schemapb.FieldData {
	return &schemapb.FieldData{Type: schemapb.DataType_FloatVector, FieldName: name, Field: &schemapb.FieldData_Vectors{
		Vectors: &schemapb.VectorField{Dim: int64(dim), Data: &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{Data: v}}}}}
}

// rowsSpec describes a batch of generated rows.
type batch struct {
	ids  []int64
	sids []string
	vecs []float32
	ages []int64
	tags []string
	scrs []float32
	docs [][]byte
	dyn  [][]byte
}

var tagVals = []string{"red", "green", "blue", "black"}

// genBatch makes n rows with keys from ids (or string keys "k<id>" when
// strPK), random vectors of dim.
func genBatch(r *rand.Rand, ids []int64, dim int, strPK bool) *batch {
	b := &batch{ids: ids}
	for _, id := range ids {
		if strPK {
			b.sids = append(b.sids, fmt.Sprintf("k%d", id))
		}
		for range dim {
			b.vecs = append(b.vecs, r.Float32()*2-1)
		}
		b.ages = append(b.ages, int64(r.Intn(100)))
		b.tags = append(b.tags, tagVals[r.Intn(len(tagVals))])
		b.scrs = append(b.scrs, r.Float32())
		b.docs = append(b.docs, fmt.Appendf(nil, `{"n":%d,"s":"x%d"}`, r.Intn(10), id%7))
		b.dyn = append(b.dyn, fmt.Appendf(nil, `{"color":"%s","w":%d}`, tagVals[r.Intn(4)], r.Intn(5)))
	}
	return b
}

func (b *batch) fields(dim int, withPK, strPK, dynamic bool) []*schemapb.FieldData {
	var out []*schemapb.FieldData
	if withPK {
		if strPK {
			out = append(out, strField("id", b.sids))
		} else {
			out = append(out, longField("id", b.ids))
		}
	}
	out = append(out, vecField("vec", dim, b.vecs), longField("age", b.ages), strField("tag", b.tags),
		floatField("score", b.scrs), jsonField("doc", b.docs, false))
	if dynamic {
		out = append(out, jsonField("", b.dyn, true))
	}
	return out
}

func seq(from, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(from + i)
	}
	return out
}

func mustDigest(t testing.TB, e *Engine) string {
	t.Helper()
	d, err := e.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// setupColl creates, indexes and loads a collection.
func setupColl(t testing.TB, e *Engine, name string, dim int, metric string, strPK, autoID, dynamic bool) {
	t.Helper()
	if err := e.CreateCollection(bg, "", testSchema(name, dim, strPK, autoID, dynamic), CreateCollectionOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.CreateIndex(bg, "", name, "vec", "", map[string]string{"index_type": "FLAT", "metric_type": metric}); err != nil {
		t.Fatal(err)
	}
	if err := e.LoadCollection(bg, "", name); err != nil {
		t.Fatal(err)
	}
}

// refRow is the test's own model of a live row.
type refRow struct {
	vec  []float32
	age  int64
	tag  string
	part string
}

// bruteForce returns the expected top-k (id, score) over model rows that
// pass keep, ties broken by smaller id.
func bruteForce(m distance.Metric, q []float32, rows map[int64]refRow, keep func(int64, refRow) bool, k int) ([]int64, []float32) {
	type hit struct {
		id int64
		s  float64
	}
	var hs []hit
	for id, r := range rows {
		if !keep(id, r) {
			continue
		}
		var s float64
		switch m {
		case distance.L2:
			for i := range q {
				d := float64(q[i]) - float64(r.vec[i])
				s += d * d
			}
		case distance.IP:
			for i := range q {
				s += float64(q[i]) * float64(r.vec[i])
			}
		case distance.Cosine:
			var dot, nq, nv float64
			for i := range q {
				dot += float64(q[i]) * float64(r.vec[i])
				nq += float64(q[i]) * float64(q[i])
				nv += float64(r.vec[i]) * float64(r.vec[i])
			}
			if nq > 0 && nv > 0 {
				s = dot / (math.Sqrt(nq) * math.Sqrt(nv))
			}
		}
		hs = append(hs, hit{id, s})
	}
	sort.Slice(hs, func(i, j int) bool {
		if hs[i].s != hs[j].s {
			if m.HigherIsBetter() {
				return hs[i].s > hs[j].s
			}
			return hs[i].s < hs[j].s
		}
		return hs[i].id < hs[j].id
	})
	if len(hs) > k {
		hs = hs[:k]
	}
	ids := make([]int64, len(hs))
	sc := make([]float32, len(hs))
	for i, h := range hs {
		ids[i], sc[i] = h.id, float32(h.s)
	}
	return ids, sc
}
